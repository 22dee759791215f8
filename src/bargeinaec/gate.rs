//! Echo-path detection: is there any echo of the far end in the microphone?
//!
//! On a telephone line (a mobile phone with its own canceller, a headset,
//! a SIP softphone) there often is none. WebRTC AEC3 cannot know that during
//! its first seconds and suppresses hard: measured over G.711 RTP, it cut the
//! first 500 ms of a caller who barged in 2 s into a prompt by 68 dB, so the
//! barge-in was never confirmed — and callers who know the menu interrupt
//! exactly then. When the microphone stays quiet while the far end plays,
//! there is no echo path; the element then passes the microphone through (AEC3
//! keeps adapting underneath) until the microphone's waveform correlates with
//! the far end's at some delay, which an echo does and a caller's own voice
//! does not. (Envelope correlation was tried first: two unrelated voices'
//! syllable envelopes correlate as much as a reverberant echo's.)

use std::collections::VecDeque;

/// A microphone frame quieter than this, while the far end plays, carries no
/// usable echo (line noise of a quiet telephone line sits below it).
pub const QUIET_DB: f64 = -55.0;
/// Far-end activity with a quiet microphone needed to declare the line
/// echo-free: longer than the longest echo delay expected (the evaluation's
/// rooms go to 300 ms, VoIP paths further), or the microphone is still quiet
/// because the echo has not arrived yet, and the gate passes that echo
/// through to the detector uncancelled (measured: 300 ms declared a room
/// with a 280 ms echo echo-free, and its prompt stopped itself).
const QUIET_FOR_FRAMES: u32 = 50;
/// The correlation is computed on the signals block-averaged to about 2 kHz:
/// speech energy (and any echo of it) lies mostly below 1 kHz.
const DS_RATE: usize = 2000;
/// Microphone history correlated, and the largest echo delay looked for.
const WINDOW: usize = DS_RATE;
const MAX_LAG: usize = DS_RATE * 3 / 10;
/// Normalized cross-correlation from which the microphone carries an echo.
/// In the unit tests' synthetic voices, unrelated voices peak at 0.35 for a
/// moment (0.03–0.18 over whole seconds); an echo 12 dB down with a
/// reverberant tail scores 0.47–0.67.
const ECHO_CORRELATION: f64 = 0.4;
/// Frames between two correlation checks (each costs ~1 M multiply-adds).
const CHECK_EVERY: u32 = 10;

#[derive(Debug, Default)]
pub struct EchoGate {
    echo_free: bool,
    quiet_frames: u32,
    since_check: u32,
    far: VecDeque<f32>,
    mic: VecDeque<f32>,
    far_last: f32,
    mic_last: f32,
}

impl EchoGate {
    /// Whether the microphone is currently judged free of echo.
    pub fn echo_free(&self) -> bool {
        self.echo_free
    }

    /// Feeds one 10 ms frame: the far reference and the microphone (mono,
    /// same rate) with their levels in dBFS. Returns whether the microphone
    /// is echo-free after it.
    pub fn update(
        &mut self,
        far: &[f32],
        mic: &[f32],
        far_db: f64,
        mic_db: f64,
        far_active: bool,
    ) -> bool {
        let factor = (far.len() * 100 / DS_RATE).max(1);
        push_averaged(
            &mut self.far,
            &mut self.far_last,
            far,
            factor,
            WINDOW + MAX_LAG,
        );
        push_averaged(&mut self.mic, &mut self.mic_last, mic, factor, WINDOW);
        if !far_active {
            return self.echo_free;
        }
        let _ = far_db;
        if mic_db < QUIET_DB {
            self.quiet_frames = self.quiet_frames.saturating_add(1);
            if self.quiet_frames >= QUIET_FOR_FRAMES {
                self.echo_free = true;
            }
            return self.echo_free;
        }
        self.quiet_frames = 0;
        if self.echo_free {
            self.since_check += 1;
            if self.since_check >= CHECK_EVERY {
                self.since_check = 0;
                if self.best_correlation() >= ECHO_CORRELATION {
                    self.echo_free = false;
                }
            }
        }
        self.echo_free
    }

    /// Highest normalized correlation of the microphone with the far end
    /// delayed by 0..=MAX_LAG samples (at DS_RATE).
    fn best_correlation(&self) -> f64 {
        let n = self.mic.len();
        if n < WINDOW / 2 || self.far.len() < n + MAX_LAG {
            return 0.0;
        }
        let mic: Vec<f32> = self.mic.iter().copied().collect();
        let far: Vec<f32> = self.far.iter().copied().collect();
        // far[end - n - lag .. end - lag] lines up with the microphone.
        let end = far.len();
        let mic_energy: f64 = mic.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        if mic_energy < 1e-12 {
            return 0.0;
        }
        (0..=MAX_LAG)
            .map(|lag| {
                let seg = &far[end - n - lag..end - lag];
                let (mut dot, mut e) = (0.0f64, 0.0f64);
                for (a, b) in seg.iter().zip(&mic) {
                    dot += f64::from(*a) * f64::from(*b);
                    e += f64::from(*a) * f64::from(*a);
                }
                if e < 1e-12 {
                    0.0
                } else {
                    dot.abs() / (e * mic_energy).sqrt()
                }
            })
            .fold(0.0, f64::max)
    }
}

/// Appends `x` block-averaged by `factor` and differenced, keeping at most
/// `cap` samples. The difference whitens the spectrum, so the correlation
/// rests on the waveform's detail rather than on two voices' pitch, which may
/// match for a syllable; a linear echo keeps its correlation either way.
fn push_averaged(ring: &mut VecDeque<f32>, last: &mut f32, x: &[f32], factor: usize, cap: usize) {
    for block in x.chunks(factor) {
        if ring.len() == cap {
            ring.pop_front();
        }
        let v = block.iter().sum::<f32>() / block.len() as f32;
        ring.push_back(v - *last);
        *last = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: usize = 16000;
    const FRAME: usize = RATE / 100;

    /// Speech-like noise: a random walk pitch pulse train with syllable
    /// envelopes, seeded; deterministic.
    fn voice(frames: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32
        };
        let n = frames * FRAME;
        let mut out = Vec::with_capacity(n);
        let mut lp = 0.0f32;
        while out.len() < n {
            let len = (0.08 + 0.2 * rnd()) * RATE as f32;
            let f0 = 90.0 + 120.0 * rnd();
            let amp = 0.05 + 0.2 * rnd();
            for k in 0..len as usize {
                let t = k as f32 / RATE as f32;
                let env = (std::f32::consts::PI * k as f32 / len).sin();
                let src = (std::f32::consts::TAU * f0 * t).sin().signum() + 0.3 * (rnd() - 0.5);
                lp += 0.2 * (src - lp);
                out.push(amp * env * lp);
            }
            out.extend(std::iter::repeat_n(
                0.0,
                (0.05 * RATE as f32 * (1.0 + rnd())) as usize,
            ));
        }
        out.truncate(n);
        out
    }

    fn db(x: &[f32]) -> f64 {
        crate::audio::level_db(x)
    }

    /// Runs the gate over far/mic signals; returns its state after each frame.
    fn run(g: &mut EchoGate, far: &[f32], mic: &[f32]) -> Vec<bool> {
        far.chunks(FRAME)
            .zip(mic.chunks(FRAME))
            .map(|(f, m)| g.update(f, m, db(f), db(m), db(f) > -50.0))
            .collect()
    }

    /// A reverberant echo: 40 ms late, 12 dB down, with a decaying tail.
    fn echo_of(far: &[f32]) -> Vec<f32> {
        let delay = RATE * 40 / 1000;
        let mut out = vec![0.0; far.len()];
        let mut s = 7u64;
        for tap in 0..RATE / 5 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let sign = if (s >> 40) & 1 == 1 { 1.0 } else { -1.0 };
            let g = if tap == 0 {
                0.25
            } else {
                0.02 * sign * (-(tap as f32) / 800.0).exp()
            };
            if g.abs() < 1e-4 {
                continue;
            }
            for i in delay + tap..far.len() {
                out[i] += g * far[i - delay - tap];
            }
        }
        out
    }

    #[test]
    fn quiet_line_becomes_echo_free_and_a_caller_keeps_it_so() {
        for seed in 1..8 {
            let mut g = EchoGate::default();
            let far = voice(400, seed);
            let mut mic = vec![0.0; 100 * FRAME];
            mic.extend(voice(300, seed + 99));
            let states = run(&mut g, &far, &mic);
            // Far speech begins within the first frames; 500 ms of quiet mic.
            assert!(states[90], "a silent line was not found echo-free");
            assert!(
                states[90..].iter().all(|&s| s),
                "the caller's voice was taken for echo (seed {seed})"
            );
        }
    }

    #[test]
    fn an_echo_that_appears_ends_echo_free_mode() {
        let mut g = EchoGate::default();
        let far = voice(400, 3);
        let echo = echo_of(&far);
        let mut mic = vec![0.0; 100 * FRAME];
        mic.extend_from_slice(&echo[100 * FRAME..]);
        let states = run(&mut g, &far, &mic);
        assert!(states[90]);
        let cleared = states[100..]
            .iter()
            .position(|&s| !s)
            .expect("echo never detected");
        // The window still holds the quiet second before the echo appeared.
        assert!(cleared < 100, "echo detected only after {cleared} frames");
    }

    #[test]
    fn an_echo_that_arrives_late_is_not_taken_for_a_quiet_line() {
        // 360 ms of echo delay (a large room behind a VoIP path): the
        // microphone is quiet for that long after the prompt starts.
        let mut g = EchoGate::default();
        let far = voice(300, 11);
        let echo = echo_of(&far);
        let late = RATE * 320 / 1000;
        let mut mic = vec![0.0; late];
        mic.extend_from_slice(&echo[..echo.len() - late]);
        assert!(run(&mut g, &far, &mic).iter().all(|&s| !s));
    }

    #[test]
    fn a_room_with_echo_never_becomes_echo_free() {
        let mut g = EchoGate::default();
        let far = voice(300, 5);
        let mic = echo_of(&far);
        assert!(run(&mut g, &far, &mic).iter().all(|&s| !s));
    }

    #[test]
    fn no_far_end_no_decision() {
        let mut g = EchoGate::default();
        let silence = vec![0.0; 100 * FRAME];
        assert!(run(&mut g, &silence, &silence).iter().all(|&s| !s));
    }
}
