//! Other people talking in the caller's room (a call-centre lobby, a café):
//! speech to the model and near-end sound to the echo guard, so their
//! utterances confirm barge-ins of their own, and a caller who speaks
//! inside one brings no confirmation of their own. What sets the caller
//! apart is level: close to the microphone, louder than the room's
//! talkers. While most recent frames of playback sounded like speech, a
//! frame counts only if it stands out from the level of that speech
//! (`room-talk-db`).

use std::collections::VecDeque;

/// The window: 5 s of 32 ms engine frames.
const FRAMES: usize = 156;
/// Share of the window that must sound like speech for the room to be
/// talking: a caller's own turn over the prompt lasts a second or two, the
/// room's talk the whole call.
const DUTY: f64 = 0.6;

#[derive(Debug)]
pub struct RoomTalk {
    /// Recent frames of playback: level (dB), speech-like.
    frames: VecDeque<(f64, bool)>,
    speech: usize,
    sorted: Vec<f64>,
}

impl Default for RoomTalk {
    fn default() -> Self {
        Self {
            frames: VecDeque::with_capacity(FRAMES),
            speech: 0,
            sorted: Vec::with_capacity(FRAMES),
        }
    }
}

impl RoomTalk {
    pub fn reset(&mut self) {
        self.frames.clear();
        self.speech = 0;
    }

    pub fn push(&mut self, level: f64, speech: bool) {
        if self.frames.len() == FRAMES
            && let Some((_, s)) = self.frames.pop_front()
        {
            self.speech -= usize::from(s);
        }
        self.frames.push_back((level, speech));
        self.speech += usize::from(speech);
    }

    /// The level of the room's speech while the room talks: the median
    /// level of the speech-like frames once the window is full and
    /// `DUTY` of it is speech-like; None otherwise.
    pub fn level(&mut self) -> Option<f64> {
        if self.frames.len() < FRAMES || (self.speech as f64) < DUTY * FRAMES as f64 {
            return None;
        }
        self.sorted.clear();
        self.sorted
            .extend(self.frames.iter().filter(|f| f.1).map(|f| f.0));
        self.sorted.sort_by(f64::total_cmp);
        self.sorted.get(self.sorted.len() / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_talking_room_has_the_median_level_of_its_speech() {
        let mut r = RoomTalk::default();
        // Four frames in five speech-like, at -43 … -40 dB; the silent
        // ones are quieter and do not count.
        for i in 0..FRAMES {
            let speech = i % 5 != 0;
            r.push(
                if speech {
                    -44.0 + (i % 5) as f64
                } else {
                    -70.0
                },
                speech,
            );
            if i + 1 < FRAMES {
                assert_eq!(r.level(), None, "judged before the window was full");
            }
        }
        assert_eq!(r.level(), Some(-41.0));
    }

    #[test]
    fn a_caller_s_turn_is_not_a_talking_room() {
        let mut r = RoomTalk::default();
        // 2 s of speech at the end of 5 s of playback.
        for i in 0..FRAMES {
            r.push(-30.0, i >= FRAMES - 62);
        }
        assert_eq!(r.level(), None);
        // The room keeps talking: once 60 % of the window is speech it is.
        for _ in 0..32 {
            r.push(-40.0, true);
        }
        assert!(r.level().is_some());
        r.reset();
        assert_eq!(r.level(), None);
    }
}
