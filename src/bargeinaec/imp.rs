// Lock order: `settings` may be taken while `state` is held, never the reverse.
// Neither is held across pad calls, finish_buffer, posting or notify.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use webrtc_audio_processing as wap;

use super::NoiseSuppression;
use super::far::FarReference;
use super::gate::EchoGate;
use super::nearend::NearEndDetector;
use crate::audio;
use crate::bargeinvad::dtmf::{self, DtmfDetector};
use crate::denormals::FlushDenormals;
use crate::protocol::{self, Structure};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "bargeinaec",
        gst::DebugColorFlags::empty(),
        Some("Barge-in echo canceller"),
    )
});

const DEFAULT_ECHO_CANCEL: bool = true;
const DEFAULT_NOISE_SUPPRESSION: NoiseSuppression = NoiseSuppression::None;
const DEFAULT_HIGH_PASS_FILTER: bool = true;
const DEFAULT_GAIN_CONTROL: bool = false;
const DEFAULT_DELAY_MS: u32 = 0;
const DEFAULT_STATS_INTERVAL_MS: u32 = 1000;

/// Far-end level above which the TTS counts as playing (dBFS).
const FAR_ACTIVE_DB: f64 = -50.0;
/// Far activity lasts this long after the far end falls silent: the echo's
/// delay and the room's reverberation outlive the last far sample.
const FAR_HANGOVER_MS: u64 = 300;
/// Measured echo reduction from which the canceller counts as converged.
const CONVERGED_ERLE_DB: f64 = 10.0;
/// Smoothing of the measured ERLE, in frames (10 ms each).
const ERLE_SMOOTHING_FRAMES: f64 = 50.0;
/// How often a live element wakes up to drain the far end while the
/// microphone delivers nothing.
const IDLE_STEP: gst::ClockTime = gst::ClockTime::from_mseconds(10);
/// Drift following: AEC3's delay estimate is read once a second. After
/// BASE_FRAMES of far-end activity it is taken as the room's own delay; when
/// the echo has slid more than SLIDE away from it, the reference is moved
/// back by the slide and left alone for SETTLE while AEC3 re-finds it. A
/// long but steady delay (buffering; the evaluation corpus goes to 300 ms)
/// never slides, so it is never touched. SLIDE keeps a quiet echo inside the
/// echo gate's 300 ms correlation window for rooms up to 150 ms.
const DRIFT_BASE_FRAMES: u64 = 1000;
const DRIFT_SLIDE_MS: i64 = 150;
const DRIFT_CHECK_FRAMES: u64 = 100;
const DRIFT_SETTLE_FRAMES: u64 = 1000;
/// A microphone clock slower than the playback clock brings the echo
/// earlier: once it precedes its reference AEC3 cannot cancel it, and its
/// delay estimate cannot see past zero to report the slide. So the echo
/// coming earlier is corrected once it has lost half of the converged
/// delay (at least EARLY_MIN: the estimate moves in 4 ms blocks), long
/// before that point. The reference is then handed out before its running
/// time, as far as the far end is already here (LEAD_MARGIN spare for
/// the far end's arrival jitter).
const DRIFT_EARLY_MIN_MS: i64 = 8;
/// The echo is put back this much later than the converged delay: AEC3
/// loses some echo reduction at every move, and the margin halves the moves
/// (at 0.1 %: ERLE per minute ≥ 11.0 dB with it, 9.4 dB moving to the base).
const DRIFT_EARLY_BEYOND_MS: i64 = 24;
const DRIFT_LEAD_MARGIN_MS: i64 = 10;
/// Checks in a row that wanted the reference earlier than the far end
/// arrives before the microphone clock is reported as slow.
const DRIFT_SHORT_CHECKS: u32 = 3;
/// Far audio taken from far_sink's queue beyond what the near end needs,
/// when it is there: it tells the drift follower how far ahead of the
/// near end the far end is fed. Waited for only briefly (SPARE_WAIT_MAX),
/// and only where that helps (`FarReference::wait_for_spare`).
const LOOKAHEAD_SPARE_MS: i64 = 250;
/// How long a non-live element waits for a far end fed ahead to refill the
/// spare (its streaming thread is woken by our pop and pushes within
/// microseconds on an idle machine), and how often it looks. After
/// SPARE_MISSES waits in a row in vain it is not waited for again until it
/// fills the spare or SPARE_REARM_CHECKS drift checks have wanted it.
const SPARE_WAIT_MAX: Duration = Duration::from_millis(10);
const SPARE_POLL: Duration = Duration::from_micros(200);
const SPARE_MISSES: u32 = 3;
/// Drift checks that wanted the spare, after the element gave up waiting
/// for it, before it tries again (a far end that comes just in time costs
/// 30 ms of waiting per 10 s of audio, not per second).
const SPARE_REARM_CHECKS: u32 = 10;
/// Longest near-end GAP buffer turned into silence samples.
const MAX_GAP_SECONDS: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
struct Settings {
    echo_cancel: bool,
    noise_suppression: NoiseSuppression,
    high_pass_filter: bool,
    gain_control: bool,
    delay_ms: u32,
    stats_interval_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            echo_cancel: DEFAULT_ECHO_CANCEL,
            noise_suppression: DEFAULT_NOISE_SUPPRESSION,
            high_pass_filter: DEFAULT_HIGH_PASS_FILTER,
            gain_control: DEFAULT_GAIN_CONTROL,
            delay_ms: DEFAULT_DELAY_MS,
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
        }
    }
}

impl Settings {
    /// Nothing to do: samples pass bit-exact without touching WebRTC.
    fn bypass(&self) -> bool {
        !self.echo_cancel
            && self.noise_suppression == NoiseSuppression::None
            && !self.high_pass_filter
            && !self.gain_control
    }

    fn webrtc_config(&self) -> wap::Config {
        use wap::config;
        wap::Config {
            echo_canceller: self.echo_cancel.then_some(config::EchoCanceller::Full {
                stream_delay_ms: (self.delay_ms > 0).then(|| self.delay_ms.min(500) as u16),
            }),
            noise_suppression: match self.noise_suppression {
                NoiseSuppression::None => None,
                level => Some(config::NoiseSuppression {
                    level: match level {
                        NoiseSuppression::Low => config::NoiseSuppressionLevel::Low,
                        NoiseSuppression::Moderate => config::NoiseSuppressionLevel::Moderate,
                        NoiseSuppression::High => config::NoiseSuppressionLevel::High,
                        _ => config::NoiseSuppressionLevel::VeryHigh,
                    },
                    ..Default::default()
                }),
            },
            high_pass_filter: self.high_pass_filter.then(config::HighPassFilter::default),
            gain_controller: self.gain_control.then(|| {
                config::GainController::GainController2(config::GainController2 {
                    adaptive_digital: Some(config::AdaptiveDigital::default()),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }
    }
}

/// The near end: format, WebRTC instance, framing and timestamps.
struct Near {
    info: gst_audio::AudioInfo,
    processor: wap::Processor,
    /// Whether `processor` was built around AEC3 (see `make_processor`).
    processor_aec3: bool,
    applied: Option<Settings>,
    /// Samples per channel in a 10 ms frame.
    spf: usize,
    /// Interleaved f32 samples waiting to fill a frame.
    acc: Vec<f32>,
    /// PTS of the first sample output since the last resync, and how many
    /// samples per channel were output since: output timestamps never drift.
    base_pts: Option<gst::ClockTime>,
    emitted: u64,
    cap: Vec<Vec<f32>>,
    far_frame: Vec<f32>,
    out: Vec<f32>,
    warned_dsp: bool,
    /// Processing delay of this stream, fixed when it starts (see `dsp_delay`),
    /// and how much of it is still to be dropped from the output.
    delay: Option<usize>,
    skip: usize,
    /// The input delayed by the processing delay, so passing the microphone
    /// through (no echo path) stays aligned with processed output; and the
    /// current share of it in the output (0 processed … 1 pass-through).
    dry: std::collections::VecDeque<f32>,
    dry_mix: f32,
    /// The current input frame as mono, for the echo-path detector.
    mono: Vec<f32>,
    /// Near-end presence beside AEC3 (see `nearend`), and its values for the
    /// frames of the buffer being made.
    nearend: NearEndDetector,
    near_db: Vec<f64>,
    /// Keypad tones on the microphone before AEC3 (which cuts one tone of a
    /// key under the prompt), and on the far reference: a key in what is
    /// played is the prompt's own echo, not the caller. `keys` are those of
    /// the buffer being made.
    keys: LineKeys,
    /// AEC3's linear output for the frames of the buffer being made (see
    /// `protocol::NearEnd::linear`); empty when AEC3 does not make it.
    linear: Vec<f32>,
}

/// Samples of AEC3's linear output per 10 ms frame (it is always 16 kHz).
const LINEAR_FRAME: usize = 160;

/// Keys heard on the input line, minus those the far end played.
struct LineKeys {
    line: DtmfDetector,
    far: DtmfDetector,
    /// Input samples given to `line` so far.
    pos: u64,
    /// Keys on the line are ignored until this input sample: the far end
    /// played something key-like within the last second.
    ignore_until: u64,
    found: Vec<dtmf::Key>,
    keys: Vec<protocol::LineKey>,
}

impl LineKeys {
    /// Far-end key tones reach the microphone after the echo path; any
    /// echo the canceller handles (up to 500 ms) is covered.
    const FAR_MASK_S: u64 = 1;

    fn new(rate: u32) -> Self {
        Self {
            line: DtmfDetector::for_line(rate),
            // Two blocks: masking on a doubtful far key costs little.
            far: DtmfDetector::for_line(rate).with_min_blocks(2),
            pos: 0,
            ignore_until: 0,
            found: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// One frame of input (`mono`) and far reference, whose first sample has
    /// PTS `pts`; recognised keys go to `keys`.
    fn push(&mut self, mono: &[f32], far: &[f32], pts: gst::ClockTime, rate: u32) {
        let first = self.pos;
        self.pos += mono.len() as u64;
        self.found.clear();
        self.far.push(far, &mut self.found);
        if !self.found.is_empty() {
            self.ignore_until = self.pos + Self::FAR_MASK_S * u64::from(rate);
            self.found.clear();
        }
        self.line.push(mono, &mut self.found);
        let at = |sample: u64| {
            let ns = |n: u64| n.mul_div_floor(1_000_000_000, u64::from(rate)).unwrap_or(0);
            if sample >= first {
                pts.saturating_add(gst::ClockTime::from_nseconds(ns(sample - first)))
            } else {
                pts.saturating_sub(gst::ClockTime::from_nseconds(ns(first - sample)))
            }
        };
        for k in &self.found {
            if k.detected_sample < self.ignore_until {
                continue;
            }
            self.keys.push(protocol::LineKey {
                digit: k.digit.to_string(),
                onset: at(k.onset_sample),
                detected: at(k.detected_sample),
            });
        }
    }
}

/// WebRTC's processor. With echo cancellation, built around AEC3 with its
/// own defaults plus the linear output for the detector; such a processor
/// always cancels echo (WebRTC ignores the config's switch when given an AEC3
/// config), so without echo cancellation it is built plain.
fn make_processor(rate: u32, echo_cancel: bool) -> Result<wap::Processor, String> {
    let processor = if echo_cancel {
        let mut aec3 = wap::experimental::EchoCanceller3Config::default();
        aec3.filter.export_linear_aec_output = true;
        wap::Processor::with_aec3_config(rate, aec3)
    } else {
        wap::Processor::new(rate)
    };
    processor.map_err(|e| e.to_string())
}

impl Near {
    fn new(info: gst_audio::AudioInfo, echo_cancel: bool) -> Result<Self, String> {
        let rate = info.rate();
        let processor = make_processor(rate, echo_cancel)?;
        let spf = rate as usize / 100;
        let channels = info.channels() as usize;
        Ok(Self {
            info,
            processor,
            processor_aec3: echo_cancel,
            applied: None,
            spf,
            acc: Vec::with_capacity(spf * channels * 4),
            base_pts: None,
            emitted: 0,
            cap: vec![vec![0.0; spf]; channels],
            far_frame: vec![0.0; spf],
            out: Vec::with_capacity(spf * channels * 4),
            warned_dsp: false,
            delay: None,
            skip: 0,
            dry: std::collections::VecDeque::new(),
            dry_mix: 0.0,
            mono: Vec::with_capacity(spf),
            nearend: NearEndDetector::new(rate, spf)?,
            near_db: Vec::with_capacity(16),
            keys: LineKeys::new(rate),
            linear: Vec::with_capacity(LINEAR_FRAME * 4),
        })
    }

    fn rate(&self) -> u32 {
        self.info.rate()
    }

    fn channels(&self) -> usize {
        self.info.channels() as usize
    }

    fn frames_to_time(&self, frames: u64) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(
            frames
                .mul_div_floor(gst::ClockTime::SECOND.nseconds(), u64::from(self.rate()))
                .unwrap_or(0),
        )
    }

    /// Before the stream ends or jumps: queue silence so the samples still
    /// inside WebRTC's delay come out; the next stream measures anew.
    fn push_tail(&mut self) {
        let tail = self.delay.unwrap_or(0).saturating_sub(self.skip);
        self.acc
            .extend(std::iter::repeat_n(0.0, tail * self.channels()));
        // Nothing more to hold back for what is left of this stream.
        self.delay = Some(0);
        self.skip = 0;
    }

    /// PTS of the next sample to be output, counting what waits in `acc`.
    fn expected_pts(&self) -> Option<gst::ClockTime> {
        let pending = (self.acc.len() / self.channels()) as u64;
        // Samples held back by WebRTC's delay were consumed but not yet output.
        let held = self.delay.unwrap_or(0).saturating_sub(self.skip) as u64;
        self.base_pts
            .map(|b| b + self.frames_to_time(self.emitted + held + pending))
    }
}

/// How many samples (per channel) WebRTC's processing delays the audio, as
/// measured on webrtc-audio-processing 2.1 with noise (cross-correlation of
/// output and input). AEC3 and the noise suppressor work in blocks that do not
/// line up with 10 ms frames. The element drops this many samples at the start
/// and flushes as many at the end, so output timestamps stay true to the sound.
fn dsp_delay(rate: u32, settings: &Settings) -> usize {
    if settings.bypass() {
        return 0;
    }
    let ns = settings.noise_suppression != NoiseSuppression::None;
    let table: [usize; 4] = match (settings.echo_cancel, ns) {
        (true, true) => [136, 224, 452, 514],
        (true, false) => [88, 128, 260, 430],
        (false, true) => [72, 96, 196, 334],
        (false, false) => [24, 0, 4, 46],
    };
    match rate {
        8000 => table[0],
        16000 => table[1],
        32000 => table[2],
        _ => table[3],
    }
}

/// What one drift check did: moved the reference, and/or wanted it earlier
/// than the far end arrives.
struct DriftStep {
    moved: bool,
    short: bool,
}

impl DriftStep {
    const STEADY: Self = Self {
        moved: false,
        short: false,
    };
}

/// What one aggregate() call wants sent once the state lock is released.
#[derive(Default)]
struct Outgoing {
    buffer: Option<gst::Buffer>,
    activity: Option<protocol::FarActivity>,
    stats: Option<protocol::AecStats>,
    warning: Option<String>,
    /// The echo precedes its reference and the far end is not fed early
    /// enough to move it (details for the warning).
    slow_mic: Option<String>,
}

struct State {
    near: Option<Near>,
    far_info: Option<gst_audio::AudioInfo>,
    far: Option<FarReference>,
    far_warned: bool,
    warned_no_pts: bool,
    warned_long_gap: bool,
    /// Far activity as last computed, its hangover, and what was last sent.
    far_active: bool,
    hangover_frames: u64,
    far_level_db: f64,
    sent_activity: Option<(bool, bool, bool)>,
    converged: bool,
    /// Smoothed near energy before/after processing over far-only frames.
    erle_in: f64,
    erle_out: f64,
    frames: u64,
    far_missing_frames: u64,
    frames_since_stats: u64,
    /// Frames until the reference may be re-aligned again (clock drift).
    drift_cooldown: u64,
    /// Far-end activity seen, and the echo delay then (ms): what drift is
    /// measured against.
    drift_far_frames: u64,
    drift_base_ms: Option<i64>,
    /// Drift checks in a row that could not move the reference as early
    /// as wanted, and whether that was reported.
    drift_short_checks: u32,
    warned_slow_mic: bool,
    stats: protocol::AecStats,
    output_started: bool,
    /// Live deadline (running time) for the next wake-up while the near end
    /// is silent; see `next_time`.
    idle_next: Option<gst::ClockTime>,
    gate: EchoGate,
}

impl Default for State {
    fn default() -> Self {
        Self {
            near: None,
            far_info: None,
            far: None,
            far_warned: false,
            warned_no_pts: false,
            warned_long_gap: false,
            far_active: false,
            hangover_frames: 0,
            far_level_db: -120.0,
            sent_activity: None,
            converged: false,
            erle_in: 0.0,
            erle_out: 0.0,
            frames: 0,
            far_missing_frames: 0,
            frames_since_stats: 0,
            drift_cooldown: 0,
            drift_far_frames: 0,
            drift_base_ms: None,
            drift_short_checks: 0,
            warned_slow_mic: false,
            stats: protocol::AecStats {
                erle_db: f64::NAN,
                erl_db: f64::NAN,
                delay_ms: -1,
                residual_echo_likelihood: f64::NAN,
                residual_echo_likelihood_recent_max: f64::NAN,
                measured_erle_db: f64::NAN,
                ..Default::default()
            },
            output_started: false,
            idle_next: None,
            gate: EchoGate::default(),
        }
    }
}

impl State {
    /// (Re)builds the far-end converter once both formats are known.
    fn setup_far(&mut self) -> Result<(), String> {
        let (Some(near), Some(far_info)) = (self.near.as_ref(), self.far_info.as_ref()) else {
            return Ok(());
        };
        let keep = self.far.as_ref().is_some_and(|f| {
            f.rate() == near.rate()
                && f.in_rate() == far_info.rate()
                && f.in_channels() == far_info.channels() as usize
        });
        if !keep {
            let mut far =
                FarReference::new(near.rate(), far_info.rate(), far_info.channels() as usize)?;
            // A new far format does not change the clocks' drift.
            if let Some(old) = self.far.as_ref().filter(|f| f.rate() == near.rate()) {
                far.shift(old.offset());
            }
            self.far = Some(far);
        }
        Ok(())
    }

    /// Forgets the near end's position and what waits to be processed.
    fn reset_near(&mut self) {
        if let Some(near) = self.near.as_mut() {
            near.acc.clear();
            near.base_pts = None;
            near.emitted = 0;
            near.delay = None;
            near.skip = 0;
        }
    }

    fn reset_stream(&mut self) {
        self.reset_near();
        if let Some(near) = self.near.as_mut() {
            near.nearend.reset();
        }
        if let Some(far) = self.far.as_mut() {
            far.reset();
        }
        self.far_active = false;
        self.hangover_frames = 0;
        self.sent_activity = None;
        self.output_started = false;
        self.idle_next = None;
    }
}

pub struct BargeInAec {
    near_pad: gst_base::AggregatorPad,
    far_pad: gst_base::AggregatorPad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// far_sink carries an EOS of ours (it was unlinked), to be undone
    /// when it is linked again.
    far_faked_eos: std::sync::atomic::AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for BargeInAec {
    const NAME: &'static str = "GstBargeInAec";
    type Type = super::BargeInAec;
    type ParentType = gst_base::Aggregator;

    fn with_class(klass: &Self::Class) -> Self {
        let near_pad = gst::PadBuilder::<gst_base::AggregatorPad>::from_template(
            &klass.pad_template("sink").expect("sink template"),
        )
        .build();
        let far_pad = gst::PadBuilder::<gst_base::AggregatorPad>::from_template(
            &klass.pad_template("far_sink").expect("far_sink template"),
        )
        .build();
        Self {
            near_pad,
            far_pad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            far_faked_eos: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for BargeInAec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoolean::builder("echo-cancel")
                    .nick("Echo cancel")
                    .blurb("Remove the far end's echo (WebRTC AEC3) from the near end")
                    .default_value(DEFAULT_ECHO_CANCEL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default(
                    "noise-suppression",
                    DEFAULT_NOISE_SUPPRESSION,
                )
                .nick("Noise suppression")
                .blurb(
                    "WebRTC noise suppression on the near end. Off by default: the \
                     speech detector copes with noise, and suppression blunts the \
                     onsets it reacts to",
                )
                .mutable_playing()
                .build(),
                glib::ParamSpecBoolean::builder("high-pass-filter")
                    .nick("High-pass filter")
                    .blurb("Remove rumble and DC below about 80 Hz from the near end")
                    .default_value(DEFAULT_HIGH_PASS_FILTER)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("gain-control")
                    .nick("Gain control")
                    .blurb(
                        "Automatic gain control (WebRTC AGC2) on the near end. Off by \
                         default: gain that follows the echo fights the detector",
                    )
                    .default_value(DEFAULT_GAIN_CONTROL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("delay-ms")
                    .nick("Delay hint")
                    .blurb(
                        "Echo path delay in ms outside the pipeline's timestamps (e.g. \
                         sound card buffers); 0 lets AEC3 estimate it",
                    )
                    .minimum(0)
                    .maximum(500)
                    .default_value(DEFAULT_DELAY_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("stats-interval-ms")
                    .nick("Statistics interval")
                    .blurb(
                        "Period of bargein-aec-stats bus messages in ms of stream time; \
                         0 disables them",
                    )
                    .minimum(0)
                    .maximum(60_000)
                    .default_value(DEFAULT_STATS_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Latest echo canceller statistics (a bargein-aec-stats structure)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "echo-cancel" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing echo-cancel from {} to {v}",
                    s.echo_cancel
                );
                s.echo_cancel = v;
            }
            "noise-suppression" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing noise-suppression from {:?} to {v:?}",
                    s.noise_suppression
                );
                s.noise_suppression = v;
            }
            "high-pass-filter" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing high-pass-filter from {} to {v}",
                    s.high_pass_filter
                );
                s.high_pass_filter = v;
            }
            "gain-control" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing gain-control from {} to {v}",
                    s.gain_control
                );
                s.gain_control = v;
            }
            "delay-ms" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing delay-ms from {} to {v}",
                    s.delay_ms
                );
                s.delay_ms = v;
            }
            "stats-interval-ms" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing stats-interval-ms from {} to {v}",
                    s.stats_interval_ms
                );
                s.stats_interval_ms = v;
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => self.state.lock().unwrap().stats.to_structure().to_value(),
            name => {
                let s = self.settings.lock().unwrap();
                match name {
                    "echo-cancel" => s.echo_cancel.to_value(),
                    "noise-suppression" => s.noise_suppression.to_value(),
                    "high-pass-filter" => s.high_pass_filter.to_value(),
                    "gain-control" => s.gain_control.to_value(),
                    "delay-ms" => s.delay_ms.to_value(),
                    "stats-interval-ms" => s.stats_interval_ms.to_value(),
                    _ => unimplemented!(),
                }
            }
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.near_pad).expect("add sink pad");
        obj.add_pad(&self.far_pad).expect("add far_sink pad");
        // A TTS that has not started yet must not hold the microphone back.
        obj.set_ignore_inactive_pads(true);
        // One 10 ms frame of buffering when buffers are not frame-sized.
        obj.set_latency(gst::ClockTime::from_mseconds(10), None);
        // far_sink may be linked, unlinked and relinked while running.
        self.far_pad.connect_linked(|pad, _peer| {
            if let Some(el) = pad.parent().and_downcast::<super::BargeInAec>() {
                el.imp().far_linked();
            }
        });
        self.far_pad.connect_unlinked(|pad, _peer| {
            if let Some(el) = pad.parent().and_downcast::<super::BargeInAec>() {
                // Sending EOS takes the pad's stream lock, which upstream may
                // still hold: not on the application thread that unlinked.
                el.call_async(|el| el.imp().far_unlinked());
            }
        });
    }
}

impl GstObjectImpl for BargeInAec {}

impl ElementImpl for BargeInAec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Barge-in echo canceller",
                "Filter/Effect/Audio",
                "Removes the echo of the far end (what the user hears: far_sink) from the \
                 near end (the microphone: sink) with WebRTC AEC3; tells the detector \
                 downstream when the far end is active (bargein-far-activity)",
                "gst-bargein developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = audio::SUPPORTED_CAPS.clone();
            vec![
                gst::PadTemplate::with_gtype(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                    gst_base::AggregatorPad::static_type(),
                )
                .expect("src template"),
                gst::PadTemplate::with_gtype(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                    gst_base::AggregatorPad::static_type(),
                )
                .expect("sink template"),
                gst::PadTemplate::with_gtype(
                    "far_sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                    gst_base::AggregatorPad::static_type(),
                )
                .expect("far_sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        _templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        None
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToPaused && self.far_pad.peer().is_none() {
            // Nothing will ever arrive on an unlinked far_sink: mark it finished so a
            // non-live pipeline does not wait for it (live ones time out anyway).
            gst::info!(
                CAT,
                imp = self,
                "far_sink is not linked: echo cancellation has no reference"
            );
            self.finish_unlinked_far(true);
        }
        Ok(ret)
    }
}

impl AggregatorImpl for BargeInAec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        gst::debug!(CAT, imp = self, "Started");
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        gst::debug!(CAT, imp = self, "Stopped");
        Ok(())
    }

    fn next_time(&self) -> Option<gst::ClockTime> {
        let simple = self.obj().simple_get_next_time();
        // While the microphone is silent the output position does not move;
        // without our own idle deadline a live aggregator would time out
        // again at once, forever (a busy loop that also starves the far end).
        match (simple, self.state.lock().unwrap().idle_next) {
            (Some(s), Some(i)) => Some(s.max(i)),
            (s, i) => s.or(i),
        }
    }

    fn flush(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.state.lock().unwrap().reset_stream();
        self.parent_flush()
    }

    /// The output always has the near end's format: the base class would
    /// otherwise pick any format downstream allows on renegotiation.
    fn update_src_caps(&self, caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
        match self.near_pad.current_caps() {
            Some(near) if near.can_intersect(caps) => Ok(near),
            Some(near) => {
                gst::error!(
                    CAT,
                    imp = self,
                    "Downstream refuses the near end's format {near}"
                );
                Err(gst::FlowError::NotNegotiated)
            }
            None => Err(gst_base::AGGREGATOR_FLOW_NEED_DATA),
        }
    }

    fn sink_query(&self, pad: &gst_base::AggregatorPad, query: &mut gst::QueryRef) -> bool {
        let accept = match query.view() {
            gst::QueryView::AcceptCaps(q) => Some(q.caps_owned()),
            _ => None,
        };
        let res = self.parent_sink_query(pad, query);
        if let (Some(caps), gst::QueryView::AcceptCaps(q)) = (accept, query.view())
            && !q.result()
        {
            gst::warning!(
                CAT,
                obj = pad,
                "Refusing {caps}: bargeinaec takes interleaved F32LE or S16LE, mono or \
                 stereo, at 8000, 16000, 32000 or 48000 Hz; insert `audioconvert ! \
                 audioresample` before {}",
                pad.name()
            );
        }
        res
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        let is_near = pad == &self.near_pad;
        match event.view() {
            gst::EventView::Caps(c) => {
                let caps = c.caps_owned();
                let Ok(info) = gst_audio::AudioInfo::from_caps(&caps) else {
                    gst::error!(CAT, obj = pad, "Unusable caps {caps}");
                    return false;
                };
                if !audio::SUPPORTED_CAPS.can_intersect(&caps) {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("Unsupported audio format on {}: {caps}", pad.name()),
                        [
                            "insert `audioconvert ! audioresample` to get F32LE/S16LE at 8/16/32/48 kHz"
                        ]
                    );
                    return false;
                }
                gst::info!(CAT, obj = pad, "Caps {caps}");
                let echo_cancel = self.settings.lock().unwrap().echo_cancel;
                let result = {
                    let mut state = self.state.lock().unwrap();
                    if is_near {
                        let same = state.near.as_ref().is_some_and(|n| n.info == info);
                        if !same {
                            match Near::new(info, echo_cancel) {
                                Ok(near) => state.near = Some(near),
                                Err(e) => {
                                    drop(state);
                                    gst::element_imp_error!(
                                        self,
                                        gst::LibraryError::Init,
                                        ("Could not create the WebRTC audio processor"),
                                        ["{e}"]
                                    );
                                    return false;
                                }
                            }
                        }
                    } else {
                        state.far_info = Some(info);
                    }
                    state.setup_far()
                };
                if let Err(e) = result {
                    gst::warning!(CAT, imp = self, "Far end unusable, no reference: {e}");
                }
                if is_near {
                    self.obj().set_src_caps(&caps);
                }
            }
            gst::EventView::Segment(s) if is_near => {
                if let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>() {
                    self.obj().update_segment(&seg);
                } else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("bargeinaec needs time segments on its sink pad")
                    );
                    return false;
                }
            }
            gst::EventView::FlushStop(_) => {
                // A flush of one input alone (ttsducker's stop flushes the
                // playback branch) does not reach `flush()`, which the base
                // class calls only for flushing seeks.
                let mut state = self.state.lock().unwrap();
                if is_near {
                    state.reset_near();
                } else if let Some(far) = state.far.as_mut() {
                    far.reset();
                }
            }
            gst::EventView::StreamStart(_) if !is_near => {
                if let Some(far) = self.state.lock().unwrap().far.as_mut() {
                    far.reset();
                }
            }
            _ => {}
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut may_wait = true;
        let mut result = Ok(self.aggregate_one(timeout, &mut may_wait)?);
        // Then every further near buffer the reference already covers. A
        // non-live base class calls this only while every pad holds a
        // buffer, and the lookahead often empties far_sink's queue into the
        // reference: the near buffers behind would wait for far audio they
        // do not need (an application that feeds the far end as the output
        // advances waited for good). They do not measure how early the far
        // end comes: processed before far_sink refills, they would make it
        // look late (the reference was then not handed out early enough).
        self.measure_lead(false);
        while self.near_pad.peek_buffer().is_some() {
            match self.aggregate_one(false, &mut may_wait) {
                Ok(r) => result = Ok(r),
                Err(gst_base::AGGREGATOR_FLOW_NEED_DATA) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.measure_lead(true);
        result
    }
}

impl BargeInAec {
    fn measure_lead(&self, on: bool) {
        if let Some(far) = self.state.lock().unwrap().far.as_mut() {
            far.measure_lead = on;
        }
    }

    /// Processes the next near buffer once the far end covers it (or will
    /// not come in time: a live timeout, far_sink finished or unlinked).
    fn aggregate_one(
        &self,
        timeout: bool,
        may_wait: &mut bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(peeked) = self.near_pad.peek_buffer() else {
            if self.near_pad.is_eos() {
                let out = self.drain();
                self.send(out)?;
                return Err(gst::FlowError::Eos);
            }
            // Only live pipelines get here (non-live ones wait for every
            // pad): the microphone has nothing yet, and the TTS must not be
            // held back by it. Take what the far end delivered; the bounded
            // reference drops what is too old to matter.
            while let Some(buf) = self.far_pad.pop_buffer() {
                self.push_far(&buf);
            }
            if timeout {
                self.schedule_idle_wakeup();
            }
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        };
        let near_segment = self
            .near_pad
            .segment()
            .downcast::<gst::ClockTime>()
            .map_err(|_| gst::FlowError::NotNegotiated)?;
        let end_rt = peeked
            .pts()
            .map(|p| p + peeked.duration().unwrap_or(gst::ClockTime::ZERO))
            .and_then(|end| near_segment.to_running_time(end));

        // Take far-end buffers only until they cover this near-end buffer:
        // a TTS that runs ahead waits in the pad's queue (backpressure)
        // instead of overflowing the reference.
        let far_covers = |this: &Self| match end_rt {
            Some(end) => {
                let state = this.state.lock().unwrap();
                state.far.as_ref().is_some_and(|f| f.covers(end.nseconds()))
            }
            None => false,
        };
        while !far_covers(self) {
            match self.far_pad.pop_buffer() {
                Some(buf) => self.push_far(&buf),
                None => break,
            }
        }
        // What is already queued beyond that, up to a bound, measures how
        // early the far end arrives (see `follow_drift`).
        let spare_short = |this: &Self| {
            let end = end_rt?;
            let mut state = this.state.lock().unwrap();
            let f = state.far.as_mut()?;
            let spare = LOOKAHEAD_SPARE_MS * i64::from(f.rate()) / 1000;
            f.check_spare(end.nseconds(), spare)
        };
        let mut waiting_since = None;
        while spare_short(self) == Some(true) {
            if let Some(buf) = self.far_pad.pop_buffer() {
                self.push_far(&buf);
                if waiting_since.take().is_some() {
                    self.refilled();
                }
                continue;
            }
            // A far end fed ahead in small buffers (20 ms from an appsrc)
            // would otherwise hand over one buffer per near buffer: the
            // spare that a drift correction used up never grows back, and
            // the reference falls behind an echo that comes early.
            if timeout || !*may_wait || !self.may_wait_for_spare() {
                break;
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= SPARE_WAIT_MAX {
                // It stalls, or it now comes just in time: not again in this
                // call, and after a few in a row, not for a while.
                *may_wait = false;
                self.missed_refill();
                break;
            }
            std::thread::sleep(SPARE_POLL);
        }

        // Wait for the far end only while it may still come in time: not in
        // live timeouts, and not when it is finished, unlinked or inactive.
        if !timeout
            && end_rt.is_some()
            && !far_covers(self)
            && !self.far_pad.is_eos()
            && self.far_pad.peer().is_some()
            // A live far end that never delivered anything is inactive:
            // the base class then counts it as ready and would spin on us.
            && !self.far_pad.is_inactive()
        {
            // (Also while the far end's caps have not arrived yet: processing
            // without the reference would make the result depend on thread
            // timing.)
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        }

        let Some(buf) = self.near_pad.pop_buffer() else {
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        };
        // Before the settings are read: an application that changes them
        // from `samples-selected` (emit-signals=true) gets them applied from
        // exactly this buffer on. The near end's times are the output's
        // (the source pad carries the near segment).
        self.obj()
            .selected_samples(buf.pts(), buf.dts(), buf.duration(), None);
        let out = self.process_near(&buf, &near_segment)?;
        self.send(out)
    }

    /// Whether to wait for far_sink to refill the lookahead spare: only
    /// where it helps (`FarReference::wait_for_spare`; a far end that comes
    /// just in time, as the output advances, would never come while we
    /// wait), while it still streams, in a pipeline that is not live (a live
    /// far end comes in real time, and waiting would add latency).
    fn may_wait_for_spare(&self) -> bool {
        let wait_for_spare = {
            let state = self.state.lock().unwrap();
            state
                .far
                .as_ref()
                .is_some_and(FarReference::waits_for_spare)
        };
        // An EOS the base class has not handled yet (it does so between our
        // calls) is already on the pad as a sticky event.
        wait_for_spare
            && !self.far_pad.is_eos()
            && self.far_pad.sticky_event::<gst::event::Eos>(0).is_none()
            && self.far_pad.peer().is_some()
            && self.obj().latency().is_none()
    }

    fn refilled(&self) {
        if let Some(far) = self.state.lock().unwrap().far.as_mut() {
            far.refilled();
        }
    }

    fn missed_refill(&self) {
        let gave_up = {
            let mut state = self.state.lock().unwrap();
            state
                .far
                .as_mut()
                .is_some_and(|f| f.missed_refill(SPARE_MISSES, SPARE_REARM_CHECKS))
        };
        if gave_up {
            gst::debug!(
                CAT,
                imp = self,
                "far_sink did not refill the lookahead {SPARE_MISSES} times in a row: \
                 no longer waiting for it"
            );
        }
    }

    /// Clock drift between loudspeaker and microphone (0.1 % = 1 ms/s) moves
    /// the echo against the reference until it leaves the range AEC3's delay
    /// estimator covers (~400 ms), or comes before the reference, and
    /// cancellation stops. When AEC3 places the echo more than
    /// `DRIFT_SLIDE_MS` later or half its converged delay earlier than where
    /// it was once converged, the reference is moved by the difference (and
    /// `DRIFT_EARLY_BEYOND_MS` more when early); AEC3 re-finds the delay
    /// within a second or two. Earlier than its running
    /// time only as far as the far end arrives early (`lead`: the smallest
    /// lookahead since the last check), so a non-live element never waits
    /// for far audio that is not coming yet.
    fn follow_drift(
        &self,
        d: i64,
        base: i64,
        lead: Option<i64>,
        far: &mut FarReference,
    ) -> DriftStep {
        let slide = d - base;
        let rate = i64::from(far.rate());
        let (by, short) = if slide > DRIFT_SLIDE_MS {
            (slide * rate / 1000, false)
        } else if slide < -(base / 2).clamp(DRIFT_EARLY_MIN_MS, DRIFT_SLIDE_MS) {
            let want = (slide - DRIFT_EARLY_BEYOND_MS) * rate / 1000;
            // The far end was not playing in this period: nothing to go by.
            let Some(lead) = lead else {
                return DriftStep::STEADY;
            };
            let room = (lead - DRIFT_LEAD_MARGIN_MS * rate / 1000).max(0);
            let by = want.max(-room);
            // A shift of a block or less is not worth AEC3 re-finding it.
            let by = if by > -(DRIFT_EARLY_MIN_MS / 2) * rate / 1000 {
                0
            } else {
                by
            };
            (by, by > want)
        } else {
            return DriftStep::STEADY;
        };
        if by != 0 {
            far.shift(by);
            gst::info!(
                CAT,
                imp = self,
                "echo at {d} ms instead of {base} ms: reference moved by {} ms (clock drift?), \
                 offset now {} ms{}",
                by * 1000 / rate,
                far.offset() * 1000 / rate,
                if short {
                    format!(
                        " ({} ms wanted; far_sink's audio is only {} ms further ahead)",
                        slide - DRIFT_EARLY_BEYOND_MS,
                        lead.unwrap_or(0) * 1000 / rate
                    )
                } else {
                    String::new()
                }
            );
        } else if short {
            gst::debug!(
                CAT,
                imp = self,
                "echo at {d} ms instead of {base} ms, but far_sink's audio is only {} ms further \
                 ahead: reference not moved",
                lead.unwrap_or(0) * 1000 / rate
            );
        }
        DriftStep {
            moved: by != 0,
            short,
        }
    }

    /// Marks an unlinked far_sink finished (EOS), so that a non-live
    /// aggregator, which waits for every pad, does not wait for it. `fresh`:
    /// no stream ever started on it, so one is opened first.
    fn finish_unlinked_far(&self, fresh: bool) {
        if fresh {
            let _ = self
                .far_pad
                .send_event(gst::event::StreamStart::new("bargeinaec-no-far"));
            let _ = self
                .far_pad
                .send_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
        }
        if self.far_pad.send_event(gst::event::Eos::new()) {
            self.far_faked_eos
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// far_sink was unlinked while running: from now on the near end must
    /// not wait for it.
    fn far_unlinked(&self) {
        if self.far_pad.peer().is_some()
            || self.far_pad.is_eos()
            || self.obj().current_state() < gst::State::Paused
        {
            return;
        }
        gst::info!(
            CAT,
            imp = self,
            "far_sink unlinked: echo cancellation has no reference until it is relinked"
        );
        self.far_pad.send_event(gst::event::FlushStart::new());
        self.far_pad.send_event(gst::event::FlushStop::new(true));
        self.finish_unlinked_far(true);
    }

    /// far_sink was linked: if it had been marked finished because it was
    /// unlinked, undo that so the new far end is used (a flush clears EOS
    /// and the placeholder segment; the new upstream sends its own).
    fn far_linked(&self) {
        if self
            .far_faked_eos
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            gst::info!(CAT, imp = self, "far_sink linked: using the new far end");
            self.far_pad.send_event(gst::event::FlushStart::new());
            self.far_pad.send_event(gst::event::FlushStop::new(true));
        }
    }

    /// Sets the next live deadline while the near end delivers nothing: one
    /// idle step past the clock's present (less the latency the base class
    /// adds), so the far end keeps being drained at a steady pace.
    fn schedule_idle_wakeup(&self) {
        let obj = self.obj();
        let now = obj
            .clock()
            .map(|c| c.time())
            .zip(obj.base_time())
            .map(|(t, b)| t.saturating_sub(b));
        let latency = obj.latency().unwrap_or(gst::ClockTime::ZERO);
        let mut state = self.state.lock().unwrap();
        let floor = state.idle_next.unwrap_or(gst::ClockTime::ZERO);
        let base = now.map_or(floor, |n| n.saturating_sub(latency).max(floor));
        state.idle_next = Some(base + IDLE_STEP);
    }

    fn push_far(&self, buf: &gst::Buffer) {
        let seg = self.far_pad.segment().downcast::<gst::ClockTime>().ok();
        let rt = buf
            .pts()
            .and_then(|p| seg.as_ref().and_then(|s| s.to_running_time(p)))
            .map(gst::ClockTime::nseconds);
        let mut state = self.state.lock().unwrap();
        let Some(far_info) = state.far_info.clone() else {
            return;
        };
        let Some(far) = state.far.as_mut() else {
            return;
        };
        let bpf = far_info.bpf() as usize;
        if buf.flags().contains(gst::BufferFlags::GAP) && buf.size() == 0 {
            let frames = buf
                .duration()
                .and_then(|d| {
                    d.nseconds()
                        .mul_div_floor(u64::from(far_info.rate()), 1_000_000_000)
                })
                .unwrap_or(0) as usize;
            far.push(rt, &[], frames);
            return;
        }
        let Ok(map) = buf.map_readable() else {
            return;
        };
        if bpf == 0 || !map.len().is_multiple_of(bpf) {
            if !state.far_warned {
                state.far_warned = true;
                drop(map);
                drop(state);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    (
                        "Far-end buffer of {} bytes is not a whole number of frames; ignored",
                        buf.size()
                    )
                );
            }
            return;
        }
        let samples = to_f32(&map, far_info.format());
        far.push(rt, &samples, 0);
    }

    /// Processes one near-end buffer; returns what to send.
    fn process_near(
        &self,
        buf: &gst::Buffer,
        segment: &gst::FormattedSegment<gst::ClockTime>,
    ) -> Result<Outgoing, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut state = self.state.lock().unwrap();
        let mut out = Outgoing::default();
        let state = &mut *state;
        let near = state.near.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let bpf = near.info.bpf() as usize;
        let channels = near.channels();

        // Incoming samples, as f32.
        let gap = buf.flags().contains(gst::BufferFlags::GAP) && buf.size() == 0;
        let samples: Vec<f32> = if gap {
            let frames = buf
                .duration()
                .and_then(|d| {
                    d.nseconds()
                        .mul_div_floor(u64::from(near.rate()), 1_000_000_000)
                })
                .unwrap_or(0);
            // A GAP may claim any duration (a broken jitter buffer: hours);
            // materialising it would exhaust memory and abort the process.
            // Beyond the cap the output jumps, like after a discontinuity.
            let max = u64::from(near.rate()) * MAX_GAP_SECONDS;
            if frames > max && !state.warned_long_gap {
                state.warned_long_gap = true;
                gst::warning!(
                    CAT,
                    imp = self,
                    "GAP buffer of {} on the near end: only {MAX_GAP_SECONDS} s of it is \
                     output as silence, the output jumps over the rest",
                    buf.duration().display()
                );
            }
            vec![0.0; frames.min(max) as usize * channels]
        } else {
            let map = buf.map_readable().map_err(|_| {
                gst::element_imp_error!(self, gst::StreamError::Format, ("Could not map buffer"));
                gst::FlowError::Error
            })?;
            if !map.len().is_multiple_of(bpf) {
                let len = map.len();
                drop(map);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Buffer of {len} bytes is not a whole number of {bpf}-byte frames")
                );
                return Err(gst::FlowError::Error);
            }
            to_f32(&map, near.info.format())
        };

        // Timestamps: follow the input, but keep output continuous.
        match buf.pts() {
            Some(pts) => {
                let expected = near.expected_pts();
                let tolerance = near.frames_to_time(near.spf as u64 / 2);
                let jumped = expected.is_none_or(|e| e.absdiff(pts) > tolerance);
                if jumped || buf.flags().contains(gst::BufferFlags::DISCONT) {
                    if near.base_pts.is_some() {
                        // Emit what waits (and what WebRTC still holds), padded, before jumping.
                        near.push_tail();
                        if !near.acc.is_empty() {
                            self.process_frames(&settings, state, segment, true, &mut out);
                        }
                    }
                    let near = state.near.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
                    // The new stream position starts with WebRTC's delay again.
                    near.delay = None;
                    let near = state.near.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
                    gst::debug!(
                        CAT,
                        imp = self,
                        "Near end resyncs at {pts} (expected {}, discont {})",
                        expected.display(),
                        buf.flags().contains(gst::BufferFlags::DISCONT)
                    );
                    near.base_pts = Some(pts);
                    near.emitted = 0;
                }
            }
            None => {
                if !state.warned_no_pts {
                    state.warned_no_pts = true;
                    gst::warning!(
                        CAT,
                        imp = self,
                        "Near-end buffer without PTS: continuing from the sample count"
                    );
                }
                let near = state.near.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
                if near.base_pts.is_none() {
                    near.base_pts = Some(segment.start().unwrap_or(gst::ClockTime::ZERO));
                }
            }
        }
        if let Some(near) = state.near.as_mut() {
            near.acc.extend_from_slice(&samples);
        }
        self.process_frames(&settings, state, segment, false, &mut out);
        Ok(out)
    }

    /// Runs every complete frame in the accumulator (with `pad`, also the last
    /// partial one, padded with silence but output at its real length).
    fn process_frames(
        &self,
        settings: &Settings,
        state: &mut State,
        segment: &gst::FormattedSegment<gst::ClockTime>,
        pad: bool,
        out: &mut Outgoing,
    ) {
        let Some(near) = state.near.as_mut() else {
            return;
        };
        let _flush = FlushDenormals::new();
        let channels = near.channels();
        let n = near.spf * channels;
        let real_frames = near.acc.len() / channels;
        if pad && !near.acc.len().is_multiple_of(n) {
            let full = near.acc.len().div_ceil(n) * n;
            near.acc.resize(full, 0.0);
        }
        let frames = near.acc.len() / n;
        if frames == 0 {
            return;
        }
        let out_frames = if pad { real_frames } else { frames * near.spf };

        if near.delay.is_none() {
            let d = dsp_delay(near.rate(), settings);
            near.delay = Some(d);
            near.skip = d;
            near.dry.clear();
            near.dry.extend(std::iter::repeat_n(0.0, d * channels));
        }
        if settings.echo_cancel != near.processor_aec3 {
            // Switching echo cancellation resets WebRTC's state either way.
            match make_processor(near.rate(), settings.echo_cancel) {
                Ok(p) => {
                    near.processor = p;
                    near.processor_aec3 = settings.echo_cancel;
                    near.applied = None;
                }
                Err(e) if !near.warned_dsp => {
                    near.warned_dsp = true;
                    out.warning = Some(format!("Could not rebuild the WebRTC processor ({e})"));
                }
                Err(_) => {}
            }
        }
        if near.applied.as_ref() != Some(settings) {
            near.processor.set_config(settings.webrtc_config());
            near.applied = Some(settings.clone());
        }
        let bypass = settings.bypass();
        let base = near.base_pts.unwrap_or(gst::ClockTime::ZERO);
        near.out.clear();
        near.near_db.clear();
        near.linear.clear();
        // The first sample in `acc` comes after what was output and what
        // WebRTC still holds (`held`). Each frame is paired with the far end
        // of the instant `held` earlier: the reference leads the microphone
        // by WebRTC's processing delay (8 ms at 16 kHz). That headroom is
        // kept on purpose: pairing them exactly made AEC3 leak more echo in
        // the first prompts of the 1000-scene evaluation corpus (17 false
        // interruptions instead of 9 in 3.2 h, the same callers caught).
        let held = near.delay.unwrap_or(0).saturating_sub(near.skip) as u64;
        let near_start = base + near.frames_to_time(near.emitted + held);
        let hangover = FAR_HANGOVER_MS / 10;
        for f in 0..frames {
            let first = near.emitted + (f * near.spf) as u64;
            let pts = base + near.frames_to_time(first);
            let rt = segment.to_running_time(pts).map(gst::ClockTime::nseconds);
            let frame = &near.acc[f * n..(f + 1) * n];

            let has_far = match (state.far.as_mut(), rt) {
                (Some(far), Some(rt)) => far.take(rt, &mut near.far_frame),
                _ => {
                    near.far_frame.fill(0.0);
                    false
                }
            };
            if !has_far {
                state.far_missing_frames += 1;
            }
            let level = audio::level_db(&near.far_frame);
            state.far_level_db = level;
            if level > FAR_ACTIVE_DB {
                state.far_active = true;
                state.hangover_frames = hangover;
            } else if state.hangover_frames > 0 {
                state.hangover_frames -= 1;
            } else {
                state.far_active = false;
            }

            let far_now = level > FAR_ACTIVE_DB;
            near.mono.clear();
            near.mono.extend(
                frame
                    .chunks(channels)
                    .map(|c| c.iter().sum::<f32>() / channels as f32),
            );
            let unexplained = near
                .nearend
                .update(&near.far_frame, &near.mono, state.far_active);
            near.near_db.push(f64::from(unexplained));
            let frame_pts = near_start + near.frames_to_time((f * near.spf) as u64);
            near.keys
                .push(&near.mono, &near.far_frame, frame_pts, near.info.rate());
            let echo_free = state.gate.update(
                &near.far_frame,
                &near.mono,
                audio::level_db(&near.mono),
                far_now,
            );

            let start = near.out.len();
            if bypass {
                near.out.extend_from_slice(frame);
            } else {
                for (ch, cap) in near.cap.iter_mut().enumerate() {
                    for (j, v) in cap.iter_mut().enumerate() {
                        *v = frame.get(j * channels + ch).copied().unwrap_or(0.0);
                    }
                }
                let res = near
                    .processor
                    .analyze_render_frame([near.far_frame.as_slice()])
                    .and_then(|_| near.processor.process_capture_frame(near.cap.iter_mut()));
                match res {
                    Ok(()) => {
                        if let Some(lin) = near.processor.linear_aec_output() {
                            near.linear.extend_from_slice(&lin);
                        }
                        for j in 0..near.spf {
                            for cap in &near.cap {
                                near.out.push(cap.get(j).copied().unwrap_or(0.0));
                            }
                        }
                    }
                    Err(e) => {
                        if !near.warned_dsp {
                            near.warned_dsp = true;
                            out.warning = Some(format!(
                                "WebRTC processing failed ({e}); passing audio through"
                            ));
                        }
                        near.out.extend_from_slice(frame);
                    }
                }
            }

            // The input, delayed like the processed output; mixed in when
            // there is no echo path, with a ramp over one frame either way.
            near.dry.extend(frame.iter().copied());
            let target = if echo_free && !bypass { 1.0 } else { 0.0 };
            let samples = near.out.len() - start;
            let step = (target - near.dry_mix) / (samples / channels).max(1) as f32;
            for (j, v) in near.out[start..].iter_mut().enumerate() {
                let d = near.dry.pop_front().unwrap_or(0.0);
                if j % channels == 0 && near.dry_mix != target {
                    near.dry_mix += step;
                }
                *v = *v * (1.0 - near.dry_mix) + d * near.dry_mix;
            }
            near.dry_mix = target;

            // Echo reduction measured while only the far end plays: the
            // near end then is echo (plus noise).
            if state.far_active && settings.echo_cancel {
                let e_in = audio::mean_square(frame);
                let e_out = audio::mean_square(&near.out[start..]);
                let a = 1.0 / ERLE_SMOOTHING_FRAMES;
                state.erle_in = (1.0 - a) * state.erle_in + a * e_in;
                state.erle_out = (1.0 - a) * state.erle_out + a * e_out;
                let erle = 10.0 * (state.erle_in / state.erle_out.max(1e-12)).log10();
                if erle > CONVERGED_ERLE_DB && state.erle_in > 1e-7 {
                    state.converged = true;
                }
            }
            state.frames += 1;
            state.frames_since_stats += 1;
        }

        // Output buffer in the near end's format, continuous timestamps.
        let format = near.info.format();
        let produced_len = (out_frames * channels).min(near.out.len());
        let skip = near.skip.min(produced_len / channels);
        near.skip -= skip;
        let out_frames = out_frames - skip;
        let produced = &near.out[skip * channels..produced_len];
        let pts = base + near.frames_to_time(near.emitted);
        let end = base + near.frames_to_time(near.emitted + out_frames as u64);
        let mut buffer = from_f32(produced, format);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            b.set_duration(end - pts);
            let meta = protocol::NearEnd {
                start: near_start,
                step: near.frames_to_time(near.spf as u64),
                unexplained_db: std::mem::take(&mut near.near_db),
                keys: Some(std::mem::take(&mut near.keys.keys)),
                // Only whole: a frame where WebRTC failed has none.
                linear: (near.linear.len() == frames * LINEAR_FRAME)
                    .then(|| std::mem::take(&mut near.linear)),
            };
            if let Err(e) = meta.attach(b) {
                gst::warning!(CAT, imp = self, "Could not attach the near-end meta: {e}");
            }
            // Handed back, so the next buffer reuses its allocation.
            near.near_db = meta.unexplained_db;
            if let Some(mut keys) = meta.keys {
                keys.clear();
                near.keys.keys = keys;
            }
            if let Some(mut linear) = meta.linear {
                linear.clear();
                near.linear = linear;
            }
        }
        near.emitted += out_frames as u64;
        near.acc.drain(..frames * n);
        if pad {
            near.acc.clear();
        }

        out.buffer = match out.buffer.take() {
            // A padded remainder before a jump, then this buffer: send both as one list
            // would complicate; merge instead (both are contiguous at the old base).
            Some(prev) => Some(append(prev, buffer)),
            None => Some(buffer),
        };

        let now = (state.far_active, state.converged, state.gate.echo_free());
        if state.sent_activity != Some(now) {
            state.sent_activity = Some(now);
            out.activity = Some(protocol::FarActivity {
                active: state.far_active,
                level_db: state.far_level_db,
                converged: state.converged,
                echo: !state.gate.echo_free(),
            });
        }

        state.drift_cooldown = state.drift_cooldown.saturating_sub(frames as u64);
        if state.far_active {
            state.drift_far_frames += frames as u64;
        }
        // Also while the gate passes the microphone through: a quiet echo
        // that drifted past the gate's correlation window would never be
        // found again otherwise.
        if state.drift_cooldown == 0
            && state.far_active
            && state.drift_far_frames >= DRIFT_BASE_FRAMES
        {
            state.drift_cooldown = DRIFT_CHECK_FRAMES;
            let delay = near.processor.get_stats().delay_ms.map(i64::from);
            if let (Some(d), Some(far)) = (delay, state.far.as_mut()) {
                let base = *state.drift_base_ms.get_or_insert(d);
                let lead = far.take_lead_min();
                let step = self.follow_drift(d, base, lead, far);
                if step.short {
                    far.want_spare();
                }
                let offset_ms = far.offset() * 1000 / i64::from(far.rate());
                if step.moved {
                    state.drift_cooldown = DRIFT_SETTLE_FRAMES;
                }
                state.drift_short_checks = if step.short {
                    state.drift_short_checks + 1
                } else {
                    0
                };
                if state.drift_short_checks >= DRIFT_SHORT_CHECKS && !state.warned_slow_mic {
                    state.warned_slow_mic = true;
                    out.slow_mic = Some(format!(
                        "AEC3 finds the echo at {d} ms, {} ms earlier than when it converged \
                         ({base} ms); the reference is handed out {} ms early, as far as \
                         far_sink's audio arrives ahead of the microphone's",
                        base - d,
                        -offset_ms.min(0)
                    ));
                }
            }
        } else if !state.far_active {
            // Lookahead is judged over the far end's activity before a check.
            if let Some(far) = state.far.as_mut() {
                far.take_lead_min();
            }
        }

        if settings.stats_interval_ms > 0
            && state.frames_since_stats * 10 >= u64::from(settings.stats_interval_ms)
        {
            state.frames_since_stats = 0;
            let st = near.processor.get_stats();
            state.stats = protocol::AecStats {
                erle_db: st.echo_return_loss_enhancement.unwrap_or(f64::NAN),
                erl_db: st.echo_return_loss.unwrap_or(f64::NAN),
                delay_ms: st.delay_ms.map_or(-1, |d| d as i32),
                residual_echo_likelihood: st.residual_echo_likelihood.unwrap_or(f64::NAN),
                residual_echo_likelihood_recent_max: st
                    .residual_echo_likelihood_recent_max
                    .unwrap_or(f64::NAN),
                measured_erle_db: if state.erle_in > 0.0 {
                    10.0 * (state.erle_in / state.erle_out.max(1e-12)).log10()
                } else {
                    f64::NAN
                },
                far_active: state.far_active,
                frames: state.frames,
                far_missing_frames: state.far_missing_frames,
                echo_free: state.gate.echo_free(),
            };
            out.stats = Some(state.stats.clone());
        }
    }

    /// End of the near end: the partial frame goes out, padded for WebRTC.
    fn drain(&self) -> Outgoing {
        let settings = self.settings.lock().unwrap().clone();
        let segment = self
            .near_pad
            .segment()
            .downcast::<gst::ClockTime>()
            .unwrap_or_else(|_| gst::FormattedSegment::new());
        let mut state = self.state.lock().unwrap();
        let mut out = Outgoing::default();
        if let Some(near) = state.near.as_mut() {
            near.push_tail();
        }
        if state.near.as_ref().is_some_and(|n| !n.acc.is_empty()) {
            self.process_frames(&settings, &mut state, &segment, true, &mut out);
        }
        out
    }

    /// Sends what processing produced, with no lock held.
    fn send(&self, out: Outgoing) -> Result<gst::FlowSuccess, gst::FlowError> {
        if let Some(w) = out.warning {
            gst::element_imp_warning!(self, gst::LibraryError::Failed, ("{w}"));
        }
        if let Some(details) = out.slow_mic {
            gst::element_imp_warning!(
                self,
                gst::CoreError::Clock,
                ("The microphone clock runs slow against the playback clock: the echo comes \
                     before its reference and is no longer cancelled. Feed far_sink ahead of the \
                     audio sink (tee before the sink's queue), put both on one clock, or \
                     resample the microphone."),
                ["{details}"]
            );
        }
        let obj = self.obj();
        let mut result = Ok(gst::FlowSuccess::Ok);
        if let Some(buffer) = out.buffer.filter(|b| b.size() > 0) {
            let started = std::mem::replace(&mut self.state.lock().unwrap().output_started, true);
            // The activity event describes this buffer, so it goes just before
            // it — except before the very first buffer, which carries caps and
            // segment downstream first.
            if started && let Some(a) = out.activity.as_ref() {
                self.send_activity(a);
            }
            result = obj.finish_buffer(buffer);
            if !started && let Some(a) = out.activity.as_ref() {
                self.send_activity(a);
            }
        }
        if let Some(stats) = out.stats {
            let _ = obj.post_message(stats.message(&*obj));
            obj.notify("stats");
        }
        result
    }

    fn send_activity(&self, a: &protocol::FarActivity) {
        gst::debug!(
            CAT,
            imp = self,
            "Far end active={} ({:.1} dBFS) converged={}",
            a.active,
            a.level_db,
            a.converged
        );
        if !self.obj().src_pad().push_event(a.downstream_event()) {
            gst::debug!(
                CAT,
                imp = self,
                "Nobody downstream took the far-activity event"
            );
        }
    }
}

fn to_f32(bytes: &[u8], format: gst_audio::AudioFormat) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    audio::decode_into(bytes, format, &mut out);
    // A NaN or infinity from a broken upstream would panic the far end's FFT
    // resampler (realfft refuses a non-finite DC bin) and poison AEC3's
    // adaptive filter for the rest of the call: treat it as silence.
    for v in out.iter_mut().filter(|v| !v.is_finite()) {
        *v = 0.0;
    }
    out
}

fn from_f32(samples: &[f32], format: gst_audio::AudioFormat) -> gst::Buffer {
    let mut bytes = Vec::with_capacity(samples.len() * 4);
    for &v in samples {
        audio::encode_into(v, format, &mut bytes);
    }
    gst::Buffer::from_mut_slice(bytes)
}

/// Joins two contiguous output buffers into one. Buffer memory is joined by
/// GStreamer but metas are not: the near-end values of both are kept, in
/// order, or the detector would lose the second buffer's frames.
fn append(first: gst::Buffer, second: gst::Buffer) -> gst::Buffer {
    let pts = first.pts();
    let dur = first.duration().zip(second.duration()).map(|(a, b)| a + b);
    let near = match (
        protocol::NearEnd::from_buffer(&first),
        protocol::NearEnd::from_buffer(&second),
    ) {
        (Some(Ok(mut a)), Some(Ok(b))) => {
            // The linear output joins only if it covers all of the first
            // part's frames: else the second part's would be misplaced.
            let whole = a.unexplained_db.len() * LINEAR_FRAME;
            a.linear = match (a.linear.take(), b.linear) {
                (Some(mut la), Some(lb)) if la.len() == whole => {
                    la.extend(lb);
                    Some(la)
                }
                _ => None,
            };
            a.unexplained_db.extend(b.unexplained_db);
            if let (Some(ka), Some(kb)) = (a.keys.as_mut(), b.keys) {
                ka.extend(kb);
            }
            Some(a)
        }
        (None, Some(Ok(b))) => Some(b),
        _ => None,
    };
    let mut joined = first;
    joined.append(second);
    if let Some(b) = joined.get_mut() {
        b.set_pts(pts);
        b.set_duration(dur);
        if let Some(near) = near {
            // Attaching can only fail if the meta cannot be registered, which
            // the first buffer's meta already proved it could.
            let _ = near.attach(b);
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_near(samples: usize, pts_ms: u64, values: &[f64]) -> gst::Buffer {
        let mut buf = gst::Buffer::with_size(samples * 4).expect("buffer");
        let b = buf.get_mut().expect("writable");
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(samples as u64 / 16));
        protocol::NearEnd {
            start: gst::ClockTime::from_mseconds(pts_ms),
            step: gst::ClockTime::from_mseconds(10),
            unexplained_db: values.to_vec(),
            keys: None,
            linear: Some(vec![values[0] as f32; values.len() * LINEAR_FRAME]),
        }
        .attach(b)
        .expect("meta");
        buf
    }

    #[test]
    fn a_merged_buffer_keeps_the_near_end_values_of_both() {
        gst::init().expect("gst");
        let joined = append(
            with_near(320, 0, &[-1.0, -2.0]),
            with_near(160, 20, &[-3.0]),
        );
        assert_eq!(joined.size(), 480 * 4);
        assert_eq!(joined.duration(), Some(gst::ClockTime::from_mseconds(30)));
        let near = protocol::NearEnd::from_buffer(&joined)
            .expect("meta kept")
            .expect("well formed");
        assert_eq!(near.start, gst::ClockTime::ZERO);
        assert_eq!(near.unexplained_db, vec![-1.0, -2.0, -3.0]);
        let linear = near.linear.expect("linear output kept");
        assert_eq!(linear.len(), 3 * LINEAR_FRAME);
        assert_eq!(linear[2 * LINEAR_FRAME - 1], -1.0);
        assert_eq!(linear[2 * LINEAR_FRAME], -3.0);
    }
}
