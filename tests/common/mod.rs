//! Helpers shared by the integration tests: plugin registration, caps,
//! buffers, generated signals, espeak-ng speech and a simulated room.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub use gst::prelude::*;

pub mod closed_loop;
pub mod soak;

pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer init");
        gstbargein::plugin_register_static().expect("register bargein plugin");
    });
}

pub fn caps(format: gst_audio::AudioFormat, rate: u32, channels: u32) -> gst::Caps {
    gst_audio::AudioInfo::builder(format, rate, channels)
        .build()
        .expect("audio info")
        .to_caps()
        .expect("caps")
}

pub fn caps_f32(rate: u32, channels: u32) -> gst::Caps {
    caps(gst_audio::AudioFormat::F32le, rate, channels)
}

pub fn caps_s16(rate: u32, channels: u32) -> gst::Caps {
    caps(gst_audio::AudioFormat::S16le, rate, channels)
}

/// Duration of `frames` samples per channel at `rate`.
pub fn frames_to_time(frames: u64, rate: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(
        frames
            .mul_div_floor(gst::ClockTime::SECOND.nseconds(), rate as u64)
            .expect("no overflow"),
    )
}

/// An F32LE buffer of interleaved samples with PTS/duration from a frame offset.
pub fn buffer_f32(samples: &[f32], channels: u32, rate: u32, first_frame: u64) -> gst::Buffer {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    timed_buffer(
        bytes,
        samples.len() as u64 / channels as u64,
        rate,
        first_frame,
    )
}

/// An S16LE buffer of interleaved samples with PTS/duration from a frame offset.
pub fn buffer_s16(samples: &[i16], channels: u32, rate: u32, first_frame: u64) -> gst::Buffer {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    timed_buffer(
        bytes,
        samples.len() as u64 / channels as u64,
        rate,
        first_frame,
    )
}

fn timed_buffer(bytes: Vec<u8>, frames: u64, rate: u32, first_frame: u64) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    {
        let b = buf.get_mut().expect("new buffer is writable");
        let pts = frames_to_time(first_frame, rate);
        b.set_pts(pts);
        b.set_duration(frames_to_time(first_frame + frames, rate) - pts);
        b.set_offset(first_frame);
        b.set_offset_end(first_frame + frames);
    }
    buf
}

pub fn read_f32(buf: &gst::BufferRef) -> Vec<f32> {
    let map = buf.map_readable().expect("readable");
    map.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn read_s16(buf: &gst::BufferRef) -> Vec<i16> {
    let map = buf.map_readable().expect("readable");
    map.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

pub fn sine(freq: f32, amplitude: f32, rate: u32, frames: usize) -> Vec<f32> {
    (0..frames)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// Deterministic white noise (xorshift), uniform in [-amplitude, amplitude].
pub fn noise(amplitude: f32, frames: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.max(1);
    (0..frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            amplitude * (2.0 * u as f32 - 1.0)
        })
        .collect()
}

pub use gstbargein::audio::rms;

pub fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-12).log10()
}

/// Normalised correlation of two equally long signals.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-12)
}

/// Folder for generated fixtures, outside the repository's tracked files.
pub fn fixture_dir() -> PathBuf {
    let dir = std::env::var_os("BARGEIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("gst-bargein"))
        .join("fixtures");
    std::fs::create_dir_all(&dir).expect("fixture dir");
    dir
}

/// Speech from espeak-ng, mono f32 at `rate` (resampled with sox), cached.
/// Panics with a clear message when espeak-ng or sox is missing: the set-up
/// script installs both.
/// A caller's request ("I would like to speak to customer service
/// please", scaled by `gain`) placed from sample `start` on a silent track
/// of `len` samples: the voice itself and the track.
pub fn caller_over(len: usize, start: usize, rate: u32, gain: f32) -> (Vec<f32>, Vec<f32>) {
    let voice: Vec<f32> = speech(
        "I would like to speak to customer service please",
        "en-us",
        rate,
    )
    .iter()
    .map(|v| v * gain)
    .collect();
    let mut track = vec![0.0f32; len];
    for (t, v) in track.iter_mut().skip(start).zip(&voice) {
        *t = *v;
    }
    (voice, track)
}

pub fn speech(text: &str, voice: &str, rate: u32) -> Vec<f32> {
    let key = format!("{:016x}", fxhash(&format!("{voice}|{text}|{rate}")));
    let out = fixture_dir().join(format!("speech-{key}.wav"));
    if !out.exists() {
        // Unique per writer: threads of one process may make the same fixture.
        static WRITER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let me = format!(
            "{}-{}",
            std::process::id(),
            WRITER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let raw = fixture_dir().join(format!("speech-{key}-{me}-raw.wav"));
        let tmp = fixture_dir().join(format!("speech-{key}-{me}.wav"));
        let st = Command::new("espeak-ng")
            .args(["-v", voice, "-w"])
            .arg(&raw)
            .arg(text)
            .status()
            .expect("espeak-ng must be installed (scripts/setup.sh installs it)");
        assert!(st.success(), "espeak-ng failed");
        let st = Command::new("sox")
            .arg(&raw)
            .args([
                "-r",
                &rate.to_string(),
                "-c",
                "1",
                "-e",
                "floating-point",
                "-b",
                "32",
            ])
            .arg(&tmp)
            .status()
            .expect("sox must be installed (scripts/setup.sh installs it)");
        assert!(st.success(), "sox failed");
        std::fs::rename(&tmp, &out).expect("rename fixture");
        let _ = std::fs::remove_file(&raw);
    }
    read_wav_f32(&out)
}

pub fn read_wav_f32(path: &std::path::Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.expect("sample")).collect(),
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.expect("sample") as f32 / scale)
                .collect()
        }
    }
}

fn fxhash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A simple room: direct path after `delay_ms`, then exponentially decaying
/// noise reaching -60 dB after `rt60_ms`, with the reverberant energy 6 dB
/// below the direct path (a small office with a loudspeaker phone), all
/// scaled by `gain`.
pub fn room_impulse_response(
    rate: u32,
    delay_ms: u32,
    rt60_ms: u32,
    gain: f32,
    seed: u64,
) -> Vec<f32> {
    let delay = (rate as usize * delay_ms as usize) / 1000;
    let tail = ((rate as usize * rt60_ms as usize) / 1000).max(2);
    let mut h = vec![0.0f32; delay + tail];
    h[delay] = 1.0;
    let n = noise(1.0, tail, seed);
    let mut energy = 0.0f32;
    for (i, v) in n.iter().enumerate().skip(1) {
        // -60 dB at rt60: amplitude e^(-6.9 t / rt60)
        let env = (-6.9 * i as f32 / tail as f32).exp();
        h[delay + i] = v * env;
        energy += (v * env).powi(2);
    }
    let tail_gain = (0.25 / energy.max(1e-9)).sqrt();
    h.iter_mut().skip(delay + 1).for_each(|v| *v *= tail_gain);
    h.iter_mut().for_each(|v| *v *= gain);
    h
}

/// Direct-form convolution (fine for the few seconds the tests use).
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let nz: Vec<(usize, f32)> = h
        .iter()
        .enumerate()
        .filter(|(_, v)| v.abs() > 1e-5)
        .map(|(i, &v)| (i, v))
        .collect();
    let mut y = vec![0.0f32; x.len()];
    for (k, hk) in nz {
        for i in k..x.len() {
            y[i] += hk * x[i - k];
        }
    }
    y
}

pub fn mix(a: &[f32], b: &[f32]) -> Vec<f32> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| a.get(i).copied().unwrap_or(0.0) + b.get(i).copied().unwrap_or(0.0))
        .collect()
}

/// Repeats or trims `x` to exactly `n` samples.
pub fn fit(x: &[f32], n: usize) -> Vec<f32> {
    x.iter().copied().cycle().take(n).collect()
}

/// Drains an element's bus and returns the element messages' structures.
pub fn element_messages(bus: &gst::Bus) -> Vec<gst::Structure> {
    let mut out = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Element(_) = msg.view()
            && let Some(s) = msg.structure()
        {
            out.push(s.to_owned());
        }
    }
    out
}

/// Pulls the custom upstream events that reached the upstream end of a
/// harness, skipping the ones GStreamer itself sends (latency, reconfigure…).
pub fn custom_upstream_events(h: &mut gst_check::Harness) -> Vec<gst::Structure> {
    let mut out = Vec::new();
    while let Some(ev) = h.try_pull_upstream_event() {
        if ev.type_() == gst::EventType::CustomUpstream
            && let Some(s) = ev.structure()
        {
            out.push(s.to_owned());
        }
    }
    out
}

/// Amplitude of the `freq` component of `x` (Goertzel filter over a Hann
/// window, so that other tones nearby do not leak into it).
pub fn tone_amplitude(x: &[f32], freq: f64, rate: u32) -> f64 {
    let n = x.len();
    if n < 2 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut wsum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        let win = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
        wsum += win;
        let s0 = win * f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let re = s1 - s2 * w.cos();
    let im = s2 * w.sin();
    2.0 * (re * re + im * im).sqrt() / wsum
}

/// Writes mono 16-bit samples as a WAV file.
pub fn write_wav_s16(path: &std::path::Path, samples: &[f32], rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &v in samples {
        w.write_sample(gstbargein::audio::f32_to_s16(v))
            .expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// The appsrc called `name` in `bin`.
pub fn appsrc(bin: &impl IsA<gst::Bin>, name: &str) -> gst_app::AppSrc {
    bin.as_ref()
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSrc>()
        .unwrap_or_else(|_| panic!("{name} is not an appsrc"))
}

/// Everything the appsink called `name` in `bin` receives, decoded by `read`.
pub fn collect<T: Send + 'static>(
    bin: &impl IsA<gst::Bin>,
    name: &str,
    read: impl Fn(&gst::BufferRef) -> Vec<T> + Send + Sync + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<T>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let o2 = out.clone();
    bin.as_ref()
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSink>()
        .unwrap_or_else(|_| panic!("{name} is not an appsink"))
        .set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                    o2.lock().unwrap().extend(read(buf));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    out
}
