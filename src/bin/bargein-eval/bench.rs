//! `bench`: how many calls one core carries. N pipelines of the full chain
//! run at once, as fast as they can, on one generated barge-in scene:
//!
//! ```text
//! ours:      filesrc far ! wavparse ! ttsducker ! aec.far_sink
//!            filesrc mic ! wavparse ! bargeinaec name=aec ! bargeinvad ! fakesink
//! webrtcdsp: filesrc far ! wavparse ! webrtcechoprobe ! fakesink
//!            filesrc mic ! wavparse ! webrtcdsp voice-detection=true ! fakesink
//! ```
//! Real-time streams per core = N × audio seconds / wall seconds / cores.
//! Memory per stream = (peak VmRSS while running − VmRSS before) / N, after
//! one warm-up run so code, plugin and the shared Silero model are already
//! loaded (they are paid once per process, not per call). Each measurement
//! runs in a fresh child process (`bench-one`): memory freed by an earlier
//! measurement would otherwise be reused and hide the next one's growth.

use crate::args::Opts;
use crate::corpus::{self, GenOpts};
use crate::dsp;
use crate::tts::Tts;
use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Resident memory of this process, in bytes.
fn vm_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chain {
    Ours,
    WebrtcDsp,
}

impl Chain {
    fn key(self) -> &'static str {
        match self {
            Chain::Ours => "ours",
            Chain::WebrtcDsp => "webrtcdsp",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Chain::Ours => "bargeinaec ! bargeinvad + ttsducker",
            Chain::WebrtcDsp => "webrtcechoprobe + webrtcdsp (voice-detection)",
        }
    }

    fn desc(self, k: usize) -> String {
        match self {
            // confirmed-action=duck: decisions reach the ducker and act,
            // without a stop cutting the far end's work short.
            Chain::Ours => "filesrc name=farsrc ! wavparse ! ttsducker confirmed-action=duck \
                 ! aec.far_sink filesrc name=micsrc ! wavparse ! bargeinaec name=aec ! bargeinvad \
                 ! fakesink sync=false async=false"
                .to_string(),
            // The probe is found by name across the process: one name per stream.
            Chain::WebrtcDsp => format!(
                "filesrc name=farsrc ! wavparse ! webrtcechoprobe name=probe{k} \
                   ! fakesink sync=false async=false \
                 filesrc name=micsrc ! wavparse ! webrtcdsp probe=probe{k} voice-detection=true \
                   noise-suppression=false gain-control=false ! fakesink sync=false async=false"
            ),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Measure {
    wall_s: f64,
    mem_per_stream: f64,
}

/// The child process: one warm-up stream, then `--streams` at once; prints
/// the measurement as JSON.
pub fn one(o: &Opts) -> Result<()> {
    let chain = match o.get("chain") {
        Some("ours") => Chain::Ours,
        Some("webrtcdsp") => Chain::WebrtcDsp,
        other => bail!("--chain ours|webrtcdsp, not {other:?}"),
    };
    let n: usize = o.num("streams", 1)?;
    let dir = o.path("dir")?;
    measure(chain, 1, &dir)?;
    let m = measure(chain, n.max(1), &dir)?;
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

fn measure_in_child(chain: Chain, n: usize, dir: &Path) -> Result<Measure> {
    let exe = std::env::current_exe().context("own executable")?;
    let out = std::process::Command::new(exe)
        .args([
            "bench-one",
            "--chain",
            chain.key(),
            "--streams",
            &n.to_string(),
            "--dir",
        ])
        .arg(dir)
        .output()
        .context("running bench-one")?;
    if !out.status.success() {
        bail!(
            "bench-one {}: {}",
            chain.key(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("bench-one output")
}

/// Runs `n` pipelines of `chain` at once on the scene in `dir`.
fn measure(chain: Chain, n: usize, dir: &Path) -> Result<Measure> {
    let before = vm_rss().unwrap_or(0);
    let mut pipelines = Vec::new();
    for k in 0..n {
        let p = gst::parse::launch(&chain.desc(k))
            .with_context(|| format!("building {}", chain.name()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
        for (name, file) in [("farsrc", "far.wav"), ("micsrc", "mic.wav")] {
            p.by_name(name)
                .ok_or_else(|| anyhow!("no {name}"))?
                .set_property("location", dir.join(file).to_string_lossy().as_ref());
        }
        pipelines.push(p);
    }
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some(r) = vm_rss() {
                    peak.fetch_max(r, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let t0 = Instant::now();
    let mut result = Ok(());
    for p in &pipelines {
        if p.set_state(gst::State::Playing).is_err() {
            result = Err(anyhow!("cannot start {}", chain.name()));
        }
    }
    for p in &pipelines {
        let Some(bus) = p.bus() else { continue };
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => {}
            Some(gst::MessageView::Error(e)) => {
                result = Err(anyhow!("{}: {} ({:?})", chain.name(), e.error(), e.debug()));
            }
            _ => result = Err(anyhow!("{}: timed out", chain.name())),
        }
    }
    let wall_s = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let _ = monitor.join();
    for p in &pipelines {
        let _ = p.set_state(gst::State::Null);
    }
    result?;
    let grown = peak.load(Ordering::SeqCst).saturating_sub(before);
    Ok(Measure {
        wall_s,
        mem_per_stream: grown as f64 / n.max(1) as f64,
    })
}

/// One barge-in scene at `rate`, generated with the corpus code.
fn scene(rate: u32) -> Result<(PathBuf, f64)> {
    let base = std::env::var_os("BARGEIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("gst-bargein"));
    let dir = base.join("eval-bench").join(rate.to_string());
    std::fs::create_dir_all(&dir)?;
    let g = GenOpts {
        later_share: 0.0,
        echo_free_share: 0.0,
        seed: 7,
        scenes: 1,
        rate,
        types: Some(vec!["barge-in".into()]),
        languages: vec!["en".into()],
        noises: vec!["pink".into()],
        ser: (0.0, 0.0),
        snr: (20.0, 20.0),
        max_sentences: 4,
    };
    let sc = corpus::make_scene(0, &g, &Tts::new()?)?;
    dsp::write_wav(&dir.join("far.wav"), rate, &sc.far)?;
    dsp::write_wav(&dir.join("mic.wav"), rate, &sc.mic)?;
    Ok((dir, sc.mic.len() as f64 / f64::from(rate)))
}

pub fn main(o: &Opts) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n: usize = o.num("streams", 4 * cores)?;
    if n == 0 {
        bail!("--streams must be at least 1");
    }
    let rates: Vec<u32> = o.num_list("rates", &[8000, 16000])?;
    let mut md = format!(
        "{n} concurrent streams on {cores} cores, each the same generated barge-in scene, \
         non-synchronised.\n\n\
         | rate | chain | audio per stream | wall | real-time streams per core | memory per stream | \
         ours / webrtcdsp: streams per core, memory |\n|---|---|---|---|---|---|---|\n"
    );
    for rate in rates {
        let (dir, audio_s) = scene(rate)?;
        let mut got = Vec::new();
        for chain in [Chain::Ours, Chain::WebrtcDsp] {
            let m = measure_in_child(chain, n, &dir)?;
            let per_core = n as f64 * audio_s / m.wall_s / cores as f64;
            eprintln!(
                "{} Hz {}: {per_core:.0} streams/core, {:.1} MB/stream",
                rate,
                chain.name(),
                m.mem_per_stream / 1e6
            );
            got.push((chain, m, per_core));
        }
        let ratio = match (got.first(), got.get(1)) {
            (Some(a), Some(b)) if b.2 > 0.0 => format!(
                "{:.2} ×, {:.1} ×",
                a.2 / b.2,
                a.1.mem_per_stream / b.1.mem_per_stream.max(1.0)
            ),
            _ => "–".into(),
        };
        for (i, (chain, m, per_core)) in got.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} kHz | {} | {audio_s:.1} s | {:.2} s | {per_core:.0} | {:.1} MB | {} |",
                rate / 1000,
                chain.name(),
                m.wall_s,
                m.mem_per_stream / 1e6,
                if i == 0 { ratio.clone() } else { String::new() }
            );
        }
    }
    print!("{md}");
    Ok(())
}
