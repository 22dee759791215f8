//! Every example in `pipelines/` and `examples/` runs against the built
//! plugin, with devices replaced by files and fake sinks, so none of them rots.
//! The RTP tests put a caller and a bot on loopback UDP and check that the
//! caller stops receiving the prompt once they barge in.

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
    assert!(t.contains("digit=(string)#"), "{t}");
    assert!(t.contains("source=(string)dtmf"), "{t}");
}

/// The bot and the caller talk RTP over 127.0.0.1; returns the bot's output
/// and what the caller received.
fn rtp_call(codec: &str, bot: &str, ports: (u16, u16)) -> (String, Vec<f32>) {
    let scene = scene_dir();
    let out = out_dir(&format!("rtp-{codec}"));
    let _ = std::fs::remove_file(out.join("received.wav"));
    let env = |c: &mut Command| {
        c.env("GST_PLUGIN_PATH", plugin_dir())
            .env("SCENE", &scene)
            .env("OUT", &out)
            .env("IN_PORT", ports.0.to_string())
            .env("BOT_PORT", ports.0.to_string())
            .env("OUT_PORT", ports.1.to_string())
            .env("LISTEN_PORT", ports.1.to_string())
            .env("CODEC", codec)
            .stdin(Stdio::null());
    };
    // Both run until interrupted (udpsrc never ends): SIGINT + -e makes the
    // caller finalise its WAV.
    let mut b = Command::new("timeout");
    b.args(["-s", "INT", "11", "bash"])
        .arg(root().join("pipelines").join(bot));
    env(&mut b);
    let bot = b
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bot");
    let mut c = Command::new("timeout");
    c.args(["-s", "INT", "9", "bash"])
        .arg(root().join("pipelines/rtp-caller.sh"));
    env(&mut c);
    let caller = c.output().expect("caller");
    let bot = bot.wait_with_output().expect("bot output");
    let bot_text = text(&bot);
    assert!(!bot_text.contains("ERROR"), "bot error:\n{bot_text}");
    assert!(
        !text(&caller).contains("ERROR"),
        "caller error:\n{}",
        text(&caller)
    );
    (bot_text, read_wav_f32(&out.join("received.wav")))
}

fn check_rtp(codec: &str, bot: &str, ports: (u16, u16)) {
    init();
    let (bot_text, received) = rtp_call(codec, bot, ports);
    assert!(
        bot_text.contains("stage=(string)confirmed"),
        "bot did not detect the caller:\n{bot_text}"
    );
    assert!(
        bot_text.contains("tts-interrupted"),
        "bot did not stop its prompt:\n{bot_text}"
    );
    // The prompt is ~6 s long; the caller barges in at 2.5 s. What the
    // caller received must end well before the prompt would have.
    let rate = if codec == "opus" { 48000.0 } else { 8000.0 };
    let prompt_s = read_wav_f32(&scene_dir().join("prompt.wav")).len() as f64 / 16000.0;
    let loud: Vec<usize> = received
        .iter()
        .enumerate()
        .filter(|(_, v)| v.abs() > 0.02)
        .map(|(i, _)| i)
        .collect();
    let (Some(first), Some(last)) = (loud.first(), loud.last()) else {
        panic!("the caller received nothing");
    };
    let heard_s = (last - first) as f64 / rate;
    println!("{codec}: caller heard {heard_s:.2} s of a {prompt_s:.2} s prompt");
    assert!(
        heard_s > 1.0,
        "caller heard almost nothing ({heard_s:.2} s)"
    );
    assert!(
        heard_s < prompt_s - 1.5,
        "prompt kept playing: {heard_s:.2} s of {prompt_s:.2} s"
    );
}

#[test]
fn rtp_g711_bot_stops_its_prompt_when_the_caller_speaks() {
    check_rtp("pcmu", "rtp-g711-bot.sh", (25004, 25006));
}

#[test]
fn rtp_opus_bot_stops_its_prompt_when_the_caller_speaks() {
    check_rtp("opus", "rtp-opus-bot.sh", (25014, 25016));
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
