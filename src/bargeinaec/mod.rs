//! `bargeinaec`: WebRTC AEC3 echo cancellation with a far-end reference pad.
//!
//! ```text
//! mic ──▶ sink ─┐
//!               ├─ bargeinaec ─▶ src (mic with the echo of far_sink removed)
//! TTS ─▶ far_sink┘
//! ```
//! The two inputs are aligned by running time. The near end is never held
//! back by the far end: a silent, absent, unlinked or finished far end is
//! processed as silence.

use gst::glib;
use gst::prelude::*;

pub(crate) mod far;
mod gate;
mod imp;
mod nearend;

/// Strength of WebRTC's noise suppressor on the near end.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstBargeInAecNoiseSuppression")]
pub enum NoiseSuppression {
    #[enum_value(name = "None: leave noise to the detector", nick = "none")]
    None = 0,
    #[enum_value(name = "Low", nick = "low")]
    Low = 1,
    #[enum_value(name = "Moderate", nick = "moderate")]
    Moderate = 2,
    #[enum_value(name = "High", nick = "high")]
    High = 3,
    #[enum_value(name = "Very high", nick = "very-high")]
    VeryHigh = 4,
}

glib::wrapper! {
    pub struct BargeInAec(ObjectSubclass<imp::BargeInAec>)
        @extends gst_base::Aggregator, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    NoiseSuppression::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "bargeinaec",
        gst::Rank::NONE,
        BargeInAec::static_type(),
    )
}
