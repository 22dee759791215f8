//! Soak, load and clock-drift measurements (issue 8). Run with
//! `cargo bench --bench soak -- <what>`, where what is `drift`, `soak` or
//! `load` (default: all three). Sizes come from the environment:
//! `SOAK_HOURS` (default 4), `LOAD_STREAMS` (64), `LOAD_MINUTES` (5),
//! `DRIFT_MINUTES` (30). Prints markdown for the README.

#[path = "../tests/common/mod.rs"]
mod common;

use common::soak::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn drift() {
    let minutes = env("DRIFT_MINUTES", 30);
    // Microphone clock faster (echo later and later), then slower (echo
    // earlier and earlier: the far end is fed 3 s ahead, so the reference
    // can be handed out early).
    for drift in [0.0, 0.001, -0.001] {
        let run = drift_run(minutes * 60, drift, 60);
        assert_eq!(run.samples_out, run.samples_in, "near end not sample-exact");
        let min = run.erle_db.iter().copied().fold(f64::INFINITY, f64::min);
        let rows: Vec<String> = run
            .erle_db
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 5 == 4 || *i == 0)
            .map(|(i, e)| format!("{}′ {e:.1}", (i + 1) as u64 * run.window_s / 60))
            .collect();
        let delays: Vec<String> = run
            .stats_delay_ms
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 300 == 0)
            .map(|(_, d)| d.to_string())
            .collect();
        println!(
            "| drift {:+.2} % | {minutes} min | min ERLE {min:.1} dB | per minute window: {} | AEC3 delay ms every 5 min: {} | warnings: {:?} |",
            drift * 100.0,
            rows.join(", "),
            delays.join(", "),
            run.warnings
        );
    }
}

fn soak() {
    let hours = env("SOAK_HOURS", 4);
    let seconds = hours * 3600;
    let start = std::time::Instant::now();
    let mut samples = Vec::new();
    run_chains(1, seconds, 600, |s| samples.push((s, rss_kib())));
    let wall = start.elapsed().as_secs_f64();
    // The first 10 minutes settle allocator pools and model buffers.
    let settled = samples.first().map_or(0, |s| s.1);
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let last = samples.last().map_or(0, |s| s.1);
    println!(
        "| soak | {hours} h of audio, full chain, {:.0}× real time | RSS at 10 min {} MiB, max {} MiB, at end {} MiB, growth after 10 min {} KiB |",
        seconds as f64 / wall,
        settled / 1024,
        max / 1024,
        last / 1024,
        max.saturating_sub(settled)
    );
    let trace: Vec<String> = samples
        .iter()
        .map(|(s, r)| format!("{}′ {} MiB", s / 60, r / 1024))
        .collect();
    println!("RSS every 10 min of audio: {}", trace.join(", "));
    assert!(
        max.saturating_sub(settled) < 64 * 1024,
        "resident memory grew by more than 64 MiB after the first 10 minutes"
    );
}

fn load() {
    let streams = env("LOAD_STREAMS", 64) as usize;
    let minutes = env("LOAD_MINUTES", 5);
    common::init();
    let before = rss_kib();
    let mut peak = before;
    let start = std::time::Instant::now();
    let counts = run_chains(streams, minutes * 60, 10, |_| peak = peak.max(rss_kib()));
    let wall = start.elapsed().as_secs_f64();
    assert!(counts.iter().all(|&c| c == minutes * 60 * u64::from(RATE)));
    println!(
        "| load | {streams} concurrent full chains × {minutes} min of audio, {:.1}× real time in total ({:.2}× per stream) | RSS before {} MiB, peak {} MiB, {:.1} MiB per stream |",
        (streams as u64 * minutes * 60) as f64 / wall,
        (minutes * 60) as f64 / wall,
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before) as f64 / 1024.0 / streams as f64
    );
}

fn main() {
    let what = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let what = what.as_deref().unwrap_or("all");
    if what == "drift" || what == "all" {
        drift();
    }
    if what == "soak" || what == "all" {
        soak();
    }
    if what == "load" || what == "all" {
        load();
    }
}
