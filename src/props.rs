// SPDX-License-Identifier: MPL-2.0
//! Property setters shared by the elements.

use gst::glib;
use gst::prelude::*;

/// Stores a property's new value in its settings field and logs the change.
///
/// GObject has already type-checked `value` against `pspec`, so a mismatch
/// means a bug in the element's property table: it is logged, not a panic.
pub fn set_logged<T>(
    obj: &impl IsA<glib::Object>,
    cat: gst::DebugCategory,
    pspec: &glib::ParamSpec,
    slot: &mut T,
    value: &glib::Value,
) where
    T: for<'a> glib::value::FromValue<'a> + std::fmt::Debug,
{
    match value.get::<T>() {
        Ok(v) => {
            gst::info!(
                cat,
                obj = obj,
                "Changing {} from {:?} to {:?}",
                pspec.name(),
                slot,
                v
            );
            *slot = v;
        }
        Err(_) => gst::error!(
            cat,
            obj = obj,
            "{} got a {} value",
            pspec.name(),
            value.type_()
        ),
    }
}
