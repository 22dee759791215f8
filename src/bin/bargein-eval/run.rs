//! `run`: every scene through real GStreamer pipelines, faster than real
//! time, in parallel (one pipeline per worker thread at a time).
//!
//! Our chain, one pipeline per scene, shared by every Silero-based system:
//!
//! ```text
//! filesrc far.wav ! wavparse ! audioconvert ! audioresample ! F32 mono ! aec.far_sink
//! filesrc mic.wav ! wavparse ! audioconvert ! audioresample ! F32 mono ! bargeinaec name=aec ! tee
//!    tee. ! bargeinvad name=vad0 (ours)    ! fakesink
//!    tee. ! bargeinvad name=vad1 (pipecat) ! fakesink
//!    tee. ! appsink (levels: energy detector and ERLE)
//! ```
//! No queues after the tee: the branches run one after the other in the
//! aggregator's thread, and every sink is `async=false`, so nothing waits
//! for a preroll that another branch blocks.
//!
//! `webrtcdsp` runs in its own pipeline (`webrtcdsp.rs`).

use crate::anchors::{self, EnergyParams};
use crate::args::Opts;
use crate::corpus;
use crate::dsp;
use crate::events::{self, Event};
use crate::labels::{self, Labels};
use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gstbargein::protocol::{self, Structure};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SYSTEMS: [&str; 5] = ["ours", "pipecat", "livekit", "energy", "webrtcdsp"];
pub const META: &str = "run.json";
/// A scene pipeline that takes longer than this is broken, not slow.
const SCENE_TIMEOUT: Duration = Duration::from_secs(600);

/// One stderr progress line, rewritten in place.
pub struct Progress {
    label: String,
    total: usize,
    done: AtomicUsize,
    start: Instant,
    /// Milliseconds since `start` of the last line printed.
    printed_ms: AtomicU64,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Self {
        Self {
            label: label.into(),
            total,
            done: AtomicUsize::new(0),
            start: Instant::now(),
            printed_ms: AtomicU64::new(0),
        }
    }

    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let el = self.start.elapsed().as_secs_f64();
        // At most one line a second (logs stay short), and the last one.
        let now_ms = (el * 1000.0) as u64;
        if done < self.total && now_ms < self.printed_ms.load(Ordering::SeqCst) + 1000 {
            return;
        }
        self.printed_ms.store(now_ms, Ordering::SeqCst);
        let eta = if done > 0 {
            el / done as f64 * self.total.saturating_sub(done) as f64
        } else {
            0.0
        };
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r[{}] {done}/{} scenes, {el:.0} s elapsed, ~{eta:.0} s left   ",
            self.label, self.total
        );
        let _ = e.flush();
    }

    pub fn done(&self) {
        eprintln!();
    }
}

/// Runs `f(i)` for i in 0..n on `jobs` threads; results in index order.
pub fn parallel<T: Send>(
    n: usize,
    jobs: usize,
    label: &str,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let progress = Progress::new(label, n);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = f(i);
                    if let Ok(mut v) = results.lock()
                        && let Some(slot) = v.get_mut(i)
                    {
                        *slot = Some(r);
                    }
                    progress.tick();
                }
            });
        }
    });
    progress.done();
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// A scene to run: its audio and, when present, its labels.
#[derive(Debug, Clone)]
pub struct SceneInput {
    pub id: String,
    pub far: PathBuf,
    pub mic: PathBuf,
    pub labels: Option<Labels>,
}

pub fn load_scenes(corpus: &Path) -> Result<Vec<SceneInput>> {
    corpus::scene_dirs(corpus)?
        .into_iter()
        .map(|d| {
            let id = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow!("scene folder {}", d.display()))?;
            let lp = d.join(labels::FILE);
            let labels = if lp.is_file() {
                Some(Labels::read(&lp)?)
            } else {
                None
            };
            Ok(SceneInput {
                id,
                far: d.join("far.wav"),
                mic: d.join("mic.wav"),
                labels,
            })
        })
        .collect()
}

/// One Silero-based system: a `bargeinvad` branch with its properties.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VadBranch {
    pub name: String,
    pub props: Vec<(String, String)>,
    /// Apply LiveKit's warm-up filter to its decisions.
    pub warmup: bool,
}

impl VadBranch {
    pub fn ours(extra: &[(String, String)]) -> Self {
        Self {
            name: "ours".into(),
            props: extra.to_vec(),
            warmup: false,
        }
    }

    pub fn pipecat() -> Self {
        Self {
            name: "pipecat".into(),
            props: owned(anchors::PIPECAT),
            warmup: false,
        }
    }

    pub fn livekit() -> Self {
        Self {
            name: "livekit".into(),
            props: owned(anchors::LIVEKIT),
            warmup: true,
        }
    }
}

fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What to run on every scene.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rate: Option<u32>,
    pub aec_props: Vec<(String, String)>,
    pub vads: Vec<VadBranch>,
    pub energy: Option<EnergyParams>,
    pub webrtcdsp: bool,
    /// Properties of the anchor's `webrtcdsp` element.
    pub webrtcdsp_props: Vec<(String, String)>,
    /// Run webrtcdsp against the clock, as a live call would (the
    /// microphone is paced by the far end either way).
    pub webrtcdsp_realtime: bool,
    /// Each system hears the echo of what its ducker let through
    /// (`closed.rs`); `ttsducker` properties for it.
    pub closed_loop: bool,
    pub duck_props: Vec<(String, String)>,
    /// Per scene, a CSV of 10 ms frames (first detector's speech
    /// probability; levels of the cleaned and raw microphone and the far
    /// end), for studying decision rules on one's own recordings; in the
    /// closed loop, WAVs of what the caller heard, the microphone and the
    /// canceller's output.
    pub dump: Option<PathBuf>,
}

impl Plan {
    pub fn from_opts(o: &Opts) -> Result<Self> {
        let mut systems = o.list("system", &["ours"]);
        if systems.iter().any(|s| s == "all") {
            systems = SYSTEMS.iter().map(|s| s.to_string()).collect();
        }
        let mut vad_props = Vec::new();
        let mut aec_props = Vec::new();
        let mut webrtcdsp_props = Vec::new();
        let mut duck_props = Vec::new();
        let mut energy = EnergyParams::default();
        for s in o.all("set") {
            let (key, value) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("--set {s:?}: expected prop=value"))?;
            let (elem, prop) = key.split_once('.').unwrap_or(("vad", key));
            match elem {
                "vad" => vad_props.push((prop.to_string(), value.to_string())),
                "aec" => aec_props.push((prop.to_string(), value.to_string())),
                "energy" => energy.set(prop, value)?,
                "webrtcdsp" => webrtcdsp_props.push((prop.to_string(), value.to_string())),
                "duck" => duck_props.push((prop.to_string(), value.to_string())),
                _ => bail!("--set {s:?}: element is vad, aec, duck, energy or webrtcdsp"),
            }
        }
        let mut plan = Plan {
            rate: o.get("rate").map(|r| r.parse()).transpose()?,
            aec_props,
            webrtcdsp_props,
            webrtcdsp_realtime: o.get("webrtcdsp-realtime").is_some_and(|v| v == "true"),
            closed_loop: o.get("closed-loop").is_some_and(|v| v == "true"),
            duck_props,
            dump: o.get("dump").map(PathBuf::from),
            ..Default::default()
        };
        for s in &systems {
            match s.as_str() {
                "ours" => plan.vads.push(VadBranch::ours(&vad_props)),
                "pipecat" => plan.vads.push(VadBranch::pipecat()),
                "livekit" => plan.vads.push(VadBranch::livekit()),
                "energy" => plan.energy = Some(energy),
                "webrtcdsp" => plan.webrtcdsp = true,
                other => bail!(
                    "unknown system {other:?} (known: {}, all)",
                    SYSTEMS.join(", ")
                ),
            }
        }
        if plan.closed_loop && (plan.energy.is_some() || plan.webrtcdsp) {
            bail!("--closed-loop runs the Silero-based systems only: ours, pipecat, livekit");
        }
        if !plan.closed_loop && !plan.duck_props.is_empty() {
            bail!("--set duck.*: the ducker is in the closed loop only (--closed-loop true)");
        }
        if plan.closed_loop && plan.rate.is_some() {
            bail!("--rate is for the open loop (the echo path is at the scene's rate)");
        }
        Ok(plan)
    }

    /// Names of the systems, in report order.
    pub fn systems(&self) -> Vec<String> {
        let mut v: Vec<String> = self.vads.iter().map(|b| b.name.clone()).collect();
        if self.energy.is_some() {
            v.push("energy".into());
        }
        if self.webrtcdsp {
            v.push("webrtcdsp".into());
        }
        v
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RunMeta {
    pub corpus: PathBuf,
    pub systems: Vec<String>,
    pub set: Vec<String>,
    pub scenes: usize,
    pub failed: usize,
    pub seconds: f64,
}

pub fn main(o: &Opts) -> Result<()> {
    let corpus = o.path("corpus")?;
    let out = o.path("out")?;
    let plan = Plan::from_opts(o)?;
    let jobs = o.jobs()?;
    let scenes = load_scenes(&corpus)?;
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    let t0 = Instant::now();
    let mut all = run_plan(&scenes, &plan, jobs, o.num("webrtcdsp-jobs", 12usize)?)?;
    sort_events(&mut all);
    events::write(&out.join(events::FILE), &all)?;
    let failed: Vec<&Event> = all.iter().filter(|e| e.kind == "error").collect();
    let meta = RunMeta {
        corpus: std::fs::canonicalize(&corpus).unwrap_or(corpus.clone()),
        systems: plan.systems(),
        set: o.all("set"),
        scenes: scenes.len(),
        failed: failed.len(),
        seconds: t0.elapsed().as_secs_f64(),
    };
    std::fs::write(out.join(META), serde_json::to_string_pretty(&meta)?)?;
    eprintln!(
        "ran {} scenes × {} systems in {:.0} s → {}",
        scenes.len(),
        meta.systems.len(),
        meta.seconds,
        out.join(events::FILE).display()
    );
    if let Some(e) = failed.first() {
        bail!(
            "{} scene runs failed; first: {} {}: {}",
            failed.len(),
            e.system,
            e.scene,
            e.message.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Stable order: by system, scene, then time.
pub fn sort_events(v: &mut [Event]) {
    v.sort_by(|a, b| {
        (a.system.as_str(), a.scene.as_str())
            .cmp(&(b.system.as_str(), b.scene.as_str()))
            .then(
                a.time
                    .or(a.end)
                    .unwrap_or(-1.0)
                    .total_cmp(&b.time.or(b.end).unwrap_or(-1.0)),
            )
    });
}

/// Runs every scene through the plan; a failing scene yields `error` events.
pub fn run_plan(
    scenes: &[SceneInput],
    plan: &Plan,
    jobs: usize,
    webrtc_jobs: usize,
) -> Result<Vec<Event>> {
    let mut all = Vec::new();
    if !plan.vads.is_empty() || plan.energy.is_some() {
        let label = if plan.closed_loop {
            "closed loop"
        } else {
            "bargein"
        };
        let per_scene = parallel(scenes.len(), jobs, label, |i| {
            let sc = &scenes[i];
            let ran = if plan.closed_loop {
                crate::closed::run(sc, plan)
            } else {
                run_ours(sc, plan)
            };
            ran.unwrap_or_else(|e| {
                plan.systems()
                    .iter()
                    .filter(|s| *s != "webrtcdsp")
                    .map(|s| Event {
                        message: Some(format!("{e:#}")),
                        ..Event::new(s, &sc.id, "error")
                    })
                    .collect()
            })
        });
        if per_scene.len() != scenes.len() {
            bail!("only {} of {} scenes ran", per_scene.len(), scenes.len());
        }
        all.extend(per_scene.into_iter().flatten());
    }
    if plan.webrtcdsp {
        let j = if plan.webrtcdsp_realtime {
            webrtc_jobs
        } else {
            jobs
        };
        let per_scene = parallel(scenes.len(), j, "webrtcdsp", |i| {
            let sc = &scenes[i];
            crate::webrtcdsp::run(sc, plan).unwrap_or_else(|e| {
                vec![Event {
                    message: Some(format!("{e:#}")),
                    ..Event::new("webrtcdsp", &sc.id, "error")
                }]
            })
        });
        all.extend(per_scene.into_iter().flatten());
    }
    Ok(all)
}

/// The rate a scene runs at: `--rate`, else the microphone file's own rate
/// when the elements support it, else 16 kHz.
pub(crate) fn scene_rate(sc: &SceneInput, plan: &Plan) -> Result<u32> {
    if let Some(r) = plan.rate {
        return Ok(r);
    }
    let spec = hound::WavReader::open(&sc.mic)
        .with_context(|| format!("open {}", sc.mic.display()))?
        .spec();
    let r = spec.sample_rate;
    Ok(
        if gstbargein::audio::SUPPORTED_RATES.contains(&(r as i32)) {
            r
        } else {
            16000
        },
    )
}

/// Sets properties from strings the way gst-launch does, but refuses
/// unknown properties and out-of-range values instead of warning.
pub fn set_props(el: &gst::Element, props: &[(String, String)]) -> Result<()> {
    for (k, v) in props {
        let pspec = el
            .find_property(k)
            .ok_or_else(|| anyhow!("{} has no property {k:?}", el.name()))?;
        let value =
            <gst::glib::Value as gst::prelude::GstValueExt>::deserialize(v, pspec.value_type())
                .map_err(|_| anyhow!("{k}={v}: not a {}", pspec.value_type()))?;
        if !in_range(&pspec, &value) {
            bail!("{k}={v}: out of range");
        }
        el.set_property_from_value(k, &value);
    }
    Ok(())
}

/// Whether a numeric value lies in its property's range (GLib would clamp
/// it with a warning; a typo in a sweep should fail instead).
fn in_range(pspec: &gst::glib::ParamSpec, v: &gst::glib::Value) -> bool {
    use gst::glib::{
        ParamSpecDouble, ParamSpecInt, ParamSpecInt64, ParamSpecUInt, ParamSpecUInt64,
    };
    macro_rules! check {
        ($spec:ty, $t:ty) => {
            if let Some(p) = pspec.downcast_ref::<$spec>() {
                return v
                    .get::<$t>()
                    .is_ok_and(|x| x >= p.minimum() && x <= p.maximum());
            }
        };
    }
    check!(ParamSpecDouble, f64);
    check!(ParamSpecUInt, u32);
    check!(ParamSpecInt, i32);
    check!(ParamSpecUInt64, u64);
    check!(ParamSpecInt64, i64);
    true
}

pub(crate) fn element(p: &gst::Pipeline, name: &str) -> Result<gst::Element> {
    p.by_name(name)
        .ok_or_else(|| anyhow!("pipeline has no element {name}"))
}

/// Sets the pipeline to NULL however the run ends.
pub(crate) struct Running(pub(crate) gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Plays until EOS; hands every other message to `on_msg`.
pub(crate) fn play(p: &gst::Pipeline, mut on_msg: impl FnMut(&gst::Message)) -> Result<()> {
    let bus = p.bus().ok_or_else(|| anyhow!("pipeline without bus"))?;
    if p.set_state(gst::State::Playing).is_err() {
        while let Some(m) = bus.pop() {
            if let gst::MessageView::Error(e) = m.view() {
                bail!("cannot start: {} ({:?})", e.error(), e.debug());
            }
        }
        bail!("cannot start the pipeline");
    }
    let deadline = Instant::now() + SCENE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out after {} s", SCENE_TIMEOUT.as_secs());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => bail!("{} ({:?})", e.error(), e.debug()),
            _ => on_msg(&msg),
        }
    }
}

/// 10 ms frame energies of a scene's far end, microphone and what the
/// system under test put out, and the scene's length in seconds.
pub(crate) struct Energies {
    pub far_e: Vec<f64>,
    pub mic_e: Vec<f64>,
    pub out_e: Vec<f64>,
    pub duration: f64,
}

pub(crate) fn energies(sc: &SceneInput, levels: &Mutex<Levels>) -> Result<Energies> {
    let (far_rate, far) = dsp::read_wav(&sc.far)?;
    let (mic_rate, mic) = dsp::read_wav(&sc.mic)?;
    let out_e = levels
        .lock()
        .map_err(|_| anyhow!("levels poisoned"))?
        .energies();
    Ok(Energies {
        far_e: dsp::frame_energies(&far, far_rate),
        mic_e: dsp::frame_energies(&mic, mic_rate),
        out_e,
        duration: mic.len() as f64 / f64::from(mic_rate.max(1)),
    })
}

/// Mean square per 10 ms frame of what reaches an appsink, placed by
/// running time so that gaps and late starts land where they belong.
#[derive(Default)]
pub(crate) struct Levels {
    sums: Vec<f64>,
    counts: Vec<u32>,
}

impl Levels {
    pub(crate) fn energies(&self) -> Vec<f64> {
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(s, &c)| if c > 0 { s / f64::from(c) } else { 0.0 })
            .collect()
    }
}

pub(crate) fn attach_levels(sink: &gst_app::AppSink, rate: u32) -> Arc<Mutex<Levels>> {
    let levels = Arc::new(Mutex::new(Levels::default()));
    let store = levels.clone();
    let frame = (rate as usize / 100).max(1);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let (Some(buf), Some(seg)) = (sample.buffer(), sample.segment()) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let Some(seg) = seg.downcast_ref::<gst::ClockTime>() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let Some(rt) = buf.pts().and_then(|p| seg.to_running_time(p)) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let first = rt
                    .nseconds()
                    .mul_div_floor(u64::from(rate), 1_000_000_000)
                    .unwrap_or(0) as usize;
                let map = buf.map_readable().map_err(|_| gst::FlowError::Error)?;
                let mut l = store.lock().map_err(|_| gst::FlowError::Error)?;
                for (i, c) in map.chunks_exact(4).enumerate() {
                    let v = f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                    let f = (first + i) / frame;
                    if l.sums.len() <= f {
                        l.sums.resize(f + 1, 0.0);
                        l.counts.resize(f + 1, 0);
                    }
                    l.sums[f] += v * v;
                    l.counts[f] += 1;
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    levels
}

fn secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

pub(crate) fn caps(format: &str, rate: u32) -> String {
    format!("audio/x-raw,format={format},rate={rate},channels=1,layout=interleaved")
}

/// Decisions from one `bargeinvad`'s messages.
pub(crate) fn vad_event(system: &str, scene: &str, msg: &gst::Message) -> Option<Event> {
    if let Ok(b) = protocol::Bargein::from_message(msg) {
        return Some(Event::decision(
            system,
            scene,
            b.stage.as_str(),
            b.source.as_str(),
            secs(b.onset),
            secs(b.detected),
        ));
    }
    if let Ok(d) = protocol::Dtmf::from_message(msg) {
        return Some(Event {
            digit: Some(d.digit),
            onset: Some(secs(d.onset)),
            time: Some(secs(d.detected)),
            ..Event::new(system, scene, "dtmf")
        });
    }
    if let Ok(r) = protocol::BargeinRelease::from_message(msg) {
        return Some(Event {
            onset: Some(secs(r.onset)),
            time: Some(secs(r.detected)),
            ..Event::new(system, scene, "release")
        });
    }
    if let Ok(e) = protocol::SpeechEnd::from_message(msg) {
        return Some(Event {
            onset: Some(secs(e.onset)),
            end: Some(secs(e.end)),
            ..Event::new(system, scene, "speech-end")
        });
    }
    None
}

/// Our chain on one scene: every VAD branch, the energy detector, ERLE.
pub fn run_ours(sc: &SceneInput, plan: &Plan) -> Result<Vec<Event>> {
    let rate = scene_rate(sc, plan)?;
    let f32caps = caps("F32LE", rate);
    let mut desc = format!(
        "filesrc name=farsrc ! wavparse ! audioconvert ! audioresample ! {f32caps} ! aec.far_sink \
         filesrc name=micsrc ! wavparse ! audioconvert ! audioresample ! {f32caps} \
           ! bargeinaec name=aec ! tee name=t "
    );
    for i in 0..plan.vads.len() {
        desc.push_str(&format!(
            "t. ! bargeinvad name=vad{i} send-events=false ! fakesink sync=false async=false "
        ));
    }
    desc.push_str("t. ! appsink name=levels sync=false async=false");
    let pipeline = gst::parse::launch(&desc)
        .context("building the pipeline (is the plugin registered?)")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let running = Running(pipeline.clone());
    element(&pipeline, "farsrc")?.set_property("location", sc.far.to_string_lossy().as_ref());
    element(&pipeline, "micsrc")?.set_property("location", sc.mic.to_string_lossy().as_ref());
    set_props(&element(&pipeline, "aec")?, &plan.aec_props)?;
    let mut names = Vec::new();
    for (i, b) in plan.vads.iter().enumerate() {
        let name = format!("vad{i}");
        set_props(&element(&pipeline, &name)?, &b.props)
            .with_context(|| format!("system {}", b.name))?;
        names.push(name);
    }
    let sink = element(&pipeline, "levels")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("levels is not an appsink"))?;
    let levels = attach_levels(&sink, rate);
    let probs: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
    let nears: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
    if plan.dump.is_some() && !plan.vads.is_empty() {
        let vad = element(&pipeline, "vad0")?;
        let store = probs.clone();
        if let Some(pad) = vad.static_pad("src") {
            let v2 = vad.clone();
            let nstore = nears.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data
                    && let Some(pts) = b.pts()
                    && let Ok(mut g) = store.lock()
                {
                    g.push((secs(pts), v2.property::<f64>("probability")));
                    if let Some(Ok(n)) = protocol::NearEnd::from_buffer(b)
                        && let Ok(mut g) = nstore.lock()
                    {
                        for (i, db) in n.unexplained_db.iter().enumerate() {
                            g.push((secs(n.start) + i as f64 * secs(n.step), *db));
                        }
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
    }

    let mut per_vad: Vec<Vec<Event>> = vec![Vec::new(); plan.vads.len()];
    let mut aec_erle = Vec::new();
    play(&pipeline, |msg| {
        let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
        if let Some(i) = names.iter().position(|n| *n == src) {
            if let Some(e) = vad_event(&plan.vads[i].name, &sc.id, msg) {
                per_vad[i].push(e);
            }
        } else if let Ok(s) = protocol::AecStats::from_message(msg)
            && s.far_active
            && s.erle_db.is_finite()
        {
            aec_erle.push(s.erle_db);
        }
    })
    .with_context(|| format!("scene {}", sc.id))?;
    drop(running);

    let Energies {
        far_e,
        mic_e,
        out_e,
        duration,
    } = energies(sc, &levels)?;
    if let Some(dir) = &plan.dump {
        use std::fmt::Write as _;
        let probs = probs.lock().map_err(|_| anyhow!("probs"))?;
        let nears = nears.lock().map_err(|_| anyhow!("nears"))?;
        let mut text = String::from("t,p,out_db,mic_db,far_db,near_db\n");
        let mut kn = 0;
        let mut near = f64::NAN;
        let db = |e: f64| 10.0 * e.max(1e-12).log10();
        let mut k = 0;
        let mut p = 0.0;
        for (i, o) in out_e.iter().enumerate() {
            let t = (i + 1) as f64 * 0.01;
            while k < probs.len() && probs[k].0 < t - 1e-6 {
                p = probs[k].1;
                k += 1;
            }
            while kn < nears.len() && nears[kn].0 < t - 1e-6 {
                near = nears[kn].1;
                kn += 1;
            }
            let _ = writeln!(
                text,
                "{t:.2},{p:.3},{:.1},{:.1},{:.1},{near:.1}",
                db(*o),
                db(mic_e.get(i).copied().unwrap_or(0.0)),
                db(far_e.get(i).copied().unwrap_or(0.0))
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(format!("{}.csv", sc.id));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    let spans = anchors::tts_spans(&far_e);
    let erle = erle_frames(sc.labels.as_ref(), &far_e, &mic_e, &out_e);
    let aec_median = median(&mut aec_erle);

    let mut out = Vec::new();
    let common = |system: &str, out: &mut Vec<Event>| {
        out.push(Event {
            end: Some(duration),
            ..Event::new(system, &sc.id, "scene")
        });
        if let Some((m, o, n)) = erle {
            out.push(Event {
                mic_energy: Some(m),
                out_energy: Some(o),
                frames: Some(n),
                ..Event::new(system, &sc.id, "erle")
            });
        }
        if let Some(v) = aec_median {
            out.push(Event {
                value: Some(v),
                ..Event::new(system, &sc.id, "aec-erle")
            });
        }
    };
    for (b, ev) in plan.vads.iter().zip(per_vad) {
        common(&b.name, &mut out);
        if b.warmup {
            out.extend(anchors::warmup_filter(
                ev,
                &spans,
                anchors::LIVEKIT_WARMUP_S,
            ));
        } else {
            out.extend(ev);
        }
    }
    if let Some(p) = &plan.energy {
        common("energy", &mut out);
        out.extend(anchors::energy("energy", &sc.id, &out_e, p));
    }
    Ok(out)
}

/// Microphone and output energy summed over the frames where only the far
/// end makes sound: the far end active (with 300 ms for the echo's delay
/// and tail) and no labelled near-end sound or noise event within 300 ms.
/// Only echo-only scenes (or unlabelled recordings) are measured: in noisy
/// scenes the noise, not the canceller, would set the ratio.
pub fn erle_frames(
    labels: Option<&Labels>,
    far_e: &[f64],
    mic_e: &[f64],
    out_e: &[f64],
) -> Option<(f64, f64, u64)> {
    if let Some(l) = labels
        && !matches!(l.scene_type(), "echo-only" | "unknown")
    {
        return None;
    }
    let hang = (0.3 / anchors::FRAME_S) as usize;
    let mut busy: Vec<(f64, f64)> = Vec::new();
    if let Some(l) = labels {
        busy.extend(l.near_spans().map(|s| (s.start - 0.3, s.end + 0.3)));
        busy.extend(l.events.iter().map(|(s, _)| (s.start - 0.3, s.end + 0.3)));
    }
    let n = mic_e.len().min(out_e.len());
    let (mut m, mut o, mut frames) = (0.0, 0.0, 0u64);
    let mut last_far: Option<usize> = None;
    for i in 0..n {
        if far_e.get(i).is_some_and(|&e| e > 1e-5) {
            last_far = Some(i);
        }
        let far_active = last_far.is_some_and(|l| i - l <= hang);
        let t = i as f64 * anchors::FRAME_S;
        if far_active && !busy.iter().any(|&(a, b)| t >= a && t <= b) {
            m += mic_e[i];
            o += out_e[i];
            frames += 1;
        }
    }
    (frames > 0).then_some((m, o, frames))
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Reads a results folder's metadata (for the corpus path).
pub fn read_meta(results: &Path) -> Result<RunMeta> {
    let p = results.join(META);
    let text = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erle_over_far_only_frames() {
        // Far plays frames 10..50; the near end talks 0.3–0.35 s.
        let mut far = vec![0.0; 100];
        far[10..50].iter_mut().for_each(|v| *v = 1e-2);
        let mic = vec![1e-2; 100];
        let out = vec![1e-4; 100];
        let mut l = Labels::default();
        l.conditions.insert("type".into(), "echo-only".into());
        let (m, o, n) = erle_frames(Some(&l), &far, &mic, &out).unwrap();
        // Frames 10..=79 (49 + 30 frames of echo tail).
        assert_eq!(n, 70);
        assert!((10.0 * (m / o).log10() - 20.0).abs() < 1e-9);
        l.speech.push(crate::labels::Span {
            start: 0.3,
            end: 0.35,
        });
        let (_, _, n2) = erle_frames(Some(&l), &far, &mic, &out).unwrap();
        assert!(n2 < n);
        l.conditions.insert("type".into(), "barge-in".into());
        assert!(erle_frames(Some(&l), &far, &mic, &out).is_none());
    }

    #[test]
    fn plan_options() {
        let o = Opts::parse(&[
            "--system".into(),
            "all".into(),
            "--set".into(),
            "threshold=0.6".into(),
            "--set".into(),
            "energy.threshold-db=-40".into(),
        ])
        .unwrap();
        let p = Plan::from_opts(&o).unwrap();
        assert_eq!(
            p.systems(),
            vec!["ours", "pipecat", "livekit", "energy", "webrtcdsp"]
        );
        assert_eq!(
            p.vads[0].props,
            vec![("threshold".to_string(), "0.6".to_string())]
        );
        assert_eq!(p.energy.map(|e| e.threshold_db), Some(-40.0));
        let bad = Opts::parse(&["--system".into(), "nope".into()]).unwrap();
        assert!(Plan::from_opts(&bad).is_err());
    }

    #[test]
    fn closed_loop_options() {
        let plan = |args: &[&str]| {
            let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            Plan::from_opts(&Opts::parse(&v).unwrap())
        };
        let p = plan(&[
            "--system",
            "ours,livekit",
            "--closed-loop",
            "true",
            "--set",
            "duck.duck-level-db=-30",
        ])
        .unwrap();
        assert!(p.closed_loop);
        assert_eq!(
            p.duck_props,
            vec![("duck-level-db".to_string(), "-30".to_string())]
        );
        // No ducker to set in the open loop; no ducker for the level-based
        // anchors; the echo path is at the scene's rate.
        assert!(plan(&["--set", "duck.duck-level-db=-30"]).is_err());
        assert!(plan(&["--system", "energy", "--closed-loop", "true"]).is_err());
        assert!(plan(&["--system", "all", "--closed-loop", "true"]).is_err());
        assert!(plan(&["--closed-loop", "true", "--rate", "8000"]).is_err());
    }
}
