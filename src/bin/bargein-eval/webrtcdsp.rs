//! GStreamer's own WebRTC chain as an anchor: `webrtcechoprobe` on the far
//! end, `webrtcdsp` (echo cancellation and its voice-activity messages) on
//! the microphone, with a 200 ms voice policy. Its VAD is set to the
//! likelihood that interrupts least (`very-low`; at the element's default,
//! `low`, it interrupted ten times as often on 40 scenes, 2136 against 203
//! times an hour of prompts, with 100 against 87 % of callers).
//!
//! ```text
//! filesrc far.wav ! wavparse ! audioconvert ! audioresample ! S16 ! webrtcechoprobe ! fakesink
//! filesrc mic.wav ! wavparse ! audioconvert ! audioresample ! S16 ! webrtcdsp ! appsink (levels)
//! ```
//!
//! On Debian 12 `webrtcdsp` runs webrtc-audio-processing 0.3, whose
//! canceller (not AEC3) must be told the echo's delay. The probe tells it
//! the playback latency it learns upstream, which is how a deployment
//! whose sink reports its latency gets the device's share of the delay.
//! These files have no sink to ask, so the scene's own delay (`delay_ms` in
//! its labels) is put on the probe as a pad offset: this is `webrtcdsp` at
//! its best, told what ours has to find. Measured on an espeak-ng prompt in
//! a reverberant room: told nothing, it cancelled 47 dB at 50 ms of delay
//! and 2 dB at 100 ms; told the delay, 21–26 dB at 100 and 300 ms; its
//! `delay-agnostic` mode removed nothing.
//!
//! The probe pairs far and near audio by running time but can only hand out
//! what has reached it, and unsynchronised branches race: the microphone
//! branch waits until the far end is [`LEAD`] ahead (or finished), so each
//! run pairs the same samples.

use crate::anchors;
use crate::events::Event;
use crate::run::{
    Plan, Running, SceneInput, attach_levels, caps, element, energies, erle_frames, play,
    scene_rate, set_props,
};
use anyhow::{Context, Result, anyhow};
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Numbers the probes of the pipelines of this process.
static PIPELINES: AtomicU64 = AtomicU64::new(0);

/// How far ahead of the microphone the far end must be before a microphone
/// buffer goes on: more than any echo delay, far less than the 1 MB the
/// probe keeps (32 s at 16 kHz).
const LEAD: gst::ClockTime = gst::ClockTime::from_seconds(1);
/// A far branch that does not move for this long has failed: the
/// microphone goes on without it (webrtcdsp then cancels against silence).
const STALL: Duration = Duration::from_secs(20);

/// How far the far branch has pushed, shared with the microphone branch.
#[derive(Default)]
struct FarPosition {
    /// Stream time reached by the far end; `u64::MAX` once it is finished
    /// or the run ends (so that no streaming thread is left waiting).
    reached: Mutex<u64>,
    moved: Condvar,
}

impl FarPosition {
    fn advance(&self, to: u64) {
        if let Ok(mut r) = self.reached.lock() {
            *r = (*r).max(to);
        }
        self.moved.notify_all();
    }

    fn finish(&self) {
        self.advance(u64::MAX);
    }

    /// Blocks until the far end has reached `until` (stream time), is
    /// finished (or the run over), or the far branch has stalled.
    fn wait_for(&self, until: u64) {
        let Ok(mut reached) = self.reached.lock() else {
            return;
        };
        let mut last = *reached;
        let mut since = Instant::now();
        while *reached < until {
            if *reached != last {
                last = *reached;
                since = Instant::now();
            } else if since.elapsed() > STALL {
                return;
            }
            match self.moved.wait_timeout(reached, Duration::from_millis(100)) {
                Ok((g, _)) => reached = g,
                Err(_) => return,
            }
        }
    }
}

/// Finishes the far position when the run ends, before the pipeline is
/// stopped (declared after [`Running`], so dropped first).
struct FinishOnDrop(Arc<FarPosition>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The scene's echo delay from its labels; 0 for recordings that do not
/// say (webrtcdsp then gets what a sink that reports no latency gives it).
fn echo_delay(sc: &SceneInput) -> gst::ClockTime {
    sc.labels
        .as_ref()
        .and_then(|l| l.condition("delay_ms"))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .map_or(gst::ClockTime::ZERO, |ms| {
            gst::ClockTime::from_nseconds((ms * 1e6) as u64)
        })
}

/// Tracks the far end as it enters the probe: its buffers' ends and its EOS.
fn follow_far(probe: &gst::Element, far: Arc<FarPosition>) -> Result<()> {
    let pad = probe
        .static_pad("src")
        .ok_or_else(|| anyhow!("webrtcechoprobe without src pad"))?;
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    if let Some(pts) = b.pts() {
                        let end = pts + b.duration().unwrap_or(gst::ClockTime::ZERO);
                        far.advance(end.nseconds());
                    }
                }
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos => {
                    far.finish();
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    Ok(())
}

/// Holds each microphone buffer until the far end is [`LEAD`] past it.
fn pace_mic(dsp: &gst::Element, far: Arc<FarPosition>) -> Result<()> {
    let pad = dsp
        .static_pad("sink")
        .ok_or_else(|| anyhow!("webrtcdsp without sink pad"))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data
            && let Some(pts) = b.pts()
        {
            let end = pts + b.duration().unwrap_or(gst::ClockTime::ZERO);
            far.wait_for((end + LEAD).nseconds());
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// GStreamer's own WebRTC chain on one scene.
pub fn run(sc: &SceneInput, plan: &Plan) -> Result<Vec<Event>> {
    let rate = scene_rate(sc, plan)?;
    let s16 = caps("S16LE", rate);
    let sync = plan.webrtcdsp_realtime;
    // webrtcdsp finds its probe by name among every probe in the process,
    // so pipelines that run side by side need names of their own.
    let probe_name = format!("probe{}", PIPELINES.fetch_add(1, Ordering::Relaxed));
    let desc = format!(
        "filesrc name=farsrc ! wavparse ! audioconvert ! audioresample ! {s16} \
           ! webrtcechoprobe name={probe_name} ! fakesink sync={sync} async=false \
         filesrc name=micsrc ! wavparse ! audioconvert ! audioresample ! {s16} \
           ! webrtcdsp name=dsp probe={probe_name} echo-cancel=true voice-detection=true \
             voice-detection-likelihood=very-low noise-suppression=false gain-control=false \
           ! audioconvert ! {} ! appsink name=levels sync={sync} async=false",
        caps("F32LE", rate)
    );
    let pipeline = gst::parse::launch(&desc)
        .context("building the webrtcdsp pipeline (gstreamer1.0-plugins-bad)")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let running = Running(pipeline.clone());
    let far = Arc::new(FarPosition::default());
    let close = FinishOnDrop(far.clone());
    element(&pipeline, "farsrc")?.set_property("location", sc.far.to_string_lossy().as_ref());
    element(&pipeline, "micsrc")?.set_property("location", sc.mic.to_string_lossy().as_ref());
    let probe = element(&pipeline, &probe_name)?;
    let delay = echo_delay(sc);
    // The far end's running time moves by the echo's delay, so the probe
    // hands out what the loudspeaker played that long before the microphone.
    probe
        .static_pad("sink")
        .ok_or_else(|| anyhow!("webrtcechoprobe without sink pad"))?
        .set_offset(delay.nseconds() as i64);
    follow_far(&probe, far.clone())?;
    let dsp_el = element(&pipeline, "dsp")?;
    set_props(&dsp_el, &plan.webrtcdsp_props)?;
    pace_mic(&dsp_el, far)?;
    let sink = element(&pipeline, "levels")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("levels is not an appsink"))?;
    let levels = attach_levels(&sink, rate);
    // webrtcechoprobe only hands out far-end audio once it knows the
    // playback latency: make sure it has one before data flows.
    let _ = pipeline.set_state(gst::State::Paused);
    pipeline.send_event(gst::event::Latency::new(gst::ClockTime::ZERO));
    let mut changes = Vec::new();
    play(&pipeline, |msg| {
        if let gst::MessageView::Element(_) = msg.view()
            && let Some(s) = msg.structure()
            && s.name() == "voice-activity"
            && let (Ok(t), Ok(v)) = (
                s.get::<u64>("stream-time"),
                s.get::<bool>("stream-has-voice"),
            )
        {
            changes.push((t as f64 / 1e9, v));
        }
    })
    .with_context(|| format!("scene {} (webrtcdsp)", sc.id))?;
    drop(close);
    drop(running);

    let e = energies(sc, &levels)?;
    let mut out = vec![Event {
        end: Some(e.duration),
        ..Event::new("webrtcdsp", &sc.id, "scene")
    }];
    if let Some((m, o, n)) = erle_frames(sc.labels.as_ref(), &e.far_e, &e.mic_e, &e.out_e) {
        out.push(Event {
            mic_energy: Some(m),
            out_energy: Some(o),
            frames: Some(n),
            ..Event::new("webrtcdsp", &sc.id, "erle")
        });
    }
    out.extend(anchors::webrtc_vad(
        "webrtcdsp",
        &sc.id,
        &changes,
        e.duration,
    ));
    Ok(out)
}
