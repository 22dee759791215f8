//! `bargein-eval`: measures barge-in detection on a corpus of scenes.
//!
//! ```text
//! bargein-eval generate --out DIR --seed N --scenes K      seeded scene corpus (espeak-ng, synthetic rooms)
//! bargein-eval run --corpus DIR --out RESULTS [--system all] [--set vad.threshold=0.6]
//! bargein-eval score --results RESULTS [--corpus DIR]      hit rate, latency, false alarms, ERLE (markdown + JSON)
//! bargein-eval sweep --corpus DIR --out DIR                threshold × start-ms × confirm-ms × warmup-ms trade-off curves
//! bargein-eval bench --streams N                           concurrent streams per core and memory per stream
//! ```
//!
//! See the README's "Evaluation" section for the corpus and labels format, so
//! the tool can be pointed at real recordings too.

mod anchors;
mod args;
mod bench;
mod closed;
mod corpus;
mod dsp;
mod events;
mod labels;
mod plot;
mod room;
mod run;
mod score;
mod sweep;
mod tts;
mod webrtcdsp;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: bargein-eval <command> [options]

commands:
  generate --out DIR [--seed N] [--scenes K] [--rate HZ] [--jobs N]
           [--types barge-in,echo-only,noise-only,backchannel,dtmf]
           [--languages en,de,fr,es,it,pt,nl] [--noise white,pink,babble,transients]
           [--ser MIN:MAX] [--snr MIN:MAX] [--max-sentences N] [--later-share 0.5]
           [--echo-free-share 0]  (lines whose phone cancels its own echo)
  run      --corpus DIR --out RESULTS [--jobs N] [--rate HZ]
           [--system ours|pipecat|livekit|energy|webrtcdsp|all[,...]] [--set [elem.]prop=value]... (one --set each;
           elem: vad (default), aec, energy, webrtcdsp)
           [--dump DIR]  (per scene, 10 ms frames: probability, cleaned/mic/far levels;
           closed loop: heard/mic/out WAVs per scene and system)
           [--closed-loop true]  (generated corpora: each system hears the echo of what its
           ducker let through; ours, pipecat, livekit; --set duck.prop=value for ttsducker)
  score    --results RESULTS [--corpus DIR] [--out FILE.md]
  sweep    --corpus DIR --out DIR [--jobs N] [--thresholds 0.5,0.7,...]
           [--start-ms 32,64,...] [--confirm-ms 192,256,...] [--warmup-ms 0,1200,...]
           [--onset-db 0,6,...] [--target-false-per-hour 1]
  bench    [--streams N] [--seconds S] [--rates 8000,16000]
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bargein-eval: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = argv.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    if command == "-h" || command == "--help" || command == "help" {
        print!("{USAGE}");
        return Ok(());
    }
    let opts = args::Opts::parse(rest).with_context(|| format!("{command}: bad options"))?;
    match command.as_str() {
        "generate" => corpus::main(&opts),
        "run" | "score" | "sweep" | "bench" | "bench-one" => {
            init_gst()?;
            match command.as_str() {
                "run" => run::main(&opts),
                "score" => score::main(&opts),
                "sweep" => sweep::main(&opts),
                "bench" => bench::main(&opts),
                // One measurement of `bench`, in a fresh process.
                _ => bench::one(&opts),
            }
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command {other:?}")
        }
    }
}

/// GStreamer plus this crate's elements, registered statically so the tool
/// works without GST_PLUGIN_PATH.
pub fn init_gst() -> Result<()> {
    gst::init().context("GStreamer init")?;
    gstbargein::plugin_register_static().context("register the bargein plugin")?;
    Ok(())
}
