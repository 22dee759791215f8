//! `ttsducker`: what the machine's voice does when the user barges in —
//! duck, pause or stop — with protected segments and heard-text accounting.

use gst::glib;
use gst::prelude::*;

mod imp;
mod marks;
mod ramp;

/// What a tentative decision (speech just started) does.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTtsDuckerTentativeAction")]
pub enum TentativeAction {
    #[enum_value(name = "None: keep playing", nick = "none")]
    None = 0,
    #[enum_value(name = "Duck: lower the volume", nick = "duck")]
    Duck = 1,
    #[enum_value(name = "Pause: hold the audio", nick = "pause")]
    Pause = 2,
}

/// What a confirmed decision (sustained speech, a key press) does.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTtsDuckerConfirmedAction")]
pub enum ConfirmedAction {
    #[enum_value(name = "Duck: lower the volume", nick = "duck")]
    Duck = 0,
    #[enum_value(name = "Pause: hold the audio", nick = "pause")]
    Pause = 1,
    #[enum_value(name = "Stop: flush and drop the rest of the utterance", nick = "stop")]
    Stop = 2,
}

glib::wrapper! {
    pub struct TtsDucker(ObjectSubclass<imp::TtsDucker>)
        @extends gst_audio::AudioFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "ttsducker",
        gst::Rank::NONE,
        TtsDucker::static_type(),
    )
}
