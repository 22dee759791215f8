//! `bargeinvad`: decides when the user really starts talking over the
//! machine. Silero VAD v6 (pure Rust, tract) plus DTMF; two-stage decisions
//! posted on the bus and sent upstream to `ttsducker`.

use gst::glib;
use gst::prelude::*;

mod background;
pub mod decision;
pub mod dtmf;
pub mod engine;
mod imp;
mod second;

glib::wrapper! {
    pub struct BargeInVad(ObjectSubclass<imp::BargeInVad>)
        @extends gst_audio::AudioFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "bargeinvad",
        gst::Rank::NONE,
        BargeInVad::static_type(),
    )
}
