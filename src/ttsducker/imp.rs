// Lock order: `settings`, then `state`; `requests` is only taken alone.
// Requests (upstream events, action signals) are recorded under `requests`
// and acted on by the TTS streaming thread in transform_ip, which is also
// where a pause waits (on `wake`). No lock is held while pushing or posting.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::subclass::prelude::*;
use gst_base::prelude::*;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::marks::Ledger;
use super::ramp::{Ramp, db_to_gain};
use super::{ConfirmedAction, TentativeAction};
use crate::audio;
use crate::protocol::{self, Stage, Structure};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "ttsducker",
        gst::DebugColorFlags::empty(),
        Some("TTS ducker"),
    )
});

const DEFAULT_TENTATIVE_ACTION: TentativeAction = TentativeAction::Duck;
const DEFAULT_CONFIRMED_ACTION: ConfirmedAction = ConfirmedAction::Stop;
const DEFAULT_DUCK_LEVEL_DB: f64 = -20.0;
const DEFAULT_ATTACK_MS: u32 = 10;
const DEFAULT_RELEASE_MS: u32 = 200;
const DEFAULT_MAX_HOLD_MS: u32 = 10_000;
const DEFAULT_PROTECTED: bool = false;

#[derive(Debug, Clone)]
struct Settings {
    tentative_action: TentativeAction,
    confirmed_action: ConfirmedAction,
    duck_level_db: f64,
    attack_ms: u32,
    release_ms: u32,
    max_hold_ms: u32,
    protected: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tentative_action: DEFAULT_TENTATIVE_ACTION,
            confirmed_action: DEFAULT_CONFIRMED_ACTION,
            duck_level_db: DEFAULT_DUCK_LEVEL_DB,
            attack_ms: DEFAULT_ATTACK_MS,
            release_ms: DEFAULT_RELEASE_MS,
            max_hold_ms: DEFAULT_MAX_HOLD_MS,
            protected: DEFAULT_PROTECTED,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Request {
    Interrupt {
        stage: Stage,
        source: protocol::Source,
        onset: gst::ClockTime,
    },
    Release,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Playing,
    Ducked,
    Paused,
    Stopped,
}

struct State {
    info: Option<gst_audio::AudioInfo>,
    ramp: Ramp,
    mode: Mode,
    /// The decision acted on last, so that one arriving by two upstream
    /// paths (e.g. far_sink and a room simulation) acts once.
    last_decision: Option<(Stage, protocol::Source, gst::ClockTime)>,
    /// Samples (per channel) of the current utterance that left the element.
    utterance_pos: u64,
    ledger: Ledger,
    protected_by_stream: bool,
    stage: Option<Stage>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            info: None,
            ramp: Ramp::default(),
            mode: Mode::Playing,
            last_decision: None,
            utterance_pos: 0,
            ledger: Ledger::default(),
            protected_by_stream: false,
            stage: None,
        }
    }
}

impl State {
    fn new_utterance(&mut self) {
        self.utterance_pos = 0;
        self.ledger.clear();
        self.last_decision = None;
    }
}

/// What the streaming thread sends after deciding (no lock held).
enum Out {
    Message(gst::Structure),
    Flush,
}

pub struct TtsDucker {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    requests: Mutex<Vec<Request>>,
    wake: Condvar,
    flushing: std::sync::atomic::AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for TtsDucker {
    const NAME: &'static str = "GstTtsDucker";
    type Type = super::TtsDucker;
    type ParentType = gst_audio::AudioFilter;

    fn new() -> Self {
        Self {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            requests: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            flushing: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for TtsDucker {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default(
                    "tentative-action",
                    DEFAULT_TENTATIVE_ACTION,
                )
                .nick("Tentative action")
                .blurb("What a tentative barge-in (speech just started) does")
                .mutable_playing()
                .build(),
                glib::ParamSpecEnum::builder_with_default(
                    "confirmed-action",
                    DEFAULT_CONFIRMED_ACTION,
                )
                .nick("Confirmed action")
                .blurb("What a confirmed barge-in (sustained speech, a key press) does")
                .mutable_playing()
                .build(),
                glib::ParamSpecDouble::builder("duck-level-db")
                    .nick("Duck level")
                    .blurb("Gain in dB while ducked (-90 is silence, 0 no change)")
                    .minimum(-90.0)
                    .maximum(0.0)
                    .default_value(DEFAULT_DUCK_LEVEL_DB)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("attack-ms")
                    .nick("Attack")
                    .blurb("Ramp time in ms down to the duck level (0 = a step, which clicks)")
                    .minimum(0)
                    .maximum(2000)
                    .default_value(DEFAULT_ATTACK_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("release-ms")
                    .nick("Release")
                    .blurb("Ramp time in ms back to full volume after a false alarm")
                    .minimum(0)
                    .maximum(5000)
                    .default_value(DEFAULT_RELEASE_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-hold-ms")
                    .nick("Maximum hold")
                    .blurb(
                        "Longest pause in ms; then playback resumes with a warning so the \
                         TTS is never held forever",
                    )
                    .minimum(1)
                    .maximum(600_000)
                    .default_value(DEFAULT_MAX_HOLD_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("protected")
                    .nick("Protected")
                    .blurb(
                        "The audio may not be interrupted (legal notice, payment \
                         confirmation): decisions post bargein-suppressed instead",
                    )
                    .default_value(DEFAULT_PROTECTED)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("interrupt")
                    .param_types([String::static_type()])
                    .action()
                    .class_handler(|args| {
                        let el = args[0].get::<super::TtsDucker>().expect("signal arg");
                        let stage = args[1].get::<String>().unwrap_or_default();
                        match Stage::parse(&stage) {
                            Some(stage) => el.imp().request(Request::Interrupt {
                                stage,
                                source: protocol::Source::Speech,
                                onset: gst::ClockTime::ZERO,
                            }),
                            None => {
                                gst::warning!(CAT, obj = el, "interrupt: unknown stage {stage:?}")
                            }
                        }
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("release")
                    .action()
                    .class_handler(|args| {
                        let el = args[0].get::<super::TtsDucker>().expect("signal arg");
                        el.imp().request(Request::Release);
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("reset")
                    .action()
                    .class_handler(|args| {
                        let el = args[0].get::<super::TtsDucker>().expect("signal arg");
                        el.imp().request(Request::Reset);
                        None
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let obj = self.obj();
        macro_rules! set {
            ($field:ident) => {
                crate::props::set_logged(&*obj, *CAT, pspec, &mut s.$field, value)
            };
        }
        match pspec.name() {
            "tentative-action" => set!(tentative_action),
            "confirmed-action" => set!(confirmed_action),
            "duck-level-db" => set!(duck_level_db),
            "attack-ms" => set!(attack_ms),
            "release-ms" => set!(release_ms),
            "max-hold-ms" => set!(max_hold_ms),
            "protected" => set!(protected),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "tentative-action" => s.tentative_action.to_value(),
            "confirmed-action" => s.confirmed_action.to_value(),
            "duck-level-db" => s.duck_level_db.to_value(),
            "attack-ms" => s.attack_ms.to_value(),
            "release-ms" => s.release_ms.to_value(),
            "max-hold-ms" => s.max_hold_ms.to_value(),
            "protected" => s.protected.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for TtsDucker {}

impl ElementImpl for TtsDucker {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "TTS ducker",
                "Filter/Effect/Audio",
                "Ducks, pauses or stops the machine's speech on bargein / bargein-release \
                 events from downstream (or its action signals); honours protected \
                 segments and reports which tts-mark texts the listener heard",
                "gst-bargein developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = audio::SUPPORTED_CAPS.clone();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            // A paused TTS thread must not hold up the state change.
            self.flushing
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let _g = self.requests.lock().unwrap();
            self.wake.notify_all();
        }
        if transition == gst::StateChange::ReadyToPaused {
            self.flushing
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.parent_change_state(transition)
    }
}

impl BaseTransformImpl for TtsDucker {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        self.requests.lock().unwrap().clear();
        Ok(())
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::CustomUpstream {
            match protocol::Bargein::from_event(&event) {
                Ok(b) => self.request(Request::Interrupt {
                    stage: b.stage,
                    source: b.source,
                    onset: b.onset,
                }),
                Err(protocol::ParseError::BadField(f)) => {
                    gst::warning!(CAT, imp = self, "Ignoring malformed bargein event ({f})")
                }
                Err(protocol::ParseError::OtherName) => {
                    match protocol::BargeinRelease::from_event(&event) {
                        Ok(_) => self.request(Request::Release),
                        Err(protocol::ParseError::BadField(f)) => {
                            gst::warning!(
                                CAT,
                                imp = self,
                                "Ignoring malformed bargein-release event ({f})"
                            )
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        // Upstream, a TTS source that understands the decision can stop generating.
        self.parent_src_event(event)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let mut resumed = None;
        match event.view() {
            gst::EventView::CustomDownstream(_) => {
                if let Ok(mark) = protocol::TtsMark::from_event(&event) {
                    let mut st = self.state.lock().unwrap();
                    if mark.new_utterance {
                        if st.mode == Mode::Stopped {
                            resumed = Some("new-utterance");
                        }
                        st.mode = Mode::Playing;
                        st.ramp.to(1.0, 0);
                        st.new_utterance();
                    }
                    let at = st.utterance_pos;
                    st.ledger.mark(at, &mark.text);
                } else if let Ok(p) = protocol::Protect::from_event(&event) {
                    self.state.lock().unwrap().protected_by_stream = p.protected;
                    gst::info!(CAT, imp = self, "Protected by the stream: {}", p.protected);
                }
            }
            gst::EventView::StreamStart(_) | gst::EventView::FlushStop(_) => {
                let mut st = self.state.lock().unwrap();
                if st.mode != Mode::Playing {
                    resumed = Some("new-utterance");
                }
                st.mode = Mode::Playing;
                st.ramp.to(1.0, 0);
                st.new_utterance();
            }
            gst::EventView::FlushStart(_) => {
                let _g = self.requests.lock().unwrap();
                self.wake.notify_all();
            }
            _ => {}
        }
        if let Some(reason) = resumed {
            self.post(
                protocol::TtsResumed {
                    position: gst::ClockTime::ZERO,
                    reason: reason.into(),
                }
                .to_structure(),
            );
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let pending = std::mem::take(&mut *self.requests.lock().unwrap());
        let latency = if pending
            .iter()
            .any(|r| matches!(r, Request::Interrupt { .. }))
        {
            self.downstream_latency()
        } else {
            gst::ClockTime::ZERO
        };
        let mut outs = Vec::new();
        {
            let mut st = self.state.lock().unwrap();
            for r in pending {
                self.handle(&settings, &mut st, r, latency, buf.pts(), &mut outs);
            }
        }
        let flush = outs.iter().any(|o| matches!(o, Out::Flush));
        for o in outs {
            if let Out::Message(s) = o {
                self.post(s);
            }
        }
        if flush {
            self.flush_downstream();
        }

        // A pause holds this very buffer until release: nothing lost or repeated.
        if self.state.lock().unwrap().mode == Mode::Paused {
            self.hold(&settings)?;
        }

        let mut st = self.state.lock().unwrap();
        let info = st.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let channels = info.channels() as usize;
        let frames = buf.size() / (info.bpf() as usize).max(1);
        if st.mode == Mode::Stopped {
            drop(st);
            // The rest of the utterance is dropped; a GAP keeps live sinks and
            // the echo canceller's far end going.
            if let Some(pts) = buf.pts() {
                let gap = gst::event::Gap::builder(pts)
                    .duration(buf.duration())
                    .build();
                let _ = self.obj().src_pad().push_event(gap);
            }
            return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
        }
        st.utterance_pos += frames as u64;
        if st.ramp.is_unity() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut map = buf.map_writable().map_err(|_| gst::FlowError::Error)?;
        match info.format() {
            gst_audio::AudioFormat::S16le => {
                for frame in map.chunks_exact_mut(2 * channels) {
                    let g = st.ramp.next();
                    for c in frame.chunks_exact_mut(2) {
                        let v = audio::s16_to_f32(i16::from_le_bytes([c[0], c[1]])) * g;
                        c.copy_from_slice(&audio::f32_to_s16(v).to_le_bytes());
                    }
                }
            }
            _ => {
                for frame in map.chunks_exact_mut(4 * channels) {
                    let g = st.ramp.next();
                    for c in frame.chunks_exact_mut(4) {
                        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * g;
                        c.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl AudioFilterImpl for TtsDucker {
    fn allowed_caps() -> &'static gst::Caps {
        &audio::SUPPORTED_CAPS
    }

    fn setup(&self, info: &gst_audio::AudioInfo) -> Result<(), gst::LoggableError> {
        gst::info!(CAT, imp = self, "Configured for {info:?}");
        self.state.lock().unwrap().info = Some(info.clone());
        Ok(())
    }
}

impl TtsDucker {
    /// Records a request from an event or signal; never blocks or pushes.
    fn request(&self, r: Request) {
        gst::debug!(CAT, imp = self, "Request {r:?}");
        self.requests.lock().unwrap().push(r);
        self.wake.notify_all();
    }

    fn post(&self, s: gst::Structure) {
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
    }

    /// How long audio takes from here to the listener (sinks, queues).
    fn downstream_latency(&self) -> gst::ClockTime {
        let mut q = gst::query::Latency::new();
        if self.obj().src_pad().peer_query(&mut q) {
            let (_, min, _) = q.result();
            min
        } else {
            gst::ClockTime::ZERO
        }
    }

    fn handle(
        &self,
        settings: &Settings,
        st: &mut State,
        r: Request,
        latency: gst::ClockTime,
        pts: Option<gst::ClockTime>,
        outs: &mut Vec<Out>,
    ) {
        let rate = st.info.as_ref().map_or(16000, |i| u64::from(i.rate()));
        let ms = |v: u32| u64::from(v) * rate / 1000;
        match r {
            Request::Interrupt {
                stage,
                source,
                onset,
            } => {
                let key = (stage, source, onset);
                if st.last_decision == Some(key) && onset != gst::ClockTime::ZERO {
                    return; // the same decision by another path
                }
                st.last_decision = Some(key);
                if settings.protected || st.protected_by_stream {
                    gst::info!(
                        CAT,
                        imp = self,
                        "Protected: {} barge-in suppressed",
                        stage.as_str()
                    );
                    outs.push(Out::Message(
                        protocol::Suppressed {
                            stage,
                            source,
                            onset,
                        }
                        .to_structure(),
                    ));
                    return;
                }
                if st.mode == Mode::Stopped {
                    return;
                }
                let action = match stage {
                    Stage::Tentative => match settings.tentative_action {
                        TentativeAction::None => return,
                        TentativeAction::Duck => "duck",
                        TentativeAction::Pause => "pause",
                    },
                    Stage::Confirmed => match settings.confirmed_action {
                        ConfirmedAction::Duck => "duck",
                        ConfirmedAction::Pause => "pause",
                        ConfirmedAction::Stop => "stop",
                    },
                };
                match action {
                    "duck" => {
                        st.ramp
                            .to(db_to_gain(settings.duck_level_db), ms(settings.attack_ms));
                        st.mode = Mode::Ducked;
                    }
                    "pause" => st.mode = Mode::Paused,
                    _ => {
                        st.mode = Mode::Stopped;
                        outs.push(Out::Flush);
                    }
                }
                st.stage = Some(stage);
                // The listener hears what left us `latency` ago.
                let lat = latency
                    .nseconds()
                    .mul_div_floor(rate, 1_000_000_000)
                    .unwrap_or(0);
                let heard = st.utterance_pos.saturating_sub(lat);
                let played = gst::ClockTime::from_nseconds(
                    heard.mul_div_floor(1_000_000_000, rate).unwrap_or(0),
                );
                let position = pts.map_or(played, |p| p.saturating_sub(latency));
                gst::info!(
                    CAT,
                    imp = self,
                    "{} barge-in: {action} after {played}",
                    stage.as_str()
                );
                outs.push(Out::Message(
                    protocol::TtsInterrupted {
                        stage,
                        action: action.into(),
                        position,
                        played,
                        heard_text: st.ledger.heard(heard),
                    }
                    .to_structure(),
                ));
            }
            Request::Release => {
                if matches!(st.mode, Mode::Ducked | Mode::Paused)
                    && st.stage == Some(Stage::Tentative)
                {
                    st.mode = Mode::Playing;
                    st.ramp.to(1.0, ms(settings.release_ms));
                    st.stage = None;
                    st.last_decision = None;
                    outs.push(Out::Message(
                        protocol::TtsResumed {
                            position: pts.unwrap_or(gst::ClockTime::ZERO),
                            reason: "release".into(),
                        }
                        .to_structure(),
                    ));
                }
            }
            Request::Reset => {
                let was = st.mode;
                st.mode = Mode::Playing;
                st.ramp.to(1.0, ms(settings.release_ms));
                st.stage = None;
                st.last_decision = None;
                if was != Mode::Playing {
                    outs.push(Out::Message(
                        protocol::TtsResumed {
                            position: pts.unwrap_or(gst::ClockTime::ZERO),
                            reason: "reset".into(),
                        }
                        .to_structure(),
                    ));
                }
            }
        }
    }

    /// Holds the TTS thread while paused; returns when released, reset,
    /// flushing (error) or after max-hold-ms (with a warning).
    fn hold(&self, settings: &Settings) -> Result<(), gst::FlowError> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(settings.max_hold_ms));
        let mut reqs = self.requests.lock().unwrap();
        loop {
            if self.flushing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            if !reqs.is_empty() {
                let pending = std::mem::take(&mut *reqs);
                drop(reqs);
                let mut outs = Vec::new();
                {
                    let mut st = self.state.lock().unwrap();
                    for r in pending {
                        self.handle(settings, &mut st, r, gst::ClockTime::ZERO, None, &mut outs);
                    }
                }
                let flush = outs.iter().any(|o| matches!(o, Out::Flush));
                for o in outs {
                    if let Out::Message(s) = o {
                        self.post(s);
                    }
                }
                if flush {
                    self.flush_downstream();
                }
                if self.state.lock().unwrap().mode != Mode::Paused {
                    return Ok(());
                }
                reqs = self.requests.lock().unwrap();
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                drop(reqs);
                gst::element_imp_warning!(
                    self,
                    gst::CoreError::Failed,
                    (
                        "TTS paused longer than max-hold-ms ({} ms): resuming",
                        settings.max_hold_ms
                    )
                );
                self.state.lock().unwrap().mode = Mode::Playing;
                return Ok(());
            }
            reqs = self.wake.wait_timeout(reqs, deadline - now).unwrap().0;
        }
    }

    /// Discards what is queued downstream of us. Runs on the TTS streaming
    /// thread, which holds the stream lock, so upstream never sees FLUSHING.
    fn flush_downstream(&self) {
        let obj = self.obj();
        let src = obj.src_pad();
        let seqnum = gst::Seqnum::next();
        gst::info!(CAT, imp = self, "Stop: flushing downstream");
        let _ = src.push_event(gst::event::FlushStart::builder().seqnum(seqnum).build());
        // Keep running time: live sinks and the echo canceller stay in sync.
        let _ = src.push_event(gst::event::FlushStop::builder(false).seqnum(seqnum).build());
        if let Ok(seg) = obj.segment().downcast::<gst::ClockTime>() {
            let _ = src.push_event(gst::event::Segment::builder(&seg).seqnum(seqnum).build());
        }
    }
}
