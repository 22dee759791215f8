//! `run --closed-loop true`: each Silero-based system hears the echo of what
//! its own ducker let through, as in a call.
//!
//! In the open loop (`run.rs`) the microphone file is fixed: ducking the
//! prompt on a tentative decision does not lower its echo, so a caller the
//! canceller cuts to pieces stays in pieces. Here the scene's far end plays
//! through `ttsducker`, and what leaves it goes to the canceller and, through
//! the scene's loudspeaker and room (`room.wav`, `speaker_drive`), into the
//! microphone, mixed with everything else the microphone heard (`rest.wav`):
//!
//! ```text
//! filesrc far.wav ! … ! 10 ms buffers ! ttsducker name=duck ! tee name=t
//!    t. ! queue ! aec.far_sink
//!    t. ! queue ! identity name=room (loudspeaker, room: room.rs) ! mix.
//! filesrc rest.wav ! … ! 10 ms buffers ! mix.
//! audiomixer name=mix ! bargeinaec name=aec ! bargeinvad name=vad ! fakesink
//! ```
//! Queues of two 10 ms buffers keep the prompt at most ~20 ms ahead of the
//! microphone, like a loudspeaker's output buffer, so the run is causal
//! though faster than real time. Each system gets its own pipeline: what the
//! microphone hears depends on what that system did.
//!
//! What each system does with its decisions: ours ducks on `tentative` and
//! stops on `confirmed` (the elements' defaults); the frameworks' policies
//! stop on `confirmed` and do nothing before. LiveKit ignores decisions in
//! its warm-up: its ducker is `protected` then, and an utterance confirmed
//! in it that is still going when the warm-up runs out stops the prompt
//! then, as the open loop's filter scores it.

use crate::anchors;
use crate::corpus;
use crate::dsp;
use crate::events::Event;
use crate::room::BlockConvolver;
use crate::run::{Plan, Running, SceneInput, VadBranch, caps, element, play, set_props};
use anyhow::{Context, Result, anyhow};
use gst::prelude::*;
use gstbargein::protocol::{self, Structure};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Every Silero-based system of the plan on one scene, each in its own loop.
pub fn run(sc: &SceneInput, plan: &Plan) -> Result<Vec<Event>> {
    let dir = sc
        .mic
        .parent()
        .ok_or_else(|| anyhow!("scene {}: no folder", sc.id))?;
    let (rest, room) = (dir.join(corpus::REST_WAV), dir.join(corpus::ROOM_WAV));
    if !rest.is_file() || !room.is_file() {
        return Err(anyhow!(
            "scene {}: no {} / {} (a corpus generated before the closed loop, or \
             recordings: regenerate it, or run without --closed-loop)",
            sc.id,
            corpus::REST_WAV,
            corpus::ROOM_WAV
        ));
    }
    let (room_rate, room) = dsp::read_wav(&room)?;
    let (rate, mic) = dsp::read_wav(&sc.mic)?;
    if room_rate != rate {
        return Err(anyhow!(
            "scene {}: room.wav at {room_rate} Hz, mic.wav at {rate} Hz",
            sc.id
        ));
    }
    let drive = sc
        .labels
        .as_ref()
        .and_then(|l| l.condition_f64("speaker_drive"))
        .unwrap_or(0.0) as f32;
    let duration = mic.len() as f64 / f64::from(rate.max(1));
    let (_, far) = dsp::read_wav(&sc.far)?;
    let spans = anchors::tts_spans(&dsp::frame_energies(&far, rate));

    let mut out = Vec::new();
    for branch in &plan.vads {
        let warm = if branch.warmup {
            anchors::warmup_spans(&spans, anchors::LIVEKIT_WARMUP_S)
        } else {
            Vec::new()
        };
        let loop_scene = Loop {
            sc,
            rest: &rest,
            room: &room,
            drive,
            rate,
            warm: &warm,
        };
        let events = loop_scene
            .play(plan, branch)
            .with_context(|| format!("scene {} ({}, closed loop)", sc.id, branch.name))?;
        out.push(Event {
            end: Some(duration),
            ..Event::new(&branch.name, &sc.id, "scene")
        });
        // What the ducker did with the decisions: nothing in the warm-up
        // (they are not scored), and the guard's stops when it ran out.
        let in_warm = |t: f64| warm.iter().any(|w| t >= w.0 && t < w.1);
        out.extend(events.into_iter().filter(|e| {
            let decision = e.kind == "tentative" || e.kind == "confirmed";
            !(decision && e.source.as_deref() != Some("dtmf") && e.time.is_some_and(in_warm))
        }));
    }
    Ok(out)
}

/// The stops LiveKit's guard made when its warm-up ran out: (onset, time)
/// in seconds, filled as they happen.
type GuardStops = Arc<Mutex<Vec<(f64, f64)>>>;

/// One system's loop over one scene.
struct Loop<'a> {
    sc: &'a SceneInput,
    rest: &'a Path,
    room: &'a [f32],
    drive: f32,
    rate: u32,
    /// Running-time windows (s) in which the ducker is protected, each with
    /// whether the warm-up ran out at its end.
    warm: &'a [(f64, f64, bool)],
}

impl Loop<'_> {
    fn play(&self, plan: &Plan, branch: &VadBranch) -> Result<Vec<Event>> {
        let f32caps = caps("F32LE", self.rate);
        let q = "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0";
        // Whole 10 ms buffers, the room's block (the last partial one at EOS
        // is dropped: scenes end in a second of silence).
        let tenms = "audiobuffersplit output-buffer-duration=1/100 strict-buffer-size=true";
        let desc = format!(
            "filesrc name=farsrc ! wavparse ! audioconvert ! audioresample ! {f32caps} ! {tenms} \
               ! ttsducker name=duck ! tee name=t \
             t. ! {q} ! aec.far_sink \
             t. ! {q} ! identity name=room ! mix.sink_0 \
             filesrc name=restsrc ! wavparse ! audioconvert ! audioresample ! {f32caps} ! {tenms} \
               ! {q} ! mix.sink_1 \
             audiomixer name=mix ! {f32caps} ! bargeinaec name=aec \
               ! bargeinvad name=vad ! fakesink sync=false async=false"
        );
        let pipeline = gst::parse::launch(&desc)
            .context("building the closed loop (audiobuffersplit is in gst-plugins-bad)")?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
        let running = Running(pipeline.clone());
        element(&pipeline, "farsrc")?
            .set_property("location", self.sc.far.to_string_lossy().as_ref());
        element(&pipeline, "restsrc")?
            .set_property("location", self.rest.to_string_lossy().as_ref());
        let room = element(&pipeline, "room")?;
        set_props(&element(&pipeline, "aec")?, &plan.aec_props)?;
        set_props(&element(&pipeline, "vad")?, &branch.props)?;
        let duck = element(&pipeline, "duck")?;
        if branch.name != "ours" {
            // The frameworks stop the agent's speech once they interrupt;
            // nothing happens before.
            duck.set_property_from_str("tentative-action", "none");
        }
        set_props(&duck, &plan.duck_props)?;
        self.play_into_room(&room)?;
        let stops = self.guard_warmup(&duck)?;
        let taps: Vec<(&str, Tap)> = match &plan.dump {
            Some(_) => [("heard", "duck"), ("mic", "mix"), ("out", "aec")]
                .into_iter()
                .map(|(what, el)| Ok((what, Tap::on(&element(&pipeline, el)?, self.rate)?)))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };

        let mut events = Vec::new();
        play(&pipeline, |msg| {
            let from = msg.src().map(|s| s.name());
            if from.as_deref() == Some("vad")
                && let Some(e) = crate::run::vad_event(&branch.name, &self.sc.id, msg)
            {
                events.push(e);
            } else if from.as_deref() == Some("duck")
                && let Ok(i) = protocol::TtsInterrupted::from_message(msg)
                && i.action == "stop"
            {
                events.push(Event {
                    time: Some(i.position.nseconds() as f64 / 1e9),
                    ..Event::new(&branch.name, &self.sc.id, "stopped")
                });
            }
        })?;
        drop(running);
        if let Some(dir) = &plan.dump {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            for (what, tap) in &taps {
                let path = dir.join(format!("{}-{}-{what}.wav", self.sc.id, branch.name));
                dsp::write_wav(&path, self.rate, &tap.take()?)?;
            }
        }
        let stops = stops.lock().map_err(|_| anyhow!("guard poisoned"))?;
        events.extend(stops.iter().map(|&(onset, time)| {
            Event::decision(
                &branch.name,
                &self.sc.id,
                "confirmed",
                "speech",
                onset,
                time,
            )
        }));
        Ok(events)
    }

    /// What the microphone hears of the prompt: the loudspeaker's soft
    /// clipping, then the room, in place on each 10 ms buffer.
    fn play_into_room(&self, room: &gst::Element) -> Result<()> {
        let drive = self.drive;
        let block = (self.rate / 100).max(1) as usize;
        // The convolver and a block's worth of samples, reused buffer after buffer.
        let conv = Mutex::new((
            BlockConvolver::new(self.room, block)?,
            Vec::with_capacity(block),
        ));
        let pad = room
            .static_pad("sink")
            .ok_or_else(|| anyhow!("room has no sink pad"))?;
        let el = room.downgrade();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer_mut() else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(mut map) = buffer.make_mut().map_writable() else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(mut guard) = conv.lock() else {
                return gst::PadProbeReturn::Drop;
            };
            let (convolver, x) = &mut *guard;
            x.clear();
            x.extend(
                map.chunks_exact(4).map(|c| {
                    corpus::loudspeaker(f32::from_le_bytes([c[0], c[1], c[2], c[3]]), drive)
                }),
            );
            if let Err(e) = convolver.process(x) {
                if let Some(el) = el.upgrade() {
                    gst::element_error!(el, gst::StreamError::Failed, ("room: {e:#}"));
                }
                return gst::PadProbeReturn::Drop;
            }
            for (c, v) in map.chunks_exact_mut(4).zip(x.iter()) {
                c.copy_from_slice(&v.to_le_bytes());
            }
            gst::PadProbeReturn::Ok
        });
        Ok(())
    }

    /// LiveKit's guard, live: the ducker is `protected` while the prompt's
    /// running time is in a warm-up window (from the buffers entering it),
    /// and an utterance confirmed in the warm-up that is still going when
    /// the warm-up runs out stops the prompt then, as `anchors::warmup_filter`
    /// scores it in the open loop (LiveKit re-checks on every VAD update).
    fn guard_warmup(&self, duck: &gst::Element) -> Result<GuardStops> {
        let stops = Arc::new(Mutex::new(Vec::new()));
        if self.warm.is_empty() {
            return Ok(stops);
        }
        let sink = duck
            .static_pad("sink")
            .ok_or_else(|| anyhow!("ducker has no sink pad"))?;
        let src = duck
            .static_pad("src")
            .ok_or_else(|| anyhow!("ducker has no src pad"))?;
        // The onset of what was confirmed in the warm-up and has not ended.
        let pending: Arc<Mutex<Option<f64>>> = Arc::default();
        let protected = Arc::new(AtomicBool::new(false));
        {
            let (pending, protected) = (pending.clone(), protected.clone());
            src.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                let Some(ev) = info.event() else {
                    return gst::PadProbeReturn::Ok;
                };
                let update = if protocol::SpeechEnd::from_event(ev).is_ok() {
                    Some(None)
                } else if let Ok(b) = protocol::Bargein::from_event(ev)
                    && b.stage == protocol::Stage::Confirmed
                    && b.source == protocol::Source::Speech
                    && protected.load(Ordering::SeqCst)
                {
                    Some(Some(b.onset.nseconds() as f64 / 1e9))
                } else {
                    None
                };
                if let Some(v) = update
                    && let Ok(mut p) = pending.lock()
                {
                    *p = v;
                }
                gst::PadProbeReturn::Ok
            });
        }
        let warm = self.warm.to_vec();
        let duck = duck.downgrade();
        let record = stops.clone();
        sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(t) = info.buffer().and_then(|b| b.pts()) else {
                return gst::PadProbeReturn::Ok;
            };
            let t = t.nseconds() as f64 / 1e9;
            let inside = warm.iter().any(|w| t >= w.0 && t < w.1);
            if protected.swap(inside, Ordering::SeqCst) == inside {
                return gst::PadProbeReturn::Ok;
            }
            let Some(d) = duck.upgrade() else {
                return gst::PadProbeReturn::Ok;
            };
            d.set_property("protected", inside);
            // Leaving the window where the warm-up ran out (not one the
            // prompt's pause ended): what was confirmed in it counts now.
            let ran_out = warm.iter().any(|w| w.2 && (t - w.1).abs() < 0.05);
            let onset = pending.lock().ok().and_then(|mut p| p.take());
            if !inside
                && ran_out
                && let Some(onset) = onset
            {
                d.emit_by_name::<()>("interrupt", &[&"confirmed"]);
                if let Ok(mut r) = record.lock() {
                    r.push((onset, t));
                }
            }
            gst::PadProbeReturn::Ok
        });
        Ok(stops)
    }
}

/// The audio leaving an element's src pad, placed by its timestamps
/// (`--dump`: what the caller heard, the microphone, the canceller's output).
struct Tap(Arc<Mutex<Vec<f32>>>);

impl Tap {
    fn on(el: &gst::Element, rate: u32) -> Result<Self> {
        let pad = el
            .static_pad("src")
            .ok_or_else(|| anyhow!("{} has no src pad", el.name()))?;
        let store: Arc<Mutex<Vec<f32>>> = Arc::default();
        let s = store.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer()
                && let Some(pts) = b.pts()
                && let Ok(map) = b.map_readable()
                && let Ok(mut v) = s.lock()
            {
                let at = pts
                    .nseconds()
                    .mul_div_floor(u64::from(rate), 1_000_000_000)
                    .unwrap_or(0) as usize;
                let n = map.len() / 4;
                if v.len() < at + n {
                    v.resize(at + n, 0.0);
                }
                for (d, c) in v[at..].iter_mut().zip(map.chunks_exact(4)) {
                    *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            gst::PadProbeReturn::Ok
        });
        Ok(Self(store))
    }

    fn take(&self) -> Result<Vec<f32>> {
        Ok(std::mem::take(
            &mut *self.0.lock().map_err(|_| anyhow!("tap poisoned"))?,
        ))
    }
}
