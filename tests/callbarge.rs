//! callbarge: who hears whom in each mode, click-free switches, the
//! supervisor's keypad, parties joining, leaving, absent or finished, and a
//! three-party call over RTP on loopback.
//!
//! Each party talks at its own frequency (customer 440 Hz, agent 1000 Hz,
//! supervisor 2500 Hz), so a Goertzel filter on an output tells who is in it.

mod common;

use common::*;
use gstbargein::callbarge::Mode;
use gstbargein::callbarge::routing::{Party, hears};
use gstbargein::protocol::{CallbargeMode, Structure};
use std::sync::{Arc, Mutex};

const FREQ: [f64; 3] = [440.0, 1000.0, 2500.0];
const AMP: f32 = 0.3;
/// A tone at `AMP` measures about this much when present…
const PRESENT: f64 = 0.1;
/// …and a missing one less than this (-40 dB below `AMP`).
const ABSENT: f64 = 0.003;
const MODES: [Mode; 4] = [Mode::Off, Mode::Listen, Mode::Whisper, Mode::Barge];

fn tone(x: &[f32], freq: f64, rate: u32) -> f64 {
    tone_amplitude(x, freq, rate)
}

/// Phase-continuous sine of party `p` for frames `first..first + n`.
fn voice(p: Party, rate: u32, first: u64, n: usize) -> Vec<f32> {
    let f = FREQ[p.index()];
    (0..n as u64)
        .map(|i| {
            let t = (first + i) as f64 / f64::from(rate);
            AMP * (2.0 * std::f64::consts::PI * f * t).sin() as f32
        })
        .collect()
}

/// DTMF key tone (row + column, 0.2 each) for frames `first..first + n`.
fn dtmf(key: char, rate: u32, first: u64, n: usize) -> Vec<f32> {
    let (row, col) = match key {
        '4' => (770.0, 1209.0),
        '5' => (770.0, 1336.0),
        '6' => (770.0, 1477.0),
        '1' => (697.0, 1209.0),
        _ => panic!("no such key in this test"),
    };
    (0..n as u64)
        .map(|i| {
            let t = (first + i) as f64 / f64::from(rate);
            (0.2 * ((2.0 * std::f64::consts::PI * row * t).sin()
                + (2.0 * std::f64::consts::PI * col * t).sin())) as f32
        })
        .collect()
}

/// Who hears whom, as the design says (written out here rather than taken
/// from the element's own routing code).
fn heard_by(mode: Mode, listener: Party) -> &'static [Party] {
    use Party::*;
    match (mode, listener) {
        (_, Customer) if mode != Mode::Barge => &[Agent],
        (_, Customer) => &[Agent, Supervisor],
        (Mode::Off | Mode::Listen, Agent) => &[Customer],
        (_, Agent) => &[Customer, Supervisor],
        (Mode::Off, Supervisor) => &[],
        (_, Supervisor) => &[Customer, Agent],
    }
}

/// Asserts an output carries exactly the parties `mode` routes to `listener`.
fn assert_routing(mode: Mode, listener: Party, x: &[f32], rate: u32, what: &str) {
    for talker in Party::ALL {
        let a = tone(x, FREQ[talker.index()], rate);
        assert_eq!(
            heard_by(mode, listener).contains(&talker),
            hears(mode, listener, talker),
            "the element's routing table disagrees with the design"
        );
        if heard_by(mode, listener).contains(&talker) {
            assert!(
                a > PRESENT,
                "{what}: in {mode:?} {listener:?} should hear {talker:?} (amplitude {a:.4})"
            );
        } else {
            assert!(
                a < ABSENT,
                "{what}: in {mode:?} {listener:?} must not hear {talker:?} (amplitude {a:.4})"
            );
        }
    }
}

fn mode_messages(bus: &gst::Bus) -> Vec<(String, String)> {
    element_messages(bus)
        .iter()
        .filter_map(|s| CallbargeMode::from_structure(s).ok())
        .map(|m| (m.mode, m.previous))
        .collect()
}

// ---------------------------------------------------------------------------
// Harness: one harness per party on the same element, live with a test clock.

struct Call {
    h: [gst_check::Harness; 3],
    el: gst::Element,
    rate: u32,
    /// Frames pushed per party so far.
    frame: u64,
    /// Which parties sent something already.
    talked: [bool; 3],
}

impl Call {
    fn new(rate: u32) -> Self {
        init();
        let mut c =
            gst_check::Harness::with_padnames("callbarge", Some("customer"), Some("to_customer"));
        let el = c.element().expect("element");
        let a = gst_check::Harness::with_element(&el, Some("agent"), Some("to_agent"));
        let s = gst_check::Harness::with_element(&el, Some("supervisor"), Some("to_supervisor"));
        c.use_testclock();
        let mut h = [c, a, s];
        for h in &mut h {
            h.set_src_caps(caps_f32(rate, 1));
        }
        Call {
            h,
            el,
            rate,
            frame: 0,
            talked: [false; 3],
        }
    }

    fn block(&self) -> usize {
        self.rate as usize / 100
    }

    /// Pushes 10 ms per party (None: that party sends nothing) and returns
    /// the three outputs of that block.
    fn step(&mut self, inputs: [Option<Vec<f32>>; 3]) -> [Vec<f32>; 3] {
        let first = self.frame;
        let mut missing = false;
        let mut wait = false;
        for ((h, x), talked) in self.h.iter_mut().zip(inputs).zip(self.talked.iter_mut()) {
            match x {
                Some(x) => {
                    assert_eq!(x.len(), self.rate as usize / 100);
                    h.push(buffer_f32(&x, 1, self.rate, first)).expect("push");
                    *talked = true;
                }
                None => {
                    missing = true;
                    // A party that talked before is waited for until the
                    // live timeout.
                    wait |= *talked;
                }
            }
        }
        self.frame += self.block() as u64;
        // A party that never talked is waited for once, on the first block;
        // then the base class counts it as inactive.
        if missing && (first == 0 || wait) {
            self.h[0].crank_single_clock_wait().expect("clock wait");
        }
        let mut out: [Vec<f32>; 3] = Default::default();
        let (rate, block) = (self.rate, self.block());
        for (o, h) in out.iter_mut().zip(self.h.iter_mut()) {
            let b = h.pull().expect("an output buffer per block");
            assert_eq!(
                b.pts(),
                Some(frames_to_time(first, rate)),
                "outputs are aligned with the inputs by running time"
            );
            *o = read_f32(&b);
            assert_eq!(o.len(), block);
        }
        out
    }

    fn talk(&self, p: Party) -> Vec<f32> {
        voice(p, self.rate, self.frame, self.block())
    }

    fn all_talk(&self) -> [Option<Vec<f32>>; 3] {
        Party::ALL.map(|p| Some(self.talk(p)))
    }
}

#[test]
fn properties_and_pads_match_the_design() {
    init();
    let el = gst::ElementFactory::make("callbarge").build().unwrap();
    assert_eq!(el.property::<Mode>("mode"), Mode::Off);
    assert_eq!(el.property::<u32>("ramp-ms"), 20);
    for p in ["customer-gain", "agent-gain", "supervisor-gain"] {
        assert_eq!(el.property::<f64>(p), 1.0, "{p}");
    }
    assert!(el.property::<bool>("dtmf-control"));
    assert_eq!(el.property::<u32>("rate"), 0);
    for name in ["customer", "agent", "supervisor"] {
        let t = el.pad_template(name).expect(name);
        assert_eq!(t.presence(), gst::PadPresence::Request);
        assert_eq!(t.direction(), gst::PadDirection::Sink);
    }
    for name in ["to_customer", "to_agent", "to_supervisor"] {
        assert!(el.static_pad(name).is_some(), "{name}");
    }
    // Nicks are the design's mode names.
    for (m, nick) in MODES.iter().zip(["off", "listen", "whisper", "barge"]) {
        assert_eq!(m.as_str(), nick);
        el.set_property_from_str("mode", nick);
        assert_eq!(el.property::<Mode>("mode"), *m);
    }
    // One pad per party; a second request is refused until it is released.
    let c = el.request_pad_simple("customer").expect("customer pad");
    let templ = el.pad_template("customer").unwrap();
    assert!(el.request_pad(&templ, None, None).is_none());
    el.release_request_pad(&c);
    assert!(el.static_pad("customer").is_none());
    let c = el.request_pad_simple("customer").expect("customer again");
    el.release_request_pad(&c);
    // Rates other than the supported ones are ignored.
    el.set_property("rate", 44100u32);
    assert_eq!(el.property::<u32>("rate"), 0);
    el.set_property("rate", 16000u32);
    assert_eq!(el.property::<u32>("rate"), 16000);
}

/// Weak references to a party's pad on the bin and to the mixer pad behind
/// it.
fn party_pad_refs(el: &gst::Element, party: &str) -> [gst::glib::WeakRef<gst::Pad>; 2] {
    let ghost = el
        .static_pad(party)
        .and_downcast::<gst::GhostPad>()
        .expect("party ghost pad");
    let target = ghost.target().expect("mixer pad behind the ghost");
    [ghost.upcast::<gst::Pad>().downgrade(), target.downgrade()]
}

#[test]
fn released_party_pads_are_freed() {
    init();
    // Each party that ever joined a call used to keep its mixer pad (and the
    // sticky events on it) alive for good: a leak per party per call.
    let el = gst::ElementFactory::make("callbarge").build().unwrap();
    for party in ["customer", "agent", "supervisor"] {
        let pad = el.request_pad_simple(party).expect("party pad");
        let refs = party_pad_refs(&el, party);
        el.release_request_pad(&pad);
        drop(pad);
        for (r, what) in refs.iter().zip(["ghost", "mixer"]) {
            assert!(r.upgrade().is_none(), "{party}: {what} pad still alive");
        }
    }
    // The same after a call: harnesses request the pads, stream, and
    // release them at teardown.
    let mut h = gst_check::Harness::with_padnames("callbarge", Some("customer"), Some("to_agent"));
    h.set_src_caps(caps_f32(16000, 1));
    h.play();
    let el = h.element().unwrap();
    let refs = party_pad_refs(&el, "customer");
    for i in 0..10u64 {
        let x = voice(Party::Customer, 16000, i * 160, 160);
        assert_eq!(
            h.push(buffer_f32(&x, 1, 16000, i * 160)),
            Ok(gst::FlowSuccess::Ok)
        );
    }
    h.push_event(gst::event::Eos::new());
    drop(h);
    drop(el);
    for (r, what) in refs.iter().zip(["ghost", "mixer"]) {
        assert!(
            r.upgrade().is_none(),
            "after a call: {what} pad still alive"
        );
    }
}

#[test]
fn every_mode_routes_as_the_table_says() {
    for mode in MODES {
        let mut call = Call::new(16000);
        call.el.set_property("mode", mode);
        let mut got: [Vec<f32>; 3] = Default::default();
        for _ in 0..30 {
            let out = call.step(call.all_talk());
            for (g, o) in got.iter_mut().zip(out) {
                g.extend(o);
            }
        }
        for listener in Party::ALL {
            assert_routing(
                mode,
                listener,
                &got[listener.index()],
                16000,
                "harness, 300 ms",
            );
        }
    }
}

#[test]
fn nobody_hears_themself_exactly() {
    // With gain 1 and one talker, an output is that talker's samples, bit
    // for bit, or silence.
    let mut call = Call::new(16000);
    call.el.set_property("mode", Mode::Barge);
    for talker in Party::ALL {
        for _ in 0..5 {
            let mut inputs: [Option<Vec<f32>>; 3] = Party::ALL.map(|_| Some(vec![0.0; 160]));
            let x = call.talk(talker);
            inputs[talker.index()] = Some(x.clone());
            let out = call.step(inputs);
            for listener in Party::ALL {
                if listener == talker {
                    assert!(out[listener.index()].iter().all(|&v| v == 0.0));
                } else {
                    assert_eq!(out[listener.index()], x);
                }
            }
        }
    }
}

#[test]
fn the_customer_never_hears_the_supervisor_outside_a_barge() {
    let mut call = Call::new(16000);
    let rate = call.rate;
    let sequence = [
        Mode::Listen,
        Mode::Whisper,
        Mode::Listen,
        Mode::Off,
        Mode::Whisper,
        Mode::Off,
        Mode::Listen,
        Mode::Whisper,
    ];
    for (k, mode) in sequence.into_iter().enumerate() {
        call.el.set_property("mode", mode);
        for step in 0..12 {
            let agent = call.talk(Party::Agent);
            let out = call.step(call.all_talk());
            let to_customer = &out[Party::Customer.index()];
            // Every buffer, including the ones during ramps: exactly the
            // agent, nothing of the supervisor.
            assert_eq!(to_customer, &agent, "switch {k} ({mode:?}), block {step}");
            let s = tone(to_customer, FREQ[2], rate);
            assert!(s < ABSENT, "supervisor at {s:.5} in to_customer");
            // Once the ramp is over, the agent hears the whisper.
            if step >= 3 {
                let whisper = tone(&out[Party::Agent.index()], FREQ[2], rate);
                if mode == Mode::Whisper {
                    assert!(whisper > PRESENT, "agent hears the whisper ({whisper:.4})");
                } else {
                    assert!(whisper < ABSENT, "no whisper in {mode:?} ({whisper:.5})");
                }
            }
        }
    }
    // A barge is heard at once by the customer (the test can fail).
    call.el.set_property("mode", Mode::Barge);
    call.step(call.all_talk());
    call.step(call.all_talk());
    let out = call.step(call.all_talk());
    assert!(tone(&out[0], FREQ[2], rate) > PRESENT);
}

/// Largest sample-to-sample step of a signal.
fn max_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

fn switch_run(ramp_ms: u32) -> Vec<f32> {
    // The customer talks slowly (100 Hz), the supervisor is a constant 0.5:
    // switching the agent's mix without a ramp would jump by 0.5.
    let mut call = Call::new(16000);
    call.el.set_property("ramp-ms", ramp_ms);
    call.el.set_property("mode", Mode::Listen);
    let mut to_agent = Vec::new();
    let customer_freq = |call: &Call| {
        (0..160u64)
            .map(|i| {
                let t = (call.frame + i) as f64 / 16000.0;
                0.3 * (2.0 * std::f64::consts::PI * 100.0 * t).sin() as f32
            })
            .collect::<Vec<f32>>()
    };
    for mode in [
        Mode::Whisper,
        Mode::Listen,
        Mode::Barge,
        Mode::Off,
        Mode::Whisper,
    ] {
        for _ in 0..6 {
            let c = customer_freq(&call);
            let out = call.step([Some(c), Some(vec![0.0; 160]), Some(vec![0.5; 160])]);
            to_agent.extend_from_slice(&out[Party::Agent.index()]);
        }
        call.el.set_property("mode", mode);
    }
    to_agent
}

#[test]
fn switching_modes_is_click_free() {
    let ramp = switch_run(20);
    // 100 Hz at 0.3 moves at most 0.0118 per sample; a 20 ms (320 sample)
    // ramp of 0.5 adds at most 0.0016.
    let allowed = 0.3 * 2.0 * std::f32::consts::PI * 100.0 / 16000.0 + 0.5 / 320.0 + 1e-4;
    let step = max_step(&ramp);
    assert!(step <= allowed, "step {step} > {allowed}");
    // The ramps do reach the new gain: whispers are heard in full.
    assert!(
        ramp.iter().any(|&v| v > 0.75),
        "whisper never reached full gain"
    );
    // Without a ramp the same switches click: the test can fail.
    let hard = max_step(&switch_run(0));
    assert!(hard > 0.4, "no click without a ramp? ({hard})");
}

#[test]
fn gains_scale_each_talker() {
    let mut call = Call::new(16000);
    call.el.set_property("mode", Mode::Barge);
    call.el.set_property("ramp-ms", 0u32);
    call.el.set_property("customer-gain", 0.5f64);
    call.el.set_property("supervisor-gain", 0.0f64);
    let mut got: [Vec<f32>; 3] = Default::default();
    for _ in 0..20 {
        let out = call.step(call.all_talk());
        for (g, o) in got.iter_mut().zip(out) {
            g.extend(o);
        }
    }
    let c_in_agent = tone(&got[1], FREQ[0], 16000);
    assert!(
        (c_in_agent - 0.15).abs() < 0.01,
        "customer at half: {c_in_agent}"
    );
    let a_in_customer = tone(&got[0], FREQ[1], 16000);
    assert!(
        (a_in_customer - 0.3).abs() < 0.01,
        "agent unchanged: {a_in_customer}"
    );
    assert!(tone(&got[0], FREQ[2], 16000) < ABSENT, "supervisor muted");
}

#[test]
fn mode_changes_are_posted() {
    let call = Call::new(16000);
    let bus = gst::Bus::new();
    call.el.set_bus(Some(&bus));
    call.el.set_property("mode", Mode::Listen);
    call.el.set_property("mode", Mode::Listen); // no change, no message
    call.el.set_property("mode", Mode::Barge);
    assert_eq!(
        mode_messages(&bus),
        [
            ("listen".to_string(), "off".to_string()),
            ("barge".to_string(), "listen".to_string())
        ]
    );
}

/// Customer and agent talk while the supervisor presses `keys` (120 ms
/// each, 100 ms apart).
fn press_keys(call: &mut Call, keys: &[char]) {
    fn step(call: &mut Call, sup: Vec<f32>) {
        let mut inputs = call.all_talk();
        inputs[2] = Some(sup);
        call.step(inputs);
    }
    let n = call.block();
    for &key in keys {
        for _ in 0..10 {
            step(call, vec![0.0; n]);
        }
        for _ in 0..12 {
            let k = dtmf(key, call.rate, call.frame, n);
            step(call, k);
        }
    }
    for _ in 0..10 {
        step(call, vec![0.0; n]);
    }
}

#[test]
fn the_supervisors_keypad_switches_modes() {
    let mut call = Call::new(16000);
    let bus = gst::Bus::new();
    call.el.set_bus(Some(&bus));
    let notified = Arc::new(Mutex::new(0));
    let n2 = notified.clone();
    call.el.connect_notify(Some("mode"), move |_, _| {
        *n2.lock().unwrap() += 1;
    });
    press_keys(&mut call, &['4']);
    assert_eq!(call.el.property::<Mode>("mode"), Mode::Listen);
    press_keys(&mut call, &['5']);
    assert_eq!(call.el.property::<Mode>("mode"), Mode::Whisper);
    press_keys(&mut call, &['1', '6']);
    assert_eq!(call.el.property::<Mode>("mode"), Mode::Barge);
    assert_eq!(
        mode_messages(&bus),
        [
            ("listen".to_string(), "off".to_string()),
            ("whisper".to_string(), "listen".to_string()),
            ("barge".to_string(), "whisper".to_string()),
        ]
    );
    assert_eq!(*notified.lock().unwrap(), 3, "notify::mode on each key");
    // Now the customer hears the supervisor.
    let mut inputs = call.all_talk();
    inputs[2] = Some(call.talk(Party::Supervisor));
    call.step(inputs);
    let out = call.step(call.all_talk());
    assert!(tone(&out[0], FREQ[2], 16000) > PRESENT);
}

#[test]
fn the_keypad_is_ignored_without_dtmf_control() {
    let mut call = Call::new(8000);
    call.el.set_property("dtmf-control", false);
    let bus = gst::Bus::new();
    call.el.set_bus(Some(&bus));
    for _ in 0..30 {
        let k = dtmf('6', 8000, call.frame, 80);
        let mut inputs = call.all_talk();
        inputs[2] = Some(k);
        call.step(inputs);
    }
    assert_eq!(call.el.property::<Mode>("mode"), Mode::Off);
    assert!(mode_messages(&bus).is_empty());
}

#[test]
fn a_silent_supervisor_never_stalls_the_call() {
    // The supervisor's pad is linked but nothing ever arrives on it.
    let mut call = Call::new(16000);
    call.el.set_property("mode", Mode::Barge);
    let mut got: [Vec<f32>; 3] = Default::default();
    for _ in 0..30 {
        let c = call.talk(Party::Customer);
        let a = call.talk(Party::Agent);
        let out = call.step([Some(c), Some(a), None]);
        for (g, o) in got.iter_mut().zip(out) {
            g.extend(o);
        }
    }
    // Everyone hears the two who talk; the supervisor's silence is silence.
    assert!(tone(&got[0], FREQ[1], 16000) > PRESENT);
    assert!(tone(&got[0], FREQ[2], 16000) < ABSENT);
    assert!(tone(&got[1], FREQ[0], 16000) > PRESENT);
    assert!(tone(&got[2], FREQ[0], 16000) > PRESENT);
}

#[test]
fn a_supervisor_who_stops_sending_never_stalls_the_call() {
    // The supervisor's phone delivers 100 ms, then nothing (no EOS): each
    // later block goes out at the live timeout without them.
    let mut call = Call::new(16000);
    call.el.set_property("mode", Mode::Barge);
    let mut before: [Vec<f32>; 3] = Default::default();
    let mut after: [Vec<f32>; 3] = Default::default();
    for step in 0..40 {
        let mut inputs = call.all_talk();
        if step >= 10 {
            inputs[2] = None;
        }
        let out = call.step(inputs);
        let target = if step < 10 { &mut before } else { &mut after };
        for (g, o) in target.iter_mut().zip(out) {
            g.extend(o);
        }
    }
    assert!(tone(&before[0], FREQ[2], 16000) > PRESENT);
    assert!(tone(&after[0], FREQ[2], 16000) < ABSENT);
    assert!(tone(&after[0], FREQ[1], 16000) > PRESENT);
    assert!(tone(&after[1], FREQ[0], 16000) > PRESENT);
}

#[test]
fn a_broken_buffer_is_dropped_with_a_warning_and_the_call_goes_on() {
    let mut call = Call::new(16000);
    call.el.set_property("mode", Mode::Barge);
    let bus = gst::Bus::new();
    call.el.set_bus(Some(&bus));
    for _ in 0..5 {
        call.step(call.all_talk());
    }
    // The supervisor sends 6 bytes: not a whole number of 4-byte frames.
    let first = call.frame;
    for p in [Party::Customer, Party::Agent] {
        let x = call.talk(p);
        call.h[p.index()]
            .push(buffer_f32(&x, 1, 16000, first))
            .unwrap();
    }
    let mut bad = gst::Buffer::from_slice([0u8; 6]);
    bad.get_mut().unwrap().set_pts(frames_to_time(first, 16000));
    call.h[2].push(bad).unwrap();
    call.frame += 160;
    call.h[0].crank_single_clock_wait().unwrap();
    let out: Vec<Vec<f32>> = call
        .h
        .iter_mut()
        .map(|h| read_f32(&h.pull().unwrap()))
        .collect();
    assert!(tone(&out[0], FREQ[1], 16000) > PRESENT, "the call went on");
    assert!(
        tone(&out[0], FREQ[2], 16000) < ABSENT,
        "the broken buffer is silence"
    );
    for _ in 0..5 {
        let o = call.step(call.all_talk());
        assert!(
            tone(&o[0], FREQ[2], 16000) > PRESENT,
            "the supervisor is back"
        );
    }
    let warnings: Vec<String> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("supervisor"), "{warnings:?}");
}

#[test]
fn a_segment_not_in_time_is_an_error() {
    let mut call = Call::new(16000);
    let bus = gst::Bus::new();
    call.el.set_bus(Some(&bus));
    call.step(call.all_talk());
    let seg = gst::FormattedSegment::<gst::format::Bytes>::new();
    call.h[1].push_event(gst::event::Segment::new(&seg));
    let x = call.talk(Party::Agent);
    // The event is refused when the mixer reaches it, with an error.
    let _ = call.h[1].push(buffer_f32(&x, 1, 16000, call.frame));
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    assert!(e.error().to_string().contains("time segments"), "{e:?}");
}

#[test]
fn unsupported_caps_are_refused() {
    init();
    for caps in [
        caps_f32(44100, 1),
        caps_f32(16000, 6),
        caps(gst_audio::AudioFormat::S24le, 16000, 1),
    ] {
        let mut h =
            gst_check::Harness::with_padnames("callbarge", Some("customer"), Some("to_customer"));
        h.set_src_caps(caps.clone());
        let r = h.push(buffer_f32(&[0.0; 160], 1, 16000, 0));
        assert_eq!(r, Err(gst::FlowError::NotNegotiated), "{caps} accepted");
    }
}

// ---------------------------------------------------------------------------
// Parsed pipelines.

type Collected = Arc<Mutex<Vec<(gst::ClockTime, Vec<f32>)>>>;

/// Makes `name` (an appsink taking F32LE mono) record its buffers.
fn collect(pipeline: &gst::Pipeline, name: &str) -> Collected {
    let out: Collected = Arc::default();
    let o2 = out.clone();
    let sink = pipeline
        .by_name(name)
        .expect(name)
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                let pts = buf.pts().unwrap_or(gst::ClockTime::ZERO);
                o2.lock().unwrap().push((pts, read_f32(buf)));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    out
}

fn samples(c: &Collected) -> Vec<f32> {
    c.lock()
        .unwrap()
        .iter()
        .flat_map(|(_, x)| x.iter().copied())
        .collect()
}

/// Runs until EOS (or `until` says stop); fails on errors and after 60 s.
fn run(pipeline: &gst::Pipeline, mut until: impl FnMut() -> bool) {
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if std::time::Instant::now() > deadline {
            pipeline.set_state(gst::State::Null).unwrap();
            panic!("pipeline stalled");
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut until)) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                pipeline.set_state(gst::State::Null).unwrap();
                std::panic::resume_unwind(e);
            }
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null).unwrap();
                panic!("{}: {:?}", e.error(), e.debug());
            }
            gst::MessageView::Warning(w) => {
                println!("warning: {} {:?}", w.error(), w.debug());
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

fn launch(desc: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("{e}: {desc}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

const SINK: &str = "appsink sync=false caps=audio/x-raw,format=F32LE,channels=1";

#[test]
fn parties_in_different_formats_are_converted() {
    // Customer 8 kHz S16 mono, agent 48 kHz F32 stereo, supervisor 32 kHz;
    // the call runs at the customer's rate.
    for (rate_prop, out_rate) in [(0u32, 8000u32), (16000, 16000)] {
        let p = launch(&format!(
            "callbarge name=cb mode=barge rate={rate_prop} \
             audiotestsrc num-buffers=40 freq=440 volume=0.3 ! audio/x-raw,format=S16LE,rate=8000,channels=1 ! cb.customer \
             audiotestsrc num-buffers=40 freq=1000 volume=0.3 samplesperbuffer=4800 ! audio/x-raw,format=F32LE,rate=48000,channels=2 ! cb.agent \
             audiotestsrc num-buffers=40 freq=2500 volume=0.3 samplesperbuffer=3200 ! audio/x-raw,format=F32LE,rate=32000,channels=1 ! cb.supervisor \
             cb.to_customer ! {SINK} name=c  cb.to_agent ! {SINK} name=a  cb.to_supervisor ! {SINK} name=s"
        ));
        let outs = ["c", "a", "s"].map(|n| collect(&p, n));
        let sink = p.by_name("c").unwrap();
        let caps = Arc::new(Mutex::new(None));
        let c2 = caps.clone();
        sink.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Event(e)) = &info.data
                    && let gst::EventView::Caps(c) = e.view()
                {
                    *c2.lock().unwrap() = Some(c.caps_owned());
                }
                gst::PadProbeReturn::Ok
            },
        );
        run(&p, || false);
        let caps = caps.lock().unwrap().clone().expect("caps");
        let info = gst_audio::AudioInfo::from_caps(&caps).unwrap();
        assert_eq!(info.rate(), out_rate, "{caps}");
        for listener in Party::ALL {
            let x = samples(&outs[listener.index()]);
            // 40 × 100 ms; skip the resamplers' start.
            assert!(x.len() >= out_rate as usize * 39 / 10, "{}", x.len());
            let mid = &x[out_rate as usize / 2..out_rate as usize * 3];
            assert_routing(Mode::Barge, listener, mid, out_rate, "mixed formats");
        }
    }
}

#[test]
fn every_mode_in_a_pipeline() {
    for mode in MODES {
        let p = launch(&format!(
            "callbarge name=cb mode={} \
             audiotestsrc num-buffers=20 freq=440 volume=0.3 ! audio/x-raw,rate=16000 ! cb.customer \
             audiotestsrc num-buffers=20 freq=1000 volume=0.3 ! audio/x-raw,rate=16000 ! cb.agent \
             audiotestsrc num-buffers=20 freq=2500 volume=0.3 ! audio/x-raw,rate=16000 ! cb.supervisor \
             cb.to_customer ! {SINK} name=c  cb.to_agent ! {SINK} name=a  cb.to_supervisor ! {SINK} name=s",
            mode.as_str()
        ));
        let outs = ["c", "a", "s"].map(|n| collect(&p, n));
        run(&p, || false);
        for listener in Party::ALL {
            let x = samples(&outs[listener.index()]);
            // 20 buffers of 1024 samples.
            assert_eq!(x.len(), 20 * 1024, "{mode:?} {listener:?}");
            assert_routing(mode, listener, &x, 16000, "pipeline");
        }
    }
}

/// A live call: customer and agent live for 1.5 s, the supervisor given by
/// `supervisor` (a pipeline fragment ending in `cb.supervisor`, or none).
fn live_call(supervisor: Option<&str>, request_unlinked: bool) -> [Vec<f32>; 2] {
    let p = launch(&format!(
        "callbarge name=cb mode=barge \
         audiotestsrc is-live=true num-buffers=150 samplesperbuffer=160 freq=440 volume=0.3 ! audio/x-raw,rate=16000 ! cb.customer \
         audiotestsrc is-live=true num-buffers=150 samplesperbuffer=160 freq=1000 volume=0.3 ! audio/x-raw,rate=16000 ! cb.agent \
         {} \
         cb.to_customer ! {SINK} name=c  cb.to_agent ! {SINK} name=a",
        supervisor.unwrap_or("")
    ));
    let cb = p.by_name("cb").unwrap();
    if request_unlinked {
        cb.request_pad_simple("supervisor").expect("supervisor pad");
    }
    let outs = ["c", "a"].map(|n| collect(&p, n));
    run(&p, || false);
    outs.map(|o| samples(&o))
}

#[test]
fn live_call_flows_without_a_supervisor() {
    for (what, sup, unlinked) in [
        ("no supervisor pad", None, false),
        ("supervisor pad never linked", None, true),
        (
            "supervisor at EOS after 30 ms",
            Some(
                "audiotestsrc is-live=true num-buffers=3 samplesperbuffer=160 freq=2500 volume=0.3 ! audio/x-raw,rate=16000 ! cb.supervisor",
            ),
            false,
        ),
    ] {
        let [c, a] = live_call(sup, unlinked);
        println!("{what}: {} / {} samples", c.len(), a.len());
        // Nearly all of the 1.5 s came out, live.
        for x in [&c, &a] {
            assert!(
                x.len() >= 16000 * 14 / 10,
                "{what}: only {} samples",
                x.len()
            );
        }
        let c_mid = &c[4000..20000];
        let a_mid = &a[4000..20000];
        assert!(tone(c_mid, FREQ[1], 16000) > PRESENT, "{what}");
        assert!(tone(a_mid, FREQ[0], 16000) > PRESENT, "{what}");
        assert!(tone(c_mid, FREQ[2], 16000) < ABSENT, "{what}");
    }
}

#[test]
fn the_supervisor_joins_and_leaves_while_the_call_plays() {
    let p = launch(&format!(
        "callbarge name=cb mode=barge \
         audiotestsrc is-live=true num-buffers=200 samplesperbuffer=160 freq=440 volume=0.3 ! audio/x-raw,rate=16000 ! cb.customer \
         audiotestsrc is-live=true num-buffers=200 samplesperbuffer=160 freq=1000 volume=0.3 ! audio/x-raw,rate=16000 ! cb.agent \
         cb.to_customer ! {SINK} name=c  cb.to_agent ! {SINK} name=a  cb.to_supervisor ! {SINK} name=s"
    ));
    let cb = p.by_name("cb").unwrap();
    let outs = ["c", "a", "s"].map(|n| collect(&p, n));
    let count = |o: &Collected| {
        o.lock()
            .unwrap()
            .iter()
            .map(|(_, x)| x.len())
            .sum::<usize>()
    };
    // Phases, by how much the customer has heard: two-party call, then the
    // supervisor joins, then leaves.
    let mut phase = 0;
    let mut sup_src: Option<gst::Element> = None;
    let mut marks = Vec::new();
    let c_out = outs[0].clone();
    run(&p, || {
        let n = count(&c_out);
        if phase == 0 && n >= 16000 * 5 / 10 {
            let src = gst::parse::bin_from_description(
                "audiotestsrc is-live=true samplesperbuffer=160 freq=2500 volume=0.3 \
                 ! capsfilter caps=audio/x-raw,rate=16000",
                true,
            )
            .expect("supervisor source");
            p.add(&src).unwrap();
            let pad = cb.request_pad_simple("supervisor").expect("join");
            src.static_pad("src").unwrap().link(&pad).expect("link");
            src.sync_state_with_parent().unwrap();
            sup_src = Some(src.upcast());
            marks.push(n);
            phase = 1;
        } else if phase == 1 && n >= 16000 * 12 / 10 {
            // Leave: stop the phone, unlink, release the pad.
            let src = sup_src.take().unwrap();
            src.set_state(gst::State::Null).unwrap();
            let pad = cb.static_pad("supervisor").expect("supervisor pad");
            src.static_pad("src").unwrap().unlink(&pad).unwrap();
            cb.release_request_pad(&pad);
            p.remove(&src).unwrap();
            marks.push(n);
            phase = 2;
        }
        false
    });
    assert_eq!(phase, 2, "the call ended before the supervisor left");
    assert!(cb.static_pad("supervisor").is_none());
    let c = samples(&outs[0]);
    let a = samples(&outs[1]);
    let s = samples(&outs[2]);
    println!("marks {marks:?}, customer heard {} samples", c.len());
    // The call flowed to the end: 2 s.
    assert!(
        c.len() >= 16000 * 19 / 10,
        "customer heard {} samples",
        c.len()
    );
    assert!(a.len() >= 16000 * 19 / 10);
    assert!(s.len() >= 16000 * 19 / 10);
    let (joined, left) = (marks[0], marks[1]);
    // While the supervisor was on the call (barge), everyone heard them.
    let during = joined + 3200..left - 800;
    assert!(
        during.len() > 3200,
        "supervisor on the call for too short a time"
    );
    assert!(tone(&c[during.clone()], FREQ[2], 16000) > PRESENT);
    assert!(tone(&a[during.clone()], FREQ[2], 16000) > PRESENT);
    assert!(tone(&s[during], FREQ[0], 16000) > PRESENT);
    // Before and after: the two-party call only.
    let before = 1600..joined.saturating_sub(800);
    let after = left + 3200..c.len().min(left + 9600);
    for range in [before, after] {
        assert!(range.len() > 1600, "{range:?}");
        assert!(
            tone(&c[range.clone()], FREQ[2], 16000) < ABSENT,
            "{range:?}"
        );
        assert!(
            tone(&c[range.clone()], FREQ[1], 16000) > PRESENT,
            "{range:?}"
        );
        assert!(
            tone(&a[range.clone()], FREQ[0], 16000) > PRESENT,
            "{range:?}"
        );
    }
}

#[test]
fn a_supervisor_unlinked_mid_call_leaves_the_call_flowing() {
    // The supervisor's phone goes away without EOS and without releasing the
    // pad: the call goes on at the live timeout. (The call itself only ends
    // when every party on it has: the test stops after 1.5 s.)
    let p = launch(&format!(
        "callbarge name=cb mode=barge \
         audiotestsrc is-live=true samplesperbuffer=160 freq=440 volume=0.3 ! audio/x-raw,rate=16000 ! cb.customer \
         audiotestsrc is-live=true samplesperbuffer=160 freq=1000 volume=0.3 ! audio/x-raw,rate=16000 ! cb.agent \
         audiotestsrc is-live=true samplesperbuffer=160 freq=2500 volume=0.3 name=sup ! capsfilter name=supcaps caps=audio/x-raw,rate=16000 ! cb.supervisor \
         cb.to_customer ! {SINK} name=c  cb.to_agent ! {SINK} name=a"
    ));
    let outs = ["c", "a"].map(|n| collect(&p, n));
    let c_out = outs[0].clone();
    let mut mark = None;
    run(&p, || {
        let n: usize = c_out.lock().unwrap().iter().map(|(_, x)| x.len()).sum();
        if mark.is_none() && n >= 8000 {
            let sup = p.by_name("sup").unwrap();
            let caps = p.by_name("supcaps").unwrap();
            sup.set_state(gst::State::Null).unwrap();
            caps.set_state(gst::State::Null).unwrap();
            caps.unlink(&p.by_name("cb").unwrap());
            mark = Some(n);
        }
        n >= 24000
    });
    let mark = mark.expect("the call ended before the supervisor left");
    let c = samples(&outs[0]);
    let a = samples(&outs[1]);
    assert!(
        c.len() >= 16000 * 14 / 10,
        "customer heard {} samples",
        c.len()
    );
    assert!(a.len() >= 16000 * 14 / 10);
    assert!(tone(&c[1600..mark - 800], FREQ[2], 16000) > PRESENT);
    let after = mark + 3200..c.len() - 800;
    assert!(tone(&c[after.clone()], FREQ[2], 16000) < ABSENT);
    assert!(tone(&c[after.clone()], FREQ[1], 16000) > PRESENT);
    assert!(tone(&a[after], FREQ[0], 16000) > PRESENT);
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn three_parties_over_rtp_on_loopback() {
    // Each party's phone sends L16 RTP to the call server; the server mixes
    // in whisper mode and sends each party what it hears; the phones receive.
    // (The senders are async=false: in a pipeline that also receives, an
    // async sink would wait for a preroll that only its own packets bring.)
    let rtp =
        "application/x-rtp,media=audio,clock-rate=16000,encoding-name=L16,channels=1,payload=96";
    let mut desc = String::from("callbarge name=cb mode=whisper ");
    let names = ["customer", "agent", "supervisor"];
    for p in Party::ALL {
        let (up, down) = (free_udp_port(), free_udp_port());
        let name = names[p.index()];
        desc += &format!(
            "audiotestsrc is-live=true samplesperbuffer=320 freq={f} volume=0.3 ! audio/x-raw,rate=16000,channels=1 \
               ! audioconvert ! rtpL16pay ! udpsink host=127.0.0.1 port={up} async=false \
             udpsrc address=127.0.0.1 port={up} caps=\"{rtp}\" ! rtpjitterbuffer latency=40 ! rtpL16depay \
               ! audioconvert ! cb.{name} \
             cb.to_{name} ! audioconvert ! rtpL16pay ! udpsink host=127.0.0.1 port={down} async=false \
             udpsrc address=127.0.0.1 port={down} caps=\"{rtp}\" ! rtpjitterbuffer latency=40 ! rtpL16depay \
               ! audioconvert ! {SINK} name=heard_{name} ",
            f = FREQ[p.index()]
        );
    }
    let p = launch(&desc);
    let outs = names.map(|n| collect(&p, &format!("heard_{n}")));
    let enough = {
        let outs = outs.clone();
        move || {
            outs.iter().all(|o| {
                o.lock()
                    .unwrap()
                    .iter()
                    .map(|(_, x)| x.len())
                    .sum::<usize>()
                    >= 16000 * 2
            })
        }
    };
    run(&p, enough);
    for listener in Party::ALL {
        let x = samples(&outs[listener.index()]);
        assert!(x.len() >= 32000, "{listener:?} heard {} samples", x.len());
        // The last second, well after start-up.
        let tail = &x[x.len() - 16000..];
        assert_routing(Mode::Whisper, listener, tail, 16000, "over RTP");
    }
}
