//! bargeinvad through gst-check's Harness: generated speech (espeak-ng),
//! noise, real music on hold and DTMF tones.

mod common;

use common::*;
use gstbargein::protocol::{self, Structure};

struct Out {
    messages: Vec<gst::Structure>,
    upstream: Vec<gst::Structure>,
}

impl Out {
    fn bargeins(&self) -> Vec<protocol::Bargein> {
        self.messages
            .iter()
            .filter_map(|s| protocol::Bargein::from_structure(s).ok())
            .collect()
    }

    /// When each confirmed barge-in was detected, in seconds.
    fn confirmed_s(&self) -> Vec<f64> {
        self.bargeins()
            .iter()
            .filter(|b| b.stage == protocol::Stage::Confirmed)
            .map(|b| b.detected.nseconds() as f64 / 1e9)
            .collect()
    }

    /// When each confirmed barge-in was detected, in seconds after `onset_s`.
    fn confirmed_after(&self, onset_s: f64) -> Vec<f64> {
        self.confirmed_s().iter().map(|t| t - onset_s).collect()
    }

    fn stages(&self) -> Vec<&'static str> {
        self.messages
            .iter()
            .filter_map(|s| match s.name().as_str() {
                "bargein" => protocol::Bargein::from_structure(s)
                    .ok()
                    .map(|b| b.stage.as_str()),
                "bargein-release" => Some("release"),
                _ => None,
            })
            .collect()
    }
}

/// Pushes `samples` (mono, f32) in 20 ms buffers through a harness.
fn run_vad(
    samples: &[f32],
    rate: u32,
    s16: bool,
    props: &[(&str, gst::glib::Value)],
    before: impl FnOnce(&mut gst_check::Harness),
) -> Out {
    run_vad_meta(samples, rate, s16, props, before, None, None)
}

/// The same, with bargeinaec's near-end meta on every buffer: `near(t)` is
/// the share (dB) for the 10 ms frame starting at `t` seconds; `linear`, if
/// any, is AEC3's linear output for it (16 kHz, the timeline of `samples`).
fn run_vad_meta(
    samples: &[f32],
    rate: u32,
    s16: bool,
    props: &[(&str, gst::glib::Value)],
    before: impl FnOnce(&mut gst_check::Harness),
    near: Option<&dyn Fn(f64) -> f64>,
    linear: Option<&[f32]>,
) -> Out {
    run_vad_far(
        samples,
        rate,
        s16,
        props,
        before,
        Meta { near, linear },
        &[],
    )
}

/// bargeinaec's meta for `run_vad_far`.
struct Meta<'a> {
    near: Option<&'a dyn Fn(f64) -> f64>,
    linear: Option<&'a [f32]>,
}

/// The same, with far-end activity events sent before the first buffer
/// at or after their time (seconds).
fn run_vad_far(
    samples: &[f32],
    rate: u32,
    s16: bool,
    props: &[(&str, gst::glib::Value)],
    before: impl FnOnce(&mut gst_check::Harness),
    Meta { near, linear }: Meta,
    far: &[(f64, protocol::FarActivity)],
) -> Out {
    init();
    let mut h = gst_check::Harness::new("bargeinvad");
    let el = h.element().unwrap();
    for (k, v) in props {
        el.set_property_from_value(k, v);
    }
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    h.set_src_caps(if s16 {
        caps_s16(rate, 1)
    } else {
        caps_f32(rate, 1)
    });
    before(&mut h);
    let step = rate as usize / 50;
    let mut far = far.iter().peekable();
    for (i, c) in samples.chunks(step).enumerate() {
        let first = (i * step) as u64;
        let t = first as f64 / f64::from(rate);
        while let Some((_, a)) = far.next_if(|(at, _)| *at <= t) {
            assert!(h.push_event(a.downstream_event()));
        }
        let buf = if s16 {
            let v: Vec<i16> = c
                .iter()
                .map(|&x| gstbargein::audio::f32_to_s16(x))
                .collect();
            buffer_s16(&v, 1, rate, first)
        } else {
            buffer_f32(c, 1, rate, first)
        };
        let mut buf = buf;
        if let Some(near) = near {
            let start = frames_to_time(first, rate);
            let step = gst::ClockTime::from_mseconds(10);
            let t0 = start.nseconds() as f64 / 1e9;
            let meta = protocol::NearEnd {
                start,
                step,
                unexplained_db: vec![near(t0), near(t0 + 0.01)],
                keys: None,
                linear: linear.map(|l| {
                    let at = (t0 * 16000.0).round() as usize;
                    (at..at + 320)
                        .map(|i| l.get(i).copied().unwrap_or(0.0))
                        .collect()
                }),
            };
            meta.attach(buf.make_mut()).expect("meta");
        }
        let out = h.push_and_pull(buf).expect("audio passes");
        assert_eq!(
            out.size(),
            c.len() * if s16 { 2 } else { 4 },
            "pass-through changed the size"
        );
    }
    Out {
        messages: element_messages(&bus),
        upstream: custom_upstream_events(&mut h),
    }
}

/// First 10 ms block above -40 dBFS.
fn true_onset(x: &[f32], rate: u32) -> gst::ClockTime {
    let block = rate as usize / 100;
    let i = x.chunks(block).position(|c| rms(c) > 0.01).expect("speech");
    frames_to_time((i * block) as u64, rate)
}

fn speech_after_silence(rate: u32) -> (Vec<f32>, gst::ClockTime) {
    let mut x = noise(0.001, rate as usize, 5);
    x.extend(
        speech(
            "I would like to speak to customer service please",
            "en-us",
            rate,
        )
        .iter()
        .map(|v| v * 0.6),
    );
    x.extend(vec![0.0; rate as usize]);
    let onset = true_onset(&x, rate);
    (x, onset)
}

#[test]
fn speech_gives_one_tentative_then_one_confirmed_near_the_true_onset() {
    for (rate, s16) in [(16000, false), (8000, true), (48000, false), (16000, true)] {
        let (x, onset) = speech_after_silence(rate);
        let out = run_vad(&x, rate, s16, &[], |_| {});
        assert_eq!(
            out.stages(),
            ["tentative", "confirmed"],
            "{rate} Hz s16={s16}"
        );
        let b = out.bargeins();
        let err = b[0].onset.nseconds() as i64 - onset.nseconds() as i64;
        println!(
            "{rate} Hz: onset error {} ms, tentative after {}, confirmed after {}",
            err / 1_000_000,
            b[0].detected - b[0].onset,
            b[1].detected - b[1].onset
        );
        assert!(
            err.abs() <= 40_000_000,
            "{rate} Hz: onset off by {} ms",
            err / 1_000_000
        );
        assert!(
            b[0].detected <= onset + gst::ClockTime::from_mseconds(150),
            "tentative late"
        );
        assert_eq!(b[0].source, protocol::Source::Speech);
        assert!(!b[0].far_active);
        // The same decisions went upstream, in order.
        let up: Vec<_> = out
            .upstream
            .iter()
            .filter_map(|s| protocol::Bargein::from_structure(s).ok())
            .collect();
        assert_eq!(up, b, "upstream events differ from the messages");
        let names: Vec<_> = out.messages.iter().map(|s| s.name().to_string()).collect();
        assert!(
            names.contains(&"bargein-speech-start".into())
                && names.contains(&"bargein-speech-end".into()),
            "{names:?}"
        );
    }
}

fn burst(len_ms: u32, rate: u32, seed: u64) -> Vec<f32> {
    let n = rate as usize * len_ms as usize / 1000;
    let mut y = 0.0f32;
    noise(1.0, n, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            y = 0.6 * y + 0.4 * v;
            let t = i as f32 / n as f32;
            0.5 * y * (t * 30.0).min(1.0) * (1.0 - t).powi(2)
        })
        .collect()
}

#[test]
fn short_noises_never_confirm() {
    let rate = 16000;
    let mut x = vec![0.0f32; rate as usize / 2];
    x.extend(noise(0.3, rate as usize * 12 / 100, 1)); // 120 ms noise burst
    x.extend(vec![0.0; rate as usize]);
    for i in 0..8 {
        // click train, 8 clicks 50 ms apart
        let mut c = vec![0.0f32; rate as usize / 20];
        c[0] = 0.9;
        c[1] = -0.7;
        let _ = i;
        x.extend(c);
    }
    x.extend(vec![0.0; rate as usize]);
    x.extend(burst(200, rate, 3)); // a cough-like sound
    x.extend(vec![0.0; rate as usize]);
    let out = run_vad(&x, rate, false, &[], |_| {});
    let stages = out.stages();
    assert!(!stages.contains(&"confirmed"), "{stages:?}");
    let tentatives = stages.iter().filter(|s| **s == "tentative").count();
    let releases = stages.iter().filter(|s| **s == "release").count();
    assert_eq!(
        tentatives, releases,
        "every tentative is released: {stages:?}"
    );
}

#[test]
fn music_on_hold_and_steady_noise_never_confirm() {
    let audio = std::env::var_os("BARGEIN_AUDIO")
        .map(std::path::PathBuf::from)
        .expect("BARGEIN_AUDIO (scripts/setup.sh sets it)");
    let mut tracks: Vec<_> = std::fs::read_dir(audio.join("moh"))
        .expect("moh folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    tracks.sort();
    let moh = read_wav_f32(&tracks[0]);
    let minute = &moh[..(8000 * 60).min(moh.len())];
    let out = run_vad(minute, 8000, true, &[], |_| {});
    let stages = out.stages();
    println!("music on hold, 60 s: {stages:?}");
    assert!(
        !stages.contains(&"confirmed"),
        "music on hold confirmed a barge-in: {stages:?}"
    );

    let rate = 16000;
    let white = noise(0.1, rate as usize * 10, 8);
    let mut p = 0.0f32;
    let pinkish: Vec<f32> = noise(0.2, rate as usize * 10, 9)
        .iter()
        .map(|v| {
            p = 0.95 * p + 0.05 * v * 4.0;
            p
        })
        .collect();
    let mut r = 0.0f32;
    let rumble: Vec<f32> = noise(0.5, rate as usize * 10, 10)
        .iter()
        .map(|v| {
            r = 0.995 * r + 0.005 * v * 10.0;
            r * 0.5
        })
        .collect();
    for (name, x) in [("white", white), ("pink", pinkish), ("rumble", rumble)] {
        let out = run_vad(&x, rate, false, &[], |_| {});
        assert!(
            !out.stages().contains(&"confirmed"),
            "{name} noise confirmed: {:?}",
            out.stages()
        );
    }
}

/// Six talkers at −30 dB each, `seconds` long: the room behind the caller.
fn babble(rate: u32, seconds: usize) -> Vec<f32> {
    let texts = [
        "the weather is nice today",
        "please hold the line",
        "my account number is",
        "where is the station",
        "I will call you back later",
        "thank you very much",
    ];
    let voices = ["en-us", "en-gb", "de", "fr", "es", "en-us+f3"];
    let mut room = vec![0.0f32; rate as usize * seconds];
    for (t, v) in texts.iter().zip(voices) {
        let s = fit(&speech(t, v, rate), room.len());
        for (b, x) in room.iter_mut().zip(s) {
            *b += 0.03 * x;
        }
    }
    room
}

/// A prompt on a telephone line without echo, people talking in the
/// caller's room all along, the caller (about 12 dB louder) at 8 s. Once
/// the detector has heard 5 s of the room's talk it stops confirming it,
/// and the caller gets a confirmation of their own; without the rule the
/// room's talk runs into the caller's and hides them.
#[test]
fn a_caller_louder_than_the_talking_room_is_confirmed_inside_its_talk() {
    let rate = 16000;
    let mut x = babble(rate, 11);
    let at = 8 * rate as usize;
    let voice = speech("customer service please", "en-us", rate);
    let gain = 0.4 / voice.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, v) in voice.iter().enumerate() {
        if let Some(m) = x.get_mut(at + i) {
            *m += gain * v;
        }
    }
    let caller_s = at as f64 / f64::from(rate);
    let line = echo_free_prompt();
    let start = |h: &mut gst_check::Harness| assert!(h.push_event(line.downstream_event()));
    let onsets = |out: &Out| -> Vec<f64> {
        out.bargeins()
            .iter()
            .filter(|b| b.stage == protocol::Stage::Confirmed)
            .map(|b| b.onset.nseconds() as f64 / 1e9)
            .collect()
    };
    let caller = |o: &[f64]| {
        o.iter()
            .any(|&t| (caller_s - 0.1..caller_s + 0.6).contains(&t))
    };

    let on = onsets(&run_vad(&x, rate, false, &[], start));
    let off = onsets(&run_vad(
        &x,
        rate,
        false,
        &[("room-talk-db", 0.0f64.to_value())],
        start,
    ));
    println!("confirmed onsets: room-talk-db 6 {on:?}, off {off:?}");
    // The room is speech to the model: confirmed before the window is full.
    assert!(off.iter().any(|&t| t < caller_s), "{off:?}");
    assert!(
        on.iter().all(|&t| !(5.5..caller_s - 0.1).contains(&t)),
        "the talking room confirmed once learnt: {on:?}"
    );
    assert!(caller(&on), "caller not confirmed: {on:?}");
    assert!(
        !caller(&off),
        "the test room should hide the caller: {off:?}"
    );
}

/// `line` (low noise) with the caller's `words` added at `at_s`, peak 0.4.
fn with_caller(mut line: Vec<f32>, rate: u32, words: &[(&str, f64)]) -> Vec<f32> {
    for (text, at_s) in words {
        let voice = speech(text, "en-us", rate);
        let gain = 0.4 / voice.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let at = (at_s * f64::from(rate)) as usize;
        for (m, v) in line.iter_mut().skip(at).zip(&voice) {
            *m += gain * v;
        }
    }
    line
}

/// The onsets (seconds) of the barge-ins confirmed in `x` at the defaults,
/// with `far`'s activity events and no canceller meta.
fn confirmed_onsets(x: &[f32], rate: u32, far: &[(f64, protocol::FarActivity)]) -> Vec<f64> {
    let none = Meta {
        near: None,
        linear: None,
    };
    let out = run_vad_far(x, rate, false, &[], |_| {}, none, far);
    let onsets = out
        .bargeins()
        .iter()
        .filter(|b| b.stage == protocol::Stage::Confirmed)
        .map(|b| b.onset.nseconds() as f64 / 1e9)
        .collect();
    println!("confirmed onsets: {onsets:?}");
    onsets
}

/// A caller in a quiet room stops one prompt (the TTS goes silent 0.8 s
/// after they start) and barges into the next one too. Their first
/// barge-in is a tenth of the room-talk window: were it kept, their own
/// level would be the "room" the second one must stand out from.
#[test]
fn a_caller_s_barge_in_is_not_the_room_of_the_next_prompt() {
    let rate = 16000;
    let line = noise(0.001, rate as usize * 14, 7);
    let x = with_caller(
        line,
        rate,
        &[
            ("I want to speak to an agent", 6.0),
            ("customer service please", 10.5),
        ],
    );
    let prompt = echo_free_prompt();
    let stopped = protocol::FarActivity {
        active: false,
        ..prompt.clone()
    };
    let far = [(0.0, prompt.clone()), (6.8, stopped), (9.0, prompt)];
    let onsets = confirmed_onsets(&x, rate, &far);
    assert!(onsets.iter().any(|t| (5.9..6.6).contains(t)), "{onsets:?}");
    assert!(
        onsets.iter().any(|t| (10.4..11.1).contains(t)),
        "second barge-in: {onsets:?}"
    );
}

/// "Uh-huh", "okay", "uh-huh", then the real barge-in, within 3 s of one
/// prompt in a quiet room: the backchannels (the first confirms, the others
/// are then ducked only) must not become the room that hides it. Without
/// the floor of frames no confirmed barge-in claims, only the first
/// "uh-huh" was confirmed.
#[test]
fn backchannels_are_not_the_room_of_the_caller_s_barge_in() {
    let rate = 16000;
    let line = noise(0.001, rate as usize * 11, 8);
    let x = with_caller(
        line,
        rate,
        &[
            ("uh-huh", 5.5),
            ("okay", 6.5),
            ("uh-huh", 7.3),
            ("I want to speak to an agent", 8.2),
        ],
    );
    let far = [(0.0, echo_free_prompt())];
    let onsets = confirmed_onsets(&x, rate, &far);
    assert!(onsets.iter().any(|t| (8.1..8.8).contains(t)), "{onsets:?}");
}

fn dtmf(rate: u32, f1: f64, f2: f64) -> Vec<f32> {
    let mut x = vec![0.0f32; rate as usize / 2];
    x.extend((0..rate as usize * 7 / 100).map(|i| {
        let t = i as f64 / f64::from(rate);
        (0.3 * ((2.0 * std::f64::consts::PI * f1 * t).sin()
            + (2.0 * std::f64::consts::PI * f2 * t).sin())) as f32
    }));
    x.extend(vec![0.0; rate as usize / 2]);
    x
}

#[test]
fn every_dtmf_key_is_detected_and_confirms_at_once() {
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    let keys = ["123A", "456B", "789C", "*0#D"];
    for rate in [8000, 16000] {
        for (r, row) in rows.iter().enumerate() {
            for (c, col) in cols.iter().enumerate() {
                let out = run_vad(&dtmf(rate, *row, *col), rate, true, &[], |_| {});
                let digits: Vec<_> = out
                    .messages
                    .iter()
                    .filter_map(|s| protocol::Dtmf::from_structure(s).ok())
                    .collect();
                let want = keys[r].chars().nth(c).unwrap().to_string();
                assert_eq!(digits.len(), 1, "{rate} Hz {want}: {:?}", out.messages);
                assert_eq!(digits[0].digit, want);
                let b = out.bargeins();
                assert!(
                    b.iter().any(|b| b.source == protocol::Source::Dtmf
                        && b.stage == protocol::Stage::Confirmed)
                );
            }
        }
    }
    let (x, _) = speech_after_silence(8000);
    let out = run_vad(&x, 8000, true, &[], |_| {});
    assert!(
        !out.messages
            .iter()
            .any(|s| s.name() == protocol::Dtmf::NAME),
        "speech gave DTMF"
    );
    let out = run_vad(
        &dtmf(8000, 697.0, 1209.0),
        8000,
        true,
        &[("dtmf", false.to_value())],
        |_| {},
    );
    assert!(out.messages.is_empty(), "dtmf=false still detects");
}

#[test]
fn far_end_threshold_applies_only_while_the_far_end_plays() {
    let (x, _) = speech_after_silence(16000);
    let props = [("far-end-threshold", 1.0f64.to_value())];
    let quiet = run_vad(&x, 16000, false, &props, |_| {});
    assert_eq!(quiet.stages(), ["tentative", "confirmed"]);
    let far = protocol::FarActivity {
        active: true,
        level_db: -20.0,
        converged: true,
        echo: true,
    };
    let echoing = run_vad(&x, 16000, false, &props, |h| {
        assert!(h.push_event(far.downstream_event()));
    });
    assert!(
        echoing.stages().is_empty(),
        "far-end threshold ignored: {:?}",
        echoing.stages()
    );
    let off = protocol::FarActivity {
        active: false,
        level_db: -90.0,
        converged: true,
        echo: true,
    };
    let ended = run_vad(&x, 16000, false, &props, |h| {
        h.push_event(far.downstream_event());
        h.push_event(off.downstream_event());
    });
    assert_eq!(ended.stages(), ["tentative", "confirmed"]);
}

/// What bargeinaec says when a prompt starts playing into a room.
fn prompt_playing() -> protocol::FarActivity {
    protocol::FarActivity {
        active: true,
        level_db: -20.0,
        converged: false,
        echo: true,
    }
}

/// The prompt playing on a line whose phone cancels its own echo.
fn echo_free_prompt() -> protocol::FarActivity {
    protocol::FarActivity {
        echo: false,
        ..prompt_playing()
    }
}

/// A caller who barges in 1 s into the call's first prompt, while the echo
/// canceller warms up: heard when bargeinaec says the microphone holds
/// near-end power, ignored until the warm-up ends without that measurement,
/// and never taken for the caller when the canceller says it is all echo.
#[test]
fn during_the_warm_up_near_end_evidence_lets_a_caller_through() {
    let rate = 16000;
    let (x, onset) = speech_after_silence(rate);
    let far = prompt_playing();
    let start_far = |h: &mut gst_check::Harness| assert!(h.push_event(far.downstream_event()));
    let confirmed = |out: &Out| out.confirmed_s();
    let warmup_end = 2.5;
    let onset_s = onset.nseconds() as f64 / 1e9;
    let talking = |t: f64| t >= onset_s;

    let blind = run_vad(&x, rate, false, &[], start_far);
    assert!(
        confirmed(&blind).iter().all(|&t| t >= warmup_end),
        "confirmed during the warm-up without evidence: {:?}",
        confirmed(&blind)
    );

    let near_end = |t: f64| if talking(t) { -1.0 } else { -40.0 };
    let heard = run_vad_meta(&x, rate, false, &[], start_far, Some(&near_end), None);
    let c = confirmed(&heard);
    assert_eq!(c.len(), 1, "{:?}", heard.stages());
    assert!(
        c[0] - onset_s < 0.6,
        "confirmed {:.2} s after the onset",
        c[0] - onset_s
    );

    let all_echo = |_t: f64| -30.0;
    let echo = run_vad_meta(&x, rate, false, &[], start_far, Some(&all_echo), None);
    assert!(
        confirmed(&echo).is_empty(),
        "echo confirmed: {:?}",
        echo.stages()
    );
    // With the check turned off after the warm-up, the same speech confirms
    // once the warm-up is over.
    let off = [("near-end-db", (-60.0f64).to_value())];
    let late = run_vad_meta(&x, rate, false, &off, start_far, Some(&all_echo), None);
    assert!(
        confirmed(&late).first().is_some_and(|&t| t >= warmup_end),
        "{:?}",
        late.stages()
    );
}

/// The caller's request over the prompt, 3.25 s in (past the warm-up and
/// the linear filter's convergence): the track's length, the track, and
/// the true onset in seconds.
fn caller_after_the_warm_up(rate: u32) -> (usize, Vec<f32>, f64) {
    let lead = 3 * rate as usize + rate as usize / 4;
    let n = lead + 4 * rate as usize;
    let (_, caller) = caller_over(n, lead, rate, 0.6);
    let onset_s = true_onset(&caller, rate).nseconds() as f64 / 1e9;
    (n, caller, onset_s)
}

/// A caller who talks over the prompt after AEC3 has converged, whom its
/// suppressor cut to a whisper: missed on the processed audio alone, heard
/// by the second opinion on the canceller's linear output (where they are
/// whole) — and only where the near-end share says the microphone holds
/// more than echo.
#[test]
fn the_second_opinion_hears_the_cancellers_linear_output() {
    let rate = 16000;
    let (n, caller, onset_s) = caller_after_the_warm_up(rate);
    let floor = noise(0.001, n, 5);
    // What AEC3 let through, the caller 40 dB down (at −34 dB the model
    // alone confirms them), and its linear output.
    let processed = mix(&floor, &caller.iter().map(|v| v * 0.01).collect::<Vec<_>>());
    let linear = mix(&floor, &caller);
    let far = prompt_playing();
    let start_far = |h: &mut gst_check::Harness| assert!(h.push_event(far.downstream_event()));
    let confirmed = |out: &Out| out.confirmed_after(onset_s);
    let near_end = |t: f64| if t >= onset_s { -2.0 } else { -30.0 };
    let heard_with_linear = |audio: &[f32], near: &dyn Fn(f64) -> f64| {
        run_vad_meta(
            audio,
            rate,
            false,
            &[],
            start_far,
            Some(near),
            Some(&linear),
        )
    };

    let suppressed = run_vad_meta(
        &processed,
        rate,
        false,
        &[],
        start_far,
        Some(&near_end),
        None,
    );
    assert!(
        confirmed(&suppressed).is_empty(),
        "the whisper alone confirmed: {:?}",
        suppressed.stages()
    );
    let heard = heard_with_linear(&processed, &near_end);
    let c = confirmed(&heard);
    assert_eq!(c.len(), 1, "{:?}", heard.stages());
    assert!(
        (0.0..1.0).contains(&c[0]),
        "confirmed {:.2} s after the onset",
        c[0]
    );
    // The same linear output where the canceller says it is all echo.
    let all_echo = |_t: f64| -30.0;
    let echo = heard_with_linear(&processed, &all_echo);
    assert!(
        confirmed(&echo).is_empty(),
        "echo confirmed: {:?}",
        echo.stages()
    );
    // Nor where the first model hears nothing at all: the linear output's
    // echo and noise alone do not stop the prompt.
    let muted = heard_with_linear(&floor, &near_end);
    assert!(
        confirmed(&muted).is_empty(),
        "confirmed on the linear output alone: {:?}",
        muted.stages()
    );
}

/// Where AEC3's suppressor let the frames through (its output as loud as
/// the linear output) but the first model does not hear speech in them (a
/// memory that took seconds of echo for the background), the second
/// opinion on the linear output counts. Here the processed audio is the
/// caller's power with the waveform's signs scrambled: noise to any model.
#[test]
fn the_second_opinion_counts_where_the_suppressor_let_the_caller_through() {
    let rate = 16000;
    let (n, caller, onset_s) = caller_after_the_warm_up(rate);
    let floor = noise(0.001, n, 5);
    let linear = mix(&floor, &caller);
    let signs = noise(1.0, n, 9);
    let scrambled: Vec<f32> = caller
        .iter()
        .zip(&signs)
        .map(|(v, s)| if *s < 0.0 { -v } else { *v })
        .collect();
    let far = prompt_playing();
    let start_far = |h: &mut gst_check::Harness| assert!(h.push_event(far.downstream_event()));
    let near_end = |t: f64| if t >= onset_s { -2.0 } else { -30.0 };
    let run = |processed: &[f32]| {
        run_vad_meta(
            processed,
            rate,
            false,
            &[],
            start_far,
            Some(&near_end),
            Some(&linear),
        )
    };

    let passed = run(&mix(&floor, &scrambled));
    let c = passed.confirmed_after(onset_s);
    assert_eq!(c.len(), 1, "{:?}", passed.stages());
    assert!(
        (0.0..1.0).contains(&c[0]),
        "confirmed {:.2} s after the onset",
        c[0]
    );
    // The same noise 20 dB under the linear output: the suppressor took
    // most of it for echo, and the first model's word stands.
    let cut: Vec<f32> = scrambled.iter().map(|v| v * 0.1).collect();
    let suppressed = run(&mix(&floor, &cut));
    assert!(
        suppressed.confirmed_after(onset_s).is_empty(),
        "confirmed where the suppressor cut the frames: {:?}",
        suppressed.stages()
    );
}

/// In double talk AEC3's suppressor leaves a caller in pieces: no piece
/// lasts start-ms, but the canceller sees the caller in each one, and
/// together they confirm.
#[test]
fn a_caller_the_suppressor_leaves_in_pieces_is_confirmed() {
    let rate = 16000;
    let (n, caller, onset_s) = caller_after_the_warm_up(rate);
    // 128 ms of the caller kept in every 384 ms, the rest cut 40 dB: the
    // gaps outlast the hangover, no piece lasts confirm-ms (with pieces
    // 128 ms apart the model's hangover bridges the gaps on its own).
    let kept = |t: f64| t >= onset_s && ((t - onset_s) * 1000.0) as u64 % 384 < 128;
    let pieces: Vec<f32> = caller
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if kept(i as f64 / f64::from(rate)) {
                *v
            } else {
                v * 0.01
            }
        })
        .collect();
    let audio = mix(&noise(0.001, n, 5), &pieces);
    let far = prompt_playing();
    let start_far = |h: &mut gst_check::Harness| assert!(h.push_event(far.downstream_event()));
    let run = |near: &dyn Fn(f64) -> f64| {
        run_vad_meta(&audio, rate, false, &[], start_far, Some(near), None)
    };
    let after_onset = |out: &Out| out.confirmed_after(onset_s);

    let seen = |t: f64| if kept(t) { -2.0 } else { -30.0 };
    let heard = run(&seen);
    let c = after_onset(&heard);
    assert!(
        !c.is_empty(),
        "the pieces never confirmed: {:?}",
        heard.stages()
    );
    assert!(
        (0.0..1.5).contains(&c[0]),
        "confirmed {:.2} s after the onset: {:?}",
        c[0],
        heard.stages()
    );
    // The same audio where the canceller says it is all echo.
    let echo = run(&|_t: f64| -30.0);
    assert!(
        after_onset(&echo).is_empty(),
        "echo confirmed: {:?}",
        echo.stages()
    );
}

/// After the warm-up, while the canceller settles (`settle-ms`), speech the
/// canceller half explains (−13 dB unexplained: what a reverberant room
/// leaks then) is not the caller; with the stage off it is, and a caller it
/// sees clearly (−2 dB) gets through the stage.
#[test]
fn while_the_canceller_settles_a_half_explained_leak_is_not_the_caller() {
    let rate = 16000;
    let (n, caller, onset_s) = caller_after_the_warm_up(rate);
    let audio = mix(&noise(0.001, n, 5), &caller);
    let far = prompt_playing();
    let start_far = |h: &mut gst_check::Harness| assert!(h.push_event(far.downstream_event()));
    let run = |props: &[(&str, gst::glib::Value)], talking_db: f64| {
        let near = move |t: f64| if t >= onset_s { talking_db } else { -30.0 };
        run_vad_meta(&audio, rate, false, props, start_far, Some(&near), None)
    };
    let after_onset = |out: &Out| out.confirmed_after(onset_s);

    let settling = run(&[], -13.0);
    assert!(
        after_onset(&settling).is_empty(),
        "a half-explained leak confirmed while the canceller settles: {:?}",
        settling.stages()
    );
    let off = [("settle-ms", 0u32.to_value())];
    let settled = run(&off, -13.0);
    let c = after_onset(&settled);
    assert!(
        c.first().is_some_and(|t| (0.0..1.0).contains(t)),
        "without the stage the same speech must confirm: {:?}",
        settled.stages()
    );
    let clear = run(&[], -2.0);
    let c = after_onset(&clear);
    assert!(
        c.first().is_some_and(|t| (0.0..1.0).contains(t)),
        "a caller the canceller sees must confirm while it settles: {:?}",
        clear.stages()
    );
}

/// The warm-up is counted in far-end time, wherever the stream starts on the
/// running time (a call answered 20 s after the pipeline started).
#[test]
fn the_warm_up_holds_when_the_stream_starts_late() {
    let rate = 16000;
    let (x, _) = speech_after_silence(rate);
    let far = prompt_playing();
    let late = gst::ClockTime::from_seconds(20);
    let out = run_vad(&x, rate, false, &[], |h| {
        let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
        seg.set_base(late);
        assert!(h.push_event(gst::event::Segment::new(&seg)));
        assert!(h.push_event(far.downstream_event()));
    });
    let first = out.bargeins().first().map(|b| b.detected);
    assert!(
        first.is_some_and(|t| t >= late + gst::ClockTime::from_mseconds(2500)),
        "decided at {} during the warm-up",
        first.display()
    );
}

#[test]
fn running_times_follow_the_segment() {
    let (x, onset) = speech_after_silence(16000);
    let base = gst::ClockTime::from_seconds(10);
    let out = run_vad(&x, 16000, false, &[], |h| {
        let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
        seg.set_base(base);
        assert!(h.push_event(gst::event::Segment::new(&seg)));
    });
    let b = out.bargeins();
    let err = b[0].onset.nseconds() as i64 - (base + onset).nseconds() as i64;
    assert!(
        err.abs() <= 40_000_000,
        "onset {} vs {}",
        b[0].onset,
        base + onset
    );
}

#[test]
fn disabled_posts_nothing_and_a_missing_model_is_an_error() {
    let (x, _) = speech_after_silence(16000);
    let out = run_vad(&x, 16000, false, &[("enabled", false.to_value())], |_| {});
    assert!(out.stages().is_empty());

    init();
    let el = gst::ElementFactory::make("bargeinvad")
        .property("model-path", "/nonexistent/silero.onnx")
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    assert!(el.set_state(gst::State::Paused).is_err());
    let err = std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    assert!(
        err.is_some_and(|e| e.contains("/nonexistent/silero.onnx")),
        "no clear error"
    );
    let _ = el.set_state(gst::State::Null);
}

#[test]
fn property_defaults() {
    init();
    let el = gst::ElementFactory::make("bargeinvad").build().unwrap();
    assert!(el.property::<bool>("enabled"));
    assert!(el.property::<bool>("send-events"));
    assert!(el.property::<bool>("dtmf"));
    assert_eq!(el.property::<f64>("threshold"), 0.5);
    assert_eq!(el.property::<f64>("far-end-threshold"), 0.7);
    assert_eq!(el.property::<u32>("start-ms"), 64);
    assert_eq!(el.property::<u32>("confirm-ms"), 256);
    assert_eq!(el.property::<u32>("hangover-ms"), 192);
    assert_eq!(el.property::<u32>("warmup-ms"), 2500);
    assert_eq!(el.property::<u32>("settle-ms"), 5000);
    assert_eq!(el.property::<f64>("onset-db"), 6.0);
    assert_eq!(el.property::<f64>("near-end-db"), -16.0);
    assert_eq!(el.property::<f64>("room-talk-db"), 6.0);
    assert_eq!(el.property::<Option<String>>("model-path"), None);
}

/// The detector flushes subnormals to zero while it works (they slowed the
/// chain by a third) but the thread belongs to whoever pushed: its float
/// mode must be as it was once the buffer is through.
#[test]
fn the_pushing_thread_keeps_its_float_mode() {
    let subnormal = || std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5);
    assert!(subnormal() > 0.0);
    let (x, _) = speech_after_silence(16000);
    let out = run_vad(&x, 16000, false, &[], |_| {});
    assert!(!out.bargeins().is_empty(), "the detector ran on the speech");
    assert!(
        subnormal() > 0.0,
        "bargeinvad left flush-to-zero set on the pushing thread"
    );
}

/// With `bargeinaec` upstream the keys come in its meta, heard before the
/// canceller: they are reported at their running times and the detector's
/// own receiver, which would hear the same key again in the audio, skips
/// those buffers. A buffer without the meta is listened to again.
#[test]
fn keys_in_the_cancellers_meta_are_reported_once() {
    init();
    let rate = 8000;
    // A real key "5" in the audio, as the canceller's output would carry it.
    let audio = dtmf(rate, 770.0, 1336.0);
    let key_at = gst::ClockTime::from_mseconds(500);
    let run = |with_meta: bool| {
        let mut h = gst_check::Harness::new("bargeinvad");
        let bus = gst::Bus::new();
        h.element().unwrap().set_bus(Some(&bus));
        h.set_src_caps(caps_f32(rate, 1));
        let step = rate as usize / 50;
        for (i, c) in audio.chunks(step).enumerate() {
            let first = (i * step) as u64;
            let mut buf = buffer_f32(c, 1, rate, first);
            let start = frames_to_time(first, rate);
            if with_meta {
                // The canceller reports "5" on the buffer where it heard it.
                let heard = start <= key_at + gst::ClockTime::from_mseconds(50)
                    && key_at + gst::ClockTime::from_mseconds(50)
                        < start + gst::ClockTime::from_mseconds(20);
                protocol::NearEnd {
                    start,
                    step: gst::ClockTime::from_mseconds(10),
                    unexplained_db: vec![-3.0, -3.0],
                    keys: Some(if heard {
                        vec![protocol::LineKey {
                            digit: "5".into(),
                            onset: key_at,
                            detected: key_at + gst::ClockTime::from_mseconds(50),
                        }]
                    } else {
                        Vec::new()
                    }),
                    linear: None,
                }
                .attach(buf.make_mut())
                .expect("meta");
            }
            h.push_and_pull(buf).expect("audio passes");
        }
        element_messages(&bus)
            .iter()
            .filter_map(|s| protocol::Dtmf::from_structure(s).ok())
            .collect::<Vec<_>>()
    };
    let from_meta = run(true);
    assert_eq!(from_meta.len(), 1, "{from_meta:?}");
    assert_eq!(from_meta[0].digit, "5");
    assert_eq!(from_meta[0].onset, key_at);
    assert_eq!(
        from_meta[0].detected,
        key_at + gst::ClockTime::from_mseconds(50)
    );
    let own = run(false);
    assert_eq!(
        own.len(),
        1,
        "without the meta the detector listens: {own:?}"
    );
    assert_eq!(own[0].digit, "5");
}
