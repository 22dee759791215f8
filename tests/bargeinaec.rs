//! bargeinaec on generated echo scenes: espeak-ng speech played into a
//! simulated room and picked up again by the "microphone".

mod common;

use common::*;
use gstbargein::protocol::{self, Structure};
use std::sync::{Arc, Mutex};

struct Run {
    out: Vec<f32>,
    messages: Vec<gst::Structure>,
    /// What went downstream of the element, in order: "buffer" or an event name.
    flow: Vec<String>,
    /// The custom downstream events themselves, each with the number of
    /// samples the element had output before it.
    events: Vec<(usize, gst::Structure)>,
    /// The near-end meta of every output buffer (None: a buffer without).
    near: Vec<Option<protocol::NearEnd>>,
}

/// The length of the buffers `run_aec` pushes: odd-sized, so the element's
/// framing is exercised.
const BUFFER_MS: usize = 7;

/// Runs appsrc(far) + appsrc(near) → bargeinaec → appsink, non-live, with
/// `BUFFER_MS` buffers.
fn run_aec(
    far: Option<(&[f32], u32, u32)>,
    near: &[f32],
    rate: u32,
    format: &str,
    props: &[(&str, glib::Value)],
) -> Run {
    run_aec_with(far, near, rate, format, props, |_| {})
}

/// `run_aec`, with `setup` called on the element before it starts.
fn run_aec_with(
    far: Option<(&[f32], u32, u32)>,
    near: &[f32],
    rate: u32,
    format: &str,
    props: &[(&str, glib::Value)],
    setup: impl FnOnce(&gst::Element),
) -> Run {
    init();
    let near_caps =
        format!("audio/x-raw,format={format},rate={rate},channels=1,layout=interleaved");
    let far_part = match far {
        Some((_, far_rate, far_ch)) => format!(
            "appsrc name=far format=time caps=audio/x-raw,format=F32LE,rate={far_rate},channels={far_ch},layout=interleaved ! aec.far_sink "
        ),
        None => String::new(),
    };
    let pipeline = gst::parse::launch(&format!(
        "{far_part} appsrc name=near format=time caps={near_caps} ! aec.sink \
         bargeinaec name=aec ! appsink name=out sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");
    let aec = pipeline.by_name("aec").expect("aec");
    for (k, v) in props {
        aec.set_property_from_value(k, v);
    }
    setup(&aec);
    let flow = Arc::new(Mutex::new(Vec::new()));
    let f2 = flow.clone();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let near_metas = Arc::new(Mutex::new(Vec::new()));
    let n2 = near_metas.clone();
    let sample_bytes = if format == "F32LE" { 4 } else { 2 };
    let samples_out = std::sync::atomic::AtomicUsize::new(0);
    aec.static_pad("src").expect("src").add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let what = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    n2.lock()
                        .unwrap()
                        .push(protocol::NearEnd::from_buffer(b).and_then(Result::ok));
                    samples_out.fetch_add(b.size() / sample_bytes, Ordering::Relaxed);
                    "buffer".to_string()
                }
                Some(gst::PadProbeData::Event(e)) => match e.structure() {
                    Some(s) if e.type_() == gst::EventType::CustomDownstream => {
                        let at = samples_out.load(Ordering::Relaxed);
                        e2.lock().unwrap().push((at, s.to_owned()));
                        s.name().to_string()
                    }
                    _ => format!("{:?}", e.type_()),
                },
                _ => return gst::PadProbeReturn::Ok,
            };
            f2.lock().unwrap().push(what);
            gst::PadProbeReturn::Ok
        },
    );
    let f32_out = format == "F32LE";
    let out = collect(&pipeline, "out", move |buf| {
        if f32_out {
            read_f32(buf)
        } else {
            read_s16(buf)
                .into_iter()
                .map(gstbargein::audio::s16_to_f32)
                .collect()
        }
    });
    pipeline.set_state(gst::State::Playing).unwrap();

    let push = |name: &str, data: &[f32], rate: u32, ch: u32, fmt: &str| {
        let src = pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        let step = (rate as usize * BUFFER_MS / 1000) * ch as usize;
        for (i, chunk) in data.chunks(step).enumerate() {
            let first = (i * step / ch as usize) as u64;
            let buf = if fmt == "F32LE" {
                buffer_f32(chunk, ch, rate, first)
            } else {
                let s: Vec<i16> = chunk
                    .iter()
                    .map(|&v| gstbargein::audio::f32_to_s16(v))
                    .collect();
                buffer_s16(&s, ch, rate, first)
            };
            src.push_buffer(buf).unwrap();
        }
        src.end_of_stream().unwrap();
    };
    if let Some((far, far_rate, far_ch)) = far {
        push("far", far, far_rate, far_ch, "F32LE");
    }
    push("near", near, rate, 1, format);

    let bus = pipeline.bus().unwrap();
    let mut messages = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("error: {} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(_) => messages.push(msg.structure().unwrap().to_owned()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let out = out.lock().unwrap().clone();
    let flow = flow.lock().unwrap().clone();
    let events = events.lock().unwrap().clone();
    let near = near_metas.lock().unwrap().clone();
    Run {
        out,
        messages,
        flow,
        events,
        near,
    }
}

use gst::glib;
use gst_base::prelude::AggregatorExtManual;
use std::sync::atomic::Ordering;

/// Far = a prompt; mic = its echo through a room, plus quiet noise.
fn echo_scene(rate: u32, delay_ms: u32) -> (Vec<f32>, Vec<f32>) {
    let far: Vec<f32> = speech(
        "Welcome to ABC Bank. For account balance, press 1. For recent transactions, press 2. \
         For credit card services, press 3.",
        "en-us+f3",
        rate,
    )
    .iter()
    .map(|v| v * 0.5)
    .collect();
    let room = room_impulse_response(rate, delay_ms, 250, 0.5, 5);
    let echo = convolve(&far, &room);
    let mic = mix(&echo, &noise(0.0003, far.len(), 9));
    (far, mic)
}

/// ERLE over the second half (after convergence), where the far end is loud.
fn erle_db(mic: &[f32], out: &[f32], rate: u32) -> f64 {
    let half = mic.len() / 2;
    let n = out.len().min(mic.len());
    let (mut e_in, mut e_out) = (0f64, 0f64);
    for block in (half..n).step_by(rate as usize / 100) {
        let end = (block + rate as usize / 100).min(n);
        let bi = rms(&mic[block..end]);
        if bi > 0.01 {
            e_in += bi * bi;
            e_out += rms(&out[block..end]).powi(2);
        }
    }
    10.0 * (e_in / e_out.max(1e-15)).log10()
}

#[test]
fn cancels_echo_at_16_khz() {
    let (far, mic) = echo_scene(16000, 120);
    let run = run_aec(Some((&far, 16000, 1)), &mic, 16000, "F32LE", &[]);
    assert_eq!(run.out.len(), mic.len(), "every near-end sample comes out");
    let erle = erle_db(&mic, &run.out, 16000);
    println!("ERLE 16 kHz: {erle:.1} dB");
    assert!(erle >= 20.0, "ERLE {erle:.1} dB < 20 dB");
}

#[test]
fn cancels_echo_at_48_khz_s16() {
    let (far, mic) = echo_scene(48000, 60);
    let run = run_aec(Some((&far, 48000, 1)), &mic, 48000, "S16LE", &[]);
    assert_eq!(run.out.len(), mic.len());
    let erle = erle_db(&mic, &run.out, 48000);
    println!("ERLE 48 kHz: {erle:.1} dB");
    assert!(erle >= 20.0, "ERLE {erle:.1} dB < 20 dB");
}

#[test]
fn converts_a_far_end_at_another_rate_and_channel_count() {
    let (far16, mic) = echo_scene(16000, 200);
    // The same prompt as the TTS produced it: 48 kHz stereo.
    let far48: Vec<f32> = speech(
        "Welcome to ABC Bank. For account balance, press 1. For recent transactions, press 2. \
         For credit card services, press 3.",
        "en-us+f3",
        48000,
    )
    .iter()
    .flat_map(|v| [v * 0.5, v * 0.5])
    .collect();
    assert!((far48.len() / 6).abs_diff(far16.len()) < 200);
    let run = run_aec(Some((&far48, 48000, 2)), &mic, 16000, "F32LE", &[]);
    let erle = erle_db(&mic, &run.out, 16000);
    println!("ERLE with a 48 kHz stereo far end: {erle:.1} dB");
    assert!(erle >= 15.0, "ERLE {erle:.1} dB");
}

#[test]
fn near_voice_survives_double_talk() {
    let rate = 16000;
    let (far, echo) = echo_scene(rate, 80);
    // The caller talks over the second half of the prompt.
    let start = far.len() / 2;
    let (voice, near_clean) = caller_over(far.len(), start, rate, 0.4);
    let mic = mix(&echo, &near_clean);
    let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
    let region = start..(start + voice.len()).min(far.len());
    let out = &run.out[region.clone()];
    let clean = &near_clean[region.clone()];
    let corr = correlation(out, clean);
    let level = db(rms(out) / rms(clean));
    let corr_mic = correlation(&mic[region], clean);
    println!("double talk: correlation {corr:.2} (mic {corr_mic:.2}), level {level:+.1} dB");
    // The echo is gone where only the prompt plays, yet the caller is intact.
    let echo_only = 0..start;
    let reduction = db(rms(&mic[echo_only.clone()]) / rms(&run.out[echo_only]).max(1e-9));
    println!("echo reduction before the caller speaks: {reduction:.1} dB");
    assert!(reduction > 15.0, "echo reduced by {reduction:.1} dB only");
    // A room with an echo path is never taken for an echo-free line.
    assert!(
        run.events
            .iter()
            .filter_map(|(_, s)| protocol::FarActivity::from_structure(s).ok())
            .all(|a| a.echo),
        "echo path missed"
    );
    assert!(corr > 0.6, "caller's voice damaged: correlation {corr:.2}");
    assert!(level > -6.0, "caller's voice attenuated by {level:.1} dB");
}

/// The near-end meta (for bargeinvad's echo guard): on every buffer, one
/// value per 10 ms frame, low where the microphone holds only the prompt's
/// echo — even in the first second, before AEC3 has converged — and high
/// where a caller talks over it.
#[test]
fn measures_near_end_power_beside_the_echo() {
    let rate = 16000;
    let (far, echo) = echo_scene(rate, 80);
    let voice: Vec<f32> = speech("Customer service please", "en-us", rate)
        .iter()
        .map(|v| v * 0.4)
        .collect();
    // The caller barges in 1.2 s into the prompt, during AEC3's warm-up.
    let start = rate as usize * 6 / 5;
    let mut near_clean = vec![0.0f32; far.len()];
    for (n, v) in near_clean[start..].iter_mut().zip(&voice) {
        *n = *v;
    }
    let mic = mix(&echo, &near_clean);
    let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
    assert!(
        run.near.iter().all(Option::is_some),
        "a buffer without the near-end meta"
    );
    let values: Vec<(f64, f64)> = run
        .near
        .iter()
        .flatten()
        .flat_map(|n| {
            let step = n.step.nseconds() as f64 / 1e9;
            let t0 = n.start.nseconds() as f64 / 1e9;
            n.unexplained_db
                .iter()
                .enumerate()
                .map(move |(i, &v)| (t0 + i as f64 * step, v))
                .collect::<Vec<_>>()
        })
        .collect();
    let frames = (mic.len() as f64 / f64::from(rate) / 0.01).floor() as usize;
    assert!(
        values.len().abs_diff(frames) <= 2,
        "{} values for {frames} frames",
        values.len()
    );
    let share = |from: f64, to: f64, pick: &dyn Fn(usize) -> bool| {
        let sel: Vec<f64> = values
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .filter(|(t, _)| pick((t * f64::from(rate)) as usize))
            .map(|&(_, v)| v)
            .collect();
        sel.iter().filter(|&&v| v >= -6.0).count() as f64 / sel.len().max(1) as f64
    };
    // Echo only: from 0.6 s of prompt to the caller.
    let echo_share = share(0.6, start as f64 / f64::from(rate), &|_| true);
    // The caller: frames where their voice is within 20 dB of its peak.
    let peak = voice.iter().fold(0f32, |m, v| m.max(v.abs()));
    let loud = |i: usize| {
        near_clean
            .get(i..i + 160)
            .is_some_and(|w| w.iter().any(|v| v.abs() > peak * 0.1))
    };
    let end = (start + voice.len()) as f64 / f64::from(rate);
    let caller_share = share(start as f64 / f64::from(rate), end, &loud);
    println!("near-end frames: echo only {echo_share:.2}, caller {caller_share:.2}");
    assert!(
        echo_share < 0.15,
        "echo taken for the caller: {echo_share:.2}"
    );
    assert!(caller_share > 0.5, "caller not seen: {caller_share:.2}");
}

/// A telephone line without echo (the caller's phone cancels its own),
/// `noise_amp` of line noise throughout, the caller barging in `start_s`
/// into the prompt. Returns the caller's first 500 ms after the element
/// relative to the microphone (dB) and their correlation, and whether the
/// element told downstream the line is echo-free before the caller spoke.
fn caller_on_an_echo_free_line(noise_amp: f32, start_s: f64) -> (f64, f64, bool) {
    let rate = 8000;
    let far: Vec<f32> = speech(
        "Welcome to ABC Bank. For account balance, press 1. For recent transactions, press 2.",
        "en-us+f3",
        rate,
    )
    .iter()
    .map(|v| v * 0.5)
    .collect();
    let voice: Vec<f32> = speech("Customer service", "en-us", rate)
        .iter()
        .map(|v| v * 0.35)
        .collect();
    let start = (f64::from(rate) * start_s) as usize;
    let mut mic = noise(noise_amp, far.len(), 5);
    for (i, v) in voice.iter().enumerate() {
        if let Some(m) = mic.get_mut(start + i) {
            *m += *v;
        }
    }
    let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
    assert_eq!(run.out.len(), mic.len());
    let first = start..start + rate as usize / 2;
    let level = db(rms(&run.out[first.clone()]) / rms(&mic[first.clone()]).max(1e-9));
    let corr = correlation(&run.out[first.clone()], &mic[first]);
    println!("caller's first 500 ms on an echo-free line: {level:+.1} dB, correlation {corr:.2}");
    // Downstream was told there is no echo to guard against, before the
    // caller spoke.
    let told = run
        .events
        .iter()
        .filter(|(at, _)| *at < start)
        .filter_map(|(_, s)| protocol::FarActivity::from_structure(s).ok())
        .any(|a| a.active && !a.echo);
    (level, corr, told)
}

/// A quiet line, the caller 1.5 s into the prompt, before AEC3 could have
/// converged: the element finds no echo path (the microphone stayed quiet)
/// and passes the caller through; AEC3 alone cut the first half second of
/// such a caller by over 60 dB.
#[test]
fn caller_on_an_echo_free_line_is_not_suppressed_early() {
    let (level, corr, told) = caller_on_an_echo_free_line(0.0, 1.5);
    assert!(level > -3.0, "caller attenuated by {level:.1} dB");
    assert!(corr > 0.9, "caller altered: correlation {corr:.2}");
    assert!(told, "never reported the line echo-free before the caller");
}

/// The same line with noise behind the phone (−40 dBFS, well above the
/// quiet line's −55): nothing in the microphone correlates with the prompt,
/// so the element finds no echo path either. Before it looked for that,
/// AEC3 muted such a caller by ~30 dB for the whole first prompt.
#[test]
fn caller_on_a_noisy_echo_free_line_is_not_suppressed() {
    let (level, corr, told) = caller_on_an_echo_free_line(0.017, 3.0);
    assert!(level > -3.0, "caller attenuated by {level:.1} dB");
    assert!(corr > 0.9, "caller altered: correlation {corr:.2}");
    assert!(told, "never reported the line echo-free before the caller");
}

#[test]
fn passthrough_is_bit_exact_without_processing() {
    let (far, mic) = echo_scene(16000, 100);
    let props = [
        ("echo-cancel", false.to_value()),
        ("high-pass-filter", false.to_value()),
    ];
    let run = run_aec(Some((&far, 16000, 1)), &mic, 16000, "F32LE", &props);
    assert_eq!(run.out, mic, "F32 passthrough not bit-exact");
    let mic_s16: Vec<f32> = mic
        .iter()
        .map(|&v| gstbargein::audio::s16_to_f32(gstbargein::audio::f32_to_s16(v)))
        .collect();
    let run = run_aec(Some((&far, 16000, 1)), &mic, 16000, "S16LE", &props);
    assert_eq!(run.out, mic_s16, "S16 passthrough not bit-exact");
}

#[test]
fn unsupported_caps_are_refused() {
    init();
    for caps in [
        caps_f32(44100, 1),
        caps_f32(16000, 6),
        caps(gst_audio::AudioFormat::S24le, 16000, 1),
    ] {
        let mut h = gst_check::Harness::with_padnames("bargeinaec", Some("sink"), Some("src"));
        h.set_src_caps(caps.clone());
        let r = h.push(buffer_f32(&[0.0; 160], 1, 16000, 0));
        assert_eq!(r, Err(gst::FlowError::NotNegotiated), "{caps} accepted");
    }
}

#[test]
fn live_near_end_flows_when_the_far_end_never_speaks() {
    init();
    let mut near = gst_check::Harness::with_padnames("bargeinaec", Some("sink"), Some("src"));
    let el = near.element().unwrap();
    // far_sink is linked (to a harness) but never receives anything.
    let _far = gst_check::Harness::with_element(&el, Some("far_sink"), None);
    near.set_src_caps(caps_f32(16000, 1));
    near.use_testclock();
    let mut expected_pts = gst::ClockTime::ZERO;
    let mut total = 0usize;
    for i in 0..100u64 {
        // 10 ms buffers: a live aggregator pad holds about one latency's worth
        // (10 ms) before a push blocks, so each push is followed by the timeout.
        let data = sine(300.0, 0.3, 16000, 160);
        near.push(buffer_f32(&data, 1, 16000, i * 160)).unwrap();
        near.crank_single_clock_wait().unwrap();
        while let Some(b) = near.try_pull() {
            assert_eq!(b.pts(), Some(expected_pts), "timestamps must be continuous");
            expected_pts += b.duration().unwrap();
            total += b.size() / 4;
        }
    }
    assert!(
        total >= 49 * 320,
        "only {total} of {} samples came out",
        50 * 320
    );
}

#[test]
fn upstream_events_reach_both_inputs() {
    init();
    let mut near = gst_check::Harness::with_padnames("bargeinaec", Some("sink"), Some("src"));
    let el = near.element().unwrap();
    // (Linked after the element started; its caps are not needed for this.)
    let mut far = gst_check::Harness::with_element(&el, Some("far_sink"), None);
    near.set_src_caps(caps_f32(16000, 1));
    let decision = protocol::Bargein {
        stage: protocol::Stage::Confirmed,
        onset: gst::ClockTime::from_mseconds(100),
        detected: gst::ClockTime::from_mseconds(300),
        far_active: true,
        source: protocol::Source::Speech,
    };
    assert!(near.push_upstream_event(decision.upstream_event()));
    for (name, h) in [("sink", &mut near), ("far_sink", &mut far)] {
        let got: Vec<_> = custom_upstream_events(h)
            .iter()
            .filter_map(|s| protocol::Bargein::from_structure(s).ok())
            .collect();
        assert_eq!(got, vec![decision.clone()], "upstream of {name}");
    }
}

#[test]
fn far_activity_follows_caps_and_segment_and_changes_only() {
    let rate = 16000;
    // 1 s silence, 2 s prompt, 1.5 s silence.
    let mut far = vec![0.0f32; rate as usize];
    far.extend(fit(
        &speech("For account balance, press 1.", "en-us+f3", rate),
        2 * rate as usize,
    ));
    far.extend(vec![0.0; rate as usize * 3 / 2]);
    let mic = convolve(&far, &room_impulse_response(rate, 50, 200, 0.4, 1));
    let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
    let first_buffer = run
        .flow
        .iter()
        .position(|f| f == "buffer")
        .expect("a buffer");
    for needed in ["StreamStart", "Caps", "Segment"] {
        let at = run.flow.iter().position(|f| f == needed).expect(needed);
        assert!(
            at < first_buffer,
            "{needed} after the first buffer: {:?}",
            &run.flow[..first_buffer + 1]
        );
    }
    let activity: Vec<usize> = run
        .flow
        .iter()
        .enumerate()
        .filter(|(_, f)| *f == protocol::FarActivity::NAME)
        .map(|(i, _)| i)
        .collect();
    assert!(
        activity.iter().all(|&i| i > first_buffer),
        "far activity before the first buffer"
    );
    // inactive at start, active for the prompt, inactive after (converged may add one).
    assert!(
        (3..=5).contains(&activity.len()),
        "activity events: {:?}",
        activity.len()
    );
}

#[test]
fn posts_stats_at_the_interval() {
    let (far, mic) = echo_scene(16000, 100);
    let run = run_aec(
        Some((&far, 16000, 1)),
        &mic,
        16000,
        "F32LE",
        &[("stats-interval-ms", 500u32.to_value())],
    );
    let stats: Vec<protocol::AecStats> = run
        .messages
        .iter()
        .filter_map(|s| protocol::AecStats::from_structure(s).ok())
        .collect();
    let expected = mic.len() / 8000;
    assert!(
        stats.len().abs_diff(expected) <= 1,
        "{} stats messages, expected {expected}",
        stats.len()
    );
    let last = stats.last().unwrap();
    println!("last stats: {last:?}");
    assert!(last.measured_erle_db > 10.0);
    assert!(last.frames as usize >= mic.len() / 160 - 60);
}

#[test]
fn property_defaults_match_the_design() {
    init();
    let el = gst::ElementFactory::make("bargeinaec").build().unwrap();
    assert!(el.property::<bool>("echo-cancel"));
    assert!(el.property::<bool>("high-pass-filter"));
    assert!(!el.property::<bool>("gain-control"));
    assert_eq!(el.property::<u32>("delay-ms"), 0);
    assert_eq!(el.property::<u32>("stats-interval-ms"), 1000);
    assert_eq!(
        el.property::<gstbargein::bargeinaec::NoiseSuppression>("noise-suppression"),
        gstbargein::bargeinaec::NoiseSuppression::None
    );
    let stats = el.property::<gst::Structure>("stats");
    assert_eq!(stats.name(), protocol::AecStats::NAME);
    for pad in ["sink", "far_sink", "src"] {
        assert!(el.static_pad(pad).is_some(), "pad {pad}");
    }
    assert!(el.request_pad_simple("sink_%u").is_none());
}

/// A key pair of `ms` milliseconds at amplitude `amp` per tone.
fn key_tone(rate: u32, f1: f32, f2: f32, ms: usize, amp: f32) -> Vec<f32> {
    let n = rate as usize * ms / 1000;
    mix(&sine(f1, amp, rate, n), &sine(f2, amp, rate, n))
}

fn line_keys(run: &Run) -> Vec<protocol::LineKey> {
    run.near
        .iter()
        .flatten()
        .flat_map(|n| n.keys.clone().unwrap_or_default())
        .collect()
}

/// Keys pressed over the prompt are heard on the line, before AEC3 cuts one
/// of their tones, and timed on the output's timeline; a key the prompt
/// itself plays comes back as echo and is not the caller's.
#[test]
fn keys_are_heard_on_the_line_and_the_prompts_own_are_not() {
    let rate = 16000;
    let (far, echo) = echo_scene(rate, 80);
    // "8" (852 + 1336 Hz) at 1.5 s and "#" (941 + 1477 Hz) at 2.0 s, 80 ms
    // each, at -20 dBFS per tone (a line's keys are sent at about -13).
    let mut keys = vec![0.0f32; far.len()];
    for (at, f1, f2) in [(1.5, 852.0, 1336.0), (2.0, 941.0, 1477.0)] {
        let start = (at * f64::from(rate)) as usize;
        for (k, v) in keys[start..]
            .iter_mut()
            .zip(key_tone(rate, f1, f2, 80, 0.15))
        {
            *k = v;
        }
    }
    let mic = mix(&echo, &keys);
    let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
    let got = line_keys(&run);
    let digits: Vec<&str> = got.iter().map(|k| k.digit.as_str()).collect();
    assert_eq!(digits, ["8", "#"], "{got:?}");
    for (k, at) in got.iter().zip([1.5, 2.0]) {
        let onset = k.onset.nseconds() as f64 / 1e9;
        assert!((onset - at).abs() < 0.03, "{} onset {onset} s", k.digit);
        assert!(k.detected > k.onset && k.detected.nseconds() as f64 / 1e9 < at + 0.08);
    }

    // The prompt plays "5" (770 + 1336 Hz) itself: its echo is no key.
    let mut far_key = far.clone();
    let start = rate as usize * 3 / 2;
    for (f, v) in far_key[start..]
        .iter_mut()
        .zip(key_tone(rate, 770.0, 1336.0, 150, 0.2))
    {
        *f = v;
    }
    let room = room_impulse_response(rate, 80, 250, 0.5, 5);
    let mic = mix(&convolve(&far_key, &room), &noise(0.0003, far_key.len(), 9));
    let run = run_aec(Some((&far_key, rate, 1)), &mic, rate, "F32LE", &[]);
    assert!(line_keys(&run).is_empty(), "{:?}", line_keys(&run));
}

/// AEC3's linear output in the near-end meta (for bargeinvad's second
/// opinion): 16 kHz whatever the stream's rate, 160 samples per 10 ms frame,
/// in place on the timeline (within AEC3's block delay). It is the canceller's signal before the
/// nonlinear suppressor: echo partly removed where the prompt plays alone
/// (less than by the full canceller), the caller kept in double talk, and
/// absent when echo cancellation is off.
#[test]
fn carries_the_linear_echo_canceller_output() {
    for rate in [16000u32, 8000] {
        let (far, echo) = echo_scene(rate, 80);
        let start = far.len() / 2;
        let (voice, near_clean) = caller_over(far.len(), start, rate, 0.4);
        let mic = mix(&echo, &near_clean);
        let run = run_aec(Some((&far, rate, 1)), &mic, rate, "F32LE", &[]);
        // The linear output on the microphone's timeline, at 16 kHz.
        let up = (16000 / rate) as usize;
        let mut linear = vec![0.0f32; mic.len() * up];
        for n in run.near.iter().flatten() {
            let lin = n.linear.as_ref().expect("linear output on every buffer");
            assert_eq!(
                lin.len(),
                n.unexplained_db.len() * 160,
                "not 160 samples per frame at {rate} Hz"
            );
            let at = (n.start.nseconds() * 16000 / 1_000_000_000) as usize;
            for (i, v) in lin.iter().enumerate() {
                if let Some(s) = linear.get_mut(at + i) {
                    *s = *v;
                }
            }
        }
        // At 16 kHz, compare sample for sample; at 8 kHz, every other one
        // (a decimation without filter, fine for levels of speech).
        let at_rate: Vec<f32> = linear.iter().step_by(up).copied().collect();
        let echo_only = mic.len() / 4..start;
        let lin_erle =
            db(rms(&mic[echo_only.clone()]) / rms(&at_rate[echo_only.clone()]).max(1e-9));
        let full_erle = db(rms(&mic[echo_only.clone()]) / rms(&run.out[echo_only]).max(1e-9));
        let caller = start..(start + voice.len()).min(mic.len());
        let (lag, corr) = (0..400usize / up)
            .map(|d| {
                let shifted = &at_rate[caller.start + d..caller.end.min(at_rate.len() - d) + d];
                (d, correlation(shifted, &near_clean[caller.clone()]))
            })
            .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best });
        let lag_ms = lag as f64 * 1000.0 / f64::from(rate);
        let level = db(rms(&at_rate[caller.clone()]) / rms(&near_clean[caller]));
        println!(
            "{rate} Hz: linear ERLE {lin_erle:.1} dB (full {full_erle:.1}); caller: correlation {corr:.2} at {lag_ms:.1} ms, level {level:+.1} dB"
        );
        // AEC3 works in 4 ms blocks: its linear output trails by about one.
        assert!(lag_ms <= 10.0, "linear output {lag_ms:.1} ms late");
        assert!(lin_erle > 3.0, "the linear filter removed {lin_erle:.1} dB");
        assert!(
            full_erle > lin_erle + 3.0,
            "not the pre-suppressor signal: {lin_erle:.1} vs {full_erle:.1} dB"
        );
        assert!(corr > 0.6, "caller lost in the linear output: {corr:.2}");
        assert!(level > -6.0, "caller attenuated by {level:.1} dB");
    }

    let (far, mic) = echo_scene(16000, 80);
    let off = run_aec(
        Some((&far, 16000, 1)),
        &mic,
        16000,
        "F32LE",
        &[("echo-cancel", false.to_value())],
    );
    assert!(
        off.near.iter().flatten().all(|n| n.linear.is_none()),
        "linear output without an echo canceller"
    );
    // And no echo cancelled either (WebRTC cancels whenever it is given an
    // AEC3 config, whatever its switch says).
    let half = mic.len() / 2..mic.len().min(off.out.len());
    let removed = db(rms(&mic[half.clone()]) / rms(&off.out[half]).max(1e-9));
    assert!(
        removed.abs() < 3.0,
        "echo-cancel=false removed {removed:.1} dB"
    );
}

/// What `samples-selected` reported: pts, duration, and whether its segment
/// was in time.
type Selected = Arc<Mutex<Vec<(Option<gst::ClockTime>, Option<gst::ClockTime>, bool)>>>;

/// Connects `samples-selected`; `on_call(element, pts)` runs inside it.
fn watch_selected(
    aec: &gst::Element,
    on_call: impl Fn(&gst::Element, gst::ClockTime) + Send + Sync + 'static,
) -> Selected {
    let seen: Selected = Arc::default();
    let s2 = seen.clone();
    aec.set_property("emit-signals", true);
    aec.downcast_ref::<gst_base::Aggregator>()
        .expect("an aggregator")
        .connect_samples_selected(move |agg, segment, pts, _dts, duration, _info| {
            s2.lock()
                .unwrap()
                .push((pts, duration, segment.format() == gst::Format::Time));
            if let Some(pts) = pts {
                on_call(agg.upcast_ref(), pts);
            }
        });
    seen
}

/// The pts and duration of every near buffer `run_aec` pushes.
fn pushed_near_times(
    len: usize,
    rate: u32,
) -> Vec<(Option<gst::ClockTime>, Option<gst::ClockTime>)> {
    let step = rate as usize * BUFFER_MS / 1000;
    (0..len)
        .step_by(step)
        .map(|first| {
            let n = step.min(len - first) as u64;
            let pts = frames_to_time(first as u64, rate);
            (
                Some(pts),
                Some(frames_to_time(first as u64 + n, rate) - pts),
            )
        })
        .collect()
}

#[test]
fn samples_selected_fires_once_per_near_buffer_before_it_is_processed() {
    let (far, mic) = echo_scene(16000, 100);
    // Processing switched off from the first buffer on, inside the signal:
    // the output is then the microphone, bit for bit, only if the element
    // reads its settings after emitting it.
    let mut seen = None;
    let run = run_aec_with(Some((&far, 16000, 1)), &mic, 16000, "F32LE", &[], |aec| {
        seen = Some(watch_selected(aec, |aec, _| {
            aec.set_property("echo-cancel", false);
            aec.set_property("high-pass-filter", false);
        }));
    });
    let seen = seen.expect("connected").lock().unwrap().clone();
    assert!(
        seen.iter().all(|s| s.2),
        "samples-selected without a time segment"
    );
    let times: Vec<_> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(times, pushed_near_times(mic.len(), 16000));
    assert_eq!(
        run.out, mic,
        "settings from samples-selected not applied to its buffer"
    );
}

#[test]
fn settings_changed_from_samples_selected_apply_mid_stream() {
    let (far, mic) = echo_scene(16000, 100);
    let switch = gst::ClockTime::from_mseconds(2500);
    let mut seen = None;
    let run = run_aec_with(Some((&far, 16000, 1)), &mic, 16000, "F32LE", &[], |aec| {
        seen = Some(watch_selected(aec, move |aec, pts| {
            if pts >= switch {
                aec.set_property("echo-cancel", false);
            }
        }));
    });
    assert_eq!(
        seen.expect("connected").lock().unwrap().len(),
        pushed_near_times(mic.len(), 16000).len()
    );
    let at = (switch.mseconds() * 16) as usize;
    assert!(
        mic.len() > at + 16000,
        "the scene is too short for the test"
    );
    let before = 16000..at;
    let after = at + 1600..mic.len().min(run.out.len());
    let removed = |r: std::ops::Range<usize>| db(rms(&mic[r.clone()]) / rms(&run.out[r]).max(1e-9));
    let (on, off) = (removed(before), removed(after));
    println!("echo removed: {on:.1} dB before the switch, {off:.1} dB after");
    assert!(
        on > 10.0,
        "echo cancelled by only {on:.1} dB before the switch"
    );
    assert!(
        off.abs() < 3.0,
        "echo-cancel=false (mid-stream) still removed {off:.1} dB"
    );
}
