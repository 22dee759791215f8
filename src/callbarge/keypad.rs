//! The supervisor's keypad: DTMF on the supervisor's input switches the mode,
//! with the keys Asterisk's ChanSpy uses (4 listen, 5 whisper, 6 barge).
//! Plain Rust around the detector `bargeinvad` uses.

use super::Mode;
use crate::bargeinvad::dtmf::{DtmfDetector, Key};

/// The mode a key selects, if any.
pub fn mode_for_digit(digit: char) -> Option<Mode> {
    match digit {
        '4' => Some(Mode::Listen),
        '5' => Some(Mode::Whisper),
        '6' => Some(Mode::Barge),
        _ => None,
    }
}

pub struct Keypad {
    detector: DtmfDetector,
    keys: Vec<Key>,
}

impl Keypad {
    pub fn new(rate: u32) -> Self {
        Self {
            // The supervisor's raw line, as `bargeinaec` hears the caller's:
            // the in-band share and three blocks gave no false key in 4 h
            // of microphones with speech and echo, the whole-block rule 4
            // (a false key here barges into the call).
            detector: DtmfDetector::for_line(rate),
            keys: Vec::with_capacity(4),
        }
    }

    pub fn reset(&mut self) {
        self.detector.reset();
        self.keys.clear();
    }

    /// Feeds mono samples; returns the last mode key pressed in them.
    pub fn push(&mut self, samples: &[f32]) -> Option<(char, Mode)> {
        self.keys.clear();
        self.detector.push(samples, &mut self.keys);
        self.keys
            .iter()
            .rev()
            .find_map(|k| mode_for_digit(k.digit).map(|m| (k.digit, m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rate: u32, row: f64, col: f64, ms: u32) -> Vec<f32> {
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (0.25
                    * ((2.0 * std::f64::consts::PI * row * t).sin()
                        + (2.0 * std::f64::consts::PI * col * t).sin())) as f32
            })
            .collect()
    }

    #[test]
    fn keys_4_5_6_select_listen_whisper_barge() {
        for rate in [8000, 16000, 48000] {
            let mut k = Keypad::new(rate);
            let silence = vec![0.0; rate as usize / 10];
            let mut got = Vec::new();
            for (col, _) in [(1209.0, '4'), (1336.0, '5'), (1477.0, '6')] {
                for chunk in key(rate, 770.0, col, 120).chunks(rate as usize / 100) {
                    got.extend(k.push(chunk));
                }
                got.extend(k.push(&silence));
            }
            assert_eq!(
                got,
                [
                    ('4', Mode::Listen),
                    ('5', Mode::Whisper),
                    ('6', Mode::Barge)
                ],
                "{rate} Hz"
            );
        }
    }

    #[test]
    fn other_keys_do_nothing() {
        let mut k = Keypad::new(8000);
        // '1' (697 + 1209 Hz) and '#' (941 + 1477 Hz).
        assert_eq!(k.push(&key(8000, 697.0, 1209.0, 150)), None);
        assert_eq!(k.push(&vec![0.0; 800]), None);
        assert_eq!(k.push(&key(8000, 941.0, 1477.0, 150)), None);
        assert_eq!(mode_for_digit('0'), None);
    }
}
