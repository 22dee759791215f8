//! Real-time factor and ERLE of `bargeinaec` against GStreamer's own
//! `webrtcdsp` + `webrtcechoprobe`, on the same generated echo scene, in the
//! same run. Run with `cargo bench --bench aec`; prints a markdown table.
//!
//! Both run non-synchronised (as fast as they can) with 10 ms buffers pushed
//! alternately into the far and near inputs, the far end half a second
//! ahead, S16LE mono. `webrtcdsp`'s canceller (webrtc-audio-processing 0.3
//! on Debian 12) must be told the echo's delay, which its probe takes from
//! the playback latency of a real sink: here the room's delay is put on the
//! probe as a pad offset, as a deployment whose sink reports its latency
//! would have it. `bargeinaec` is told nothing. The real-time factor
//! is wall time over audio time (the pipelines are essentially single
//! threaded); ERLE is mic energy over output energy in the second half, where
//! only the far end plays and both have converged.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::Instant;

const SECONDS: usize = 12;
const RUNS: usize = 5;
/// The room's echo delay.
const ECHO_MS: u32 = 80;
/// How many 10 ms far-end buffers go in before the first near-end one, so
/// that the probe holds the far end before `webrtcdsp` asks for it.
const LEAD_CHUNKS: usize = 50;

fn scene(rate: u32) -> (Vec<i16>, Vec<i16>) {
    let text = "Welcome to ABC Bank. For account balance, press 1. For recent transactions, \
                press 2. For credit card services, press 3. For loans and mortgages, press 4.";
    let far = fit(&speech(text, "en-us+f3", rate), SECONDS * rate as usize);
    let far: Vec<f32> = far.iter().map(|v| v * 0.5).collect();
    let room = room_impulse_response(rate, ECHO_MS, 150, 0.5, 4);
    let mic = mix(&convolve(&far, &room), &noise(0.0005, far.len(), 2));
    let to16 = |x: &[f32]| {
        x.iter()
            .map(|&v| gstbargein::audio::f32_to_s16(v))
            .collect()
    };
    (to16(&far), to16(&mic))
}

/// Runs one pipeline over the scene; returns (seconds, output samples).
fn run(desc: &str, rate: u32, far: &[i16], mic: &[i16]) -> (f64, Vec<i16>) {
    let pipeline = gst::parse::launch(desc)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let far_src = appsrc(&pipeline, "far");
    let near_src = appsrc(&pipeline, "near");
    let out = collect(&pipeline, "out", read_s16);
    if let Some(probe) = pipeline.by_name("probe") {
        probe
            .static_pad("sink")
            .expect("probe sink pad")
            .set_offset(i64::from(ECHO_MS) * 1_000_000);
    }
    if pipeline.set_state(gst::State::Playing).is_err() {
        let bus = pipeline.bus().unwrap();
        while let Some(m) = bus.pop() {
            if let gst::MessageView::Error(e) = m.view() {
                panic!("{desc}: {} {:?}", e.error(), e.debug());
            }
        }
        panic!("{desc}: cannot start");
    }
    let start = Instant::now();
    let chunk = rate as usize / 100;
    let far: Vec<&[i16]> = far.chunks(chunk).collect();
    let mic: Vec<&[i16]> = mic.chunks(chunk).collect();
    for i in 0..far.len().max(mic.len()) + LEAD_CHUNKS {
        if let Some(f) = far.get(i) {
            far_src
                .push_buffer(buffer_s16(f, 1, rate, (i * chunk) as u64))
                .unwrap();
        }
        if let Some(k) = i.checked_sub(LEAD_CHUNKS)
            && let Some(n) = mic.get(k)
        {
            near_src
                .push_buffer(buffer_s16(n, 1, rate, (k * chunk) as u64))
                .unwrap();
        }
    }
    far_src.end_of_stream().unwrap();
    near_src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    let out = out.lock().unwrap().clone();
    (secs, out)
}

fn erle(mic: &[i16], out: &[i16]) -> f64 {
    let half = mic.len() / 2;
    let n = mic.len().min(out.len());
    let e = |x: &[i16]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
    10.0 * (e(&mic[half..n]) / e(&out[half..n]).max(1.0)).log10()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    init();
    println!(
        "| rate | element | real-time factor (median of {RUNS}) | ERLE, 2nd half | RTF ratio bargeinaec / webrtcdsp |"
    );
    println!("|---|---|---|---|---|");
    for rate in [16000u32, 48000] {
        let (far, mic) = scene(rate);
        let caps = format!("audio/x-raw,format=S16LE,rate={rate},channels=1,layout=interleaved");
        let src = |name: &str| {
            format!("appsrc name={name} format=time block=true max-bytes=64000 caps={caps}")
        };
        let ours = format!(
            "{} ! aec.far_sink {} ! aec.sink bargeinaec name=aec ! appsink name=out sync=false",
            src("far"),
            src("near")
        );
        let theirs = format!(
            "{} ! webrtcechoprobe name=probe ! fakesink sync=false {} ! webrtcdsp probe=probe noise-suppression=false \
             gain-control=false voice-detection=false ! appsink name=out sync=false",
            src("far"),
            src("near")
        );
        let audio_s = mic.len() as f64 / f64::from(rate);
        let mut results = Vec::new();
        for (name, desc) in [
            ("bargeinaec", &ours),
            ("webrtcdsp + webrtcechoprobe", &theirs),
        ] {
            let mut times = Vec::new();
            let mut last = Vec::new();
            let _ = run(desc, rate, &far, &mic); // warm-up
            for _ in 0..RUNS {
                let (t, out) = run(desc, rate, &far, &mic);
                times.push(t / audio_s);
                last = out;
            }
            results.push((name, median(times), erle(&mic, &last)));
        }
        let ratio = results[0].1 / results[1].1;
        for (i, (name, rtf, erle)) in results.iter().enumerate() {
            let r = if i == 0 {
                format!("{ratio:.2}")
            } else {
                String::new()
            };
            println!(
                "| {} kHz | {name} | {rtf:.4} | {erle:.1} dB | {r} |",
                rate / 1000
            );
        }
    }
}
