//! Every example in `pipelines/` and `examples/` runs against the built
//! plugin, with devices replaced by files and fake sinks, so none of them rots.
//! The RTP bots run against `rtp-caller.sh` over loopback UDP.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// `target/release`, where cargo put `libgstbargein.so` next to the tests.
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir(name: &str) -> PathBuf {
    let d = fixture_dir().join("pipelines").join(name);
    std::fs::create_dir_all(&d).expect("out dir");
    d
}

/// The examples share one generated scene; make it once, not concurrently.
fn scene_dir() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let d = fixture_dir().join("scene");
    if !d.join("mic.wav").exists() {
        let o = script("true", &[], &d, &out_dir("scene"), &[]);
        assert!(
            o.status.success(),
            "scene generation failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    d
}

/// Runs `pipelines/<name>` (or a bare command after sourcing common.sh).
fn script(name: &str, args: &[&str], scene: &Path, out: &Path, env: &[(&str, String)]) -> Output {
    let mut cmd = if name == "true" {
        let mut c = Command::new("bash");
        c.arg("-c").arg(format!(
            ". '{}'",
            root().join("pipelines/common.sh").display()
        ));
        c
    } else {
        let mut c = Command::new("bash");
        c.arg(root().join("pipelines").join(name)).args(args);
        c
    };
    cmd.env("GST_PLUGIN_PATH", plugin_dir())
        .env("SCENE", scene)
        .env("OUT", out)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bash")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_clean(o: &Output, what: &str) {
    let t = text(o);
    assert!(o.status.success(), "{what} failed ({:?}):\n{t}", o.status);
    assert!(!t.contains("ERROR"), "{what} posted an error:\n{t}");
    assert!(!t.contains("panicked"), "{what} panicked:\n{t}");
}

#[test]
fn file_to_file_cancels_echo_and_reports_the_barge_in() {
    init();
    let scene = scene_dir();
    let out = out_dir("file-to-file");
    let o = script("file-to-file.sh", &[], &scene, &out, &[]);
    assert_clean(&o, "file-to-file.sh");
    let t = text(&o);
    assert!(
        t.contains("bargein-far-activity") || t.contains("bargein-aec-stats"),
        "{t}"
    );
    assert!(
        t.contains("stage=(string)confirmed"),
        "no confirmed barge-in:\n{t}"
    );

    // The echo-cancelled microphone is quieter than the microphone while only
    // the prompt plays (0.5 s … 2.4 s), and the caller's voice survives.
    let mic = read_wav_f32(&scene.join("mic.wav"));
    let cleaned = read_wav_f32(&out.join("cleaned.wav"));
    let echo_only = 8000..38000;
    let reduction = db(rms(&mic[echo_only.clone()]) / rms(&cleaned[echo_only]).max(1e-9));
    println!("echo reduction before the caller speaks: {reduction:.1} dB");
    assert!(reduction > 10.0, "echo reduced by only {reduction:.1} dB");
    let caller = 41000..52000;
    let kept = db(rms(&cleaned[caller.clone()]) / rms(&mic[caller]));
    assert!(kept > -12.0, "caller's voice attenuated by {kept:.1} dB");
}

#[test]
fn recorded_interruption_stops_the_prompt() {
    init();
    let scene = scene_dir();
    let out = out_dir("tts-interrupted");
    let o = script("tts-interrupted.sh", &[], &scene, &out, &[]);
    assert_clean(&o, "tts-interrupted.sh");
    let t = text(&o);
    assert!(
        t.contains("tts-interrupted"),
        "prompt was not interrupted:\n{t}"
    );
    // What the caller heard ends soon after they started speaking (2.5 s):
    // the rest of the prompt (until about 6 s) never played.
    let heard = read_wav_f32(&out.join("heard.wav"));
    let prompt = read_wav_f32(&scene.join("prompt.wav"));
    let loud_after =
        |x: &[f32], from: usize| x.iter().skip(from).filter(|v| v.abs() > 0.05).count();
    let from = 16000 * 35 / 10;
    assert!(loud_after(&prompt, from) > 4000, "test scene too short");
    assert!(
        loud_after(&heard, from) < loud_after(&prompt, from) / 10,
        "the prompt kept playing after the barge-in"
    );
}

#[test]
fn live_microphone_and_loudspeaker_example_runs() {
    init();
    let scene = scene_dir();
    let out = out_dir("live");
    let mic = format!(
        "filesrc location={} ! wavparse ! identity sync=true",
        scene.join("mic.wav").display()
    );
    let o = script(
        "live-mic-speaker.sh",
        &[],
        &scene,
        &out,
        &[("MIC", mic), ("SPEAKER", "fakesink sync=true".into())],
    );
    assert_clean(&o, "live-mic-speaker.sh");
    assert!(text(&o).contains("stage=(string)tentative"), "{}", text(&o));
}

#[test]
fn dtmf_example_detects_the_key() {
    init();
    let scene = scene_dir();
    let out = out_dir("dtmf");
    let o = script("dtmf.sh", &["1#"], &scene, &out, &[]);
    assert_clean(&o, "dtmf.sh");
    let t = text(&o);
    assert!(t.contains("digit=(string)1"), "{t}");
    // gst-launch prints '#' escaped.
    assert!(t.contains(r#"digit=(string)"\#""#), "{t}");
    assert_eq!(
        t.matches("bargein-dtmf").count(),
        2,
        "one report per key press:\n{t}"
    );
    assert!(t.contains("source=(string)dtmf"), "{t}");
}

#[test]
fn python_application_interrupts_its_prompt() {
    init();
    let scene = scene_dir();
    // Debian's python3 has PyGObject (python3-gi); another python3 on PATH may not.
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let o = Command::new(py)
        .arg(root().join("examples/ivr_bot.py"))
        .arg("--caller")
        .arg(scene.join("caller.wav"))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let t = text(&o);
    assert!(o.status.success(), "ivr_bot.py failed:\n{t}");
    assert!(t.contains("barge-in confirmed"), "{t}");
    assert!(t.contains("caller heard: \"Welcome to ABC Bank."), "{t}");
}

/// A UDP port nobody uses right now (tests run in parallel).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

/// Runs a bot script and `rtp-caller.sh` against each other over loopback
/// RTP; both are stopped with SIGINT, as a user would.
fn rtp_call(bot: &str, codec: &str) {
    init();
    let scene = scene_dir();
    let out = out_dir(&format!("rtp-{codec}"));
    let (bot_port, caller_port) = (free_port(), free_port());
    let run = |script: &str, secs: &str, env: Vec<(&str, String)>| {
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "INT", secs, "bash"])
            .arg(root().join("pipelines").join(script))
            .env("GST_PLUGIN_PATH", plugin_dir())
            .env("SCENE", &scene)
            .env("OUT", &out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn")
    };
    let bot = run(
        bot,
        "9",
        vec![
            ("IN_PORT", bot_port.to_string()),
            ("OUT_PORT", caller_port.to_string()),
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let caller = run(
        "rtp-caller.sh",
        "7",
        vec![
            ("BOT_PORT", bot_port.to_string()),
            ("LISTEN_PORT", caller_port.to_string()),
            ("CODEC", codec.to_string()),
        ],
    );
    let caller = caller.wait_with_output().expect("caller");
    let bot = bot.wait_with_output().expect("bot");
    let (bt, ct) = (text(&bot), text(&caller));
    for (t, what) in [(&bt, bot_name(codec)), (&ct, "rtp-caller.sh")] {
        assert!(!t.contains("ERROR"), "{what} posted an error:\n{t}");
        assert!(!t.contains("panicked"), "{what} panicked:\n{t}");
    }
    assert!(
        bt.contains("stage=(string)confirmed") && bt.contains("tts-interrupted"),
        "the bot did not stop its prompt:\n{bt}"
    );
    // The caller speaks 2.5 s into its recording; from 4 s on it must no
    // longer hear the prompt, which plays to about 6 s.
    let heard = read_wav_f32(&out.join("received.wav"));
    let rate = if codec == "opus" { 48000 } else { 8000 };
    let loud = |x: &[f32], from: usize, to: usize| {
        x.iter()
            .skip(from)
            .take(to.saturating_sub(from))
            .filter(|v| v.abs() > 0.05)
            .count()
    };
    let before = loud(&heard, rate / 2, rate * 2);
    let after = loud(&heard, rate * 4, rate * 6);
    println!("{codec}: loud samples before {before}, after {after}");
    assert!(
        before > rate / 20,
        "the caller never heard the prompt:\n{ct}"
    );
    assert!(
        after < before / 20,
        "the caller kept hearing the prompt ({after} loud samples after 4 s)"
    );
}

fn bot_name(codec: &str) -> &'static str {
    if codec == "opus" {
        "rtp-opus-bot.sh"
    } else {
        "rtp-g711-bot.sh"
    }
}

#[test]
fn rtp_g711_bot_and_caller_examples_talk() {
    rtp_call("rtp-g711-bot.sh", "pcmu");
}

#[test]
fn rtp_opus_bot_and_caller_examples_talk() {
    rtp_call("rtp-opus-bot.sh", "opus");
}
