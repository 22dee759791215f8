//! `generate`: a seeded, deterministic corpus of barge-in scenes.
//!
//! Each scene is one IVR prompt played into a synthetic room (what the
//! microphone hears of it is the echo) plus, depending on its type, a caller
//! interrupting, saying "uh-huh", pressing keys, or nothing but noise. Every
//! random choice comes from a generator seeded by `(seed, scene index)`, so a
//! scene does not change when others are added, and two runs with the same
//! seed write byte-identical files.
//!
//! Levels: the caller's active speech level is fixed (`NEAR_REF`); the echo is
//! set `ser_db` below it and the noise `snr_db` below it. In scenes without a
//! caller the same reference defines both, so SER and SNR mean the same
//! loudness everywhere.

use crate::args::Opts;
use crate::dsp::{self, Rng};
use crate::labels::{self, Labels, Span};
use crate::tts::{self, Language, Tts, Voice};
use anyhow::{Context, Result, anyhow, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const TYPES: [&str; 5] = ["barge-in", "echo-only", "noise-only", "backchannel", "dtmf"];
/// Share of each type when `--types` is not given: mostly interruptions,
/// enough echo and noise to measure false alarms.
const TYPE_WEIGHTS: [f64; 5] = [0.4, 0.2, 0.15, 0.15, 0.1];
pub const NOISES: [&str; 4] = ["white", "pink", "babble", "transients"];
pub const INDEX: &str = "index.csv";
/// The closed loop's inputs (see `Scene::rest`, `Scene::room`).
pub const REST_WAV: &str = "rest.wav";
pub const ROOM_WAV: &str = "room.wav";
/// The loudspeaker's soft clipping: y = P·tanh(k·x/P)/k with this P.
pub const SPEAKER_PEAK: f32 = 5.0 * FAR_LEVEL as f32;

/// Active level of the caller's speech at the microphone (−28 dBFS).
const NEAR_REF: f64 = 0.04;
/// Active level of the prompt sent to the loudspeaker (−20 dBFS).
const FAR_LEVEL: f64 = 0.1;
/// Room noise under everything (−70 dBFS): no scene is digital silence.
const FLOOR: f64 = 0.000_316;
/// Silence before the prompt and after it.
const LEAD_S: f64 = 0.3;
const TAIL_S: f64 = 1.0;
/// Seeds the draw of each scene's position in the call (see `make_scene`).
const POSITION_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;
/// Seeds the draw of an echo-free line, apart for the same reason.
const LINE_STREAM: u64 = 0x6a09_e667_f3bc_c908;

#[derive(Debug, Clone)]
pub struct GenOpts {
    pub seed: u64,
    pub scenes: usize,
    pub rate: u32,
    /// Explicit types are cycled in order (scene i gets types[i % n]);
    /// without them types are drawn with `TYPE_WEIGHTS`.
    pub types: Option<Vec<String>>,
    pub languages: Vec<String>,
    pub noises: Vec<String>,
    pub ser: (f64, f64),
    pub snr: (f64, f64),
    pub max_sentences: usize,
    /// Share of scenes whose prompt follows a greeting (a later prompt of
    /// the call, with a converged echo canceller).
    pub later_share: f64,
    /// Share of scenes (other than echo-only) on a line without echo: a
    /// telephone whose own canceller removed the prompt, the microphone
    /// holding the caller and the room's noise only.
    pub echo_free_share: f64,
}

impl GenOpts {
    pub fn from_opts(o: &Opts) -> Result<Self> {
        let rate: u32 = o.num("rate", 16000)?;
        if !gstbargein::audio::SUPPORTED_RATES.contains(&(rate as i32)) {
            bail!("--rate {rate}: use 8000, 16000, 32000 or 48000");
        }
        let types = o.get("types").map(|_| o.list("types", &[]));
        if let Some(t) = &types {
            if t.is_empty() {
                bail!("--types is empty");
            }
            if let Some(bad) = t.iter().find(|t| !TYPES.contains(&t.as_str())) {
                bail!("unknown scene type {bad:?} (known: {})", TYPES.join(", "));
            }
        }
        let codes: Vec<&str> = tts::LANGUAGES.iter().map(|l| l.code).collect();
        let languages = o.list("languages", &codes);
        if let Some(bad) = languages.iter().find(|l| tts::language(l).is_none()) {
            bail!("unknown language {bad:?} (known: {})", codes.join(", "));
        }
        let noises = o.list("noise", &NOISES);
        if let Some(bad) = noises.iter().find(|n| !NOISES.contains(&n.as_str())) {
            bail!("unknown noise {bad:?} (known: {})", NOISES.join(", "));
        }
        if languages.is_empty() || noises.is_empty() {
            bail!("--languages and --noise need at least one entry");
        }
        Ok(Self {
            seed: o.num("seed", 1)?,
            scenes: o.num("scenes", 100)?,
            rate,
            types,
            languages,
            noises,
            ser: o.range("ser", (-10.0, 10.0))?,
            snr: o.range("snr", (5.0, 30.0))?,
            max_sentences: o.num("max-sentences", 4usize)?.max(1),
            later_share: share(o, "later-share", 0.5)?,
            echo_free_share: share(o, "echo-free-share", 0.0)?,
        })
    }
}

fn share(o: &Opts, name: &str, default: f64) -> Result<f64> {
    let v: f64 = o.num(name, default)?;
    if !(0.0..=1.0).contains(&v) {
        bail!("--{name} {v}: must be within 0…1");
    }
    Ok(v)
}

pub fn main(o: &Opts) -> Result<()> {
    let g = GenOpts::from_opts(o)?;
    let out = o.path("out")?;
    let jobs = o.jobs()?;
    generate(&g, &out, jobs)?;
    eprintln!(
        "wrote {} scenes to {} (index: {})",
        g.scenes,
        out.display(),
        out.join(INDEX).display()
    );
    Ok(())
}

/// Writes every scene folder and the index; scenes are made in parallel,
/// each from its own random stream, so `jobs` never changes the result.
pub fn generate(g: &GenOpts, out: &Path, jobs: usize) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let tts = Tts::new()?;
    let rows = crate::run::parallel(g.scenes, jobs, "generate", |i| {
        make_scene(i, g, &tts)
            .and_then(|sc| sc.write(out))
            .with_context(|| format!("scene {i}"))
    });
    let mut index = String::from(INDEX_HEADER);
    index.push('\n');
    if rows.len() != g.scenes {
        bail!("only {} of {} scenes were made", rows.len(), g.scenes);
    }
    for row in rows {
        index.push_str(&row?);
        index.push('\n');
    }
    let path = out.join(INDEX);
    std::fs::write(&path, index).with_context(|| format!("write {}", path.display()))
}

const INDEX_HEADER: &str =
    "id,type,language,position,noise,ser_db,snr_db,rt60_s,delay_ms,nonlinear,duration_s,line";

/// One rendered scene, before it is written.
pub struct Scene {
    pub id: String,
    pub rate: u32,
    pub far: Vec<f32>,
    pub mic: Vec<f32>,
    pub near: Vec<f32>,
    /// The microphone without the echo, and the echo path (loudspeaker
    /// level included) that makes the echo from `far`: `run --closed-loop`.
    pub rest: Vec<f32>,
    pub room: Vec<f32>,
    pub labels: Labels,
}

impl Scene {
    /// Writes `<out>/<id>/{far,mic,near}.wav` and `scene.labels`; returns the index row.
    fn write(&self, out: &Path) -> Result<String> {
        let dir = out.join(&self.id);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        dsp::write_wav(&dir.join("far.wav"), self.rate, &self.far)?;
        dsp::write_wav(&dir.join("mic.wav"), self.rate, &self.mic)?;
        dsp::write_wav(&dir.join("near.wav"), self.rate, &self.near)?;
        dsp::write_wav(&dir.join(REST_WAV), self.rate, &self.rest)?;
        dsp::write_wav_f32(&dir.join(ROOM_WAV), self.rate, &self.room)?;
        let lp = dir.join(labels::FILE);
        std::fs::write(&lp, self.labels.to_text())
            .with_context(|| format!("write {}", lp.display()))?;
        let c = |k: &str| self.labels.condition(k).unwrap_or("").to_string();
        let mut row = self.id.clone();
        for k in [
            "type",
            "language",
            "position",
            "noise",
            "ser_db",
            "snr_db",
            "rt60_s",
            "delay_ms",
            "nonlinear",
            "duration_s",
            "line",
        ] {
            let _ = write!(row, ",{}", c(k));
        }
        Ok(row)
    }
}

/// The loudspeaker: linear for quiet sounds, peaks (`SPEAKER_PEAK`, about
/// the prompt's peak level) compressed by tanh(k)/k; `drive` 0 is linear.
pub fn loudspeaker(x: f32, drive: f32) -> f32 {
    if drive > 0.0 {
        SPEAKER_PEAK * (drive * x / SPEAKER_PEAK).tanh() / drive
    } else {
        x
    }
}

fn pick<'a, T>(rng: &mut Rng, xs: &'a [T], what: &str) -> Result<&'a T> {
    rng.pick(xs)
        .ok_or_else(|| anyhow!("no {what} to choose from"))
}

fn secs(samples: usize, rate: u32) -> f64 {
    samples as f64 / f64::from(rate)
}

fn samples(seconds: f64, rate: u32) -> usize {
    (seconds.max(0.0) * f64::from(rate)).round() as usize
}

/// Renders scene `i`. Every random draw happens in a fixed order from the
/// scene's own stream.
pub fn make_scene(i: usize, g: &GenOpts, tts: &Tts) -> Result<Scene> {
    let mut rng = Rng::derive(g.seed, i as u64);
    let rate = g.rate;
    let kind = match &g.types {
        Some(t) => t
            .get(i % t.len().max(1))
            .cloned()
            .ok_or_else(|| anyhow!("no types"))?,
        None => {
            let u = rng.uniform();
            let mut acc = 0.0;
            let mut chosen = TYPES[0];
            for (t, w) in TYPES.iter().zip(TYPE_WEIGHTS) {
                acc += w;
                if u < acc {
                    chosen = t;
                    break;
                }
            }
            chosen.to_string()
        }
    };
    let code = pick(&mut rng, &g.languages, "language")?;
    let lang = tts::language(code).ok_or_else(|| anyhow!("language {code}"))?;
    let far_voice = *pick(&mut rng, lang.far_voices, "voice")?;
    let near_voice = *pick(&mut rng, lang.near_voices, "voice")?;
    let ser = rng.range(g.ser.0, g.ser.1);
    let snr = rng.range(g.snr.0, g.snr.1);
    let rt60 = rng.range(0.1, 0.8);
    let delay = rng.range(0.02, 0.3);
    let drive = if rng.chance(0.3) {
        rng.range(1.5, 3.5)
    } else {
        0.0
    };
    let noise = if kind == "echo-only" {
        "none".to_string()
    } else {
        pick(&mut rng, &g.noises, "noise")?.clone()
    };

    // The prompt: consecutive sentences of one voice with short pauses.
    // Scenes without a caller run longer: they measure false alarms per hour.
    let long = kind == "echo-only" || kind == "noise-only";
    let (lo, hi) = if long { (2, 4) } else { (2, 3) };
    let (lo, hi) = (lo.min(g.max_sentences), hi.min(g.max_sentences));
    let n_sent = lo + rng.below(hi - lo + 1);
    let first = rng.below(lang.prompts.len());
    let mut far = vec![0.0f32; samples(LEAD_S, rate)];
    // Where the prompt falls in the call. The first prompt meets an echo
    // canceller that has never heard the loudspeaker; a later one (after a
    // greeting) meets a converged one. Drawn from its own stream so that
    // the rest of the scene is the same either way.
    let mut pos_rng = Rng::derive(g.seed ^ POSITION_STREAM, i as u64);
    let later = pos_rng.chance(g.later_share);
    let echo_free = kind != "echo-only"
        && Rng::derive(g.seed ^ LINE_STREAM, i as u64).chance(g.echo_free_share);
    let mut greeting_span = None;
    if later {
        let text = lang.prompts[(first + lang.prompts.len() - 1) % lang.prompts.len()];
        let mut clip = tts.speak(&far_voice, text, rate)?;
        dsp::set_active_level(&mut clip, rate, FAR_LEVEL);
        let start = far.len();
        far.extend(clip);
        greeting_span = dsp::activity_span(&far[start..], rate).map(|(a, b)| Span {
            start: secs(start + a, rate),
            end: secs(start + b, rate),
        });
        let pause = pos_rng.range(0.5, 1.2);
        far.extend(std::iter::repeat_n(0.0, samples(pause, rate)));
    }
    let prompt_start = far.len();
    for k in 0..n_sent {
        let text = lang.prompts[(first + k) % lang.prompts.len()];
        let mut clip = tts.speak(&far_voice, text, rate)?;
        dsp::set_active_level(&mut clip, rate, FAR_LEVEL);
        far.extend(clip);
        if k + 1 < n_sent {
            let pause = rng.range(0.25, 0.6);
            far.extend(std::iter::repeat_n(0.0, samples(pause, rate)));
        }
    }
    let (tts_a, tts_b) = dsp::activity_span(&far[prompt_start..], rate)
        .map(|(a, b)| (prompt_start + a, prompt_start + b))
        .ok_or_else(|| anyhow!("silent prompt"))?;
    far.extend(std::iter::repeat_n(0.0, samples(TAIL_S, rate)));
    let len = far.len();
    let tts_span = Span {
        start: secs(tts_a, rate),
        end: secs(tts_b, rate),
    };

    // Loudspeaker (optionally driven into soft clipping) and room.
    let speaker: Vec<f32> = far.iter().map(|&x| loudspeaker(x, drive as f32)).collect();
    // Bigger rooms sound more reverberant: the tail grows from −9 to −3 dB.
    let tail_db = -9.0 + 6.0 * (rt60 - 0.1) / 0.7;
    let rir = dsp::room_ir(rate, delay, rt60, tail_db, &mut rng);
    let mut echo = dsp::convolve(&speaker, &rir)?;
    let echo_gain = dsp::set_active_level(&mut echo, rate, NEAR_REF * dsp::from_db(-ser));
    // The echo path as `run --closed-loop` replays it: the loudspeaker's
    // level at the microphone is folded into the room's response.
    let mut room: Vec<f32> = rir.iter().map(|v| v * echo_gain).collect();
    if echo_free {
        // Drawn all the same, so that the rest of the scene does not change.
        echo.iter_mut().for_each(|v| *v = 0.0);
        room = vec![0.0];
    }
    // The caller is close to the microphone: same room, far weaker tail.
    let near_rir = dsp::room_ir(rate, 0.0, rt60, tail_db - 12.0, &mut rng);

    let mut labels = Labels::default();
    labels.tts.extend(greeting_span);
    labels.tts.push(tts_span);
    let mut near = vec![0.0f32; len];
    let mut keys = vec![0.0f32; len];
    // Where a caller's sound may start: over the prompt, including its first
    // second (no warm-up), ending before the prompt does.
    let window = |rng: &mut Rng, need_s: f64| {
        let a = tts_span.start + 0.2;
        let b = (tts_span.end - need_s).max(a);
        rng.range(a, b)
    };
    match kind.as_str() {
        "barge-in" => {
            let text = *pick(&mut rng, lang.requests, "request")?;
            let at = window(&mut rng, 1.0);
            let span = place_voice(
                tts,
                &near_voice,
                text,
                rate,
                NEAR_REF,
                &near_rir,
                &mut near,
                at,
            )?;
            labels.speech.push(span);
        }
        "backchannel" => {
            let count = 1 + rng.below(2);
            let mut at = window(&mut rng, 2.5);
            for _ in 0..count {
                let text = *pick(&mut rng, lang.backchannels, "backchannel")?;
                let level = NEAR_REF * dsp::from_db(rng.range(-6.0, 0.0));
                let span = place_voice(
                    tts,
                    &near_voice,
                    text,
                    rate,
                    level,
                    &near_rir,
                    &mut near,
                    at,
                )?;
                labels.backchannel.push(span);
                at = span.end + rng.range(1.5, 2.5);
                if at > tts_span.end - 0.5 {
                    break;
                }
            }
        }
        "dtmf" => {
            const DIGITS: &[char] = &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];
            let count = 1 + rng.below(3);
            let mut at = window(&mut rng, 1.5);
            for _ in 0..count {
                let d = *pick(&mut rng, DIGITS, "digit")?;
                let dur = rng.range(0.07, 0.2);
                let mut tone = dsp::dtmf_tone(d, rate, dur).ok_or_else(|| anyhow!("dtmf {d}"))?;
                // A tone pair of amplitude 0.5 each has an RMS of 0.5. Keys
                // on a phone line are louder than voices (−10 dBm0 per tone
                // ≈ −16 dBFS for the pair): 0 to 12 dB above the caller.
                let g = (NEAR_REF * dsp::from_db(rng.range(0.0, 12.0)) / 0.5) as f32;
                tone.iter_mut().for_each(|v| *v *= g);
                let start = samples(at, rate);
                // Keys come down the phone line, not through the room.
                dsp::add_at(&mut keys, &tone, start);
                labels.dtmf.push((
                    Span {
                        start: secs(start, rate),
                        end: secs(start + tone.len(), rate),
                    },
                    d.to_string(),
                ));
                at += dur + rng.range(0.08, 0.2);
            }
        }
        _ => {}
    }

    // Noise.
    let noise_level = NEAR_REF * dsp::from_db(-snr);
    let noise_sig = match noise.as_str() {
        "white" => {
            let mut n = dsp::white(&mut rng, len);
            dsp::set_active_level(&mut n, rate, noise_level);
            n
        }
        "pink" => {
            let mut n = dsp::pink(&mut rng, len);
            dsp::set_active_level(&mut n, rate, noise_level);
            n
        }
        "babble" => {
            let mut n = babble(&mut rng, tts, rate, len)?;
            dsp::set_active_level(&mut n, rate, noise_level);
            n
        }
        "transients" => transients(&mut rng, rate, len, noise_level, &mut labels),
        _ => vec![0.0; len],
    };
    let mut floor = dsp::white(&mut rng, len);
    floor.iter_mut().for_each(|v| *v *= FLOOR as f32);

    let mut mic: Vec<f32> = (0..len)
        .map(|k| echo[k] + near[k] + keys[k] + noise_sig[k] + floor[k])
        .collect();
    let mut near_out: Vec<f32> = near.iter().zip(&keys).map(|(a, b)| a + b).collect();
    // Everything but the echo: what the closed loop adds its own echo to.
    let mut rest: Vec<f32> = (0..len)
        .map(|k| near[k] + keys[k] + noise_sig[k] + floor[k])
        .collect();
    // Keep the microphone below full scale; every part scales alike, so SER
    // and SNR stay what the labels say.
    let peak = mic.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut gain_db = 0.0;
    if peak > 0.98 {
        let g = 0.98 / peak;
        gain_db = dsp::db(f64::from(g));
        for part in [&mut mic, &mut near_out, &mut rest, &mut room] {
            part.iter_mut().for_each(|v| *v *= g);
        }
    }

    let c = &mut labels.conditions;
    c.insert("scene".into(), format!("s{i:04}"));
    c.insert("seed".into(), g.seed.to_string());
    c.insert("type".into(), kind.clone());
    c.insert("language".into(), lang.code.into());
    c.insert(
        "position".into(),
        if later { "later" } else { "first" }.into(),
    );
    c.insert("voice".into(), far_voice.name.into());
    c.insert("near_voice".into(), near_voice.name.into());
    c.insert("noise".into(), noise.clone());
    c.insert(
        "line".into(),
        if echo_free { "echo-free" } else { "echo" }.into(),
    );
    if !echo_free {
        c.insert("ser_db".into(), format!("{ser:.1}"));
        c.insert("delay_ms".into(), format!("{:.0}", delay * 1000.0));
        c.insert("nonlinear".into(), format!("{drive:.2}"));
        // Unrounded, for the closed loop's loudspeaker.
        c.insert("speaker_drive".into(), format!("{drive}"));
    }
    let snr_eff = if noise == "none" {
        dsp::db(NEAR_REF / FLOOR)
    } else {
        snr
    };
    c.insert("snr_db".into(), format!("{snr_eff:.1}"));
    c.insert("rt60_s".into(), format!("{rt60:.2}"));
    c.insert("rate".into(), rate.to_string());
    c.insert("duration_s".into(), format!("{:.3}", secs(len, rate)));
    c.insert("gain_db".into(), format!("{gain_db:.2}"));
    Ok(Scene {
        id: format!("s{i:04}"),
        rate,
        far,
        mic,
        near: near_out,
        rest,
        room,
        labels,
    })
}

/// Synthesizes `text`, sets its active level, passes it through the caller's
/// room and adds it at `at_s`; returns where it is audible.
#[allow(clippy::too_many_arguments)]
fn place_voice(
    tts: &Tts,
    voice: &Voice,
    text: &str,
    rate: u32,
    level: f64,
    rir: &[f32],
    dst: &mut [f32],
    at_s: f64,
) -> Result<Span> {
    let mut clip = tts.speak(voice, text, rate)?;
    dsp::set_active_level(&mut clip, rate, level);
    let clip = dsp::convolve(&clip, rir)?;
    let at = samples(at_s, rate);
    dsp::add_at(dst, &clip, at);
    let (a, b) = dsp::activity_span(&clip, rate).ok_or_else(|| anyhow!("silent clip"))?;
    let end = (at + b).min(dst.len());
    Ok(Span {
        start: secs(at + a, rate),
        end: secs(end, rate),
    })
}

/// Six talkers in several languages at once: the call-centre background
/// every VAD calls speech.
fn babble(rng: &mut Rng, tts: &Tts, rate: u32, len: usize) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; len];
    for _ in 0..6 {
        let lang: &Language = pick(rng, tts::LANGUAGES, "language")?;
        let voice = *pick(rng, lang.far_voices, "voice")?;
        let mut talker = vec![0.0f32; samples(rng.range(0.0, 1.0), rate)];
        while talker.len() < len {
            let text = *pick(rng, lang.prompts, "prompt")?;
            let mut clip = tts.speak(&voice, text, rate)?;
            dsp::set_active_level(&mut clip, rate, 0.1);
            talker.extend(clip);
            talker.extend(std::iter::repeat_n(0.0, samples(rng.range(0.1, 0.5), rate)));
        }
        for (o, t) in out.iter_mut().zip(&talker) {
            *o += t;
        }
    }
    Ok(out)
}

/// Clicks, door slams and coughs at random times, each at about the noise
/// level (up to 6 dB louder); labelled as `event` lines.
fn transients(rng: &mut Rng, rate: u32, len: usize, level: f64, labels: &mut Labels) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    let count = 2 + rng.below(4);
    for _ in 0..count {
        let kind = *rng
            .pick(&["clicks", "door-slam", "cough"])
            .unwrap_or(&"cough");
        let mut x = match kind {
            "clicks" => {
                let mut x = Vec::new();
                for _ in 0..1 + rng.below(4) {
                    x.extend(dsp::click(rng, rate));
                    x.extend(std::iter::repeat_n(
                        0.0,
                        samples(rng.range(0.05, 0.15), rate),
                    ));
                }
                x
            }
            "door-slam" => dsp::door_slam(rng, rate),
            _ => dsp::cough(rng, rate),
        };
        dsp::set_active_level(&mut x, rate, level * dsp::from_db(rng.range(0.0, 6.0)));
        let at = rng.below(len.saturating_sub(x.len()).max(1));
        dsp::add_at(&mut out, &x, at);
        if let Some((a, b)) = dsp::activity_span(&x, rate) {
            labels.events.push((
                Span {
                    start: secs(at + a, rate),
                    end: secs(at + b, rate),
                },
                kind.to_string(),
            ));
        }
    }
    labels
        .events
        .sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    out
}

/// Scene folders of a corpus: every subfolder with `mic.wav` and `far.wav`,
/// sorted by name (the index is informative; user corpora need none).
pub fn scene_dirs(corpus: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus)
        .with_context(|| format!("read corpus {}", corpus.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("mic.wav").is_file() && p.join("far.wav").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "no scenes in {}: expected folders with far.wav, mic.wav and {}",
            corpus.display(),
            labels::FILE
        );
    }
    Ok(dirs)
}
