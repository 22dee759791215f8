//! The systems we compare against, as policies on top of what a pipeline
//! reports:
//!
//! * **Pipecat** (Silero, confidence 0.7, `start_secs` 0.2 → interrupt) and
//!   **LiveKit Agents** (Silero, activation 0.5, `min_interruption_duration`
//!   0.5 s, interruptions ignored for the first 3 s of agent speech while the
//!   echo canceller warms up) are `bargeinvad` property sets, plus the
//!   warm-up filter below for LiveKit.
//! * **energy**: an RMS gate on the echo canceller's output, with our
//!   duration rules — what a neural VAD buys over a level threshold.
//! * **webrtcdsp**: GStreamer's `webrtcdsp` echo canceller and its WebRTC
//!   voice-activity messages, interrupting after 200 ms of continuous voice.
//!
//! The duration rules are the library's own `Decider`, so only the speech
//! measure differs between them and `ours`.

use crate::events::Event;
use gstbargein::bargeinvad::decision::{Decider, Decision, Frame, MS, Params};

/// `bargeinvad` properties reproducing Pipecat's default `VADParams`
/// (confidence 0.7, start 0.2 s, stop 0.8 s): it interrupts once speech has
/// lasted `start_secs`, so tentative and confirmed coincide.
pub const PIPECAT: &[(&str, &str)] = &[
    ("threshold", "0.7"),
    ("far-end-threshold", "0.7"),
    ("start-ms", "200"),
    ("confirm-ms", "200"),
    ("hangover-ms", "800"),
    // The frameworks' policies on our detector, without our additions.
    ("warmup-ms", "0"),
    ("onset-db", "0"),
    ("near-end-db", "-60"),
    ("room-talk-db", "0"),
];

/// LiveKit Agents defaults: Silero activation 0.5, min speech 50 ms, min
/// silence 550 ms, `min_interruption_duration` 0.5 s.
pub const LIVEKIT: &[(&str, &str)] = &[
    ("threshold", "0.5"),
    ("far-end-threshold", "0.5"),
    ("start-ms", "50"),
    ("confirm-ms", "500"),
    ("hangover-ms", "550"),
    // Its own 3 s guard is applied when scoring (`LIVEKIT_WARMUP_S`).
    ("warmup-ms", "0"),
    ("onset-db", "0"),
    ("near-end-db", "-60"),
    ("room-talk-db", "0"),
];
/// LiveKit ignores interruptions during the first this-many seconds the agent
/// speaks in a session (its echo canceller warming up).
pub const LIVEKIT_WARMUP_S: f64 = 3.0;

/// Frame length of the level-based policies.
pub const FRAME_S: f64 = 0.01;

#[derive(Debug, Clone, Copy)]
pub struct EnergyParams {
    /// 10 ms frames above this level (dBFS) count as speech.
    pub threshold_db: f64,
    pub start_ms: u64,
    pub confirm_ms: u64,
    pub hangover_ms: u64,
}

impl Default for EnergyParams {
    fn default() -> Self {
        // 7 dB under the corpus's talker level; our Silero durations.
        Self {
            threshold_db: -35.0,
            start_ms: 64,
            confirm_ms: 256,
            hangover_ms: 192,
        }
    }
}

impl EnergyParams {
    pub fn set(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        let v: f64 = value
            .parse()
            .map_err(|e| anyhow::anyhow!("energy.{key}={value}: {e}"))?;
        match key {
            "threshold-db" => self.threshold_db = v,
            "start-ms" => self.start_ms = v.max(0.0) as u64,
            "confirm-ms" => self.confirm_ms = v.max(0.0) as u64,
            "hangover-ms" => self.hangover_ms = v.max(0.0) as u64,
            _ => anyhow::bail!(
                "energy has threshold-db, start-ms, confirm-ms, hangover-ms; not {key:?}"
            ),
        }
        Ok(())
    }
}

/// Runs the library's decision rules over binary per-frame activity
/// (10 ms frames from time 0) and returns decisions as events.
pub fn decide_binary(
    system: &str,
    scene: &str,
    active: &[bool],
    start_ms: u64,
    confirm_ms: u64,
    hangover_ms: u64,
) -> Vec<Event> {
    let params = Params {
        threshold: 0.5,
        far_end_threshold: 0.5,
        start_ns: start_ms * MS,
        confirm_ns: confirm_ms.max(start_ms) * MS,
        hangover_ns: hangover_ms * MS,
    };
    let frame_ns = (FRAME_S * 1e9) as u64;
    let mut decider = Decider::default();
    let mut out = Vec::new();
    for (i, &a) in active.iter().enumerate() {
        let start = i as u64 * frame_ns;
        let frame = Frame {
            start,
            end: start + frame_ns,
            prob: if a { 1.0 } else { 0.0 },
            far_active: true,
            loud: false,
            warming: false,
            near: None,
            first_prob: if a { 1.0 } else { 0.0 },
        };
        decider.push(&params, frame, || start, &mut out);
    }
    let s = |ns: u64| ns as f64 / 1e9;
    out.into_iter()
        .filter_map(|d| match d {
            Decision::Tentative { onset, detected } => Some(Event::decision(
                system,
                scene,
                "tentative",
                "speech",
                s(onset),
                s(detected),
            )),
            Decision::Confirmed { onset, detected } => Some(Event::decision(
                system,
                scene,
                "confirmed",
                "speech",
                s(onset),
                s(detected),
            )),
            Decision::Release {
                onset, detected, ..
            } => Some(Event {
                onset: Some(s(onset)),
                time: Some(s(detected)),
                ..Event::new(system, scene, "release")
            }),
            Decision::SpeechEnd { onset, end, .. } => Some(Event {
                onset: Some(s(onset)),
                end: Some(s(end)),
                ..Event::new(system, scene, "speech-end")
            }),
            Decision::SpeechStart { .. } => None,
        })
        .collect()
}

/// The energy detector on per-10-ms-frame mean squares of the AEC output.
pub fn energy(system: &str, scene: &str, energies: &[f64], p: &EnergyParams) -> Vec<Event> {
    let thr = 10f64.powf(p.threshold_db / 10.0);
    let active: Vec<bool> = energies.iter().map(|&e| e > thr).collect();
    decide_binary(
        system,
        scene,
        &active,
        p.start_ms,
        p.confirm_ms,
        p.hangover_ms,
    )
}

/// webrtcdsp's `voice-activity` messages (time, has-voice), posted on
/// change, as 10 ms frames up to `duration_s`; 200 ms of continuous voice
/// interrupts (64 ms ducks).
pub fn webrtc_vad(
    system: &str,
    scene: &str,
    changes: &[(f64, bool)],
    duration_s: f64,
) -> Vec<Event> {
    let frames = (duration_s / FRAME_S).ceil().max(0.0) as usize;
    let mut sorted = changes.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut active = Vec::with_capacity(frames);
    let mut state = false;
    let mut next = sorted.iter().peekable();
    for i in 0..frames {
        let t = i as f64 * FRAME_S;
        while let Some((_, v)) = next.next_if(|(ct, _)| *ct <= t + 1e-9) {
            state = *v;
        }
        active.push(state);
    }
    decide_binary(system, scene, &active, 64, 200, 0)
}

/// The machine's utterances: 10 ms frames of the far end above −50 dBFS,
/// pauses shorter than 1 s belonging to the same utterance.
pub fn tts_spans(far_energies: &[f64]) -> Vec<(f64, f64)> {
    let thr = 1e-5; // −50 dBFS
    let gap = (1.0 / FRAME_S) as usize;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, &e) in far_energies.iter().enumerate() {
        if e <= thr {
            continue;
        }
        match spans.last_mut() {
            Some(last) if i - last.1 <= gap => last.1 = i,
            _ => spans.push((i, i)),
        }
    }
    spans
        .into_iter()
        .map(|(a, b)| (a as f64 * FRAME_S, (b + 1) as f64 * FRAME_S))
        .collect()
}

/// LiveKit's warm-up as intervals of speaking time, each with whether the
/// warm-up ran out at its end (rather than the utterance ending first);
/// also the closed loop's live guard (`closed.rs`).
pub fn warmup_spans(spans: &[(f64, f64)], warmup: f64) -> Vec<(f64, f64, bool)> {
    let mut warm = Vec::new();
    let mut left = warmup;
    for &(a, b) in spans {
        if left <= 0.0 {
            break;
        }
        let end = (a + left).min(b);
        left -= end - a;
        warm.push((a, end, left <= 0.0));
    }
    warm
}

/// LiveKit's warm-up (`aec_warmup_duration`): once per session, during the
/// first `warmup` seconds the agent speaks (counted across utterances),
/// decisions are dropped. A confirmed utterance still going when the
/// warm-up runs out interrupts then (LiveKit re-checks on every VAD update);
/// one whose prompt ends first was no interruption.
pub fn warmup_filter(events: Vec<Event>, spans: &[(f64, f64)], warmup: f64) -> Vec<Event> {
    let warm = warmup_spans(spans, warmup);
    let in_warmup = |t: f64| warm.iter().find(|w| t >= w.0 && t < w.1).copied();
    let ends: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e.kind == "speech-end")
        .filter_map(|e| Some((e.onset?, e.end?)))
        .collect();
    let mut out = Vec::new();
    for e in events {
        let decision = e.kind == "tentative" || e.kind == "confirmed";
        let Some((_, release, expired)) = e.time.filter(|_| decision).and_then(in_warmup) else {
            out.push(e);
            continue;
        };
        if expired && e.kind == "confirmed" && e.source.as_deref() != Some("dtmf") {
            let end = e
                .onset
                .and_then(|o| ends.iter().find(|(eo, _)| (eo - o).abs() < 1e-6))
                .map(|(_, end)| *end);
            if end.is_none_or(|end| end > release) {
                out.push(Event {
                    time: Some(release),
                    ..e
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(ev: &[Event], kind: &str) -> Vec<f64> {
        ev.iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| e.time)
            .map(|t| (t * 1000.0).round() / 1000.0)
            .collect()
    }

    #[test]
    fn binary_rules() {
        // 1 s idle, 300 ms active, idle: tentative at 1.07 (after 64 ms of
        // frames, counted to the end of the last active frame), confirmed at 1.26.
        let mut a = vec![false; 100];
        a.extend(vec![true; 30]);
        a.extend(vec![false; 50]);
        let ev = decide_binary("e", "s", &a, 64, 256, 100);
        assert_eq!(times(&ev, "tentative"), vec![1.07]);
        assert_eq!(times(&ev, "confirmed"), vec![1.26]);
        // A 100 ms burst only ducks and is released.
        let mut b = vec![false; 10];
        b.extend(vec![true; 10]);
        b.extend(vec![false; 30]);
        let ev = decide_binary("e", "s", &b, 64, 256, 100);
        assert_eq!(times(&ev, "tentative").len(), 1);
        assert!(times(&ev, "confirmed").is_empty());
        assert_eq!(times(&ev, "release").len(), 1);
    }

    #[test]
    fn energy_threshold() {
        let mut e = vec![1e-6; 50];
        e.extend(vec![1e-2; 40]); // −20 dBFS for 400 ms
        let ev = energy("e", "s", &e, &EnergyParams::default());
        assert_eq!(times(&ev, "confirmed"), vec![0.76]);
        let quiet = vec![1e-4; 200]; // −40 dBFS: under −35
        assert!(energy("e", "s", &quiet, &EnergyParams::default()).is_empty());
    }

    #[test]
    fn webrtc_continuous_voice() {
        // Voice from 1.0 to 1.15 (too short), then from 2.0 to 3.0.
        let c = [(1.0, true), (1.15, false), (2.0, true), (3.0, false)];
        let ev = webrtc_vad("w", "s", &c, 4.0);
        assert_eq!(times(&ev, "confirmed"), vec![2.2]);
        assert_eq!(times(&ev, "tentative"), vec![1.07, 2.07]);
    }

    #[test]
    fn tts_span_detection() {
        let mut far = vec![0.0; 30];
        far.extend(vec![1e-3; 100]);
        far.extend(vec![0.0; 50]); // a pause inside the utterance
        far.extend(vec![1e-3; 100]);
        far.extend(vec![0.0; 200]);
        far.extend(vec![1e-3; 10]);
        let s = tts_spans(&far);
        assert_eq!(s.len(), 2);
        assert!((s[0].0 - 0.3).abs() < 1e-9 && (s[0].1 - 2.8).abs() < 1e-9);
        assert!((s[1].0 - 4.8).abs() < 1e-9 && (s[1].1 - 4.9).abs() < 1e-9);
    }

    #[test]
    fn livekit_warmup() {
        let ev = vec![
            // Too early, utterance over before the warm-up ends: dropped.
            Event::decision("l", "s", "confirmed", "speech", 1.0, 1.5),
            Event {
                onset: Some(1.0),
                end: Some(2.0),
                ..Event::new("l", "s", "speech-end")
            },
            // Too early but still talking at 3.3 s: interrupts at 3.3.
            Event::decision("l", "s", "confirmed", "speech", 2.5, 3.0),
            // After the warm-up: kept.
            Event::decision("l", "s", "confirmed", "speech", 5.0, 5.5),
        ];
        let out = warmup_filter(ev, &[(0.3, 9.0)], 3.0);
        assert_eq!(times(&out, "confirmed"), vec![3.3, 5.5]);
    }

    #[test]
    fn livekit_warmup_is_counted_across_prompts_once() {
        let ev = vec![
            // In a 2 s greeting: the greeting ends first, no interruption.
            Event::decision("l", "s", "confirmed", "speech", 1.0, 1.5),
            // 0.5 s into the next prompt the 3 s are not yet used up
            // (2 + 0.5): dropped until 4.0 + 1.0 = 5.0, still talking.
            Event::decision("l", "s", "confirmed", "speech", 4.2, 4.5),
            // Later in that prompt, and in a third one: kept.
            Event::decision("l", "s", "confirmed", "speech", 6.0, 6.3),
            Event::decision("l", "s", "confirmed", "speech", 20.0, 20.2),
        ];
        let out = warmup_filter(ev, &[(0.0, 2.0), (4.0, 10.0), (19.0, 25.0)], 3.0);
        assert_eq!(times(&out, "confirmed"), vec![5.0, 6.3, 20.2]);
    }
}
