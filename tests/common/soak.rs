//! Long-running scenes shared by the robustness tests and `benches/soak.rs`:
//! clock drift between loudspeaker and microphone, and the full chain
//! sampled for resident memory.

use super::*;
use std::sync::{Arc, Mutex};

pub const RATE: u32 = 16000;

/// Resident memory of this process, in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// ERLE (mic energy over output energy, dB) per window of a drift run.
pub struct DriftRun {
    pub window_s: u64,
    pub erle_db: Vec<f64>,
    pub stats_delay_ms: Vec<i32>,
    /// Samples into and out of the element's near end.
    pub samples_in: usize,
    pub samples_out: usize,
    /// Warnings `bargeinaec` posted.
    pub warnings: Vec<String>,
}

/// Energy per window of a stream, kept instead of its samples: ten minutes
/// of audio held twice would show up in the soak test's resident memory,
/// which runs in the same process.
#[derive(Default)]
struct WindowEnergy {
    window: usize,
    samples: usize,
    sums: Vec<f64>,
}

impl WindowEnergy {
    fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            ..Self::default()
        }
    }

    fn push(&mut self, x: &[f32]) {
        for v in x {
            let w = self.samples / self.window;
            if w == self.sums.len() {
                self.sums.push(0.0);
            }
            self.sums[w] += f64::from(*v).powi(2);
            self.samples += 1;
        }
    }

    /// Sums of the windows that are complete.
    fn complete(&self) -> &[f64] {
        &self.sums[..self.samples / self.window]
    }
}

/// How the far end reaches `far_sink` against the microphone.
#[derive(Clone, Copy, Debug)]
pub enum FarFeed {
    /// `ms` milliseconds ahead of the microphone, as a file, an appsrc or a
    /// queue in front of the audio sink would deliver it, in buffers of
    /// `buffer_ms`.
    Ahead { ms: u64, buffer_ms: u64 },
    /// No earlier than the microphone: nothing is pushed until the element
    /// has output what came before (within 60 ms), as a far end taken at the
    /// sink in real time would arrive.
    JustInTime,
}

/// The far end rendered at 16000 Hz, the microphone sampling the room at
/// `16000 * (1 + drift)` Hz but labelled 16000: with drift > 0 its echo
/// slides later and later against the reference (0.1 % = 1 ms per second),
/// with drift < 0 earlier, until it comes before the reference (after 40 s
/// at -0.1 %: the direct path is 40 ms). Runs `seconds` of audio through
/// bargeinaec (non-live, as fast as it goes) and measures ERLE per
/// `window_s` window. The far end is fed 3 s ahead.
pub fn drift_run(seconds: u64, drift: f64, window_s: u64) -> DriftRun {
    drift_run_fed(
        seconds,
        drift,
        window_s,
        FarFeed::Ahead {
            ms: 3000,
            buffer_ms: 250,
        },
    )
}

pub fn drift_run_fed(seconds: u64, drift: f64, window_s: u64, feed: FarFeed) -> DriftRun {
    init();
    let caps = "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved";
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=far format=time caps={caps} ! aec.far_sink \
         appsrc name=near format=time caps={caps} ! aec.sink \
         bargeinaec name=aec stats-interval-ms=1000 ! appsink name=out sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");
    let w = (window_s * u64::from(RATE)) as usize;
    let out = Arc::new(Mutex::new(WindowEnergy::new(w)));
    let out2 = out.clone();
    pipeline
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink out")
        .set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                    out2.lock().unwrap().push(&read_f32(buf));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    let delays = Arc::new(Mutex::new(Vec::new()));
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let note = |msg: &gst::Message| note_message(msg, &delays, &warnings);

    // Far end: a prompt, repeated with a pause, 0.5 peak.
    let text = "Welcome to ABC Bank. For account balance, press 1. For recent transactions, \
                press 2. For credit card services, press 3.";
    let mut prompt = speech(text, "en-us+f3", RATE);
    prompt.iter_mut().for_each(|v| *v *= 0.5);
    prompt.extend(std::iter::repeat_n(0.0, RATE as usize / 2));
    let total = (seconds * u64::from(RATE)) as usize;
    // Room: direct path at 40 ms and a few reflections.
    let taps: [(usize, f32); 4] = [(640, 0.4), (880, -0.15), (1120, 0.08), (1600, 0.04)];
    let echo_at = |i: usize| -> f32 {
        taps.iter()
            .map(|&(d, g)| {
                i.checked_sub(d)
                    .map_or(0.0, |j| g * prompt[j % prompt.len()])
            })
            .sum()
    };
    let far_src = appsrc(&pipeline, "far");
    let near_src = appsrc(&pipeline, "near");
    let chunk = 320usize;
    let ahead = match feed {
        FarFeed::Ahead { ms, .. } => (ms * u64::from(RATE) / 1000) as usize,
        FarFeed::JustInTime => 0,
    };
    let far_chunk = match feed {
        FarFeed::Ahead { buffer_ms, .. } => (buffer_ms * u64::from(RATE) / 1000) as usize,
        FarFeed::JustInTime => chunk,
    };
    // The far end is as long as the microphone: it ends when the call does.
    let far_total = total;
    let mut far_n = 0usize;
    let noise_floor = noise(0.0005, chunk * 50, 3);
    let mut mic_all = WindowEnergy::new(w);
    let mut n = 0usize;
    while n < total {
        while far_n < (n + chunk + ahead).min(far_total) {
            let len = far_chunk.min(far_total - far_n);
            let far: Vec<f32> = (far_n..far_n + len)
                .map(|i| prompt[i % prompt.len()])
                .collect();
            far_src
                .push_buffer(buffer_f32(&far, 1, RATE, far_n as u64))
                .unwrap();
            far_n += len;
            // Like a file, it ends when it has nothing more: a non-live
            // element waits for far_sink until then.
            if far_n == far_total {
                far_src.end_of_stream().unwrap();
            }
        }
        let len = chunk.min(total - n);
        // Microphone sample i is taken at far-clock position i / (1 + drift).
        let mic: Vec<f32> = (n..n + len)
            .map(|i| {
                let t = i as f64 / (1.0 + drift);
                let k = t.floor() as usize;
                let frac = (t - k as f64) as f32;
                echo_at(k) * (1.0 - frac)
                    + echo_at(k + 1) * frac
                    + noise_floor[i % noise_floor.len()]
            })
            .collect();
        mic_all.push(&mic);
        near_src
            .push_buffer(buffer_f32(&mic, 1, RATE, n as u64))
            .unwrap();
        n += len;
        match feed {
            // Keep at most ~2 s of microphone queued in the appsrc.
            FarFeed::Ahead { .. } => {
                while n > 2 * RATE as usize && out.lock().unwrap().samples + 2 * (RATE as usize) < n
                {
                    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(5)) {
                        note(&msg);
                    }
                }
            }
            // At most one microphone chunk beyond what came out: the far end
            // is never queued ahead, and comes only as the output advances.
            // (Before bargeinaec processed every near buffer its reference
            // covers per call, this hung: the lookahead had emptied
            // far_sink's queue and the base class waited for it.)
            FarFeed::JustInTime => {
                while out.lock().unwrap().samples + chunk < n {
                    while let Some(msg) = bus.pop() {
                        note(&msg);
                    }
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }
    near_src.end_of_stream().unwrap();
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(300))
            .expect("no EOS in 300 s");
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            _ => note(&msg),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let out = out.lock().unwrap();
    let erle_db = mic_all
        .complete()
        .iter()
        .zip(out.complete())
        .map(|(m, o)| 10.0 * (m / o.max(1e-12)).log10())
        .collect();
    let stats_delay_ms = delays.lock().unwrap().clone();
    let warnings = warnings.lock().unwrap().clone();
    DriftRun {
        window_s,
        erle_db,
        stats_delay_ms,
        samples_in: mic_all.samples,
        samples_out: out.samples,
        warnings,
    }
}

fn note_message(msg: &gst::Message, delays: &Mutex<Vec<i32>>, warnings: &Mutex<Vec<String>>) {
    use gstbargein::protocol::Structure;
    match msg.view() {
        gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
        gst::MessageView::Warning(w) => warnings.lock().unwrap().push(format!(
            "{} ({})",
            w.error(),
            w.debug().unwrap_or_default()
        )),
        _ => {}
    }
    if let Ok(st) = gstbargein::protocol::AecStats::from_message(msg) {
        delays.lock().unwrap().push(st.delay_ms);
    }
}

/// The full chain, non-live: TTS (sine bursts) → ttsducker → tee →
/// loudspeaker (fakesink) and bargeinaec.far_sink; microphone (pink noise)
/// → bargeinaec → bargeinvad → fakesink. `seconds` of audio each.
pub fn full_chain(seconds: u64) -> gst::Pipeline {
    init();
    let caps = "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved";
    let buffers = seconds * 50;
    gst::parse::launch(&format!(
        "audiotestsrc wave=ticks volume=0.4 samplesperbuffer=320 num-buffers={buffers} \
           ! {caps} ! ttsducker ! tee name=t \
         t. ! queue max-size-buffers=4 ! fakesink sync=false \
         t. ! queue max-size-buffers=4 ! aec.far_sink \
         audiotestsrc wave=pink-noise volume=0.03 samplesperbuffer=320 num-buffers={buffers} \
           ! {caps} ! aec.sink \
         bargeinaec name=aec ! bargeinvad name=vad ! fakesink name=out sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline")
}

/// Runs `streams` full chains of `seconds` each at once; calls `sample`
/// with the audio seconds done by stream 0 every `every_s` seconds of it.
/// Returns the near-end samples each stream output.
pub fn run_chains(
    streams: usize,
    seconds: u64,
    every_s: u64,
    mut sample: impl FnMut(u64),
) -> Vec<u64> {
    let pipelines: Vec<gst::Pipeline> = (0..streams).map(|_| full_chain(seconds)).collect();
    let counts: Vec<Arc<std::sync::atomic::AtomicU64>> = pipelines
        .iter()
        .map(|p| {
            let c = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let c2 = c.clone();
            p.by_name("vad")
                .unwrap()
                .static_pad("src")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                        c2.fetch_add(b.size() as u64 / 2, std::sync::atomic::Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                });
            c
        })
        .collect();
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    let mut next = every_s;
    let mut finished = vec![false; streams];
    while finished.iter().any(|f| !f) {
        for (i, p) in pipelines.iter().enumerate() {
            if finished[i] {
                continue;
            }
            let bus = p.bus().unwrap();
            while let Some(msg) = bus.pop() {
                match msg.view() {
                    gst::MessageView::Eos(_) => finished[i] = true,
                    gst::MessageView::Error(e) => {
                        panic!("stream {i}: {} {:?}", e.error(), e.debug())
                    }
                    _ => {}
                }
            }
        }
        let done_s = counts[0].load(std::sync::atomic::Ordering::Relaxed) / u64::from(RATE);
        while done_s >= next {
            sample(next);
            next += every_s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for p in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    counts
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        .collect()
}
