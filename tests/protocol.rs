//! Every protocol structure survives the trip through a GStreamer structure,
//! an event and a message, and malformed ones are told apart from others.

mod common;

use common::*;
use gstbargein::protocol::*;

fn t(ms: u64) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(ms)
}

fn roundtrip<T: Structure + PartialEq + std::fmt::Debug>(v: T) {
    init();
    let s = v.to_structure();
    assert_eq!(s.name(), T::NAME);
    assert_eq!(T::from_structure(&s).as_ref(), Ok(&v));
    assert_eq!(T::from_event(&v.upstream_event()).as_ref(), Ok(&v));
    assert_eq!(T::from_event(&v.downstream_event()).as_ref(), Ok(&v));
    let src = gst::ElementFactory::make("identity")
        .build()
        .expect("identity");
    assert_eq!(T::from_message(&v.message(&src)).as_ref(), Ok(&v));
}

#[test]
fn every_structure_roundtrips() {
    roundtrip(SpeechStart {
        onset: t(1000),
        detected: t(1064),
        probability: 0.93,
        far_active: true,
    });
    roundtrip(Bargein {
        stage: Stage::Tentative,
        onset: t(1000),
        detected: t(1064),
        far_active: false,
        source: Source::Speech,
    });
    roundtrip(Bargein {
        stage: Stage::Confirmed,
        onset: t(5),
        detected: t(45),
        far_active: true,
        source: Source::Dtmf,
    });
    roundtrip(BargeinRelease {
        onset: t(1),
        detected: t(2),
        duration: t(3),
    });
    roundtrip(SpeechEnd {
        onset: t(1),
        end: t(900),
        duration: t(899),
    });
    roundtrip(Dtmf {
        digit: "#".into(),
        onset: t(10),
        detected: t(50),
    });
    roundtrip(FarActivity {
        active: true,
        level_db: -23.5,
        converged: true,
        echo: true,
    });
    roundtrip(TtsMark {
        text: "For account balance, press 1.".into(),
        new_utterance: true,
    });
    roundtrip(Protect { protected: true });
    roundtrip(AecStats {
        erle_db: 31.0,
        erl_db: 6.0,
        delay_ms: 120,
        residual_echo_likelihood: 0.1,
        residual_echo_likelihood_recent_max: 0.2,
        measured_erle_db: 28.0,
        far_active: true,
        frames: 100,
        far_missing_frames: 3,
        echo_free: true,
    });
    roundtrip(TtsInterrupted {
        stage: Stage::Confirmed,
        action: "stop".into(),
        position: t(2500),
        played: t(2400),
        heard_text: "Welcome to ABC Bank.".into(),
    });
    roundtrip(TtsResumed {
        position: t(2600),
        reason: "release".into(),
    });
    roundtrip(Suppressed {
        stage: Stage::Tentative,
        source: Source::Speech,
        onset: t(7),
    });
    roundtrip(CallbargeMode {
        mode: "whisper".into(),
        previous: "listen".into(),
    });
}

#[test]
fn names_match_the_design_contract() {
    // DESIGN.md spells these; applications match on them.
    let expected = [
        "bargein-speech-start",
        "bargein",
        "bargein-release",
        "bargein-speech-end",
        "bargein-dtmf",
        "bargein-far-activity",
        "tts-mark",
        "bargein-protect",
        "bargein-aec-stats",
        "tts-interrupted",
        "tts-resumed",
        "bargein-suppressed",
        "callbarge-mode",
    ];
    assert_eq!(ALL_NAMES, expected);
    init();
    let s = Bargein {
        stage: Stage::Tentative,
        onset: t(1),
        detected: t(2),
        far_active: false,
        source: Source::Speech,
    }
    .to_structure();
    for field in ["stage", "onset", "detected", "far-active", "source"] {
        assert!(s.has_field(field), "missing {field}");
    }
    assert_eq!(s.get::<&str>("stage").unwrap(), "tentative");
    assert_eq!(s.get::<u64>("onset").unwrap(), 1_000_000);
}

#[test]
fn callbarge_mode_fields_match_the_design_contract() {
    init();
    let s = CallbargeMode {
        mode: "barge".into(),
        previous: "whisper".into(),
    }
    .to_structure();
    assert_eq!(s.name(), "callbarge-mode");
    assert_eq!(s.get::<&str>("mode").unwrap(), "barge");
    assert_eq!(s.get::<&str>("previous").unwrap(), "whisper");
    let missing = gst::Structure::builder("callbarge-mode")
        .field("mode", "listen")
        .build();
    assert_eq!(
        CallbargeMode::from_structure(&missing),
        Err(ParseError::BadField("previous"))
    );
}

#[test]
fn malformed_and_foreign_structures_are_told_apart() {
    init();
    let foreign = gst::Structure::builder("something-else")
        .field("stage", "tentative")
        .build();
    assert_eq!(
        Bargein::from_structure(&foreign),
        Err(ParseError::OtherName)
    );

    let missing = gst::Structure::builder("bargein")
        .field("stage", "tentative")
        .build();
    assert!(matches!(
        Bargein::from_structure(&missing),
        Err(ParseError::BadField(_))
    ));

    let wrong_type = gst::Structure::builder("bargein")
        .field("stage", "tentative")
        .field("onset", "yesterday")
        .field("detected", 1u64)
        .field("far-active", false)
        .field("source", "speech")
        .build();
    assert_eq!(
        Bargein::from_structure(&wrong_type),
        Err(ParseError::BadField("onset"))
    );

    let bad_stage = gst::Structure::builder("bargein")
        .field("stage", "maybe")
        .field("onset", 1u64)
        .field("detected", 1u64)
        .field("far-active", false)
        .field("source", "speech")
        .build();
    assert_eq!(
        Bargein::from_structure(&bad_stage),
        Err(ParseError::BadField("stage"))
    );

    // An EOS event has no structure: simply not ours.
    assert_eq!(
        Bargein::from_event(&gst::event::Eos::new()),
        Err(ParseError::OtherName)
    );
}

#[test]
fn optional_fields_default_sensibly() {
    init();
    let s = gst::Structure::builder("bargein-far-activity")
        .field("active", true)
        .field("level-db", -30.0f64)
        .build();
    assert_eq!(
        FarActivity::from_structure(&s),
        Ok(FarActivity {
            active: true,
            level_db: -30.0,
            converged: false,
            echo: true
        })
    );
    let s = gst::Structure::builder("tts-mark")
        .field("text", "hi")
        .build();
    assert_eq!(
        TtsMark::from_structure(&s),
        Ok(TtsMark {
            text: "hi".into(),
            new_utterance: false
        })
    );
}

/// bargeinaec's near-end meta survives a buffer copy (a tee, a queue) and
/// `audioconvert ! audioresample` (it is tagged `audio`, not by format), and
/// a malformed one is told apart from none.
#[test]
fn near_end_meta_roundtrips_and_survives_conversion() {
    init();
    let meta = NearEnd {
        start: t(120),
        step: t(10),
        unexplained_db: vec![-3.5, -40.0, 0.0],
        keys: Some(vec![LineKey {
            digit: "#".into(),
            onset: t(125),
            detected: t(165),
        }]),
        linear: Some(vec![0.25, -0.5, 1.0e-3]),
    };
    let mut buf = buffer_f32(&[0.0; 480], 1, 16000, 0);
    meta.attach(buf.make_mut()).expect("attach");
    assert_eq!(NearEnd::from_buffer(&buf), Some(Ok(meta.clone())));
    let copy = buf.copy();
    assert_eq!(NearEnd::from_buffer(&copy), Some(Ok(meta.clone())));
    // A second attach replaces the values instead of stacking a second meta.
    let mut twice = buffer_f32(&[0.0; 480], 1, 16000, 0);
    let other = NearEnd {
        unexplained_db: vec![-1.0],
        keys: None,
        linear: None,
        ..meta.clone()
    };
    meta.attach(twice.make_mut()).expect("attach");
    other.attach(twice.make_mut()).expect("attach again");
    assert_eq!(NearEnd::from_buffer(&twice), Some(Ok(other)));
    gst::meta::CustomMeta::from_mut_buffer(twice.make_mut(), NearEnd::META)
        .expect("the meta")
        .remove()
        .expect("removable");
    assert_eq!(
        NearEnd::from_buffer(&twice),
        None,
        "a second meta was stacked"
    );
    assert_eq!(
        NearEnd::from_buffer(&buffer_f32(&[0.0; 16], 1, 16000, 0)),
        None
    );

    let pipeline = gst::parse::launch(
        "appsrc name=src format=time caps=audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved \
         ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=8000 ! appsink name=sink sync=false",
    )
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");
    let seen = collect(&pipeline, "sink", |b| {
        vec![NearEnd::from_buffer(b).and_then(Result::ok)]
    });
    pipeline.set_state(gst::State::Playing).expect("play");
    let src = appsrc(&pipeline, "src");
    src.push_buffer(buf).expect("push");
    src.end_of_stream().expect("eos");
    let bus = pipeline.bus().expect("bus");
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&Some(meta.clone())),
        "lost in conversion: {seen:?}"
    );

    let mut bad = buffer_f32(&[0.0; 16], 1, 16000, 0);
    {
        let b = bad.make_mut();
        NearEnd::register();
        let mut m = gst::meta::CustomMeta::add(b, NearEnd::META).expect("add");
        m.mut_structure().set("start", "not a time");
    }
    assert!(matches!(NearEnd::from_buffer(&bad), Some(Err(_))));

    // Linear output that is not whole f32 samples is malformed, not truncated.
    let mut odd = buffer_f32(&[0.0; 16], 1, 16000, 0);
    meta.attach(odd.make_mut()).expect("attach");
    gst::meta::CustomMeta::from_mut_buffer(odd.make_mut(), NearEnd::META)
        .expect("the meta")
        .mut_structure()
        .set("linear", gst::Buffer::from_mut_slice(vec![0u8; 6]));
    assert!(matches!(NearEnd::from_buffer(&odd), Some(Err(_))));
}
