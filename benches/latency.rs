//! Closed-loop barge-in latency over many generated scenes (issue 6): the
//! ducker's output feeds the room that feeds the microphone. Reports, in
//! running time from the caller's first audible sample, when the TTS was
//! attenuated (tentative) and stopped (confirmed): p50 and p95, the hit rate,
//! and false interruptions in echo-only and cough scenes.
//!
//!   cargo bench --bench latency                  # 40 barge-in scenes
//!   BARGEIN_SCENES=100 cargo bench --bench latency
//!   BARGEIN_VAD="start-ms=32 confirm-ms=192" cargo bench --bench latency
//!   BARGEIN_SER=0 BARGEIN_SNR=30 cargo bench --bench latency
//!   BARGEIN_SEED=7 BARGEIN_VERBOSE=1 cargo bench --bench latency   # one scene, traced

#[path = "../tests/common/mod.rs"]
mod common;

use common::closed_loop::{self, Near, secs};
use common::*;
use std::sync::Mutex;

struct Outcome {
    ducked_ms: Option<f64>,
    stopped_ms: Option<f64>,
    false_stop: bool,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn main() {
    init();
    let n: u64 = std::env::var("BARGEIN_SCENES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let props: Vec<(&'static str, String)> = std::env::var("BARGEIN_VAD")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (&*Box::leak(k.to_string().into_boxed_str()), v.to_string()))
        .collect();
    let env_f = |k: &str, d: f32| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (ser, snr) = (env_f("BARGEIN_SER", 0.0), env_f("BARGEIN_SNR", 10.0));
    // Cold: the caller speaks over the call's first prompt, while the echo
    // canceller is still converging. Warm: over a later one.
    let warm = std::env::var_os("BARGEIN_WARM").is_some_and(|v| v != "0");
    // Barge-in scenes, then as many echo-only and cough scenes as a third each.
    let only: Option<u64> = std::env::var("BARGEIN_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut jobs: Vec<(u64, Near)> = (0..n).map(|s| (s, Near::Speech)).collect();
    jobs.extend((0..n / 3).map(|s| (1000 + s, Near::Nothing)));
    jobs.extend((0..n / 3).map(|s| (2000 + s, Near::Cough)));
    if let Some(seed) = only {
        jobs.retain(|(s, _)| *s == seed);
    }
    let jobs = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some((seed, near)) = jobs.lock().unwrap().pop() else {
                        break;
                    };
                    let mut g = closed_loop::generate_with(seed, near, ser, snr, warm);
                    g.scene.vad_props = props.clone();
                    let run = match closed_loop::run(&g.scene) {
                        Ok(r) => r,
                        Err(e) => panic!("scene {seed}: {e}"),
                    };
                    let rel = |t: Option<gst::ClockTime>| {
                        g.onset.zip(t).map(|(o, t)| (secs(t) - secs(o)) * 1000.0)
                    };
                    let o = Outcome {
                        ducked_ms: rel(run.acted(false)),
                        stopped_ms: rel(run.acted(true)),
                        false_stop: near != Near::Speech && run.acted(true).is_some(),
                    };
                    // Without a caller there is no onset: show when (in the
                    // call) a false stop happened instead.
                    let stop_at = run
                        .acted(true)
                        .filter(|_| g.onset.is_none())
                        .map_or(String::new(), |t| format!("  stopped at {:.2} s", secs(t)));
                    eprintln!(
                        "{seed:5} {:>8} {:>8}  {}{stop_at}",
                        o.ducked_ms.map_or("-".into(), |v| format!("{v:.0}")),
                        o.stopped_ms.map_or("-".into(), |v| format!("{v:.0}")),
                        g.description
                    );
                    if let Some(dir) = std::env::var_os("BARGEIN_DUMP") {
                        dump(std::path::Path::new(&dir), seed, near, g.onset, &run);
                    }
                    if std::env::var_os("BARGEIN_VERBOSE").is_some() {
                        for e in &run.events {
                            eprintln!("      {:7.3} s {}", secs(e.t), e.label);
                        }
                        let bins: Vec<String> = run
                            .probability
                            .chunks(25)
                            .map(|c| format!("{:.1}", c.iter().map(|x| x.1).fold(0.0, f64::max)))
                            .collect();
                        eprintln!("      max p per 250 ms: {}", bins.join(" "));
                        let lv: Vec<String> = run
                            .cleaned
                            .chunks(4000)
                            .zip(run.mic.chunks(4000))
                            .map(|(c, m)| {
                                format!("{:.0}/{:.0}", 20.0 * rms(m).log10(), 20.0 * rms(c).log10())
                            })
                            .collect();
                        eprintln!("      mic/cleaned dBFS per 250 ms: {}", lv.join(" "));
                    }
                    results.lock().unwrap().push((near, o));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let speech: Vec<&Outcome> = results
        .iter()
        .filter(|(k, _)| *k == Near::Speech)
        .map(|(_, o)| o)
        .collect();
    // A hit: stopped within 1.5 s of the onset (and not before it).
    let hits = speech
        .iter()
        .filter(|o| o.stopped_ms.is_some_and(|v| (0.0..1500.0).contains(&v)))
        .count();
    let mut ducked: Vec<f64> = speech.iter().filter_map(|o| o.ducked_ms).collect();
    let mut stopped: Vec<f64> = speech.iter().filter_map(|o| o.stopped_ms).collect();
    let others = |k: Near| results.iter().filter(|(n, _)| *n == k).count();
    let false_stops = |k: Near| {
        results
            .iter()
            .filter(|(n, o)| *n == k && o.false_stop)
            .count()
    };
    println!(
        "\nclosed loop ({}), SER {ser:+} dB, SNR {snr} dB, vad {:?}",
        if warm {
            "warm canceller"
        } else {
            "first prompt of the call"
        },
        std::env::var("BARGEIN_VAD").unwrap_or_else(|_| "defaults".into())
    );
    println!("| measure | p50 | p95 |");
    println!("|---|---|---|");
    println!(
        "| onset → TTS attenuated (tentative) | {:.0} ms | {:.0} ms |",
        percentile(&mut ducked, 0.5),
        percentile(&mut ducked, 0.95)
    );
    println!(
        "| onset → TTS stopped (confirmed) | {:.0} ms | {:.0} ms |",
        percentile(&mut stopped, 0.5),
        percentile(&mut stopped, 0.95)
    );
    println!(
        "hits {hits}/{} ; stopped by echo alone {}/{} ; stopped by a cough {}/{}",
        speech.len(),
        false_stops(Near::Nothing),
        others(Near::Nothing),
        false_stops(Near::Cough),
        others(Near::Cough)
    );
}

/// Per 32 ms frame (the detector's frame): speech probability, levels of
/// the cleaned and raw microphone and of what the caller heard, for offline
/// study of decision rules (`BARGEIN_DUMP=dir`).
fn dump(
    dir: &std::path::Path,
    seed: u64,
    near: Near,
    onset: Option<gst::ClockTime>,
    run: &closed_loop::LoopRun,
) {
    use std::fmt::Write as _;
    const FRAME: usize = 512;
    let db = |v: &[f32]| 10.0 * (gstbargein::audio::mean_square(v).max(1e-12)).log10();
    let mut out = format!(
        "# seed {seed} near {near:?} onset {}\nt,p,clean_db,mic_db,far_db,near_db\n",
        onset.map_or(-1.0, secs)
    );
    let mut probs = run.probability.iter().peekable();
    let mut p = 0.0;
    for (k, c) in run.cleaned.chunks(FRAME).enumerate() {
        let end = ((k + 1) * FRAME) as f64 / f64::from(closed_loop::RATE);
        while let Some((t, q)) = probs.peek() {
            if *t + 0.01 > end + 1e-6 {
                break;
            }
            p = *q;
            probs.next();
        }
        let r = k * FRAME..((k + 1) * FRAME).min(run.mic.len());
        let start = end - FRAME as f64 / f64::from(closed_loop::RATE);
        let near: Vec<f64> = run
            .near_db
            .iter()
            .filter(|(t, _)| (start..end).contains(t))
            .map(|&(_, v)| v)
            .collect();
        let near = near.iter().sum::<f64>() / near.len().max(1) as f64;
        let _ = writeln!(
            out,
            "{:.3},{p:.4},{:.1},{:.1},{:.1},{near:.1}",
            end,
            db(c),
            db(&run.mic[r.clone()]),
            db(&run.heard[r.start.min(run.heard.len())..r.end.min(run.heard.len())])
        );
    }
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join(format!("{seed}.csv")), out);
}
