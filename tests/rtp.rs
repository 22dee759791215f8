//! Telephony over real RTP on 127.0.0.1: a caller pipeline and a bot pipeline
//! in one process, G.711 µ-law at 8 kHz and Opus at 48 kHz. The caller speaks
//! over the bot's prompt; the bot must detect it, stop the prompt, and the
//! caller must then stop receiving it.

mod common;

use common::*;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A UDP port nobody uses right now (tests run in parallel).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

struct Codec {
    rate: u32,
    enc: &'static str,
    dec: &'static str,
    rtp_caps: &'static str,
}

const PCMU: Codec = Codec {
    rate: 8000,
    enc: "mulawenc ! rtppcmupay",
    dec: "rtppcmudepay ! mulawdec",
    rtp_caps: "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0",
};

const OPUS: Codec = Codec {
    rate: 48000,
    enc: "opusenc ! rtpopuspay",
    dec: "rtpopusdepay ! opusdec",
    rtp_caps: "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96",
};

/// An appsrc of mono f32 in time format (set before the pipeline starts:
/// its first segment event carries the format).
fn source(pipeline: &gst::Pipeline, name: &str, rate: u32) -> gst_app::AppSrc {
    let src = pipeline
        .by_name(name)
        .and_downcast::<gst_app::AppSrc>()
        .expect("appsrc");
    src.set_caps(Some(&caps_f32(rate, 1)));
    src.set_format(gst::Format::Time);
    src
}

/// Queues all of `samples`; `identity sync=true` downstream plays them in real time.
fn feed(src: &gst_app::AppSrc, samples: &[f32], rate: u32) {
    let chunk = rate as usize / 50;
    for (i, c) in samples.chunks(chunk).enumerate() {
        src.push_buffer(buffer_f32(c, 1, rate, (i * chunk) as u64))
            .expect("push");
    }
    src.end_of_stream().expect("eos");
}

/// What the caller received: (arrival time, rms) per buffer.
type Arrivals = Arc<Mutex<Vec<(Instant, f64)>>>;

fn collect(pipeline: &gst::Pipeline, name: &str) -> Arrivals {
    let arrivals: Arrivals = Arc::default();
    let sink = pipeline
        .by_name(name)
        .and_downcast::<gst_app::AppSink>()
        .expect("appsink");
    let a = arrivals.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buf) = sample.buffer() {
                    let x = read_f32(buf);
                    a.lock().unwrap().push((Instant::now(), rms(&x)));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    arrivals
}

fn call(codec: &Codec) {
    init();
    let rate = codec.rate;
    let (bot_port, caller_port) = (free_port(), free_port());
    let raw = format!("audio/x-raw,format=S16LE,rate={rate},channels=1");

    // The bot, as in pipelines/rtp-*-bot.sh: its prompt goes out over RTP and
    // into the echo canceller's reference; the caller comes in over RTP.
    let bot = gst::parse::launch(&format!(
        "appsrc name=prompt ! audioconvert ! audioresample ! {raw} ! identity sync=true \
           ! ttsducker name=ducker ! tee name=t \
         t. ! queue ! {enc} ! udpsink host=127.0.0.1 port={caller_port} \
         t. ! queue ! aec.far_sink \
         udpsrc port={bot_port} caps=\"{rtp}\" ! rtpjitterbuffer latency=40 ! {dec} \
           ! audioconvert ! audioresample ! {raw} ! aec.sink \
         bargeinaec name=aec ! bargeinvad ! fakesink async=false",
        enc = codec.enc,
        dec = codec.dec,
        rtp = codec.rtp_caps,
    ))
    .expect("bot pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");

    // The caller: speaks 2.5 s into the call, and records what it receives.
    let caller = gst::parse::launch(&format!(
        "appsrc name=voice ! audioconvert ! audioresample ! identity sync=true \
           ! audioresample ! {raw} ! {enc} ! udpsink host=127.0.0.1 port={bot_port} \
         udpsrc port={caller_port} caps=\"{rtp}\" ! rtpjitterbuffer latency=40 ! {dec} \
           ! audioconvert ! audio/x-raw,format=F32LE,channels=1 \
           ! appsink name=ear sync=false async=false",
        enc = codec.enc,
        dec = codec.dec,
        rtp = codec.rtp_caps,
    ))
    .expect("caller pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");

    let prompt = speech(
        "Welcome to ABC Bank. For account balance, press 1. For recent transactions, \
         press 2. For credit card services, press 3.",
        "en-us+f3",
        16000,
    );
    let prompt: Vec<f32> = prompt.iter().map(|v| v * 0.5).collect();
    assert!(prompt.len() > 16000 * 6, "prompt too short for the test");
    let mut voice = vec![0.0; 16000 * 5 / 2];
    voice.extend(
        speech("Customer service", "en-us", 16000)
            .iter()
            .map(|v| v * 0.6),
    );
    voice.extend(vec![0.0; 16000]);

    let ear = collect(&caller, "ear");
    let voice_src = source(&caller, "voice", 16000);
    let prompt_src = source(&bot, "prompt", 16000);
    caller.set_state(gst::State::Playing).expect("caller plays");
    bot.set_state(gst::State::Playing).expect("bot plays");
    let started = Instant::now();
    feed(&voice_src, &voice, 16000);
    feed(&prompt_src, &prompt, 16000);

    // Watch the bot's bus until the prompt is interrupted (or time runs out).
    let bus = bot.bus().expect("bus");
    let mut confirmed = None;
    let mut interrupted = None;
    let deadline = started + Duration::from_secs(10);
    while interrupted.is_none() && Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(e) => panic!("bot error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(_) => {
                let Some(s) = msg.structure() else { continue };
                if s.name() == "bargein" && s.get::<&str>("stage").ok() == Some("confirmed") {
                    confirmed.get_or_insert(Instant::now());
                }
                if s.name() == "tts-interrupted" && s.get::<&str>("stage").ok() == Some("confirmed")
                {
                    interrupted = Some(Instant::now());
                }
            }
            _ => {}
        }
    }
    // Keep listening a little after the interruption.
    std::thread::sleep(Duration::from_millis(1500));
    bot.set_state(gst::State::Null).expect("bot stops");
    caller.set_state(gst::State::Null).expect("caller stops");

    let confirmed = confirmed.expect("the bot never confirmed the barge-in");
    let interrupted = interrupted.expect("the bot never interrupted its prompt");
    let since = confirmed.duration_since(started);
    println!("barge-in confirmed {since:?} after the call started (caller speaks at 2.5 s)");
    assert!(
        since > Duration::from_millis(2500),
        "a barge-in before the caller spoke: {since:?}"
    );

    // The caller heard the prompt before, and (nearly) nothing of it from
    // 300 ms after the interruption on.
    let ear = ear.lock().unwrap().clone();
    let loud = |from: Instant, to: Instant| {
        ear.iter()
            .filter(|(t, r)| *t >= from && *t < to && *r > 0.01)
            .count()
    };
    let before = loud(started + Duration::from_millis(500), interrupted);
    let after = loud(
        interrupted + Duration::from_millis(300),
        interrupted + Duration::from_millis(1500),
    );
    println!("caller received {before} loud buffers before, {after} after");
    assert!(before > 20, "the caller never heard the prompt ({before})");
    assert!(
        after <= 2,
        "the caller kept hearing the prompt: {after} loud buffers"
    );
}

#[test]
fn g711_call_over_rtp_is_interrupted_by_the_caller() {
    call(&PCMU);
}

#[test]
fn opus_call_over_rtp_is_interrupted_by_the_caller() {
    call(&OPUS);
}
