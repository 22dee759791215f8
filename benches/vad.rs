//! Real-time factor of `bargeinvad` at 16 kHz and 8 kHz, with the cost of the
//! raw Silero engine calls on the same audio in the same run (what the
//! element adds: resampling, DTMF, decisions, messages). Run with
//! `cargo bench --bench vad`; prints a markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use gstbargein::bargeinvad::engine::{self, Silero, VadEngine};
use std::time::Instant;

const SECONDS: usize = 60;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A minute of alternating speech and pauses with low noise.
fn audio(rate: u32) -> Vec<f32> {
    let s = speech(
        "For account balance, press 1. For recent transactions, press 2.",
        "en-us",
        rate,
    );
    let mut one = s.clone();
    one.extend(vec![0.0; rate as usize]);
    let x = fit(&one, SECONDS * rate as usize);
    mix(&x, &noise(0.002, x.len(), 3))
}

fn element_rtf(rate: u32, x: &[f32]) -> f64 {
    let mut h = gst_check::Harness::new("bargeinvad");
    h.set_src_caps(caps_s16(rate, 1));
    let step = rate as usize / 50; // 20 ms buffers
    let bufs: Vec<gst::Buffer> = x
        .chunks(step)
        .enumerate()
        .map(|(i, c)| {
            let v: Vec<i16> = c
                .iter()
                .map(|&s| gstbargein::audio::f32_to_s16(s))
                .collect();
            buffer_s16(&v, 1, rate, (i * step) as u64)
        })
        .collect();
    let start = Instant::now();
    for b in bufs {
        h.push(b).unwrap();
        let _ = h.pull();
    }
    start.elapsed().as_secs_f64() / SECONDS as f64
}

fn engine_rtf(x16: &[f32]) -> f64 {
    let path = engine::default_model_path().expect("model (scripts/setup.sh)");
    let mut e = Silero::load(&path).expect("model");
    let start = Instant::now();
    for f in x16.chunks_exact(e.frame_len()) {
        let _ = e.process(f).unwrap();
    }
    start.elapsed().as_secs_f64() / SECONDS as f64
}

fn main() {
    init();
    let x16 = audio(16000);
    let raw = median((0..RUNS).map(|_| engine_rtf(&x16)).collect());
    println!(
        "| input | bargeinvad RTF (median of {RUNS}) | raw Silero calls RTF | element / engine |"
    );
    println!("|---|---|---|---|");
    for rate in [16000u32, 8000] {
        let x = if rate == 16000 {
            x16.clone()
        } else {
            audio(rate)
        };
        let _ = element_rtf(rate, &x); // warm-up (model load)
        let el = median((0..RUNS).map(|_| element_rtf(rate, &x)).collect());
        println!(
            "| {} kHz S16 mono, 20 ms buffers | {el:.5} | {raw:.5} | {:.2} |",
            rate / 1000,
            el / raw
        );
    }
}
