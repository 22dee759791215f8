//! ttsducker through gst-check's Harness (decisions sent into its src pad as
//! the detector would) and through a parsed pipeline for pause/release.

mod common;

use common::*;
use gstbargein::protocol::{self, Stage, Structure};

fn bargein(stage: Stage, onset_ms: u64) -> gst::Event {
    protocol::Bargein {
        stage,
        onset: gst::ClockTime::from_mseconds(onset_ms),
        detected: gst::ClockTime::from_mseconds(onset_ms + 64),
        far_active: true,
        source: protocol::Source::Speech,
    }
    .upstream_event()
}

fn release() -> gst::Event {
    protocol::BargeinRelease {
        onset: gst::ClockTime::ZERO,
        detected: gst::ClockTime::ZERO,
        duration: gst::ClockTime::ZERO,
    }
    .upstream_event()
}

fn harness(rate: u32, s16: bool) -> (gst_check::Harness, gst::Bus) {
    init();
    let mut h = gst_check::Harness::new("ttsducker");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(if s16 {
        caps_s16(rate, 1)
    } else {
        caps_f32(rate, 1)
    });
    (h, bus)
}

/// Pushes `n` samples of a constant 0.5 and returns the output samples.
fn push_const(h: &mut gst_check::Harness, rate: u32, s16: bool, first: u64, n: usize) -> Vec<f32> {
    let buf = if s16 {
        buffer_s16(&vec![16384i16; n], 1, rate, first)
    } else {
        buffer_f32(&vec![0.5f32; n], 1, rate, first)
    };
    let out = h.push_and_pull(buf).expect("buffer out");
    if s16 {
        read_s16(&out)
            .into_iter()
            .map(gstbargein::audio::s16_to_f32)
            .collect()
    } else {
        read_f32(&out)
    }
}

#[test]
fn ducks_and_restores_with_sample_accurate_ramps() {
    for (rate, s16) in [(8000, true), (16000, false), (48000, false), (48000, true)] {
        let (mut h, bus) = harness(rate, s16);
        let ms = rate as usize / 1000;
        assert!(
            push_const(&mut h, rate, s16, 0, 20 * ms)
                .iter()
                .all(|&v| (v - 0.5).abs() < 1e-4)
        );
        assert!(h.push_upstream_event(bargein(Stage::Tentative, 10)));
        let ducked = push_const(&mut h, rate, s16, 20 * ms as u64, 30 * ms);
        let attack = 10 * ms; // default attack-ms
        let max_step = 0.5 * 0.9 / attack as f32 + 1e-4;
        for w in ducked.windows(2) {
            assert!(w[1] <= w[0] + 1e-4, "{rate} Hz: duck ramp not monotone");
            assert!(
                w[0] - w[1] <= max_step,
                "{rate} Hz: step {} > {max_step} (click)",
                w[0] - w[1]
            );
        }
        assert!(
            (ducked[attack] - 0.05).abs() < 1e-3,
            "{rate} Hz: at -20 dB after attack-ms: {}",
            ducked[attack]
        );
        assert!(
            ducked[..attack - 1].iter().all(|&v| v > 0.05 + 1e-4),
            "{rate} Hz: reached the duck level early"
        );

        assert!(h.push_upstream_event(release()));
        let back = push_const(&mut h, rate, s16, 50 * ms as u64, 250 * ms);
        let rel = 200 * ms;
        for w in back.windows(2) {
            assert!(w[1] >= w[0] - 1e-4, "release ramp not monotone");
        }
        assert!(
            (back[rel] - 0.5).abs() < 1e-3 && (back[rel / 2] - 0.275).abs() < 0.01,
            "{rate} Hz release ramp"
        );
        let names: Vec<_> = element_messages(&bus)
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(names, ["tts-interrupted", "tts-resumed"], "{rate} Hz");
    }
}

#[test]
fn stop_flushes_downstream_drops_the_utterance_and_the_next_one_plays() {
    let rate = 16000;
    let (mut h, bus) = harness(rate, false);
    for i in 0..3 {
        push_const(&mut h, rate, false, i * 160, 160);
    }
    while h.try_pull_event().is_some() {}
    assert!(h.push_upstream_event(bargein(Stage::Confirmed, 5)));
    // The next buffer triggers the stop: no audio, a flush, then a GAP.
    h.push(buffer_f32(&[0.5; 160], 1, rate, 480)).unwrap();
    h.push(buffer_f32(&[0.5; 160], 1, rate, 640)).unwrap();
    assert!(
        h.try_pull().is_none(),
        "audio of the interrupted utterance came out"
    );
    let events: Vec<gst::EventType> = std::iter::from_fn(|| h.try_pull_event())
        .map(|e| e.type_())
        .collect();
    let pos = |t| {
        events
            .iter()
            .position(|e| *e == t)
            .unwrap_or_else(|| panic!("no {t:?} in {events:?}"))
    };
    assert!(pos(gst::EventType::FlushStart) < pos(gst::EventType::FlushStop));
    assert!(pos(gst::EventType::FlushStop) < pos(gst::EventType::Segment));
    assert_eq!(
        events.iter().filter(|e| **e == gst::EventType::Gap).count(),
        2,
        "{events:?}"
    );
    let interrupted: Vec<_> = element_messages(&bus)
        .iter()
        .filter_map(|s| protocol::TtsInterrupted::from_structure(s).ok())
        .collect();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].action, "stop");
    assert_eq!(interrupted[0].played, gst::ClockTime::from_mseconds(30));

    // The decision continued upstream, for a TTS source that can stop generating.
    let up: Vec<_> = custom_upstream_events(&mut h)
        .iter()
        .filter_map(|s| protocol::Bargein::from_structure(s).ok())
        .collect();
    assert_eq!(up.len(), 1);

    // The next utterance plays again.
    let mark = protocol::TtsMark {
        text: "Goodbye.".into(),
        new_utterance: true,
    };
    assert!(h.push_event(mark.downstream_event()));
    let out = push_const(&mut h, rate, false, 800, 160);
    assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    let resumed: Vec<_> = element_messages(&bus)
        .iter()
        .filter_map(|s| protocol::TtsResumed::from_structure(s).ok())
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].reason, "new-utterance");
}

#[test]
fn protected_audio_is_not_interrupted() {
    let rate = 8000;
    let (mut h, bus) = harness(rate, true);
    h.element().unwrap().set_property("protected", true);
    push_const(&mut h, rate, true, 0, 80);
    h.push_upstream_event(bargein(Stage::Confirmed, 1));
    assert!(
        push_const(&mut h, rate, true, 80, 80)
            .iter()
            .all(|&v| (v - 0.5).abs() < 1e-4)
    );
    let msgs = element_messages(&bus);
    let s: Vec<_> = msgs
        .iter()
        .filter_map(|s| protocol::Suppressed::from_structure(s).ok())
        .collect();
    assert_eq!(s.len(), 1, "{msgs:?}");
    assert_eq!(s[0].stage, Stage::Confirmed);

    // The same through the stream: bargein-protect from the TTS source.
    let (mut h, bus) = harness(rate, true);
    h.push_event(protocol::Protect { protected: true }.downstream_event());
    push_const(&mut h, rate, true, 0, 80);
    h.push_upstream_event(bargein(Stage::Tentative, 1));
    assert!(
        push_const(&mut h, rate, true, 80, 80)
            .iter()
            .all(|&v| (v - 0.5).abs() < 1e-4)
    );
    h.push_event(protocol::Protect { protected: false }.downstream_event());
    h.push_upstream_event(bargein(Stage::Tentative, 2));
    let out = push_const(&mut h, rate, true, 160, 160);
    assert!(out[159] < 0.1, "unprotected audio is ducked again");
    let names: Vec<_> = element_messages(&bus)
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    assert_eq!(names, ["bargein-suppressed", "tts-interrupted"]);
}

#[test]
fn heard_text_is_what_played_before_the_interruption() {
    let rate = 16000;
    let (mut h, bus) = harness(rate, false);
    let say = |h: &mut gst_check::Harness, text: &str, first: bool| {
        h.push_event(
            protocol::TtsMark {
                text: text.into(),
                new_utterance: first,
            }
            .downstream_event(),
        );
    };
    say(&mut h, "Welcome to ABC Bank.", true);
    push_const(&mut h, rate, false, 0, 16000);
    say(&mut h, "For account balance, press 1.", false);
    push_const(&mut h, rate, false, 16000, 8000);
    h.push_upstream_event(bargein(Stage::Confirmed, 1400));
    say(&mut h, "For loans, press 4.", false);
    h.push(buffer_f32(&[0.5; 160], 1, rate, 24000)).unwrap();
    let i: Vec<_> = element_messages(&bus)
        .iter()
        .filter_map(|s| protocol::TtsInterrupted::from_structure(s).ok())
        .collect();
    assert_eq!(i.len(), 1);
    assert_eq!(
        i[0].heard_text,
        "Welcome to ABC Bank. For account balance, press 1."
    );
    assert_eq!(i[0].played, gst::ClockTime::from_mseconds(1500));
}

#[test]
fn action_signals_duplicates_and_malformed_events() {
    let rate = 16000;
    let (mut h, bus) = harness(rate, false);
    let el = h.element().unwrap();
    el.emit_by_name::<()>("interrupt", &[&"tentative"]);
    let out = push_const(&mut h, rate, false, 0, 320);
    assert!(out[319] < 0.06, "signal did not duck");
    el.emit_by_name::<()>("reset", &[]);
    let out = push_const(&mut h, rate, false, 320, 4000);
    assert!((out[3999] - 0.5).abs() < 1e-4, "reset did not restore");

    // One decision arriving by two upstream paths acts once.
    h.push_upstream_event(bargein(Stage::Tentative, 500));
    h.push_upstream_event(bargein(Stage::Tentative, 500));
    push_const(&mut h, rate, false, 4320, 160);
    // Malformed: ours by name, wrong fields. Ignored, no panic.
    let bad = gst::event::CustomUpstream::new(
        gst::Structure::builder("bargein")
            .field("stage", 3i32)
            .build(),
    );
    let _ = h.push_upstream_event(bad);
    push_const(&mut h, rate, false, 4480, 160);
    let interrupted = element_messages(&bus)
        .iter()
        .filter(|s| s.name() == "tts-interrupted")
        .count();
    assert_eq!(interrupted, 2, "signal + one of the duplicate events");
}

#[test]
fn pause_holds_and_resumes_with_every_sample_exactly_once() {
    init();
    let rate = 16000u32;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=audio/x-raw,format=F32LE,rate={rate},channels=1,layout=interleaved \
         ! ttsducker name=d tentative-action=pause ! appsink name=out sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let ducker = pipeline.by_name("d").unwrap();
    let input: Vec<f32> = (0..16000).map(|i| (i % 1000) as f32 / 1000.0).collect();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g2 = got.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                g2.lock()
                    .unwrap()
                    .extend(read_f32(sample.buffer().unwrap()));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, c) in input.chunks(160).enumerate() {
        if i == 20 {
            ducker.emit_by_name::<()>("interrupt", &[&"tentative"]);
        }
        src.push_buffer(buffer_f32(c, 1, rate, (i * 160) as u64))
            .unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    // The streaming thread is now held; release when the pause is reported.
    let paused = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Element],
    );
    let paused = paused
        .and_then(|m| protocol::TtsInterrupted::from_message(&m).ok())
        .expect("pause reported");
    assert_eq!(paused.action, "pause");
    let before = got.lock().unwrap().len();
    assert!(before < input.len(), "audio kept flowing while paused");
    ducker.emit_by_name::<()>("release", &[]);
    let eos = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert!(matches!(
        eos.map(|m| m.type_()),
        Some(gst::MessageType::Eos)
    ));
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        input,
        "samples lost, repeated or changed across the pause"
    );
}

#[test]
fn property_defaults() {
    init();
    let el = gst::ElementFactory::make("ttsducker").build().unwrap();
    assert_eq!(el.property::<f64>("duck-level-db"), -20.0);
    assert_eq!(el.property::<u32>("attack-ms"), 10);
    assert_eq!(el.property::<u32>("release-ms"), 200);
    assert_eq!(el.property::<u32>("max-hold-ms"), 10_000);
    assert!(!el.property::<bool>("protected"));
    assert_eq!(
        el.property::<gstbargein::ttsducker::TentativeAction>("tentative-action"),
        gstbargein::ttsducker::TentativeAction::Duck
    );
    assert_eq!(
        el.property::<gstbargein::ttsducker::ConfirmedAction>("confirmed-action"),
        gstbargein::ttsducker::ConfirmedAction::Stop
    );
}
