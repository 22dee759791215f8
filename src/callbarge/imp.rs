// Lock order: the bin's `settings` is shared with the mixer, which may take it
// while holding its own state lock; the bin never holds it across pad calls,
// posting or state changes.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::{Arc, LazyLock, Mutex};

use super::mixer::CallBargeMixer;
use super::routing::{PARTIES, Party};
use super::splitter::{CallBargeSplitter, output_templates};
use super::{CAT, Mode};
use crate::audio;
use crate::protocol::{self, Structure};

const DEFAULT_MODE: Mode = Mode::Off;
const DEFAULT_RAMP_MS: u32 = 20;
const DEFAULT_GAIN: f64 = 1.0;
const DEFAULT_DTMF_CONTROL: bool = true;
const DEFAULT_RATE: u32 = 0;
const MAX_GAIN: f64 = 10.0;
const MAX_RAMP_MS: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    pub(super) mode: Mode,
    pub(super) ramp_ms: u32,
    /// Input gains, indexed by `Party`.
    pub(super) gains: [f64; PARTIES],
    pub(super) dtmf_control: bool,
    pub(super) rate: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: DEFAULT_MODE,
            ramp_ms: DEFAULT_RAMP_MS,
            gains: [DEFAULT_GAIN; PARTIES],
            dtmf_control: DEFAULT_DTMF_CONTROL,
            rate: DEFAULT_RATE,
        }
    }
}

pub struct CallBarge {
    settings: Arc<Mutex<Settings>>,
    mixer: CallBargeMixer,
    splitter: CallBargeSplitter,
}

#[glib::object_subclass]
impl ObjectSubclass for CallBarge {
    const NAME: &'static str = "GstCallBarge";
    type Type = super::CallBarge;
    type ParentType = gst::Bin;

    fn new() -> Self {
        let settings = Arc::new(Mutex::new(Settings::default()));
        let mixer = glib::Object::builder::<CallBargeMixer>()
            .property("name", "mixer")
            .build();
        mixer.attach(settings.clone());
        let splitter = glib::Object::builder::<CallBargeSplitter>()
            .property("name", "splitter")
            .build();
        Self {
            settings,
            mixer,
            splitter,
        }
    }
}

fn gain_property(party: Party) -> &'static str {
    match party {
        Party::Customer => "customer-gain",
        Party::Agent => "agent-gain",
        Party::Supervisor => "supervisor-gain",
    }
}

impl ObjectImpl for CallBarge {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = vec![
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb(
                        "What the supervisor does: off, listen, whisper (to the agent) or \
                         barge (three-way). Applied at the next buffer with a ramp-ms ramp; \
                         every change posts a callbarge-mode message",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("ramp-ms")
                    .nick("Ramp")
                    .blurb(
                        "Duration in ms of the linear gain ramp when the mode or a gain \
                         changes; 0 switches at once (may click)",
                    )
                    .minimum(0)
                    .maximum(MAX_RAMP_MS)
                    .default_value(DEFAULT_RAMP_MS)
                    .mutable_playing()
                    .build(),
            ];
            for party in Party::ALL {
                props.push(
                    glib::ParamSpecDouble::builder(gain_property(party))
                        .nick(match party {
                            Party::Customer => "Customer gain",
                            Party::Agent => "Agent gain",
                            Party::Supervisor => "Supervisor gain",
                        })
                        .blurb(match party {
                            Party::Customer => {
                                "Linear gain of the customer's voice in every output that \
                                 carries it (0 mutes, 1 unchanged)"
                            }
                            Party::Agent => {
                                "Linear gain of the agent's voice in every output that \
                                 carries it (0 mutes, 1 unchanged)"
                            }
                            Party::Supervisor => {
                                "Linear gain of the supervisor's voice in every output that \
                                 carries it (0 mutes, 1 unchanged)"
                            }
                        })
                        .minimum(0.0)
                        .maximum(MAX_GAIN)
                        .default_value(DEFAULT_GAIN)
                        .mutable_playing()
                        .build(),
                );
            }
            props.push(
                glib::ParamSpecBoolean::builder("dtmf-control")
                    .nick("DTMF control")
                    .blurb(
                        "Let the supervisor switch modes with the keypad: 4 listen, \
                         5 whisper, 6 barge (as Asterisk's ChanSpy)",
                    )
                    .default_value(DEFAULT_DTMF_CONTROL)
                    .mutable_playing()
                    .build(),
            );
            props.push(
                glib::ParamSpecUInt::builder("rate")
                    .nick("Rate")
                    .blurb(
                        "Mixing and output rate in Hz (8000, 16000, 32000 or 48000); 0 \
                         follows the customer's rate (or, without a customer, the first \
                         party's). Applied when the call starts",
                    )
                    .minimum(0)
                    .maximum(48000)
                    .default_value(DEFAULT_RATE)
                    .mutable_ready()
                    .build(),
            );
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        let mut s = self.settings.lock().unwrap();
        match name {
            "mode" => {
                let v: Mode = value.get().expect("type checked upstream");
                let old = s.mode;
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing mode from {} to {}",
                    old.as_str(),
                    v.as_str()
                );
                s.mode = v;
                drop(s);
                if old != v {
                    let obj = self.obj();
                    let msg = protocol::CallbargeMode {
                        mode: v.as_str().into(),
                        previous: old.as_str().into(),
                    };
                    let _ = obj.post_message(msg.message(&*obj));
                }
            }
            "ramp-ms" => crate::props::set_logged(&*self.obj(), *CAT, pspec, &mut s.ramp_ms, value),
            "dtmf-control" => {
                crate::props::set_logged(&*self.obj(), *CAT, pspec, &mut s.dtmf_control, value)
            }
            "rate" => {
                let v: u32 = value.get().expect("type checked upstream");
                if v != 0 && !audio::SUPPORTED_RATES.contains(&(v as i32)) {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "Ignoring rate {v}: use 0, 8000, 16000, 32000 or 48000"
                    );
                    return;
                }
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing rate from {} to {v} (applied when the call starts)",
                    s.rate
                );
                s.rate = v;
            }
            other => {
                let Some(party) = Party::ALL.into_iter().find(|p| gain_property(*p) == other)
                else {
                    unimplemented!()
                };
                let v = value.get().expect("type checked upstream");
                let g = &mut s.gains[party.index()];
                gst::info!(CAT, imp = self, "Changing {other} from {g} to {v}");
                *g = v;
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode.to_value(),
            "ramp-ms" => s.ramp_ms.to_value(),
            "dtmf-control" => s.dtmf_control.to_value(),
            "rate" => s.rate.to_value(),
            other => match Party::ALL.into_iter().find(|p| gain_property(*p) == other) {
                Some(party) => s.gains[party.index()].to_value(),
                None => unimplemented!(),
            },
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_many([
            self.mixer.upcast_ref::<gst::Element>(),
            self.splitter.upcast_ref(),
        ])
        .expect("add mixer and splitter");
        self.mixer
            .link(&self.splitter)
            .expect("link mixer to splitter");
        // One queue per listener: the splitter pushes the three outputs from
        // one thread, and a sink prerolling on one output would otherwise
        // block the others (as after a tee).
        for party in Party::ALL {
            let name = party.output_name();
            let queue = gst::ElementFactory::make("queue")
                .name(format!("queue_{name}"))
                .build()
                .expect("queue (coreelements)");
            obj.add(&queue).expect("add queue");
            self.splitter
                .link_pads(Some(name), &queue, Some("sink"))
                .expect("link splitter to queue");
            let target = queue.static_pad("src").expect("queue src");
            let templ = obj.pad_template(name).expect("output template");
            let ghost = gst::GhostPad::builder_from_template_with_target(&templ, &target)
                .expect("ghost output")
                .name(name)
                .build();
            // Nobody listening on this output (yet): drop its audio here. A
            // queue that saw not-linked would fail the pipeline at EOS.
            let weak = ghost.downgrade();
            target.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                match weak.upgrade() {
                    Some(g) if g.peer().is_some() => gst::PadProbeReturn::Ok,
                    _ => gst::PadProbeReturn::Drop,
                }
            });
            obj.add_pad(&ghost).expect("add output");
        }
    }
}

impl GstObjectImpl for CallBarge {}

impl ElementImpl for CallBarge {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Supervised call (listen, whisper, barge)",
                "Generic/Audio",
                "A supervisor on a live call between an agent and a customer. Request sink \
                 pads customer, agent, supervisor (any may be absent, silent, finished, or \
                 added and released while playing); src pads to_customer, to_agent, \
                 to_supervisor carry what each party hears, aligned by running time. Modes \
                 (property mode): off = customer and agent hear each other, the supervisor \
                 hears nothing; listen = the supervisor also hears both; whisper = as listen, \
                 and the agent hears the supervisor, never the customer; barge = everyone \
                 hears the two others. Nobody hears themself. Mode changes ramp over ramp-ms \
                 at a buffer boundary. With dtmf-control the supervisor's keypad switches \
                 modes: 4 listen, 5 whisper, 6 barge. Every change posts the element message \
                 callbarge-mode (mode: string, previous: string). Inputs: F32LE/S16LE, mono \
                 or stereo, 8/16/32/48 kHz, each party in its own format. Outputs: mono \
                 (stereo if downstream insists), F32LE unless downstream wants S16LE, at the \
                 rate property or else the customer's rate",
                "gst-bargein developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut t = Vec::new();
            for p in Party::ALL {
                t.push(
                    gst::PadTemplate::new(
                        p.name(),
                        gst::PadDirection::Sink,
                        gst::PadPresence::Request,
                        &audio::SUPPORTED_CAPS,
                    )
                    .expect("sink template"),
                );
            }
            t.extend(output_templates());
            t
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let obj = self.obj();
        let party = Party::from_name(templ.name_template())?;
        if obj.static_pad(party.name()).is_some() {
            gst::warning!(
                CAT,
                imp = self,
                "The {} pad exists already: release it first",
                party.name()
            );
            return None;
        }
        let target = self.mixer.request_pad_simple(party.name())?;
        let ghost = match gst::GhostPad::builder_from_template_with_target(templ, &target) {
            Ok(b) => b.name(party.name()).build(),
            Err(e) => {
                gst::error!(CAT, imp = self, "Cannot ghost {}: {e}", party.name());
                self.mixer.release_request_pad(&target);
                return None;
            }
        };
        if let Err(e) = obj.add_pad(&ghost) {
            gst::error!(CAT, imp = self, "Cannot add {}: {e}", party.name());
            self.mixer.release_request_pad(&target);
            return None;
        }
        gst::info!(CAT, imp = self, "{} joined", party.name());
        Some(ghost.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(ghost) = pad.downcast_ref::<gst::GhostPad>() else {
            return;
        };
        // The mixer's pad goes first: that flushes it, so a party thread
        // blocked in it returns before the ghost is deactivated.
        if let Some(target) = ghost.target() {
            self.mixer.release_request_pad(&target);
        }
        let _ = ghost.set_target(None::<&gst::Pad>);
        let _ = pad.set_active(false);
        let _ = self.obj().remove_pad(pad);
        gst::info!(CAT, imp = self, "{} left", pad.name());
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToPaused {
            // A party pad requested but not linked would make a non-live
            // pipeline wait for it forever: it counts as finished for this run
            // (parties joining while playing request their pad then).
            for party in Party::ALL {
                let Some(ghost) = self
                    .obj()
                    .static_pad(party.name())
                    .and_downcast::<gst::GhostPad>()
                else {
                    continue;
                };
                if ghost.peer().is_some() {
                    continue;
                }
                let Some(target) = ghost.target() else {
                    continue;
                };
                gst::info!(
                    CAT,
                    imp = self,
                    "{} is not linked: silent for this run",
                    party.name()
                );
                let _ = target.send_event(gst::event::StreamStart::new(&format!(
                    "callbarge-no-{}",
                    party.name()
                )));
                let _ = target.send_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
                let _ = target.send_event(gst::event::Eos::new());
            }
        }
        Ok(ret)
    }
}

impl BinImpl for CallBarge {}
