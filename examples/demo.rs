//! The banking-IVR barge-in demo, in a closed loop.
//!
//! The IVR prompt plays through `ttsducker`; what leaves the ducker is what the
//! caller hears *and* what the loudspeaker sends through a simulated room back
//! into the microphone (`audiofirfilter` with a room impulse response), mixed
//! with the caller's own voice. `bargeinaec ! bargeinvad` listen to that
//! microphone, and their decisions travel upstream to the ducker — so ducking
//! the prompt also removes its echo, as in a real call.
//!
//! Scene 1: the caller says "Customer service" over the menu → duck, stop.
//! Scene 2: the caller coughs → the prompt ducks and comes back.
//!
//! Writes `out/demo/<scene>-{heard,mic,cleaned}.wav` and `<scene>.png`.
//! Run with `bash scripts/demo.sh` (or `cargo run --release --example demo`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use gstbargein::protocol::{self, Structure};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const RATE: u32 = 16000;
const CHUNK: usize = 160; // 10 ms pushes, like a TTS engine streaming audio

const PROMPT: [&str; 5] = [
    "Welcome to ABC Bank.",
    "For account balance, press 1.",
    "For recent transactions, press 2.",
    "For credit card services, press 3.",
    "For loans and mortgages, press 4.",
];

/// What happens in the room besides the prompt.
enum Caller {
    Speech { text: &'static str, at_s: f32 },
    Cough { at_s: f32 },
}

struct Scene {
    name: &'static str,
    title: &'static str,
    caller: Caller,
}

/// One event of the timeline, in running time of the call.
struct Mark {
    t: gst::ClockTime,
    label: String,
}

fn main() {
    init();
    let out =
        PathBuf::from(std::env::var("BARGEIN_DEMO_OUT").unwrap_or_else(|_| "out/demo".into()));
    std::fs::create_dir_all(&out).expect("create output folder");
    let scenes = [
        Scene {
            name: "customer-service",
            title: "Caller says \"Customer service\" over the menu",
            caller: Caller::Speech {
                text: "Customer service",
                at_s: 3.2,
            },
        },
        Scene {
            name: "cough",
            title: "Caller coughs: a false alarm",
            caller: Caller::Cough { at_s: 3.2 },
        },
    ];
    for scene in &scenes {
        if let Err(e) = run_scene(scene, &out) {
            eprintln!("scene {} failed: {e}", scene.name);
            std::process::exit(1);
        }
    }
    println!("\nWrote WAV files and timelines (PNG) to {}", out.display());
}

struct Prompt {
    audio: Vec<f32>,
    /// (sample index, sentence) where each sentence starts.
    sentences: Vec<(usize, &'static str)>,
}

fn synthesize_prompt() -> Prompt {
    let mut audio = vec![0.0f32; RATE as usize / 2]; // the call opens with 0.5 s of silence
    let mut sentences = Vec::new();
    for text in PROMPT {
        let s = speech(text, "en-us+f3", RATE);
        sentences.push((audio.len(), text));
        audio.extend(normalize(&s, 0.5));
        audio.extend(std::iter::repeat_n(0.0, RATE as usize / 4));
    }
    Prompt { audio, sentences }
}

fn normalize(x: &[f32], peak: f32) -> Vec<f32> {
    let m = x.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-6);
    x.iter().map(|v| v * peak / m).collect()
}

/// The caller's side of the microphone: their voice (or cough) plus room noise.
fn synthesize_caller(caller: &Caller, len: usize) -> (Vec<f32>, gst::ClockTime) {
    let mut near = noise(0.002, len, 7); // about -60 dBFS of room noise
    let (sound, at_s) = match caller {
        Caller::Speech { text, at_s } => (normalize(&speech(text, "en-us", RATE), 0.6), *at_s),
        Caller::Cough { at_s } => (cough(), *at_s),
    };
    let start = (at_s * RATE as f32) as usize;
    for (i, v) in sound.iter().enumerate() {
        if let Some(n) = near.get_mut(start + i) {
            *n += v;
        }
    }
    // Synthesized speech starts with some silence: the true onset is the
    // first audible sample, not where the clip was placed.
    let audible = sound.iter().position(|v| v.abs() > 0.02).unwrap_or(0);
    (near, frames_to_time((start + audible) as u64, RATE))
}

/// Two short bursts of band-limited noise with a fast attack: a cough.
fn cough() -> Vec<f32> {
    let burst = |len: usize, seed: u64| -> Vec<f32> {
        let n = noise(1.0, len, seed);
        let mut y = 0.0f32;
        n.iter()
            .enumerate()
            .map(|(i, v)| {
                y = 0.7 * y + 0.3 * v; // low-pass: a chesty sound, not a hiss
                let t = i as f32 / len as f32;
                let env = (t * 40.0).min(1.0) * (1.0 - t).powi(2);
                0.6 * y * env
            })
            .collect()
    };
    let mut c = burst(RATE as usize * 18 / 100, 11);
    c.extend(std::iter::repeat_n(0.0, RATE as usize / 10));
    c.extend(burst(RATE as usize * 12 / 100, 12));
    c
}

/// Samples collected from an appsink and put where their timestamps say.
#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<f32>>>);

impl Recorder {
    fn new(len: usize) -> Self {
        Recorder(Arc::new(Mutex::new(vec![0.0; len])))
    }

    fn attach(&self, sink: &gst_app::AppSink) {
        let store = self.0.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buf), Some(seg)) = (sample.buffer(), sample.segment()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let seg = seg
                        .downcast_ref::<gst::ClockTime>()
                        .ok_or(gst::FlowError::Error)?;
                    let Some(rt) = buf.pts().and_then(|p| seg.to_running_time(p)) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let first = rt
                        .nseconds()
                        .mul_div_floor(RATE as u64, 1_000_000_000)
                        .unwrap_or(0) as usize;
                    let samples = read_f32(buf);
                    let mut v = store.lock().unwrap();
                    for (i, x) in samples.iter().enumerate() {
                        if let Some(d) = v.get_mut(first + i) {
                            *d = *x;
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    fn take(&self) -> Vec<f32> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn run_scene(scene: &Scene, out: &Path) -> Result<(), String> {
    println!("\n=== {} ===", scene.title);
    let prompt = synthesize_prompt();
    let len = prompt.audio.len() + RATE as usize;
    let (near, true_onset) = synthesize_caller(&scene.caller, len);

    // The room: direct path after 40 ms, 300 ms reverberation, 0 dB signal-to-echo
    // for the caller's voice (the loudspeaker is as loud as the caller at the mic).
    let room = room_impulse_response(RATE, 40, 300, 0.6, 3);
    let kernel = gst::glib::ValueArray::new(room.iter().map(|&v| f64::from(v)));

    let caps = format!("audio/x-raw,format=F32LE,rate={RATE},channels=1,layout=interleaved");
    // Small queues keep the TTS no more than ~20 ms ahead of the microphone,
    // like a loudspeaker's output buffer: the loop stays causal although the
    // pipeline runs faster than real time.
    let q = "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0";
    let desc = format!(
        "appsrc name=tts format=time block=true max-bytes=1280 caps={caps} \
           ! ttsducker name=ducker ! tee name=t \
         t. ! {q} ! appsink name=heard sync=false \
         t. ! {q} ! aec.far_sink \
         t. ! {q} ! audiofirfilter name=room low-latency=true ! mix.sink_0 \
         appsrc name=caller format=time block=true max-bytes=1280 caps={caps} ! mix.sink_1 \
         audiomixer name=mix ! {caps} ! tee name=m \
         m. ! {q} ! appsink name=mic sync=false \
         m. ! {q} ! bargeinaec name=aec ! bargeinvad name=vad ! appsink name=cleaned sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("{e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| format!("no element {n}"));
    by_name("room")?.set_property("kernel", kernel);

    let heard = Recorder::new(len);
    let mic = Recorder::new(len);
    let cleaned = Recorder::new(len);
    for (name, rec) in [("heard", &heard), ("mic", &mic), ("cleaned", &cleaned)] {
        let sink = by_name(name)?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "appsink")?;
        rec.attach(&sink);
    }

    let tts = by_name("tts")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let caller = by_name("caller")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let bus = pipeline.bus().ok_or("no bus")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{e}"))?;

    // The TTS engine streams the prompt in 10 ms chunks, announcing each
    // sentence with a tts-mark so the ducker can tell what was heard.
    let tts_audio = prompt.audio.clone();
    let sentences = prompt.sentences.clone();
    let tts_thread = std::thread::spawn(move || {
        for (i, chunk) in tts_audio.chunks(CHUNK).enumerate() {
            let first = i * CHUNK;
            for (at, text) in &sentences {
                if (first..first + CHUNK).contains(at) {
                    let mark = protocol::TtsMark {
                        text: (*text).into(),
                        new_utterance: *at == sentences[0].0,
                    };
                    tts.send_event(mark.downstream_event());
                }
            }
            if tts
                .push_buffer(buffer_f32(chunk, 1, RATE, first as u64))
                .is_err()
            {
                break;
            }
        }
        let _ = tts.end_of_stream();
    });
    let caller_thread = std::thread::spawn(move || {
        for (i, chunk) in near.chunks(CHUNK).enumerate() {
            if caller
                .push_buffer(buffer_f32(chunk, 1, RATE, (i * CHUNK) as u64))
                .is_err()
            {
                break;
            }
        }
        let _ = caller.end_of_stream();
    });

    let mut marks = vec![
        Mark {
            t: frames_to_time(prompt.sentences[0].0 as u64, RATE),
            label: "prompt starts".into(),
        },
        Mark {
            t: true_onset,
            label: "caller starts (true onset)".into(),
        },
    ];
    let mut heard_text = None;
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
        if let Ok(b) = protocol::Bargein::from_message(&msg) {
            let what = match b.stage {
                protocol::Stage::Tentative => "tentative barge-in → duck",
                protocol::Stage::Confirmed => "confirmed barge-in → stop",
            };
            marks.push(Mark {
                t: b.detected,
                label: format!("{what} (onset {:.3} s)", secs(b.onset)),
            });
        } else if let Ok(s) = protocol::SpeechStart::from_message(&msg) {
            marks.push(Mark {
                t: s.detected,
                label: format!("speech start p={:.2}", s.probability),
            });
        } else if let Ok(r) = protocol::BargeinRelease::from_message(&msg) {
            marks.push(Mark {
                t: r.detected,
                label: "release: false alarm → restore".into(),
            });
        } else if let Ok(e) = protocol::SpeechEnd::from_message(&msg) {
            marks.push(Mark {
                t: e.end,
                label: "speech end".into(),
            });
        } else if let Ok(i) = protocol::TtsInterrupted::from_message(&msg) {
            marks.push(Mark {
                t: i.position,
                label: format!("TTS {} at prompt position", i.action),
            });
            heard_text = Some(i.heard_text);
        } else if let Ok(r) = protocol::TtsResumed::from_message(&msg) {
            marks.push(Mark {
                t: r.position,
                label: format!("TTS resumed ({})", r.reason),
            });
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| format!("{e}"))?;
    let _ = tts_thread.join();
    let _ = caller_thread.join();
    if let Some(e) = error {
        return Err(e);
    }

    marks.sort_by_key(|m| m.t);
    for m in &marks {
        let rel = m.t.nseconds() as f64 / 1e9 - secs(true_onset);
        println!(
            "  {:>7.3} s  ({:+6.0} ms from caller onset)  {}",
            secs(m.t),
            rel * 1000.0,
            m.label
        );
    }
    match heard_text {
        Some(t) => println!("  The caller heard: \"{t}\""),
        None => println!("  The prompt played to the end."),
    }

    let (heard, mic, cleaned) = (heard.take(), mic.take(), cleaned.take());
    for (kind, data) in [("heard", &heard), ("mic", &mic), ("cleaned", &cleaned)] {
        write_wav(&out.join(format!("{}-{kind}.wav", scene.name)), data)?;
    }
    plot(
        &out.join(format!("{}.png", scene.name)),
        scene.title,
        &heard,
        &mic,
        &cleaned,
        &marks,
    )?;
    Ok(())
}

fn secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

fn write_wav(path: &Path, data: &[f32]) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| e.to_string())?;
    for &v in data {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)
            .map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())
}

/// Waveform envelopes of the three signals with the decisions as vertical lines.
fn plot(
    path: &Path,
    title: &str,
    heard: &[f32],
    mic: &[f32],
    cleaned: &[f32],
    marks: &[Mark],
) -> Result<(), String> {
    use plotters::prelude::*;
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .map_err(|e| format!("font: {e}"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font).map_err(|_| "font")?;

    let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let rows = root.split_evenly((3, 1));
    let dur = heard.len() as f64 / RATE as f64;
    let series = [
        ("what the caller heard (ducker output)", heard, BLUE),
        ("microphone: echo + caller", mic, RED),
        ("after bargeinaec (echo removed)", cleaned, GREEN),
    ];
    for (area, (name, data, color)) in rows.iter().zip(series) {
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..dur, -1.0..1.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .disable_y_mesh()
            .draw()
            .map_err(|e| e.to_string())?;
        // Peak envelope per 10 ms keeps the picture readable and small.
        let env: Vec<(f64, f64)> = data
            .chunks(160)
            .enumerate()
            .map(|(i, c)| {
                (
                    i as f64 * 0.01,
                    c.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64,
                )
            })
            .collect();
        chart
            .draw_series(
                env.iter()
                    .map(|&(t, p)| PathElement::new(vec![(t, -p), (t, p)], color)),
            )
            .map_err(|e| e.to_string())?;
        for m in marks {
            let t = secs(m.t);
            let c = if m.label.contains("confirmed") || m.label.contains("stop") {
                RED
            } else if m.label.contains("tentative") || m.label.contains("duck") {
                MAGENTA
            } else if m.label.contains("release") || m.label.contains("resumed") {
                CYAN
            } else {
                BLACK
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(t, -1.0), (t, 1.0)],
                    c.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    // Legend of the decisions, at the top of the first row.
    let mut y = 60;
    for m in marks {
        root.draw(&Text::new(
            format!("{:.2} s  {}", secs(m.t), m.label),
            (1000, y),
            ("sans-serif", 14),
        ))
        .map_err(|e| e.to_string())?;
        y += 16;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
