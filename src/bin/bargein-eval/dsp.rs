//! Signal helpers for the corpus and the measurements: a seeded random
//! generator, levels, resampling, FFT convolution, synthetic rooms, noises,
//! tones and WAV files. Plain functions on `f32` slices.

use anyhow::{Context, Result, anyhow};
use realfft::RealFftPlanner;
use rubato::{FftFixedIn, Resampler};
use std::path::Path;

/// SplitMix64: tiny, fast and, unlike `rand`'s generators, guaranteed never
/// to change between crate versions — corpora must stay byte-identical.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    #[cfg(test)]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// An independent stream for `(seed, stream)`, so scene `i` does not
    /// depend on how many random numbers scene `i - 1` drew.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        Self(r.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> Option<&'a T> {
        xs.get(self.below(xs.len()))
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

pub use gstbargein::audio::rms;

pub fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-12).log10()
}

pub fn from_db(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Active level: RMS over the 10 ms frames within 30 dB of the loudest one,
/// a simple stand-in for ITU-T P.56 so that pauses between words do not
/// lower a talker's level (SER and SNR are defined on active levels).
pub fn active_rms(x: &[f32], rate: u32) -> f64 {
    let n = (rate as usize / 100).max(1);
    let frames: Vec<f64> = x
        .chunks(n)
        .map(|c| c.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / c.len() as f64)
        .collect();
    let max = frames.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return 0.0;
    }
    let floor = max * 1e-3;
    let active: Vec<f64> = frames.into_iter().filter(|&e| e >= floor).collect();
    (active.iter().sum::<f64>() / active.len().max(1) as f64).sqrt()
}

/// Scales `x` in place to the active level `target` (linear RMS).
/// Scales `x` to the given active level; returns the gain it applied.
pub fn set_active_level(x: &mut [f32], rate: u32, target: f64) -> f32 {
    let level = active_rms(x, rate);
    if level > 0.0 {
        let g = (target / level) as f32;
        x.iter_mut().for_each(|v| *v *= g);
        g
    } else {
        1.0
    }
}

/// Where sound is in a clip, in samples: from the first to the end of the
/// last 2 ms block within 40 dB of the loudest block. This is what labels
/// call onset and end, so a clip's leading silence never counts as speech.
pub fn activity_span(x: &[f32], rate: u32) -> Option<(usize, usize)> {
    let n = (rate as usize / 500).max(1);
    let blocks: Vec<f64> = x.chunks(n).map(rms).collect();
    let max = blocks.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    let thr = max * 0.01;
    let first = blocks.iter().position(|&b| b >= thr)?;
    let last = blocks.iter().rposition(|&b| b >= thr)?;
    Some((first * n, ((last + 1) * n).min(x.len())))
}

/// Trims a clip to its activity plus `margin` samples each side.
pub fn trim(x: &[f32], rate: u32, margin: usize) -> Vec<f32> {
    match activity_span(x, rate) {
        Some((a, b)) => x[a.saturating_sub(margin)..(b + margin).min(x.len())].to_vec(),
        None => Vec::new(),
    }
}

/// Sample-rate conversion with rubato (deterministic, unlike shelling out).
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    let chunk = 1024;
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1)
        .map_err(|e| anyhow!("resampler {from} → {to}: {e}"))?;
    let delay = r.output_delay();
    let want = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let mut out = Vec::with_capacity(want + delay + chunk);
    let mut block = vec![vec![0f32; chunk]];
    let mut pos = 0;
    while out.len() < want + delay {
        for (i, v) in block[0].iter_mut().enumerate() {
            *v = x.get(pos + i).copied().unwrap_or(0.0);
        }
        pos += chunk;
        let o = r
            .process(&block, None)
            .map_err(|e| anyhow!("resampling: {e}"))?;
        out.extend_from_slice(o.first().map_or(&[][..], |c| c.as_slice()));
    }
    Ok(out[delay..delay + want].to_vec())
}

/// Linear convolution by FFT, truncated to `x.len()` samples (what a
/// microphone records while the loudspeaker plays `x`).
pub fn convolve(x: &[f32], h: &[f32]) -> Result<Vec<f32>> {
    if x.is_empty() || h.is_empty() {
        return Ok(vec![0.0; x.len()]);
    }
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let spectrum = |s: &[f32]| -> Result<Vec<realfft::num_complex::Complex<f64>>> {
        let mut a = vec![0f64; n];
        for (d, &v) in a.iter_mut().zip(s) {
            *d = f64::from(v);
        }
        let mut f = fwd.make_output_vec();
        fwd.process(&mut a, &mut f)
            .map_err(|e| anyhow!("fft: {e}"))?;
        Ok(f)
    };
    let mut fx = spectrum(x)?;
    let fh = spectrum(h)?;
    for (a, b) in fx.iter_mut().zip(&fh) {
        *a *= b;
    }
    let mut y = inv.make_output_vec();
    inv.process(&mut fx, &mut y)
        .map_err(|e| anyhow!("inverse fft: {e}"))?;
    Ok(y[..x.len()].iter().map(|v| (v / n as f64) as f32).collect())
}

/// A synthetic room between loudspeaker and microphone: the direct path after
/// `delay_s`, then exponentially decaying noise reaching −60 dB after
/// `rt60_s`. Larger (more reverberant) rooms get relatively more reverberant
/// energy: `tail_db` is the tail's energy relative to the direct path.
pub fn room_ir(rate: u32, delay_s: f64, rt60_s: f64, tail_db: f64, rng: &mut Rng) -> Vec<f32> {
    let delay = (f64::from(rate) * delay_s).round() as usize;
    let tail = ((f64::from(rate) * rt60_s) as usize).max(2);
    let mut h = vec![0.0f32; delay + tail];
    h[delay] = 1.0;
    let mut energy = 0.0;
    let mut t = vec![0.0f64; tail];
    for (i, v) in t.iter_mut().enumerate().skip(1) {
        // −60 dB in amplitude at rt60: e^(−6.91 t / rt60).
        let env = (-6.91 * i as f64 / tail as f64).exp();
        *v = rng.gauss() * env;
        energy += *v * *v;
    }
    let g = (from_db(tail_db).powi(2) / energy.max(1e-12)).sqrt();
    for (i, v) in t.iter().enumerate().skip(1) {
        h[delay + i] = (v * g) as f32;
    }
    h
}

pub fn white(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gauss() as f32).collect()
}

/// Pink (1/f) noise: Paul Kellet's filter on white noise.
pub fn pink(rng: &mut Rng, len: usize) -> Vec<f32> {
    let mut b = [0.0f64; 7];
    (0..len)
        .map(|_| {
            let w = rng.gauss();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let p = b[..6].iter().sum::<f64>() + b[6] + w * 0.5362;
            b[6] = w * 0.115926;
            (p * 0.11) as f32
        })
        .collect()
}

/// One-pole low-pass (coefficient in (0, 1), larger = darker).
pub fn lowpass(x: &mut [f32], a: f32) {
    let mut y = 0.0f32;
    for v in x.iter_mut() {
        y = a * y + (1.0 - a) * *v;
        *v = y;
    }
}

/// A sharp click: a few ms of decaying noise.
pub fn click(rng: &mut Rng, rate: u32) -> Vec<f32> {
    let n = (rate as usize * 3) / 1000;
    (0..n)
        .map(|i| (rng.gauss() * (-(i as f64) / (n as f64 / 5.0)).exp()) as f32)
        .collect()
}

/// A door slam: a dark noise burst with an instant attack and a 150–400 ms decay.
pub fn door_slam(rng: &mut Rng, rate: u32) -> Vec<f32> {
    let len = (f64::from(rate) * rng.range(0.15, 0.4)) as usize;
    let mut x = white(rng, len);
    lowpass(&mut x, 0.93);
    for (i, v) in x.iter_mut().enumerate() {
        *v *= (-5.0 * i as f32 / len as f32).exp();
    }
    x
}

/// A cough: one or two band-limited bursts with a fast attack.
pub fn cough(rng: &mut Rng, rate: u32) -> Vec<f32> {
    let mut out = Vec::new();
    let bursts = 1 + rng.below(2);
    for k in 0..bursts {
        let len = (f64::from(rate) * rng.range(0.12, 0.22)) as usize;
        let mut x = white(rng, len);
        lowpass(&mut x, 0.6);
        for (i, v) in x.iter_mut().enumerate() {
            let t = i as f32 / len as f32;
            *v *= (t * 40.0).min(1.0) * (1.0 - t).powi(2);
        }
        out.extend(x);
        if k + 1 < bursts {
            out.extend(std::iter::repeat_n(
                0.0,
                (f64::from(rate) * rng.range(0.08, 0.15)) as usize,
            ));
        }
    }
    out
}

/// Row and column frequencies of a DTMF key.
pub fn dtmf_freqs(digit: char) -> Option<(f64, f64)> {
    const KEYS: [[char; 4]; 4] = [
        ['1', '2', '3', 'A'],
        ['4', '5', '6', 'B'],
        ['7', '8', '9', 'C'],
        ['*', '0', '#', 'D'],
    ];
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    for (r, row) in KEYS.iter().enumerate() {
        if let Some(c) = row.iter().position(|&k| k == digit) {
            return Some((ROWS[r], COLS[c]));
        }
    }
    None
}

/// A key press: both tones at equal level, 5 ms ramps so it does not click.
pub fn dtmf_tone(digit: char, rate: u32, seconds: f64) -> Option<Vec<f32>> {
    let (f1, f2) = dtmf_freqs(digit)?;
    let n = (f64::from(rate) * seconds) as usize;
    let ramp = (rate as usize / 200).max(1);
    Some(
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let env = (i.min(n - 1 - i) as f64 / ramp as f64).min(1.0);
                let w = 2.0 * std::f64::consts::PI;
                (env * ((w * f1 * t).sin() + (w * f2 * t).sin()) * 0.5) as f32
            })
            .collect(),
    )
}

/// Adds `src` into `dst` starting at sample `at` (clipped to `dst`).
pub fn add_at(dst: &mut [f32], src: &[f32], at: usize) {
    for (d, s) in dst.iter_mut().skip(at).zip(src) {
        *d += s;
    }
}

/// Energy per 10 ms frame of a clip (mean square), for level-based policies
/// and ERLE.
pub fn frame_energies(x: &[f32], rate: u32) -> Vec<f64> {
    let n = (rate as usize / 100).max(1);
    x.chunks(n)
        .map(|c| c.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / c.len() as f64)
        .collect()
}

/// Writes 16-bit PCM mono, clamping (the corpus keeps peaks below full scale).
pub fn write_wav(path: &Path, rate: u32, x: &[f32]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("create {}", path.display()))?;
    for &v in x {
        w.write_sample(gstbargein::audio::f32_to_s16(v))?;
    }
    w.finalize()
        .with_context(|| format!("write {}", path.display()))
}

/// Float WAV, for cached clips (no requantisation between runs).
pub fn write_wav_f32(path: &Path, rate: u32, x: &[f32]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("create {}", path.display()))?;
    for &v in x {
        w.write_sample(v)?;
    }
    w.finalize()
        .with_context(|| format!("write {}", path.display()))
}

/// Any PCM or float WAV, mixed down to mono f32: (rate, samples).
pub fn read_wav(path: &Path) -> Result<(u32, Vec<f32>)> {
    let mut r = hound::WavReader::open(path).with_context(|| format!("open {}", path.display()))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("read {}", path.display()))?,
        hound::SampleFormat::Int => {
            let bits = u32::from(spec.bits_per_sample.clamp(1, 32));
            let scale = (1u64 << (bits - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .with_context(|| format!("read {}", path.display()))?
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((spec.sample_rate, mono))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_stable_and_streams_differ() {
        // Pinned values: a change here changes every corpus.
        let mut r = Rng::new(1);
        let first = r.next_u64();
        assert_eq!(first, Rng::new(1).next_u64());
        assert_ne!(Rng::derive(1, 0).next_u64(), Rng::derive(1, 1).next_u64());
        assert_ne!(Rng::derive(1, 0).next_u64(), Rng::derive(2, 0).next_u64());
        let u: Vec<f64> = (0..1000).map(|_| r.uniform()).collect();
        assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
    }

    #[test]
    fn fft_convolution_matches_direct() {
        let mut rng = Rng::new(3);
        let x = white(&mut rng, 500);
        let h = room_ir(16000, 0.002, 0.005, -6.0, &mut rng);
        let y = convolve(&x, &h).unwrap();
        for i in [0, 31, 32, 33, 250, 499] {
            let d: f32 = (0..=i).filter_map(|k| Some(h.get(k)? * x[i - k])).sum();
            assert!((d - y[i]).abs() < 1e-4, "{i}: {d} vs {}", y[i]);
        }
    }

    #[test]
    fn active_level_ignores_pauses() {
        let mut x = vec![0.0f32; 16000];
        x[..8000]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 2 == 0 { 0.1 } else { -0.1 });
        assert!((active_rms(&x, 16000) - 0.1).abs() < 1e-6);
        assert!((rms(&x) - 0.0707).abs() < 1e-3);
        assert_eq!(activity_span(&x, 16000), Some((0, 8000)));
    }

    #[test]
    fn resample_keeps_a_tone() {
        let x: Vec<f32> = (0..22050)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 22050.0).sin())
            .collect();
        let y = resample(&x, 22050, 16000).unwrap();
        assert_eq!(y.len(), 16000);
        assert!((rms(&y[1000..15000]) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01);
    }

    #[test]
    fn dtmf_keys() {
        assert_eq!(dtmf_freqs('5'), Some((770.0, 1336.0)));
        assert_eq!(dtmf_freqs('x'), None);
        assert_eq!(dtmf_tone('#', 8000, 0.1).map(|t| t.len()), Some(800));
    }
}
