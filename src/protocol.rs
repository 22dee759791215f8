//! The messages and events the bargein elements exchange with each other and
//! with applications. This is the only place where structure and field names
//! are spelled; every element and test goes through these types.
//!
//! | structure | kind | from → to |
//! |---|---|---|
//! | `bargein-speech-start`, `bargein`, `bargein-release`, `bargein-speech-end`, `bargein-dtmf` | custom upstream event + element message | `bargeinvad` → `bargeinaec` → tee → `ttsducker` |
//! | `bargein-far-activity` | serialized custom downstream event | `bargeinaec` → `bargeinvad` |
//! | `tts-mark`, `bargein-protect` | serialized custom downstream event | TTS source → `ttsducker` |
//! | `bargein-aec-stats`, `tts-interrupted`, `tts-resumed`, `bargein-suppressed` | element message | element → application |
//! | `callbarge-mode` | element message | `callbarge` → application |

use gst::prelude::*;

/// Why a structure could not be read as one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The structure has another name: not this message, nothing to report.
    OtherName,
    /// Ours by name, but a field is missing or has the wrong type.
    BadField(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::OtherName => write!(f, "not this structure"),
            ParseError::BadField(field) => {
                write!(f, "field '{field}' missing or of the wrong type")
            }
        }
    }
}

/// One structure of the protocol: how it is built, sent and read back.
pub trait Structure: Sized {
    const NAME: &'static str;

    fn to_structure(&self) -> gst::Structure;

    /// Reads the fields after the name has been checked.
    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError>;

    fn from_structure(s: &gst::StructureRef) -> Result<Self, ParseError> {
        if s.name() != Self::NAME {
            return Err(ParseError::OtherName);
        }
        Self::read_fields(s)
    }

    fn from_event(event: &gst::EventRef) -> Result<Self, ParseError> {
        event
            .structure()
            .map_or(Err(ParseError::OtherName), Self::from_structure)
    }

    fn from_message(msg: &gst::MessageRef) -> Result<Self, ParseError> {
        match msg.view() {
            gst::MessageView::Element(_) => msg
                .structure()
                .map_or(Err(ParseError::OtherName), Self::from_structure),
            _ => Err(ParseError::OtherName),
        }
    }

    /// An element message, posted on the bus by `src`.
    fn message(&self, src: &impl IsA<gst::Object>) -> gst::Message {
        gst::message::Element::builder(self.to_structure())
            .src(src)
            .build()
    }

    fn upstream_event(&self) -> gst::Event {
        gst::event::CustomUpstream::new(self.to_structure())
    }

    /// Serialized downstream event: it stays in order with the buffers.
    fn downstream_event(&self) -> gst::Event {
        gst::event::CustomDownstream::new(self.to_structure())
    }
}

fn get<'a, T: gst::glib::value::FromValue<'a>>(
    s: &'a gst::StructureRef,
    field: &'static str,
) -> Result<T, ParseError> {
    s.get::<T>(field).map_err(|_| ParseError::BadField(field))
}

fn get_time(s: &gst::StructureRef, field: &'static str) -> Result<gst::ClockTime, ParseError> {
    get::<u64>(s, field).map(gst::ClockTime::from_nseconds)
}

/// Two-stage decision: duck at once, stop when the speech is sustained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Tentative,
    Confirmed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Tentative => "tentative",
            Stage::Confirmed => "confirmed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tentative" => Some(Stage::Tentative),
            "confirmed" => Some(Stage::Confirmed),
            _ => None,
        }
    }
}

/// What the detector heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Speech,
    Dtmf,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Speech => "speech",
            Source::Dtmf => "dtmf",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "speech" => Some(Source::Speech),
            "dtmf" => Some(Source::Dtmf),
            _ => None,
        }
    }
}

/// `bargein-speech-start`: an utterance began (posted once per utterance).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechStart {
    /// Running time of the first speech frame.
    pub onset: gst::ClockTime,
    /// Running time at which speech was decided.
    pub detected: gst::ClockTime,
    pub probability: f64,
    pub far_active: bool,
}

impl Structure for SpeechStart {
    const NAME: &'static str = "bargein-speech-start";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("onset", self.onset.nseconds())
            .field("detected", self.detected.nseconds())
            .field("probability", self.probability)
            .field("far-active", self.far_active)
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            onset: get_time(s, "onset")?,
            detected: get_time(s, "detected")?,
            probability: get(s, "probability")?,
            far_active: get(s, "far-active")?,
        })
    }
}

/// `bargein`: the user is interrupting.
#[derive(Debug, Clone, PartialEq)]
pub struct Bargein {
    pub stage: Stage,
    pub onset: gst::ClockTime,
    pub detected: gst::ClockTime,
    pub far_active: bool,
    pub source: Source,
}

impl Structure for Bargein {
    const NAME: &'static str = "bargein";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("stage", self.stage.as_str())
            .field("onset", self.onset.nseconds())
            .field("detected", self.detected.nseconds())
            .field("far-active", self.far_active)
            .field("source", self.source.as_str())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            stage: Stage::parse(get::<&str>(s, "stage")?).ok_or(ParseError::BadField("stage"))?,
            onset: get_time(s, "onset")?,
            detected: get_time(s, "detected")?,
            far_active: get(s, "far-active")?,
            source: Source::parse(get::<&str>(s, "source")?)
                .ok_or(ParseError::BadField("source"))?,
        })
    }
}

/// `bargein-release`: the speech that caused a tentative decision ended
/// before confirmation; whatever was ducked or paused comes back.
#[derive(Debug, Clone, PartialEq)]
pub struct BargeinRelease {
    pub onset: gst::ClockTime,
    pub detected: gst::ClockTime,
    pub duration: gst::ClockTime,
}

impl Structure for BargeinRelease {
    const NAME: &'static str = "bargein-release";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("onset", self.onset.nseconds())
            .field("detected", self.detected.nseconds())
            .field("duration", self.duration.nseconds())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            onset: get_time(s, "onset")?,
            detected: get_time(s, "detected")?,
            duration: get_time(s, "duration")?,
        })
    }
}

/// `bargein-speech-end`: an utterance ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechEnd {
    pub onset: gst::ClockTime,
    pub end: gst::ClockTime,
    pub duration: gst::ClockTime,
}

impl Structure for SpeechEnd {
    const NAME: &'static str = "bargein-speech-end";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("onset", self.onset.nseconds())
            .field("end", self.end.nseconds())
            .field("duration", self.duration.nseconds())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            onset: get_time(s, "onset")?,
            end: get_time(s, "end")?,
            duration: get_time(s, "duration")?,
        })
    }
}

/// `bargein-dtmf`: a keypad tone was recognised.
#[derive(Debug, Clone, PartialEq)]
pub struct Dtmf {
    /// One of `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: String,
    pub onset: gst::ClockTime,
    pub detected: gst::ClockTime,
}

impl Structure for Dtmf {
    const NAME: &'static str = "bargein-dtmf";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("digit", self.digit.as_str())
            .field("onset", self.onset.nseconds())
            .field("detected", self.detected.nseconds())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            digit: get::<String>(s, "digit")?,
            onset: get_time(s, "onset")?,
            detected: get_time(s, "detected")?,
        })
    }
}

/// `bargein-far-activity`: the far end (what the user hears) started or
/// stopped carrying sound. Sent downstream by `bargeinaec`, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct FarActivity {
    pub active: bool,
    /// Far-end level over the last frames, dBFS.
    pub level_db: f64,
    /// Whether the echo canceller's filter has converged (ERLE above its floor),
    /// so the detector can relax its echo guard once echo is really removed.
    pub converged: bool,
    /// Whether the far end's echo can be in the signal. False when the
    /// canceller found no echo path (a quiet telephone line) and passes the
    /// microphone through: the detector then needs no echo guard.
    pub echo: bool,
}

impl Structure for FarActivity {
    const NAME: &'static str = "bargein-far-activity";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("active", self.active)
            .field("level-db", self.level_db)
            .field("converged", self.converged)
            .field("echo", self.echo)
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            active: get(s, "active")?,
            level_db: get(s, "level-db")?,
            // Optional: senders other than bargeinaec may not know.
            converged: s.get::<bool>("converged").unwrap_or(false),
            // Without it, assume the worst: echo may be there while it plays.
            echo: s.get::<bool>("echo").unwrap_or(true),
        })
    }
}

/// `tts-mark`: text that the following audio speaks.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsMark {
    pub text: String,
    /// The mark starts a new utterance: a stopped ducker plays again.
    pub new_utterance: bool,
}

impl Structure for TtsMark {
    const NAME: &'static str = "tts-mark";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("text", self.text.as_str())
            .field("new-utterance", self.new_utterance)
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            text: get::<String>(s, "text")?,
            new_utterance: s.get::<bool>("new-utterance").unwrap_or(false),
        })
    }
}

/// `bargein-protect`: the following audio may (not) be interrupted.
#[derive(Debug, Clone, PartialEq)]
pub struct Protect {
    pub protected: bool,
}

impl Structure for Protect {
    const NAME: &'static str = "bargein-protect";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("protected", self.protected)
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            protected: get(s, "protected")?,
        })
    }
}

/// `bargein-aec-stats`: periodic echo canceller statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AecStats {
    /// Echo return loss enhancement reported by AEC3, dB (NaN when unknown).
    pub erle_db: f64,
    /// Echo return loss, dB (NaN when unknown).
    pub erl_db: f64,
    /// Estimated echo path delay, ms (-1 when unknown).
    pub delay_ms: i32,
    /// Residual echo likelihood in [0, 1] (NaN when unknown).
    pub residual_echo_likelihood: f64,
    /// Highest residual echo likelihood of the recent period (NaN when unknown).
    pub residual_echo_likelihood_recent_max: f64,
    /// Energy ratio in/out measured by the element itself over the last
    /// interval while only the far end was active, dB (NaN when not measured).
    pub measured_erle_db: f64,
    pub far_active: bool,
    /// 10 ms frames processed so far.
    pub frames: u64,
    /// Frames processed with a silent reference because the far end had no data.
    pub far_missing_frames: u64,
    /// No echo path found: the microphone is passed through (see `bargeinaec`).
    pub echo_free: bool,
}

impl Structure for AecStats {
    const NAME: &'static str = "bargein-aec-stats";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("erle-db", self.erle_db)
            .field("erl-db", self.erl_db)
            .field("delay-ms", self.delay_ms)
            .field("residual-echo-likelihood", self.residual_echo_likelihood)
            .field(
                "residual-echo-likelihood-recent-max",
                self.residual_echo_likelihood_recent_max,
            )
            .field("measured-erle-db", self.measured_erle_db)
            .field("far-active", self.far_active)
            .field("frames", self.frames)
            .field("far-missing-frames", self.far_missing_frames)
            .field("echo-free", self.echo_free)
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            erle_db: get(s, "erle-db")?,
            erl_db: get(s, "erl-db")?,
            delay_ms: get(s, "delay-ms")?,
            residual_echo_likelihood: get(s, "residual-echo-likelihood")?,
            residual_echo_likelihood_recent_max: get(s, "residual-echo-likelihood-recent-max")?,
            measured_erle_db: get(s, "measured-erle-db")?,
            far_active: get(s, "far-active")?,
            frames: get(s, "frames")?,
            far_missing_frames: get(s, "far-missing-frames")?,
            echo_free: s.get::<bool>("echo-free").unwrap_or(false),
        })
    }
}

/// `tts-interrupted`: the ducker acted on a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsInterrupted {
    pub stage: Stage,
    /// What the ducker did: "duck", "pause" or "stop".
    pub action: String,
    /// Stream time of the TTS audio that was playing out at the listener.
    pub position: gst::ClockTime,
    /// Duration of TTS audio of this utterance that the listener had heard.
    pub played: gst::ClockTime,
    /// Text of the marks whose audio had started playing at the listener.
    pub heard_text: String,
}

impl Structure for TtsInterrupted {
    const NAME: &'static str = "tts-interrupted";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("stage", self.stage.as_str())
            .field("action", self.action.as_str())
            .field("position", self.position.nseconds())
            .field("played", self.played.nseconds())
            .field("heard-text", self.heard_text.as_str())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            stage: Stage::parse(get::<&str>(s, "stage")?).ok_or(ParseError::BadField("stage"))?,
            action: get::<String>(s, "action")?,
            position: get_time(s, "position")?,
            played: get_time(s, "played")?,
            heard_text: get::<String>(s, "heard-text")?,
        })
    }
}

/// `tts-resumed`: playback continues after a duck/pause, or a new utterance
/// plays after a stop.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsResumed {
    /// Stream time of the TTS audio at which playback continues.
    pub position: gst::ClockTime,
    /// Why: "release" (false alarm), "reset", "new-utterance".
    pub reason: String,
}

impl Structure for TtsResumed {
    const NAME: &'static str = "tts-resumed";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("position", self.position.nseconds())
            .field("reason", self.reason.as_str())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            position: get_time(s, "position")?,
            reason: get::<String>(s, "reason")?,
        })
    }
}

/// `bargein-suppressed`: a decision arrived during protected audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppressed {
    pub stage: Stage,
    pub source: Source,
    pub onset: gst::ClockTime,
}

impl Structure for Suppressed {
    const NAME: &'static str = "bargein-suppressed";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("stage", self.stage.as_str())
            .field("source", self.source.as_str())
            .field("onset", self.onset.nseconds())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            stage: Stage::parse(get::<&str>(s, "stage")?).ok_or(ParseError::BadField("stage"))?,
            source: Source::parse(get::<&str>(s, "source")?)
                .ok_or(ParseError::BadField("source"))?,
            onset: get_time(s, "onset")?,
        })
    }
}

/// `callbarge-mode`: the supervisor's mode on a call changed (property or
/// keypad). Modes are the nicks of `callbarge`'s `mode` property: `off`,
/// `listen`, `whisper`, `barge`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbargeMode {
    pub mode: String,
    pub previous: String,
}

impl Structure for CallbargeMode {
    const NAME: &'static str = "callbarge-mode";

    fn to_structure(&self) -> gst::Structure {
        gst::Structure::builder(Self::NAME)
            .field("mode", self.mode.as_str())
            .field("previous", self.previous.as_str())
            .build()
    }

    fn read_fields(s: &gst::StructureRef) -> Result<Self, ParseError> {
        Ok(Self {
            mode: get::<String>(s, "mode")?,
            previous: get::<String>(s, "previous")?,
        })
    }
}

/// Every structure name of the protocol, for code that only needs to know
/// whether a structure is ours (e.g. to warn about a malformed one).
pub const ALL_NAMES: &[&str] = &[
    SpeechStart::NAME,
    Bargein::NAME,
    BargeinRelease::NAME,
    SpeechEnd::NAME,
    Dtmf::NAME,
    FarActivity::NAME,
    TtsMark::NAME,
    Protect::NAME,
    AecStats::NAME,
    TtsInterrupted::NAME,
    TtsResumed::NAME,
    Suppressed::NAME,
    CallbargeMode::NAME,
];

/// `GstBargeinNearMeta`: a custom buffer meta `bargeinaec` puts on its output
/// for `bargeinvad`: per 10 ms frame of the buffer, the share of the
/// microphone's power (dB, 0 = all of it) that neither the far end's echo nor
/// the steady noise explains. It lets the detector tell a caller from the
/// echo the canceller still leaks while it converges. It also carries the
/// keypad tones the canceller heard on its input (`keys`), and AEC3's linear
/// output (`linear`). Tagged `audio` (it
/// describes time, not samples): queues, tees, `audioconvert` and
/// `audioresample` keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct NearEnd {
    /// PTS of the first frame described.
    pub start: gst::ClockTime,
    /// Length of each frame.
    pub step: gst::ClockTime,
    pub unexplained_db: Vec<f64>,
    /// Keypad tones heard on the line before echo cancellation (where
    /// AEC3's suppressor has not yet cut a tone of the pair), with the PTS
    /// of their onset and of their recognition. `None`: the canceller does
    /// not listen for keys, and the detector must do it on its own input.
    pub keys: Option<Vec<LineKey>>,
    /// AEC3's linear output for the same frames: 16 kHz mono, from `start`
    /// on. It still holds some echo, but not the cut the nonlinear
    /// suppressor makes in double talk, so the detector's second opinion
    /// hears a caller who talks over the prompt (see `bargeinvad`). `None`:
    /// not available (echo cancellation off, or another canceller).
    pub linear: Option<Vec<f32>>,
}

/// A key `bargeinaec` recognised on its input (see `NearEnd::keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineKey {
    pub digit: String,
    pub onset: gst::ClockTime,
    pub detected: gst::ClockTime,
}

impl NearEnd {
    pub const META: &'static str = "GstBargeinNearMeta";

    /// Registers the meta once per process (GStreamer refuses a second
    /// registration of the same name loudly).
    pub fn register() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if !gst::meta::CustomMeta::is_registered(Self::META) {
                gst::meta::CustomMeta::register(Self::META, &["audio"]);
            }
        });
    }

    /// Puts the meta on `buffer` (which must be writable), replacing one
    /// already there: a buffer describes its frames once.
    pub fn attach(&self, buffer: &mut gst::BufferRef) -> Result<(), gst::glib::BoolError> {
        Self::register();
        let mut meta = match gst::meta::CustomMeta::from_mut_buffer(buffer, Self::META) {
            Ok(m) => m,
            Err(_) => gst::meta::CustomMeta::add(buffer, Self::META)?,
        };
        let s = meta.mut_structure();
        s.set("start", self.start.nseconds());
        s.set("step", self.step.nseconds());
        s.set(
            "unexplained-db",
            gst::Array::new(self.unexplained_db.iter().copied()),
        );
        match &self.keys {
            Some(keys) => {
                s.set(
                    "dtmf-digits",
                    gst::Array::new(keys.iter().map(|k| k.digit.clone())),
                );
                s.set(
                    "dtmf-onsets",
                    gst::Array::new(keys.iter().map(|k| k.onset.nseconds())),
                );
                s.set(
                    "dtmf-detected",
                    gst::Array::new(keys.iter().map(|k| k.detected.nseconds())),
                );
            }
            None => {
                s.remove_fields(["dtmf-digits", "dtmf-onsets", "dtmf-detected"]);
            }
        }
        match &self.linear {
            // A buffer of native-endian f32: one value, not 160 per 10 ms.
            Some(samples) => {
                let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_ne_bytes()).collect();
                s.set("linear", gst::Buffer::from_mut_slice(bytes));
            }
            None => s.remove_field("linear"),
        }
        Ok(())
    }

    /// The meta on `buffer`, if any; `Err` when it is malformed.
    pub fn from_buffer(buffer: &gst::BufferRef) -> Option<Result<Self, ParseError>> {
        if !gst::meta::CustomMeta::is_registered(Self::META) {
            return None;
        }
        let meta = gst::meta::CustomMeta::from_buffer(buffer, Self::META).ok()?;
        let s = meta.structure();
        let read = || -> Result<Self, ParseError> {
            let values = get::<gst::Array>(s, "unexplained-db")?;
            let unexplained_db = values
                .iter()
                .map(|v| {
                    v.get::<f64>()
                        .map_err(|_| ParseError::BadField("unexplained-db"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let keys = if s.has_field("dtmf-digits") {
                let (digits, onsets, detected) = (
                    get::<gst::Array>(s, "dtmf-digits")?,
                    get::<gst::Array>(s, "dtmf-onsets")?,
                    get::<gst::Array>(s, "dtmf-detected")?,
                );
                if digits.len() != onsets.len() || digits.len() != detected.len() {
                    return Err(ParseError::BadField("dtmf-digits"));
                }
                let time = |v: &gst::glib::SendValue, field: &'static str| {
                    v.get::<u64>()
                        .map(gst::ClockTime::from_nseconds)
                        .map_err(|_| ParseError::BadField(field))
                };
                let keys = digits
                    .iter()
                    .zip(onsets.iter())
                    .zip(detected.iter())
                    .map(|((d, o), t)| {
                        Ok(LineKey {
                            digit: d
                                .get::<String>()
                                .map_err(|_| ParseError::BadField("dtmf-digits"))?,
                            onset: time(o, "dtmf-onsets")?,
                            detected: time(t, "dtmf-detected")?,
                        })
                    })
                    .collect::<Result<Vec<_>, ParseError>>()?;
                Some(keys)
            } else {
                None
            };
            let linear = if s.has_field("linear") {
                let buffer = get::<gst::Buffer>(s, "linear")?;
                let map = buffer
                    .map_readable()
                    .map_err(|_| ParseError::BadField("linear"))?;
                if !map.len().is_multiple_of(4) {
                    return Err(ParseError::BadField("linear"));
                }
                Some(
                    map.chunks_exact(4)
                        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            } else {
                None
            };
            Ok(Self {
                start: get_time(s, "start")?,
                step: get_time(s, "step")?,
                unexplained_db,
                keys,
                linear,
            })
        };
        Some(read())
    }
}
