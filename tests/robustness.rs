//! Robustness (issue 8): seeded fuzzing of every element through gst-check
//! harnesses — odd buffer sizes, missing, backward and huge timestamps, gaps,
//! discontinuities, caps changes, flushes, segments, EOS and malformed
//! protocol events in random order — then proof that the element still
//! works: a clean stream pushed afterwards comes out whole.
//!
//! Nothing here measures speed. Threads that could deadlock are joined with
//! a generous watchdog: a hang is reported as a failure, not as a slow test.

mod common;

use common::*;
use gst::glib;
use gstbargein::protocol::{self, Structure};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Deterministic PRNG (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Runs `f` on its own thread; a hang (deadlock) fails the test after
/// `limit` instead of blocking CI forever. Not a timing assertion: the
/// limit is tens of times what the work needs.
fn with_watchdog<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    // Under valgrind (scripts/leakcheck.sh) everything runs hundreds of
    // times slower: `BARGEIN_WATCHDOG_SCALE` stretches the limit to match.
    let scale: u32 = env_number("BARGEIN_WATCHDOG_SCALE").unwrap_or(1);
    let limit = limit.saturating_mul(scale.max(1));
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: worker ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no progress in {limit:?} (deadlock?)")
        }
    }
}

/// A number from the environment. One that does not parse fails the test
/// instead of quietly running another size.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// The size of a fuzz test: its seeds and operations per seed.
/// `BARGEIN_FUZZ_SCALE` (default 1) multiplies the operations per seed and
/// `BARGEIN_FUZZ_SEEDS` replaces the number of seeds, so that the leak check
/// can run a reduced fuzz under valgrind (hundreds of times slower) and a
/// deeper search can run more.
fn fuzz_size(seeds: u64, ops: usize) -> (std::ops::RangeInclusive<u64>, usize) {
    let scale: f64 = env_number("BARGEIN_FUZZ_SCALE").unwrap_or(1.0);
    assert!(
        scale.is_finite() && scale > 0.0,
        "BARGEIN_FUZZ_SCALE must be positive"
    );
    let seeds: u64 = env_number("BARGEIN_FUZZ_SEEDS").unwrap_or(seeds).max(1);
    // A few dozen operations at least: the tests check that most pushes
    // were taken, which says little over a handful.
    let ops = ((ops as f64 * scale).round() as usize).max(30);
    (1..=seeds, ops)
}

/// Lets the test's element go when the test is done with it. The element
/// holds the bus the test gave it, and every message on that bus holds its
/// source element: a cycle that nothing frees (a pipeline flushes its bus
/// when it goes to NULL; a harness's element has no pipeline), which the
/// leak check would report as lost.
fn release_bus(el: &gst::Element, bus: &gst::Bus) {
    bus.set_flushing(true);
    el.set_bus(None);
}

/// Error messages that mean a panic inside an element (gstreamer-rs turns
/// a panic in a vfunc into "Panicked: …" and the element stays dead).
fn panics_on(bus: &gst::Bus) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            let text = format!("{} {:?}", e.error(), e.debug());
            if std::env::var_os("FUZZ_VERBOSE").is_some() {
                eprintln!("bus error: {text}");
            }
            if text.contains("Panicked") {
                out.push(text);
            }
        }
    }
    out
}

const RATES: [u32; 4] = [8000, 16000, 32000, 48000];
const FORMATS: [gst_audio::AudioFormat; 2] =
    [gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le];

/// Current format of the fuzzed stream.
#[derive(Clone, Copy)]
struct Fmt {
    format: gst_audio::AudioFormat,
    rate: u32,
    channels: u32,
}

impl Fmt {
    fn caps(&self) -> gst::Caps {
        caps(self.format, self.rate, self.channels)
    }
    fn bpf(&self) -> usize {
        let width = if self.format == gst_audio::AudioFormat::F32le {
            4
        } else {
            2
        };
        width * self.channels as usize
    }
    fn random(rng: &mut Rng) -> Self {
        Self {
            format: rng.pick(&FORMATS),
            rate: rng.pick(&RATES),
            channels: 1 + rng.below(2) as u32,
        }
    }
}

/// One random buffer: random size (0 … 3000 frames, sometimes a byte short
/// of a whole frame when `ragged`), random loud content, and a timestamp
/// that is usually right but sometimes missing, backward, far ahead or at
/// the end of time; sometimes DISCONT, sometimes an empty GAP.
fn random_buffer(rng: &mut Rng, fmt: Fmt, pos: &mut u64, ragged: bool) -> gst::Buffer {
    let frames = match rng.below(10) {
        0 => 0,
        1 => 1,
        2..=4 => rng.below(3000) as usize,
        _ => fmt.rate as usize / 100 * (1 + rng.below(3) as usize),
    };
    let mut bytes = Vec::with_capacity(frames * fmt.bpf());
    for _ in 0..frames * fmt.channels as usize {
        let v = (rng.below(2001) as f32 - 1000.0) / 1000.0;
        // Out-of-range and non-finite floats reach real elements too.
        let v = match rng.below(500) {
            0 => f32::NAN,
            1 => 8.0,
            _ => v,
        };
        if fmt.format == gst_audio::AudioFormat::F32le {
            bytes.extend_from_slice(&v.to_le_bytes());
        } else {
            bytes.extend_from_slice(&gstbargein::audio::f32_to_s16(v).to_le_bytes());
        }
    }
    if ragged && rng.chance(3) && !bytes.is_empty() {
        bytes.pop();
    }
    let gap = rng.chance(5);
    let mut buf = if gap {
        gst::Buffer::new()
    } else {
        gst::Buffer::from_mut_slice(bytes)
    };
    let dur = frames_to_time(frames as u64, fmt.rate);
    {
        let b = buf.get_mut().expect("new buffer is writable");
        let pts = match rng.below(20) {
            0 => None,
            1 => Some(gst::ClockTime::from_nseconds(
                pos.saturating_sub(rng.below(2_000_000_000)),
            )),
            2 => Some(gst::ClockTime::from_nseconds(
                *pos + rng.below(5_000_000_000),
            )),
            3 => Some(gst::ClockTime::from_nseconds(u64::MAX / 2)),
            _ => Some(gst::ClockTime::from_nseconds(*pos)),
        };
        b.set_pts(pts);
        if gap {
            // A GAP may claim any duration, up to an absurd one.
            b.set_duration(match rng.below(4) {
                0 => gst::ClockTime::from_seconds(100_000),
                1 => gst::ClockTime::ZERO,
                _ => dur,
            });
            b.set_flags(gst::BufferFlags::GAP);
        } else if rng.chance(20) {
            b.set_duration(gst::ClockTime::NONE);
        } else {
            b.set_duration(dur);
        }
        if rng.chance(10) {
            b.set_flags(gst::BufferFlags::DISCONT);
        }
        if let Some(p) = pts {
            *pos = p.nseconds().min(u64::MAX / 4) + dur.nseconds();
        }
    }
    buf
}

/// Structures that look like ours but are not: missing fields, wrong
/// types, unknown enum strings.
fn malformed_structures(rng: &mut Rng) -> gst::Structure {
    match rng.below(7) {
        0 => gst::Structure::builder(protocol::Bargein::NAME).build(),
        1 => gst::Structure::builder(protocol::Bargein::NAME)
            .field("stage", 42i32)
            .field("onset", "yesterday")
            .build(),
        2 => gst::Structure::builder(protocol::Bargein::NAME)
            .field("stage", "eventually")
            .field("onset", 0u64)
            .field("detected", 0u64)
            .field("far-active", false)
            .field("source", "telepathy")
            .build(),
        3 => gst::Structure::builder(protocol::BargeinRelease::NAME)
            .field("onset", -1i32)
            .build(),
        4 => gst::Structure::builder(protocol::FarActivity::NAME)
            .field("active", "very")
            .field("level-db", true)
            .build(),
        5 => gst::Structure::builder(protocol::TtsMark::NAME)
            .field("text", 3.5f64)
            .build(),
        _ => gst::Structure::builder(protocol::Protect::NAME)
            .field("protected", "maybe")
            .build(),
    }
}

/// Fuzzes a one-pad in-place filter. Returns the harness after a final
/// clean stream, and how many frames of it came out.
fn fuzz_filter(factory: &str, seed: u64, ops: usize) {
    init();
    let mut rng = Rng::new(seed);
    let mut h = gst_check::Harness::new(factory);
    let el = h.element().unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut fmt = Fmt::random(&mut rng);
    h.set_src_caps(fmt.caps());
    let mut pos = 0u64;
    for _ in 0..ops {
        match rng.below(24) {
            0 => {
                fmt = Fmt::random(&mut rng);
                h.push_event(gst::event::Caps::new(&fmt.caps()));
            }
            1 => {
                // Unsupported rate: must be refused, never accepted.
                let bad = caps(fmt.format, 44100, fmt.channels);
                h.push_event(gst::event::Caps::new(&bad));
                let r = h.push(buffer_f32(&[0.0; 441], 1, 44100, 0));
                assert_eq!(
                    r,
                    Err(gst::FlowError::NotNegotiated),
                    "{factory} accepted {bad}"
                );
                h.push_event(gst::event::Caps::new(&fmt.caps()));
            }
            2 => {
                h.push_event(gst::event::FlushStart::new());
                h.push_event(gst::event::FlushStop::new(true));
                h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
            }
            3 => {
                let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                seg.set_start(gst::ClockTime::from_nseconds(rng.below(10_000_000_000)));
                if rng.chance(30) {
                    seg.set_base(gst::ClockTime::from_nseconds(rng.below(10_000_000_000)));
                }
                h.push_event(gst::event::Segment::new(&seg));
            }
            4 => {
                h.push_event(gst::event::Eos::new());
                // A new stream after EOS.
                h.push_event(gst::event::FlushStart::new());
                h.push_event(gst::event::FlushStop::new(true));
                h.push_event(gst::event::StreamStart::new(&format!("s{}", rng.next())));
                h.push_event(gst::event::Caps::new(&fmt.caps()));
                h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
            }
            5 => {
                let s = malformed_structures(&mut rng);
                h.push_event(gst::event::CustomDownstream::new(s.clone()));
                h.push_upstream_event(gst::event::CustomUpstream::new(s));
            }
            6 => {
                // Well-formed decisions too, so the element acts mid-fuzz.
                let stage = rng.pick(&[protocol::Stage::Tentative, protocol::Stage::Confirmed]);
                let b = protocol::Bargein {
                    stage,
                    onset: gst::ClockTime::from_nseconds(pos),
                    detected: gst::ClockTime::from_nseconds(pos),
                    far_active: rng.chance(50),
                    source: protocol::Source::Speech,
                };
                h.push_upstream_event(b.upstream_event());
            }
            7 => {
                let a = protocol::FarActivity {
                    active: rng.chance(50),
                    level_db: -20.0,
                    converged: rng.chance(50),
                    echo: rng.chance(50),
                };
                h.push_event(a.downstream_event());
            }
            _ => {
                let buf = random_buffer(&mut rng, fmt, &mut pos, true);
                // Any flow result is acceptable here; a panic is not.
                let _ = h.push(buf);
            }
        }
        while h.try_pull().is_some() {}
        while h.try_pull_event().is_some() {}
        while h.try_pull_upstream_event().is_some() {}
    }
    let panics = panics_on(&bus);
    assert!(panics.is_empty(), "{factory} seed {seed}: {panics:?}");

    // Afterwards a clean stream must pass whole: nothing is stuck.
    h.push_event(gst::event::FlushStart::new());
    h.push_event(gst::event::FlushStop::new(true));
    h.push_event(gst::event::StreamStart::new("clean"));
    let clean = caps_f32(16000, 1);
    h.push_event(gst::event::Caps::new(&clean));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    while h.try_pull().is_some() {}
    let mut out = 0usize;
    for i in 0..100u64 {
        let r = h.push(buffer_f32(&sine(440.0, 0.3, 16000, 160), 1, 16000, i * 160));
        assert_eq!(
            r,
            Ok(gst::FlowSuccess::Ok),
            "{factory} seed {seed}: push {i}"
        );
        while let Some(b) = h.try_pull() {
            out += b.size() / 4;
        }
    }
    assert_eq!(
        out, 16000,
        "{factory} seed {seed}: clean stream lost samples"
    );
    let panics = panics_on(&bus);
    assert!(panics.is_empty(), "{factory} seed {seed}: {panics:?}");
    release_bus(&el, &bus);
}

#[test]
fn fuzz_bargeinvad() {
    let (seeds, ops) = fuzz_size(4, 400);
    for seed in seeds {
        with_watchdog("bargeinvad fuzz", Duration::from_secs(300), move || {
            fuzz_filter("bargeinvad", seed, ops)
        });
    }
}

#[test]
fn fuzz_ttsducker() {
    let (seeds, ops) = fuzz_size(6, 400);
    for seed in seeds {
        with_watchdog("ttsducker fuzz", Duration::from_secs(300), move || {
            fuzz_filter("ttsducker", seed, ops)
        });
    }
}

/// Both bargeinaec inputs fuzzed at once from their own threads (as in a
/// pipeline: each sink pad has its own upstream thread). The element must
/// neither panic nor deadlock, and after the fuzz a clean near stream comes
/// out whole while the far end keeps misbehaving.
fn fuzz_aec(seed: u64, ops: usize) {
    init();
    let mut near = gst_check::Harness::with_padnames("bargeinaec", Some("sink"), Some("src"));
    let el = near.element().unwrap();
    let mut far = gst_check::Harness::with_element(&el, Some("far_sink"), None);
    // Non-live: the aggregator waits for the far end where it may, which is
    // where deadlocks would hide (a live one times out instead).
    near.set_live(false);
    far.set_live(false);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut rng = Rng::new(seed);
    let near_fmt = Fmt::random(&mut rng);
    let far_fmt = Fmt::random(&mut rng);
    near.set_src_caps(near_fmt.caps());
    far.set_src_caps(far_fmt.caps());

    /// Returns how many buffers were accepted.
    fn ops_on(
        h: &mut gst_check::Harness,
        rng: &mut Rng,
        mut fmt: Fmt,
        ops: usize,
        is_near: bool,
    ) -> usize {
        let mut pos = 0u64;
        let mut accepted = 0;
        for _ in 0..ops {
            match rng.below(30) {
                0 => {
                    fmt = Fmt::random(rng);
                    h.push_event(gst::event::Caps::new(&fmt.caps()));
                }
                1 => {
                    h.push_event(gst::event::FlushStart::new());
                    h.push_event(gst::event::FlushStop::new(true));
                    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
                }
                2 => {
                    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                    seg.set_base(gst::ClockTime::from_nseconds(rng.below(3_000_000_000)));
                    h.push_event(gst::event::Segment::new(&seg));
                }
                3 => {
                    let s = malformed_structures(rng);
                    h.push_event(gst::event::CustomDownstream::new(s.clone()));
                    if is_near {
                        h.push_upstream_event(gst::event::CustomUpstream::new(s));
                    }
                }
                4 if !is_near => {
                    // The far end ends and a new utterance starts later.
                    h.push_event(gst::event::Eos::new());
                    h.push_event(gst::event::FlushStart::new());
                    h.push_event(gst::event::FlushStop::new(true));
                    h.push_event(gst::event::StreamStart::new(&format!("far{}", rng.next())));
                    h.push_event(gst::event::Caps::new(&fmt.caps()));
                    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
                }
                _ => {
                    if h.push(random_buffer(rng, fmt, &mut pos, false)).is_ok() {
                        accepted += 1;
                    }
                }
            }
            if is_near {
                while h.try_pull().is_some() {}
                while h.try_pull_event().is_some() {}
            }
            while h.try_pull_upstream_event().is_some() {}
        }
        accepted
    }

    let far_rng_seed = rng.next();
    let far_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let far_thread = {
        let far_done = far_done.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(far_rng_seed);
            let accepted = ops_on(&mut far, &mut rng, far_fmt, ops, false);
            // The far end ends for good: the near end must not wait for it.
            far.push_event(gst::event::Eos::new());
            far_done.store(true, std::sync::atomic::Ordering::SeqCst);
            (far, accepted)
        })
    };
    let near_accepted = ops_on(&mut near, &mut rng, near_fmt, ops, true);
    // The far end's audio is taken only once the near end reaches its time
    // (backpressure, as designed), so a far thread whose stream jumped ahead
    // blocks until the microphone gets there. The near thread finishing
    // first must not leave it blocked for good (the test hung so: seed 2 at
    // 30 operations, every time; at any size when the threads' timing
    // put the near end's last operation first): the microphone goes on,
    // past anything the far fuzz can reach (u64::MAX / 2, plus a GAP of
    // 100 000 s, plus a segment base), until the far thread is done.
    near.push_event(gst::event::Caps::new(&caps_f32(16000, 1)));
    near.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    // In frames at 16 kHz.
    let beyond = (u64::MAX / 2 / 1_000_000_000 + 200_000) * 16000;
    let mut catch_up = 0u64;
    while !far_done.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = near.push(buffer_f32(&[0.0; 160], 1, 16000, beyond + catch_up * 160));
        catch_up += 1;
        while near.try_pull().is_some() {}
        while near.try_pull_event().is_some() {}
        while near.try_pull_upstream_event().is_some() {}
    }
    let (far, far_accepted) = far_thread.join().expect("far thread");
    // Most pushes must have been taken: a fuzz that only hits a refusing
    // element tests nothing.
    assert!(
        near_accepted > ops / 2 && far_accepted > ops / 2,
        "bargeinaec seed {seed}: only {near_accepted}/{far_accepted} of {ops} accepted"
    );
    let panics = panics_on(&bus);
    assert!(panics.is_empty(), "bargeinaec seed {seed}: {panics:?}");

    // A clean near stream at a new, far-away position: all of it comes out.
    near.push_event(gst::event::FlushStart::new());
    near.push_event(gst::event::FlushStop::new(true));
    near.push_event(gst::event::StreamStart::new("clean"));
    near.push_event(gst::event::Caps::new(&caps_f32(16000, 1)));
    near.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    while near.try_pull().is_some() {}
    let start = 5000u64 * 16000;
    for i in 0..100u64 {
        let r = near.push(buffer_f32(
            &sine(440.0, 0.3, 16000, 160),
            1,
            16000,
            start + i * 160,
        ));
        assert_eq!(
            r,
            Ok(gst::FlowSuccess::Ok),
            "bargeinaec seed {seed}: push {i}"
        );
    }
    near.push_event(gst::event::Eos::new());
    let mut out = 0u64;
    let first = frames_to_time(start, 16000);
    while let Ok(Some(b)) = near.pull_until_eos() {
        // (Output of data in flight when the flush came may still follow it:
        // count only what lies in the clean stream's second.)
        if b.pts()
            .is_some_and(|p| p >= first && p < first + gst::ClockTime::SECOND)
        {
            if std::env::var_os("FUZZ_VERBOSE").is_some() {
                eprintln!("out {} {} {:?}", b.pts().display(), b.size() / 4, b.flags());
            }
            out += b.size() as u64 / 4;
        }
    }
    // Within one 10 ms frame: a resync at the clean stream's start may cost
    // part of WebRTC's delay compensation.
    assert!(
        (16000 - 160..=16000 + 160).contains(&out),
        "bargeinaec seed {seed}: clean stream came out as {out} samples, not 16000"
    );
    drop(far);
    let panics = panics_on(&bus);
    assert!(panics.is_empty(), "bargeinaec seed {seed}: {panics:?}");
    release_bus(&el, &bus);
}

#[test]
fn fuzz_bargeinaec() {
    let (seeds, ops) = fuzz_size(4, 300);
    for seed in seeds {
        with_watchdog("bargeinaec fuzz", Duration::from_secs(300), move || {
            fuzz_aec(seed, ops)
        });
    }
}

/// Counts buffers and samples (per channel, S16 mono) leaving a pad.
#[derive(Clone, Default)]
struct Counter(Arc<(Mutex<(u64, u64)>, Condvar)>);

impl Counter {
    fn attach(&self, pad: &gst::Pad) {
        let c = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                let (m, cv) = &*c.0;
                let mut g = m.lock().unwrap();
                g.0 += 1;
                g.1 += b.size() as u64 / 2;
                cv.notify_all();
            }
            gst::PadProbeReturn::Ok
        });
    }
    fn get(&self) -> (u64, u64) {
        *self.0.0.lock().unwrap()
    }
    /// Waits until `n` output samples in all went by; false on a stall.
    /// Absolute, so output that raced ahead of the call still counts.
    fn wait_samples(&self, n: u64, limit: Duration) -> bool {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        let deadline = std::time::Instant::now() + limit;
        while g.1 < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv.wait_timeout(g, left).unwrap().0;
        }
        true
    }
    /// Waits until `n` more buffers went by; false on a stall.
    fn wait_more(&self, n: u64, limit: Duration) -> bool {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        let target = g.0 + n;
        let deadline = std::time::Instant::now() + limit;
        while g.0 < target {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv.wait_timeout(g, left).unwrap().0;
        }
        true
    }
}

fn pipeline(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

/// Fails on an error message; returns at EOS.
fn wait_eos(p: &gst::Pipeline, limit: Duration) {
    let bus = p.bus().unwrap();
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no EOS within {limit:?} (stall?)");
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return,
            gst::MessageView::Error(e) => panic!("error: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
}

/// NULL↔READY↔PAUSED↔PLAYING in random order while a live call flows
/// through ttsducker, bargeinaec and bargeinvad: every time the pipeline is
/// back in PLAYING the near end flows again, and nothing errors.
#[test]
fn state_cycles_while_streaming() {
    init();
    let p = pipeline(
        "audiotestsrc is-live=true wave=sine freq=300 volume=0.3 samplesperbuffer=160 \
           ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! ttsducker ! tee name=t \
         t. ! queue ! fakesink sync=false \
         t. ! queue ! aec.far_sink \
         audiotestsrc is-live=true wave=pink-noise volume=0.05 samplesperbuffer=160 \
           ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! aec.sink \
         bargeinaec name=aec ! bargeinvad name=vad ! fakesink name=out sync=false async=false",
    );
    let count = Counter::default();
    count.attach(&p.by_name("vad").unwrap().static_pad("src").unwrap());
    let bus = p.bus().unwrap();
    let mut rng = Rng::new(7);
    let states = [
        gst::State::Null,
        gst::State::Ready,
        gst::State::Paused,
        gst::State::Playing,
    ];
    for round in 0..40 {
        let target = if round % 3 == 0 {
            gst::State::Playing
        } else {
            rng.pick(&states)
        };
        p.set_state(target).expect("state change");
        let (res, cur, _) = p.state(gst::ClockTime::from_seconds(30));
        assert!(res.is_ok(), "round {round}: {target:?} failed");
        if cur == gst::State::Playing {
            assert!(
                count.wait_more(5, Duration::from_secs(30)),
                "round {round}: near end stalled in PLAYING"
            );
        }
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                panic!("round {round}: {} {:?}", e.error(), e.debug());
            }
        }
    }
    p.set_state(gst::State::Null).unwrap();
}

/// Pushes `seconds` of S16 mono 16 kHz from an appsrc, 20 ms a buffer.
fn feed(src: &gst_app::AppSrc, seconds: u64, first_frame: u64, amp: f32, seed: u64) {
    let n = 320usize;
    let mut x = seed;
    for i in 0..seconds * 50 {
        let samples: Vec<i16> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as i32 % 32768) as f32 / 32768.0 * amp
            })
            .map(gstbargein::audio::f32_to_s16)
            .collect();
        let buf = buffer_s16(&samples, 1, 16000, first_frame + i * n as u64);
        if src.push_buffer(buf).is_err() {
            return;
        }
    }
}

const NEAR_CAPS: &str = "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved";

/// far_sink unlinked and relinked while a non-live pipeline plays: the near
/// end never stalls, and after the relink the new far end is used (the
/// element reports it active again).
#[test]
fn far_sink_unlinked_and_relinked_while_playing() {
    init();
    with_watchdog("relink", Duration::from_secs(120), || {
        let p = pipeline(&format!(
            "appsrc name=near format=time caps={NEAR_CAPS} ! aec.sink \
             appsrc name=far format=time caps={NEAR_CAPS} ! aec.far_sink \
             bargeinaec name=aec ! fakesink name=out sync=false"
        ));
        let aec = p.by_name("aec").unwrap();
        let active = Arc::new(Mutex::new(Vec::new()));
        let a2 = active.clone();
        aec.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Event(e)) = &info.data
                    && let Ok(a) = protocol::FarActivity::from_event(e)
                {
                    a2.lock().unwrap().push(a.active);
                }
                gst::PadProbeReturn::Ok
            },
        );
        let count = Counter::default();
        count.attach(&aec.static_pad("src").unwrap());
        let near = appsrc(&p, "near");
        let far = appsrc(&p, "far");
        p.set_state(gst::State::Playing).unwrap();

        // 2 s with a far end.
        feed(&far, 2, 0, 0.5, 1);
        feed(&near, 2, 0, 0.01, 2);
        // Most of it out (the element may hold its last partial frame).
        assert!(count.wait_samples(3 * 16000 / 2, Duration::from_secs(60)));

        // Tear the far branch down (stopped first, so it does not push
        // into an unlinked pad and fail), then unlink it.
        let far_sink = aec.static_pad("far_sink").unwrap();
        let far_src = far.static_pad("src").unwrap();
        far.set_state(gst::State::Null).unwrap();
        far_src.unlink(&far_sink).unwrap();
        p.remove(&far).unwrap();
        feed(&near, 2, 2 * 16000, 0.01, 3);
        assert!(
            count.wait_samples(7 * 16000 / 2, Duration::from_secs(60)),
            "near end stalled with far_sink unlinked"
        );

        // A new far branch, linked while playing.
        let far2 = gst_app::AppSrc::builder()
            .caps(&NEAR_CAPS.parse::<gst::Caps>().unwrap())
            .format(gst::Format::Time)
            .build();
        p.add(&far2).unwrap();
        far2.static_pad("src").unwrap().link(&far_sink).unwrap();
        far2.sync_state_with_parent().unwrap();
        let before = active.lock().unwrap().len();
        active.lock().unwrap().clear();
        let _ = before;
        feed(&far2, 3, 4 * 16000, 0.5, 4);
        far2.end_of_stream().unwrap();
        feed(&near, 3, 4 * 16000, 0.01, 5);
        near.end_of_stream().unwrap();
        wait_eos(&p, Duration::from_secs(60));
        let (_, samples) = count.get();
        assert_eq!(samples, 7 * 16000, "near end lost or gained samples");
        assert!(
            active.lock().unwrap().contains(&true),
            "the relinked far end was never used as reference"
        );
        p.set_state(gst::State::Null).unwrap();
    });
}

/// The far branch ends after 2 s while the microphone goes on (CI size:
/// 10 minutes; `cargo bench --bench soak` runs the hour): every near sample
/// comes out and the element's memory stays put.
#[test]
fn far_eos_then_near_continues() {
    init();
    let minutes: u64 = std::env::var("BARGEIN_FAR_EOS_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    with_watchdog("far EOS", Duration::from_secs(600), move || {
        let p = pipeline(&format!(
            "appsrc name=far format=time caps={NEAR_CAPS} ! aec.far_sink \
             audiotestsrc wave=pink-noise volume=0.02 samplesperbuffer=320 num-buffers={} \
               ! {NEAR_CAPS} ! aec.sink \
             bargeinaec name=aec ! fakesink name=out sync=false",
            minutes * 60 * 50
        ));
        let aec = p.by_name("aec").unwrap();
        let count = Counter::default();
        count.attach(&aec.static_pad("src").unwrap());
        let far = appsrc(&p, "far");
        p.set_state(gst::State::Playing).unwrap();
        feed(&far, 2, 0, 0.5, 9);
        far.end_of_stream().unwrap();
        wait_eos(&p, Duration::from_secs(600));
        let (_, samples) = count.get();
        assert_eq!(samples, minutes * 60 * 16000);
        p.set_state(gst::State::Null).unwrap();
    });
}

/// Every property of every element changed from another thread, as fast as
/// it can, while audio streams: no deadlock, no error, no lost sample.
#[test]
fn property_changes_from_other_threads() {
    init();
    with_watchdog("properties", Duration::from_secs(300), || {
        let p = pipeline(&format!(
            "audiotestsrc wave=sine volume=0.3 samplesperbuffer=320 num-buffers=3000 \
               ! {NEAR_CAPS} ! ttsducker name=duck ! tee name=t \
             t. ! queue max-size-buffers=2 ! fakesink sync=false \
             t. ! queue max-size-buffers=2 ! aec.far_sink \
             audiotestsrc wave=pink-noise volume=0.05 samplesperbuffer=320 num-buffers=3000 \
               ! {NEAR_CAPS} ! aec.sink \
             bargeinaec name=aec ! bargeinvad name=vad ! fakesink name=out sync=false"
        ));
        let count = Counter::default();
        count.attach(&p.by_name("vad").unwrap().static_pad("src").unwrap());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for (name, seed) in [("aec", 1u64), ("vad", 2), ("duck", 3)] {
            let el = p.by_name(name).unwrap();
            let done = done.clone();
            threads.push(std::thread::spawn(move || {
                let mut rng = Rng::new(seed);
                let props: Vec<glib::ParamSpec> = el
                    .list_properties()
                    .iter()
                    .filter(|ps| {
                        ps.flags().contains(glib::ParamFlags::WRITABLE)
                            && ps.owner_type() == el.type_()
                            && ps.name() != "model-path"
                    })
                    .cloned()
                    .collect();
                let mut changes = 0u64;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let ps = &props[rng.below(props.len() as u64) as usize];
                    let v = random_value(ps, &mut rng);
                    el.set_property_from_value(ps.name(), &v);
                    let _ = el.property_value(ps.name());
                    if name == "aec" {
                        let _ = el.property_value("stats");
                    }
                    if name == "duck" && rng.chance(5) {
                        match rng.below(3) {
                            0 => el.emit_by_name::<()>("interrupt", &[&"tentative"]),
                            1 => el.emit_by_name::<()>("release", &[]),
                            _ => el.emit_by_name::<()>("reset", &[]),
                        }
                    }
                    changes += 1;
                    std::thread::yield_now();
                }
                changes
            }));
        }
        p.set_state(gst::State::Playing).unwrap();
        wait_eos(&p, Duration::from_secs(300));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in threads {
            assert!(t.join().unwrap() > 0);
        }
        let (_, samples) = count.get();
        assert_eq!(samples, 3000 * 320, "near end lost samples");
        p.set_state(gst::State::Null).unwrap();
    });
}

/// A valid random value for a property, anywhere in its range.
fn random_value(ps: &glib::ParamSpec, rng: &mut Rng) -> glib::Value {
    if let Some(p) = ps.downcast_ref::<glib::ParamSpecBoolean>() {
        let _ = p;
        return rng.chance(50).to_value();
    }
    if let Some(p) = ps.downcast_ref::<glib::ParamSpecUInt>() {
        let span = u64::from(p.maximum() - p.minimum()) + 1;
        return (p.minimum() + rng.below(span.min(5000)) as u32).to_value();
    }
    if let Some(p) = ps.downcast_ref::<glib::ParamSpecDouble>() {
        let (lo, hi) = (p.minimum().max(-1000.0), p.maximum().min(1000.0));
        return (lo + (hi - lo) * rng.below(1001) as f64 / 1000.0).to_value();
    }
    if let Some(p) = ps.downcast_ref::<glib::ParamSpecEnum>() {
        let class = p.enum_class();
        let values = class.values();
        let v = values[rng.below(values.len() as u64) as usize].value();
        return class
            .to_value(v)
            .unwrap_or_else(|| ps.default_value().clone());
    }
    ps.default_value().clone()
}

/// CI size of the soak and load benchmark (`cargo bench --bench soak`):
/// 8 full chains at once, 10 minutes of audio each, resident memory sampled
/// every minute of audio. After the first minutes (allocator pools, model
/// buffers) it must stay flat: a leak of even one buffer per 10 ms frame
/// would add megabytes here.
#[test]
fn soak_eight_chains_memory_bounded() {
    init();
    with_watchdog("soak", Duration::from_secs(900), || {
        let mut rss = Vec::new();
        let counts = common::soak::run_chains(8, 600, 60, |_| rss.push(common::soak::rss_kib()));
        for (i, c) in counts.iter().enumerate() {
            assert_eq!(*c, 600 * 16000, "stream {i} lost near-end samples");
        }
        assert!(rss.len() >= 9, "RSS samples: {rss:?}");
        // RSS is the whole test process's: other tests running beside this
        // one make it spike and fall. A leak only grows, so compare the
        // lowest of the last samples with the settled level.
        let settled = rss[2];
        let late = *rss[rss.len() - 3..].iter().min().unwrap();
        assert!(
            late.saturating_sub(settled) < 8 * 1024,
            "resident memory grew from {settled} KiB to {late} KiB: {rss:?}"
        );
    });
}

/// Far end and microphone clocks 0.1 % apart for ten minutes
/// (`BARGEIN_DRIFT_MINUTES` for longer: at 0.1 % the reference is handed
/// out a second later every 17 minutes, 3.6 s after an hour): the near end
/// keeps flowing sample for sample (no queue grows), every minute stays
/// cancelled and, without drift, the same scene is cancelled by more than
/// 20 dB. (What drift does to ERLE: `cargo bench --bench soak -- drift`,
/// README.)
#[test]
fn clock_drift_keeps_flowing() {
    let minutes: u64 = env_number("BARGEIN_DRIFT_MINUTES").unwrap_or(10);
    let plain = common::soak::drift_run(60, 0.0, 30);
    assert!(
        plain.erle_db[1] > 20.0,
        "no drift: ERLE {:?} dB",
        plain.erle_db
    );
    // Ten minutes at 0.1 %: the echo slides 600 ms against the reference,
    // past AEC3's delay range (it cancelled nothing from the tenth minute on
    // before the element followed the drift).
    let drifting = common::soak::drift_run(minutes * 60, 0.001, 60);
    assert_eq!(
        drifting.samples_out, drifting.samples_in,
        "near end not sample-exact"
    );
    assert_eq!(
        drifting.erle_db.len() as u64,
        minutes,
        "output shorter than input"
    );
    assert!(
        drifting.erle_db.iter().all(|e| e.is_finite() && *e > 5.0),
        "drift: ERLE {:?} dB per minute (floor 5 dB)",
        drifting.erle_db
    );
}

/// The microphone clock 0.1 % slower than the playback clock for ten
/// minutes (16000 vs 15984 Hz): the echo, 40 ms behind its reference at
/// first, comes 1 ms/s earlier and would precede the reference after 40 s,
/// where AEC3 cannot cancel it. The far end is fed ahead of the microphone
/// (a file, an appsrc, a queue before the sink): the element hands the
/// reference out early enough, every minute stays cancelled and the near
/// end comes out sample for sample. (Measured: 11.0 dB or more per minute;
/// before the reference could be handed out early, 5.4 dB in the first
/// minute, 1.0 dB in the second and 0.0 dB from the seventh.)
#[test]
fn slow_microphone_clock_keeps_cancelling() {
    let run = common::soak::drift_run(600, -0.001, 60);
    assert_kept_cancelling(&run, 10, "slow microphone");
}

/// Every minute cancelled by more than 8 dB, the near end sample-exact, no
/// warning.
fn assert_kept_cancelling(run: &common::soak::DriftRun, minutes: usize, what: &str) {
    assert_eq!(run.samples_out, run.samples_in, "near end not sample-exact");
    assert_eq!(run.erle_db.len(), minutes);
    assert!(
        run.erle_db.iter().all(|e| e.is_finite() && *e > 8.0),
        "{what}: ERLE {:?} dB per minute (floor 8 dB)",
        run.erle_db
    );
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
}

/// The same slow microphone with the far end fed ahead in 20 ms buffers, as
/// an application pushing RTP-sized chunks into an appsrc does: each buffer
/// is handed over only once the element took the one before, so without
/// waiting for far_sink to refill, the lookahead a drift correction used up
/// never grew back and cancellation collapsed from minute 2 on (ERLE < 2 dB).
#[test]
fn slow_microphone_clock_keeps_cancelling_with_the_far_end_in_small_buffers() {
    use common::soak::FarFeed;
    let run = with_watchdog("far end in 20 ms buffers", Duration::from_secs(300), || {
        common::soak::drift_run_fed(
            300,
            -0.001,
            60,
            FarFeed::Ahead {
                ms: 3000,
                buffer_ms: 20,
            },
        )
    });
    // Each 20 ms buffer waits for the element to take the one before, so
    // how far ahead the reference runs depends on thread scheduling: under
    // the load of the whole suite, one run in three had one minute at 5.4
    // or 7.4 dB (alone: 9.8 dB or more). The collapse this guards against
    // loses every minute from the second to fourth on (2.6–3.7 dB).
    assert_eq!(run.samples_out, run.samples_in, "near end not sample-exact");
    assert_eq!(run.erle_db.len(), 5);
    let low = run.erle_db.iter().filter(|e| **e <= 8.0).count();
    assert!(
        run.erle_db.iter().all(|e| e.is_finite() && *e > 4.0) && low <= 1,
        "slow microphone, 20 ms far buffers: ERLE {:?} dB per minute \
         (floor 4 dB, at most one minute under 8 dB)",
        run.erle_db
    );
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
}

/// The same slow microphone with a far end that arrives no earlier than
/// the microphone, and only as the output advances: the reference cannot be
/// handed out early. The element says so once, clearly, and the near end
/// still comes out whole (no wait for far audio that is not there or not
/// needed, no silence handed out instead).
#[test]
fn slow_microphone_clock_with_a_just_in_time_far_end_warns() {
    use common::soak::FarFeed;
    // A stall fails the test instead of hanging CI.
    let run = with_watchdog("just-in-time far end", Duration::from_secs(300), || {
        common::soak::drift_run_fed(180, -0.001, 60, FarFeed::JustInTime)
    });
    assert_eq!(run.samples_out, run.samples_in, "near end not sample-exact");
    let slow: Vec<_> = run
        .warnings
        .iter()
        .filter(|w| w.contains("microphone clock runs slow"))
        .collect();
    assert_eq!(slow.len(), 1, "warnings: {:?}", run.warnings);
    assert_eq!(run.warnings.len(), 1, "warnings: {:?}", run.warnings);
}

/// callbarge parties, in the order of its pads: customer, agent, supervisor.
const CALL_PARTIES: [(&str, &str); 3] = [
    ("customer", "to_customer"),
    ("agent", "to_agent"),
    ("supervisor", "to_supervisor"),
];
/// Each party talks at its own frequency in the clean call after a fuzz.
const CALL_FREQ: [f64; 3] = [440.0, 1000.0, 2500.0];

/// Sets a random writable property of `el` (mode, ramp, gains, keypad,
/// rate: whatever it has) to a random valid value.
fn random_property(el: &gst::Element, rng: &mut Rng) {
    let props: Vec<glib::ParamSpec> = el
        .list_properties()
        .iter()
        .filter(|p| {
            p.flags().contains(glib::ParamFlags::WRITABLE)
                && !p.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
                && p.owner_type() == el.type_()
        })
        .cloned()
        .collect();
    if props.is_empty() {
        return;
    }
    let ps = &props[rng.below(props.len() as u64) as usize];
    el.set_property_from_value(ps.name(), &random_value(ps, rng));
}

/// Fuzzes callbarge through one harness per party (non-live: the mixer
/// waits for every party, where deadlocks would hide), each party on its
/// own thread as in a pipeline, while another thread changes the mode and
/// every other property. Then a clean three-way call must come out whole
/// on every output, each listener hearing exactly the two others.
fn fuzz_call(seed: u64, ops: usize) {
    init();
    let mut rng = Rng::new(seed);
    let mut first = gst_check::Harness::with_padnames(
        "callbarge",
        Some(CALL_PARTIES[0].0),
        Some(CALL_PARTIES[0].1),
    );
    let el = first.element().unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    first.set_live(false);
    let mut harnesses = vec![first];
    for (sink, src) in &CALL_PARTIES[1..] {
        let mut h = gst_check::Harness::with_element(&el, Some(sink), Some(src));
        h.set_live(false);
        harnesses.push(h);
    }

    fn party_ops(h: &mut gst_check::Harness, rng: &mut Rng, ops: usize) -> usize {
        let mut fmt = Fmt::random(rng);
        h.set_src_caps(fmt.caps());
        let mut pos = 0u64;
        let mut accepted = 0;
        for _ in 0..ops {
            match rng.below(40) {
                0 => {
                    // Supported most of the time; sometimes a rate or a
                    // channel count callbarge refuses.
                    fmt = Fmt::random(rng);
                    let caps = if rng.chance(15) {
                        caps(fmt.format, rng.pick(&[11025, 44100]), fmt.channels)
                    } else {
                        fmt.caps()
                    };
                    h.push_event(gst::event::Caps::new(&caps));
                    if !audio_caps_supported(&caps) {
                        h.push_event(gst::event::Caps::new(&fmt.caps()));
                    }
                }
                1 => {
                    h.push_event(gst::event::FlushStart::new());
                    h.push_event(gst::event::FlushStop::new(true));
                    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
                }
                2 => {
                    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                    seg.set_base(gst::ClockTime::from_nseconds(rng.below(3_000_000_000)));
                    if rng.chance(30) {
                        seg.set_rate(rng.pick(&[0.5, 2.0]));
                    }
                    h.push_event(gst::event::Segment::new(&seg));
                }
                3 => {
                    let s = if rng.chance(30) {
                        // Our own message's structure, malformed, as an event.
                        gst::Structure::builder("callbarge-mode")
                            .field("mode", 7i32)
                            .build()
                    } else {
                        malformed_structures(rng)
                    };
                    h.push_event(gst::event::CustomDownstream::new(s.clone()));
                    h.push_upstream_event(gst::event::CustomUpstream::new(s));
                }
                4 => {
                    // The party's line restarts. (Not through EOS: once every
                    // party is EOS the call is over and, like any aggregator,
                    // takes a flushing seek to start again; a party pushing
                    // after that blocks until the pipeline stops.)
                    h.push_event(gst::event::FlushStart::new());
                    h.push_event(gst::event::FlushStop::new(true));
                    h.push_event(gst::event::StreamStart::new(&format!(
                        "party{}",
                        rng.next()
                    )));
                    h.push_event(gst::event::Caps::new(&fmt.caps()));
                    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
                    pos = 0;
                }
                _ => {
                    if h.push(random_buffer(rng, fmt, &mut pos, true)).is_ok() {
                        accepted += 1;
                    }
                }
            }
            while h.try_pull().is_some() {}
            while h.try_pull_event().is_some() {}
            while h.try_pull_upstream_event().is_some() {}
        }
        // This party is done: the others must not wait for it.
        h.push_event(gst::event::Eos::new());
        accepted
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let controller = {
        let el = el.clone();
        let stop = stop.clone();
        let bus = bus.clone();
        let mut rng = Rng::new(rng.next());
        std::thread::spawn(move || {
            // Every mode change posts a message: drain the bus as it goes,
            // keeping what matters (panics), or it grows without bound.
            let mut panics = Vec::new();
            let mut changes = 0u64;
            // At least one change even if the parties are done before this
            // thread first runs (a loaded machine).
            loop {
                random_property(&el, &mut rng);
                changes += 1;
                panics.extend(panics_on(&bus));
                if stop.load(std::sync::atomic::Ordering::SeqCst) || changes >= 100_000 {
                    break;
                }
                std::thread::yield_now();
            }
            (changes, panics)
        })
    };
    let threads: Vec<_> = harnesses
        .into_iter()
        .map(|mut h| {
            let seed = rng.next();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed);
                let accepted = party_ops(&mut h, &mut rng, ops);
                (h, accepted)
            })
        })
        .collect();
    let mut harnesses = Vec::new();
    for t in threads {
        let (h, accepted) = t.join().expect("party thread");
        assert!(
            accepted > ops / 3,
            "callbarge seed {seed}: only {accepted} of {ops} buffers accepted"
        );
        harnesses.push(h);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (changes, mut panics) = controller.join().expect("controller thread");
    assert!(changes > 0);
    panics.extend(panics_on(&bus));
    assert!(panics.is_empty(), "callbarge seed {seed}: {panics:?}");

    // A clean three-way call from a new stream after a flushing seek from
    // a listener (the fuzz may have left the call at the end of time):
    // one second, 10 ms per party per step (the mixer waits for all three).
    el.set_property("mode", gstbargein::callbarge::Mode::Barge);
    for g in ["customer-gain", "agent-gain", "supervisor-gain"] {
        el.set_property(g, 1.0f64);
    }
    el.set_property("dtmf-control", false);
    let seek = gst::event::Seek::new(
        1.0,
        gst::SeekFlags::FLUSH,
        gst::SeekType::Set,
        gst::ClockTime::ZERO,
        gst::SeekType::None,
        gst::ClockTime::NONE,
    );
    let seqnum = seek.seqnum();
    harnesses[0].push_upstream_event(seek);
    for (i, h) in harnesses.iter_mut().enumerate() {
        h.push_event(gst::event::FlushStart::builder().seqnum(seqnum).build());
        h.push_event(gst::event::FlushStop::builder(true).seqnum(seqnum).build());
        h.push_event(gst::event::StreamStart::new(&format!("clean{i}")));
        h.push_event(gst::event::Caps::new(&caps_f32(16000, 1)));
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
    }
    // What the fuzz left in the harnesses — its buffers, and the EOS of
    // the call it ended — lies before the seek's flush-stop: drop it all,
    // or the first EOS read below would be that old one, read while the
    // clean second is still on its way (it was: the last 10–50 ms seemed
    // lost on some outputs).
    for (i, h) in harnesses.iter_mut().enumerate() {
        loop {
            let ev = h.pull_event().unwrap_or_else(|_| {
                panic!(
                    "callbarge seed {seed}: the seek's flush-stop never reached {}",
                    CALL_PARTIES[i].1
                )
            });
            if ev.type_() == gst::EventType::FlushStop && ev.seqnum() == seqnum {
                break;
            }
        }
        while h.try_pull().is_some() {}
    }
    let start = 3600u64 * 16000;
    for step in 0..100u64 {
        for (i, h) in harnesses.iter_mut().enumerate() {
            let x: Vec<f32> = (0..160u64)
                .map(|k| {
                    let t = (start + step * 160 + k) as f64 / 16000.0;
                    (0.3 * (2.0 * std::f64::consts::PI * CALL_FREQ[i] * t).sin()) as f32
                })
                .collect();
            assert_eq!(
                h.push(buffer_f32(&x, 1, 16000, start + step * 160)),
                Ok(gst::FlowSuccess::Ok),
                "callbarge seed {seed}: clean push {step} on {}",
                CALL_PARTIES[i].0
            );
        }
    }
    let first = frames_to_time(start, 16000);
    // The call ends for everyone before anyone's output is read: the mixer
    // waits for every party that has not finished.
    for h in harnesses.iter_mut() {
        h.push_event(gst::event::Eos::new());
    }
    for (i, h) in harnesses.iter_mut().enumerate() {
        // Buffers and events queue apart in a harness: once the EOS event is
        // here, every buffer before it is too.
        loop {
            let ev = h.pull_event().unwrap_or_else(|_| {
                panic!("callbarge seed {seed}: no EOS on {}", CALL_PARTIES[i].1)
            });
            if ev.type_() == gst::EventType::Eos {
                break;
            }
        }
        // The output format may change on the way (caps are read once it
        // is all here): the second is judged by the time the buffers cover,
        // the routing on those of its second half in the final format.
        let info = h
            .sinkpad()
            .and_then(|p| p.current_caps())
            .and_then(|c| gst_audio::AudioInfo::from_caps(&c).ok())
            .expect("output caps");
        let rate = info.rate();
        let channels = info.channels() as usize;
        let listener = CALL_PARTIES[i].1;
        // Every sample of the clean second, in order, and nothing else.
        let mut covered = first;
        let mut late = Vec::new();
        while let Some(b) = h.try_pull() {
            let (Some(pts), Some(dur)) = (b.pts(), b.duration()) else {
                panic!("callbarge seed {seed}: {listener}: a buffer without time");
            };
            assert_eq!(
                pts, covered,
                "callbarge seed {seed}: {listener}: a buffer at {pts} after {covered}"
            );
            covered += dur;
            let x = read_f32(&b);
            let frames = dur.nseconds() * u64::from(rate) / 1_000_000_000;
            if pts >= first + gst::ClockTime::from_mseconds(400)
                && x.len() as u64 == frames * channels as u64
            {
                late.extend(x.chunks(channels).map(|c| c[0]));
            }
        }
        assert_eq!(
            covered,
            first + gst::ClockTime::SECOND,
            "callbarge seed {seed}: {listener}: the clean second is not whole"
        );
        assert!(
            late.len() as u32 >= rate / 4,
            "callbarge seed {seed}: {listener}: {} samples at {rate} Hz in the second half",
            late.len()
        );
        // Everyone hears the two others, not themself.
        for (j, f) in CALL_FREQ.iter().enumerate() {
            let a = tone_amplitude(&late, *f, rate);
            if i == j {
                assert!(
                    a < 0.01,
                    "callbarge seed {seed}: {listener} hears itself ({a})"
                );
            } else {
                assert!(
                    a > 0.1,
                    "callbarge seed {seed}: {listener} does not hear {} ({a})",
                    CALL_PARTIES[j].0
                );
            }
        }
    }
    let panics = panics_on(&bus);
    assert!(panics.is_empty(), "callbarge seed {seed}: {panics:?}");
    release_bus(&el, &bus);
}

fn audio_caps_supported(caps: &gst::Caps) -> bool {
    gstbargein::audio::SUPPORTED_CAPS.can_intersect(caps)
}

#[test]
fn fuzz_callbarge() {
    let (seeds, ops) = fuzz_size(4, 300);
    for seed in seeds {
        with_watchdog("callbarge fuzz", Duration::from_secs(300), move || {
            fuzz_call(seed, ops)
        });
    }
}
