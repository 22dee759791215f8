//! The closed loop shared by the demo, the closed-loop test and the latency
//! benchmark: the ducker's output is what the caller hears *and* what the
//! loudspeaker plays through a simulated room (`audiofirfilter`) back into
//! the microphone mix, so ducking the prompt also removes its echo.
//!
//! It runs faster than real time but causally: queues of two 10 ms buffers
//! keep the TTS at most ~20 ms ahead of the microphone, like a loudspeaker's
//! output buffer.

use super::*;
use gstbargein::protocol::{self, Structure};
use std::sync::{Arc, Mutex};

pub const RATE: u32 = 16000;
/// 10 ms pushes, like a TTS engine streaming audio.
pub const CHUNK: usize = 160;

pub struct LoopScene {
    /// The machine's prompt, mono f32 at RATE, and where each sentence starts.
    pub prompt: Vec<f32>,
    pub sentences: Vec<(usize, String)>,
    /// The caller's side of the microphone (voice, noise), mono f32 at RATE.
    pub near: Vec<f32>,
    /// Loudspeaker-to-microphone impulse response.
    pub room: Vec<f32>,
    /// bargeinvad properties, as gst-launch would write them.
    pub vad_props: Vec<(&'static str, String)>,
}

/// What the timeline shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    SpeechStart,
    Tentative,
    Confirmed,
    Release,
    SpeechEnd,
    Interrupted(String),
    Resumed,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub t: gst::ClockTime,
    pub kind: Kind,
    pub label: String,
}

pub struct LoopRun {
    pub heard: Vec<f32>,
    pub mic: Vec<f32>,
    pub cleaned: Vec<f32>,
    /// (seconds, speech probability) per buffer out of bargeinvad.
    pub probability: Vec<(f64, f64)>,
    /// (seconds, dB) per 10 ms frame: bargeinaec's near-end share.
    pub near_db: Vec<(f64, f64)>,
    pub events: Vec<Event>,
    pub heard_text: Option<String>,
}

impl LoopRun {
    /// When the ducker first acted on a decision of this stage, in running
    /// time of the TTS (the position its action took effect at).
    pub fn acted(&self, confirmed: bool) -> Option<gst::ClockTime> {
        self.events
            .iter()
            .find(|e| match &e.kind {
                Kind::Interrupted(stage) => (stage == "confirmed") == confirmed,
                _ => false,
            })
            .map(|e| e.t)
    }

    pub fn first(&self, kind: &Kind) -> Option<gst::ClockTime> {
        self.events.iter().find(|e| &e.kind == kind).map(|e| e.t)
    }
}

/// Samples collected from an appsink and put where their timestamps say.
#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<f32>>>);

impl Recorder {
    fn new(len: usize) -> Self {
        Recorder(Arc::new(Mutex::new(vec![0.0; len])))
    }

    fn attach(&self, sink: &gst_app::AppSink) {
        let store = self.0.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buf), Some(seg)) = (sample.buffer(), sample.segment()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let seg = seg
                        .downcast_ref::<gst::ClockTime>()
                        .ok_or(gst::FlowError::Error)?;
                    let Some(rt) = buf.pts().and_then(|p| seg.to_running_time(p)) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let first = rt
                        .nseconds()
                        .mul_div_floor(RATE as u64, 1_000_000_000)
                        .unwrap_or(0) as usize;
                    let samples = read_f32(buf);
                    let mut v = store.lock().unwrap();
                    for (i, x) in samples.iter().enumerate() {
                        if let Some(d) = v.get_mut(first + i) {
                            *d = *x;
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    fn take(&self) -> Vec<f32> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub fn secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

pub fn run(scene: &LoopScene) -> Result<LoopRun, String> {
    let len = scene.prompt.len().max(scene.near.len()) + RATE as usize;
    let kernel = gst::glib::ValueArray::new(scene.room.iter().map(|&v| f64::from(v)));
    let caps = format!("audio/x-raw,format=F32LE,rate={RATE},channels=1,layout=interleaved");
    let q = "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0";
    let desc = format!(
        "appsrc name=tts format=time block=true max-bytes=1280 caps={caps} \
           ! ttsducker name=ducker ! tee name=t \
         t. ! {q} ! appsink name=heard sync=false \
         t. ! {q} ! aec.far_sink \
         t. ! {q} ! audiofirfilter name=room low-latency=true ! mix.sink_0 \
         appsrc name=caller format=time block=true max-bytes=1280 caps={caps} ! mix.sink_1 \
         audiomixer name=mix ! {caps} ! tee name=m \
         m. ! {q} ! appsink name=mic sync=false \
         m. ! {q} ! bargeinaec name=aec ! bargeinvad name=vad ! appsink name=cleaned sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("{e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| format!("no element {n}"));
    by_name("room")?.set_property("kernel", kernel);
    let vad = by_name("vad")?;
    for (k, v) in &scene.vad_props {
        vad.set_property_from_str(k, v);
    }

    let heard = Recorder::new(len);
    let mic = Recorder::new(len);
    let cleaned = Recorder::new(len);
    for (name, rec) in [("heard", &heard), ("mic", &mic), ("cleaned", &cleaned)] {
        let sink = by_name(name)?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "appsink")?;
        rec.attach(&sink);
    }
    // The detector's probability, sampled as each buffer leaves it.
    let probability = Arc::new(Mutex::new(Vec::new()));
    let near_db = Arc::new(Mutex::new(Vec::new()));
    {
        let probability = probability.clone();
        let near_db = near_db.clone();
        let vad2 = vad.clone();
        vad.static_pad("src").ok_or("vad src")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data
                    && let Some(pts) = b.pts()
                {
                    let p: f64 = vad2.property("probability");
                    probability.lock().unwrap().push((secs(pts), p));
                    if let Some(Ok(n)) = gstbargein::protocol::NearEnd::from_buffer(b) {
                        let mut g = near_db.lock().unwrap();
                        for (i, v) in n.unexplained_db.iter().enumerate() {
                            g.push((secs(n.start) + i as f64 * secs(n.step), *v));
                        }
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    let tts = by_name("tts")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let caller = by_name("caller")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let bus = pipeline.bus().ok_or("no bus")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{e}"))?;

    // The TTS engine streams the prompt in 10 ms chunks, announcing each
    // sentence with a tts-mark so the ducker can tell what was heard.
    let tts_audio = scene.prompt.clone();
    let sentences = scene.sentences.clone();
    let tts_thread = std::thread::spawn(move || {
        for (i, chunk) in tts_audio.chunks(CHUNK).enumerate() {
            let first = i * CHUNK;
            for (at, text) in &sentences {
                if (first..first + CHUNK).contains(at) {
                    let mark = protocol::TtsMark {
                        text: text.clone(),
                        new_utterance: Some(at) == sentences.first().map(|s| &s.0),
                    };
                    tts.send_event(mark.downstream_event());
                }
            }
            if tts
                .push_buffer(buffer_f32(chunk, 1, RATE, first as u64))
                .is_err()
            {
                break;
            }
        }
        let _ = tts.end_of_stream();
    });
    let near = scene.near.clone();
    let caller_thread = std::thread::spawn(move || {
        for (i, chunk) in near.chunks(CHUNK).enumerate() {
            if caller
                .push_buffer(buffer_f32(chunk, 1, RATE, (i * CHUNK) as u64))
                .is_err()
            {
                break;
            }
        }
        let _ = caller.end_of_stream();
    });

    let mut events = Vec::new();
    let mut heard_text = None;
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
        let mut ev = |t, kind, label: String| events.push(Event { t, kind, label });
        if let Ok(b) = protocol::Bargein::from_message(&msg) {
            let (kind, what) = match b.stage {
                protocol::Stage::Tentative => (Kind::Tentative, "tentative barge-in → duck"),
                protocol::Stage::Confirmed => (Kind::Confirmed, "confirmed barge-in → stop"),
            };
            ev(
                b.detected,
                kind,
                format!("{what} (onset {:.3} s)", secs(b.onset)),
            );
        } else if let Ok(s) = protocol::SpeechStart::from_message(&msg) {
            ev(
                s.detected,
                Kind::SpeechStart,
                format!("speech start p={:.2}", s.probability),
            );
        } else if let Ok(r) = protocol::BargeinRelease::from_message(&msg) {
            ev(
                r.detected,
                Kind::Release,
                "release: false alarm → restore".into(),
            );
        } else if let Ok(e) = protocol::SpeechEnd::from_message(&msg) {
            ev(e.end, Kind::SpeechEnd, "speech end".into());
        } else if let Ok(i) = protocol::TtsInterrupted::from_message(&msg) {
            let stage = match i.stage {
                protocol::Stage::Tentative => "tentative",
                protocol::Stage::Confirmed => "confirmed",
            };
            ev(
                i.position,
                Kind::Interrupted(stage.into()),
                format!("TTS {} at prompt position", i.action),
            );
            heard_text = Some(i.heard_text);
        } else if let Ok(r) = protocol::TtsResumed::from_message(&msg) {
            ev(
                r.position,
                Kind::Resumed,
                format!("TTS resumed ({})", r.reason),
            );
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| format!("{e}"))?;
    let _ = tts_thread.join();
    let _ = caller_thread.join();
    if let Some(e) = error {
        return Err(e);
    }
    events.sort_by_key(|e| e.t);
    let probability = std::mem::take(&mut *probability.lock().unwrap());
    let near_db = std::mem::take(&mut *near_db.lock().unwrap());
    Ok(LoopRun {
        heard: heard.take(),
        mic: mic.take(),
        cleaned: cleaned.take(),
        probability,
        near_db,
        events,
        heard_text,
    })
}

/// Scales `x` to the given peak.
pub fn normalize(x: &[f32], peak: f32) -> Vec<f32> {
    let m = x.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-6);
    x.iter().map(|v| v * peak / m).collect()
}

/// Index of the first audible sample (synthesized speech starts with silence).
pub fn first_audible(x: &[f32]) -> usize {
    x.iter().position(|v| v.abs() > 0.02).unwrap_or(0)
}

/// One generated scene of the closed-loop benchmark and tests.
pub struct Generated {
    pub scene: LoopScene,
    /// First audible sample of the caller, in running time (None: no caller).
    pub onset: Option<gst::ClockTime>,
    pub description: String,
}

const PHRASES: [&str; 8] = [
    "Customer service",
    "I want to talk to an agent",
    "Account balance please",
    "Representative",
    "Cancel my card",
    "Yes, the second one",
    "Operator",
    "I have a question about my bill",
];
const VOICES: [&str; 4] = ["en-us", "en-gb", "en-us+m3", "en-us+f2"];
const PROMPTS: [&str; 3] = [
    "Welcome to ABC Bank. For account balance, press 1. For recent transactions, press 2. \
     For credit card services, press 3. For loans and mortgages, press 4.",
    "Thank you for calling. Your call is important to us. Please listen carefully, as our \
     menu options have changed. To hear these options again, press star.",
    "I found three flights for tomorrow. The first leaves at seven fifteen and arrives at \
     nine. The second leaves at noon. The third is an evening flight at six.",
];

/// What the microphone picks up besides the echo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Near {
    Speech,
    Cough,
    Nothing,
}

/// A seeded scene at a given signal-to-echo and signal-to-noise ratio (dB):
/// a prompt played into a room (echo delay 20–120 ms, RT60 0.2–0.5 s) and,
/// for `Near::Speech`, a caller starting 1.5–4 s into it.
pub fn generate(seed: u64, near: Near, ser_db: f32, snr_db: f32) -> Generated {
    generate_with(seed, near, ser_db, snr_db, false)
}

/// Later in the call the echo canceller has already converged: `warm`
/// plays a greeting before the menu, and the caller speaks over the menu.
const GREETING: &str =
    "Thank you for calling. This call may be recorded for quality and training purposes.";

pub fn generate_with(seed: u64, near: Near, ser_db: f32, snr_db: f32, warm: bool) -> Generated {
    let pick = |n: usize, salt: u64| {
        ((seed.wrapping_mul(2654435761).wrapping_add(salt * 97)) % n as u64) as usize
    };
    let prompt_text = PROMPTS[pick(PROMPTS.len(), 1)];
    let mut prompt = vec![0.0f32; RATE as usize / 2];
    let mut sentences = Vec::new();
    if warm {
        sentences.push((prompt.len(), GREETING.to_string()));
        prompt.extend(normalize(&speech(GREETING, "en-us+f3", RATE), 0.5));
        prompt.extend(std::iter::repeat_n(0.0, RATE as usize * 2 / 5));
    }
    // Where the menu starts: the caller's timing is relative to it.
    let menu = prompt.len() - RATE as usize / 2;
    sentences.push((prompt.len(), prompt_text.to_string()));
    prompt.extend(normalize(&speech(prompt_text, "en-us+f3", RATE), 0.5));
    prompt.extend(std::iter::repeat_n(0.0, RATE as usize / 2));

    let delay_ms = 20 + pick(101, 2) as u32;
    let rt60_ms = 200 + pick(301, 3) as u32;
    let room = room_impulse_response(RATE, delay_ms, rt60_ms, 0.5, seed);
    // Echo level at the microphone, estimated from the prompt's level while
    // it speaks and the room's energy gain.
    let active: Vec<f32> = prompt.iter().copied().filter(|v| v.abs() > 0.01).collect();
    let room_gain = room.iter().map(|v| v * v).sum::<f32>().sqrt() as f64;
    let echo_rms = rms(&active) * room_gain;

    let len = prompt.len();
    let (voice, at, text, who) = match near {
        Near::Speech => {
            let text = PHRASES[pick(PHRASES.len(), 4)];
            let who = VOICES[pick(VOICES.len(), 5)];
            let v = speech(text, who, RATE);
            let at = menu + RATE as usize * 3 / 2 + pick(RATE as usize * 5 / 2, 6);
            (v, at, text, who)
        }
        Near::Cough => (
            cough(seed),
            menu + RATE as usize * 2 + pick(RATE as usize * 2, 6),
            "(cough)",
            "",
        ),
        Near::Nothing => (Vec::new(), 0, "(nobody)", ""),
    };
    // The caller's level while talking, relative to the echo: the SER.
    let voiced: Vec<f32> = voice.iter().copied().filter(|v| v.abs() > 0.01).collect();
    let target = echo_rms * 10f64.powf(f64::from(ser_db) / 20.0);
    let gain = if voiced.is_empty() {
        0.0
    } else {
        (target / rms(&voiced)) as f32
    };
    let noise_rms = if near == Near::Nothing {
        echo_rms
    } else {
        target
    } * 10f64.powf(-f64::from(snr_db) / 20.0);
    // White noise of amplitude a has rms a / sqrt(3).
    let mut mic_near = noise((noise_rms * 3f64.sqrt()) as f32, len, seed ^ 0x5eed);
    for (i, v) in voice.iter().enumerate() {
        if let Some(n) = mic_near.get_mut(at + i) {
            *n += v * gain;
        }
    }
    let onset = (near != Near::Nothing && !voice.is_empty())
        .then(|| frames_to_time((at + first_audible(&voice)) as u64, RATE));
    Generated {
        scene: LoopScene {
            prompt,
            sentences,
            near: mic_near,
            room,
            vad_props: vec![],
        },
        onset,
        description: format!(
            "{text} {who} delay {delay_ms} ms RT60 {rt60_ms} ms SER {ser_db:+} dB SNR {snr_db} dB"
        ),
    }
}

/// Two short bursts of low-passed noise with a fast attack: a cough.
pub fn cough(seed: u64) -> Vec<f32> {
    let burst = |len: usize, seed: u64| -> Vec<f32> {
        let n = noise(1.0, len, seed);
        let mut y = 0.0f32;
        n.iter()
            .enumerate()
            .map(|(i, v)| {
                y = 0.7 * y + 0.3 * v; // a chesty sound, not a hiss
                let t = i as f32 / len as f32;
                let env = (t * 40.0).min(1.0) * (1.0 - t).powi(2);
                0.6 * y * env
            })
            .collect()
    };
    let mut c = burst(RATE as usize * 18 / 100, seed.wrapping_add(11));
    c.extend(std::iter::repeat_n(0.0, RATE as usize / 10));
    c.extend(burst(RATE as usize * 12 / 100, seed.wrapping_add(12)));
    c
}
