//! `callbarge`: a supervisor on a live agent–customer call — listen, whisper
//! or barge in, as a contact centre's "silent monitoring" does.
//!
//! ```text
//!  customer ──┐                              ┌─ queue ─▶ to_customer
//!  agent ─────┼─▶ mixer ──bus (3 ch)──▶ splitter ─┼─ queue ─▶ to_agent
//!  supervisor ┘  (aggregator)                    └─ queue ─▶ to_supervisor
//! ```
//!
//! Why a bin: `GstAggregator` has exactly one src pad and names it `src`, but
//! the call has three listeners. Pushing on extra pads from `aggregate()`
//! would mean re-implementing for them everything the base class does for
//! its own src pad (stream-start, caps, segment, flushes, EOS, queries). So
//! one aggregator (`mixer.rs`) aligns the parties by running time and mixes
//! all three outputs in one pass — one mode, one ramp, applied to every
//! listener at the same sample — into a 3-channel "bus" (channel *n* is what
//! listener *n* hears); a small demuxer (`splitter.rs`) splits the bus into
//! the three src pads and converts each to the format its peer wants. A queue
//! per output decouples the listeners (a sink prerolling on one output must
//! not block the others, as after a tee). The bin (`imp.rs`) exposes them as
//! ghost pads with the names of the design.

use gst::glib;
use gst::prelude::*;
use std::sync::LazyLock;

mod imp;
pub mod keypad;
mod mixer;
pub mod routing;
mod splitter;

/// The element's debug category, shared by the bin and its inner elements.
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "callbarge",
        gst::DebugColorFlags::empty(),
        Some("Supervisor listen, whisper and barge on a call"),
    )
});

/// What the supervisor does on the call.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCallBargeMode")]
pub enum Mode {
    #[enum_value(
        name = "Off: customer and agent hear each other, the supervisor hears nothing",
        nick = "off"
    )]
    Off = 0,
    #[enum_value(
        name = "Listen: the supervisor hears both, nobody hears the supervisor",
        nick = "listen"
    )]
    Listen = 1,
    #[enum_value(
        name = "Whisper: as listen, and the agent hears the supervisor (the customer never does)",
        nick = "whisper"
    )]
    Whisper = 2,
    #[enum_value(
        name = "Barge: three-way call, everyone hears the two others",
        nick = "barge"
    )]
    Barge = 3,
}

impl Mode {
    /// The nick, as in the `callbarge-mode` message.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Listen => "listen",
            Mode::Whisper => "whisper",
            Mode::Barge => "barge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Mode::Off),
            "listen" => Some(Mode::Listen),
            "whisper" => Some(Mode::Whisper),
            "barge" => Some(Mode::Barge),
            _ => None,
        }
    }
}

glib::wrapper! {
    pub struct CallBarge(ObjectSubclass<imp::CallBarge>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Mode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "callbarge",
        gst::Rank::NONE,
        CallBarge::static_type(),
    )
}
