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
//! Scene 2: the caller coughs → the prompt ducks and comes back (fast path).
//!
//! Writes `out/demo/<scene>-{heard,mic,cleaned}.wav` and `<scene>.png`.
//! Run with `bash scripts/demo.sh` (or `cargo run --release --example demo`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::closed_loop::{self, LoopRun, LoopScene, RATE, normalize, secs};
use common::*;
use std::path::{Path, PathBuf};

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
            caller: Caller::Cough { at_s: 4.2 },
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

/// The caller's side of the microphone: their voice (or cough) plus room noise.
fn synthesize_caller(caller: &Caller, len: usize) -> (Vec<f32>, gst::ClockTime) {
    let mut near = noise(0.002, len, 7); // about -60 dBFS of room noise
    let (sound, at_s) = match caller {
        Caller::Speech { text, at_s } => (normalize(&speech(text, "en-us", RATE), 0.6), *at_s),
        Caller::Cough { at_s } => (closed_loop::cough(0), *at_s),
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

fn run_scene(scene: &Scene, out: &Path) -> Result<(), String> {
    println!("\n=== {} ===", scene.title);
    let prompt = synthesize_prompt();
    let len = prompt.audio.len() + RATE as usize;
    let (near, true_onset) = synthesize_caller(&scene.caller, len);

    // The room: direct path after 40 ms, 300 ms reverberation, 0 dB signal-to-echo
    // for the caller's voice (the loudspeaker is as loud as the caller at the mic).
    let room = room_impulse_response(RATE, 40, 300, 0.6, 3);
    let run = closed_loop::run(&LoopScene {
        prompt: prompt.audio.clone(),
        sentences: prompt
            .sentences
            .iter()
            .map(|(at, t)| (*at, (*t).to_string()))
            .collect(),
        near,
        room,
        vad_props: vec![],
    })?;

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
    marks.extend(run.events.iter().map(|e| Mark {
        t: e.t,
        label: e.label.clone(),
    }));
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
    match &run.heard_text {
        Some(t) => println!("  The caller heard: \"{t}\""),
        None => println!("  The prompt played to the end."),
    }

    for (kind, data) in [
        ("heard", &run.heard),
        ("mic", &run.mic),
        ("cleaned", &run.cleaned),
    ] {
        write_wav(&out.join(format!("{}-{kind}.wav", scene.name)), data)?;
    }
    plot(
        &out.join(format!("{}.png", scene.name)),
        scene.title,
        &run,
        &marks,
    )?;
    Ok(())
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

/// Waveform envelopes of the three signals, the detector's speech probability,
/// and the decisions as vertical lines.
fn plot(path: &Path, title: &str, run: &LoopRun, marks: &[Mark]) -> Result<(), String> {
    use plotters::prelude::*;
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .map_err(|e| format!("font: {e}"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font).map_err(|_| "font")?;

    let root = BitMapBackend::new(path, (1400, 1150)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let rows = root.split_evenly((4, 1));
    let dur = run.heard.len() as f64 / RATE as f64;
    // Peak envelope per 10 ms keeps the picture readable and small.
    let envelope = |data: &[f32]| -> Vec<(f64, f64)> {
        data.chunks(160)
            .enumerate()
            .map(|(i, c)| {
                (
                    i as f64 * 0.01,
                    c.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64,
                )
            })
            .collect()
    };
    let series = [
        ("what the caller heard (ducker output)", &run.heard, BLUE),
        ("microphone: echo + caller", &run.mic, RED),
        ("after bargeinaec (echo removed)", &run.cleaned, GREEN),
    ];
    let draw_marks =
        |chart: &mut ChartContext<_, Cartesian2d<_, _>>, lo: f64, hi: f64| -> Result<(), String> {
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
                        vec![(t, lo), (t, hi)],
                        c.stroke_width(2),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        };
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
        chart
            .draw_series(
                envelope(data)
                    .iter()
                    .map(|&(t, p)| PathElement::new(vec![(t, -p), (t, p)], color)),
            )
            .map_err(|e| e.to_string())?;
        draw_marks(&mut chart, -1.0, 1.0)?;
    }
    // The detector's view: speech probability against its thresholds.
    let mut chart = ChartBuilder::on(&rows[3])
        .caption(
            "bargeinvad speech probability (dashed: threshold 0.5, far-end threshold 0.7)",
            ("sans-serif", 18),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..dur, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(run.probability.iter().copied(), BLACK))
        .map_err(|e| e.to_string())?;
    for thr in [0.5, 0.7] {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, thr), (dur, thr)],
                6,
                4,
                RGBColor(120, 120, 120).into(),
            ))
            .map_err(|e| e.to_string())?;
    }
    draw_marks(&mut chart, 0.0, 1.0)?;
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
