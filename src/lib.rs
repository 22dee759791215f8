// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GStreamer barge-in: let a caller interrupt a talking machine.
//!
//! * `bargeinaec`: WebRTC AEC3 echo canceller with a far-end reference pad.
//! * `bargeinvad`: neural speech + DTMF detector posting two-stage barge-in decisions.
//! * `ttsducker`: ducks, pauses or stops the machine's speech on those decisions.
//! * `callbarge`: a supervisor listens to, whispers on or barges into a live call.

use gst::glib;

pub mod audio;
pub mod bargeinaec;
pub mod bargeinvad;
pub mod callbarge;
pub mod denormals;
pub mod props;
pub mod protocol;
pub mod ttsducker;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    protocol::NearEnd::register();
    bargeinaec::register(plugin)?;
    bargeinvad::register(plugin)?;
    ttsducker::register(plugin)?;
    callbarge::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    bargein,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
