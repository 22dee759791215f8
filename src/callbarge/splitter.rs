//! Inside `callbarge`: splits the mixer's 3-channel bus (channel *n* is what
//! listener *n* hears) into one src pad per listener, each in the format its
//! peer prefers (F32LE or S16LE, mono or the mono mix on both channels).

use gst::glib;
use gst::prelude::*;

use super::routing::{PARTIES, Party};

/// The bus between mixer and splitter: F32LE, one unpositioned channel per
/// listener, at the mixing rate (`None`: any supported rate).
pub(super) fn bus_caps(rate: Option<u32>) -> gst::Caps {
    gst_audio::AudioCapsBuilder::new_interleaved()
        .format(gst_audio::AudioFormat::F32le)
        .channels(PARTIES as i32)
        .channel_mask(0)
        .rate_if_some(rate.map(|r| r as i32))
        .rate_list_if(crate::audio::SUPPORTED_RATES, rate.is_none())
        .build()
}

/// What the src pads can produce at the mixing rate.
pub(super) fn output_caps(rate: Option<u32>) -> gst::Caps {
    gst_audio::AudioCapsBuilder::new_interleaved()
        .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
        .rate_if_some(rate.map(|r| r as i32))
        .rate_list_if(crate::audio::SUPPORTED_RATES, rate.is_none())
        .channels_range(1..=2)
        .build()
}

/// The three listener outputs, `to_customer`, `to_agent`, `to_supervisor`:
/// the splitter's src pads and the bin's ghost pads alike.
pub(super) fn output_templates() -> impl Iterator<Item = gst::PadTemplate> {
    Party::ALL.into_iter().map(|p| {
        gst::PadTemplate::new(
            p.output_name(),
            gst::PadDirection::Src,
            gst::PadPresence::Always,
            &output_caps(None),
        )
        .expect("src template")
    })
}

mod imp {
    use super::*;
    use crate::callbarge::CAT;
    use gst::subclass::prelude::*;
    use std::sync::{LazyLock, Mutex};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct OutFormat {
        format: gst_audio::AudioFormat,
        channels: usize,
    }

    #[derive(Default)]
    struct State {
        rate: Option<u32>,
        out: [Option<OutFormat>; PARTIES],
        warned: bool,
    }

    pub struct CallBargeSplitter {
        sinkpad: gst::Pad,
        srcpads: [gst::Pad; PARTIES],
        state: Mutex<State>,
        combiner: Mutex<gst_base::UniqueFlowCombiner>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CallBargeSplitter {
        const NAME: &'static str = "GstCallBargeSplitter";
        type Type = super::CallBargeSplitter;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let sinkpad = gst::Pad::builder_from_template(
                &klass.pad_template("sink").expect("sink template"),
            )
            .chain_function(|pad, parent, buffer| {
                CallBargeSplitter::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                CallBargeSplitter::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                CallBargeSplitter::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .build();
            let srcpads = Party::ALL.map(|p| {
                gst::Pad::builder_from_template(
                    &klass
                        .pad_template(p.output_name())
                        .expect("output template"),
                )
                .query_function(|pad, parent, query| {
                    CallBargeSplitter::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.src_query(pad, query),
                    )
                })
                .build()
            });
            Self {
                sinkpad,
                srcpads,
                state: Mutex::new(State::default()),
                combiner: Mutex::new(gst_base::UniqueFlowCombiner::new()),
            }
        }
    }

    impl ObjectImpl for CallBargeSplitter {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad).expect("add sink pad");
            let mut combiner = self.combiner.lock().unwrap();
            for pad in &self.srcpads {
                obj.add_pad(pad).expect("add src pad");
                combiner.add_pad(pad);
            }
        }
    }

    impl GstObjectImpl for CallBargeSplitter {}

    impl ElementImpl for CallBargeSplitter {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Call barge splitter",
                    "Demuxer/Audio",
                    "Inside callbarge: one output per listener from the mixer's bus",
                    "gst-bargein developers",
                )
            });
            Some(&*METADATA)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let mut t = vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &bus_caps(None),
                    )
                    .expect("sink template"),
                ];
                t.extend(output_templates());
                t
            });
            TEMPLATES.as_ref()
        }

        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            if transition == gst::StateChange::ReadyToPaused {
                *self.state.lock().unwrap() = State::default();
                self.combiner.lock().unwrap().reset();
            }
            self.parent_change_state(transition)
        }
    }

    impl CallBargeSplitter {
        /// Picks the format of one output from what its peer accepts, and
        /// sends it downstream if it changed. Mono and F32LE unless the peer
        /// wants otherwise.
        fn negotiate(&self, i: usize, rate: u32) -> Option<OutFormat> {
            let pad = self.srcpads.get(i)?;
            let ours = output_caps(Some(rate));
            let peer = pad.peer_query_caps(Some(&ours));
            let mut caps = ours.intersect_with_mode(&peer, gst::CapsIntersectMode::First);
            if caps.is_empty() {
                gst::error!(
                    CAT,
                    obj = pad,
                    "Downstream accepts none of {ours} (it offers {peer})"
                );
                return None;
            }
            caps.truncate();
            if let Some(s) = caps.make_mut().structure_mut(0) {
                s.fixate_field_nearest_int("channels", 1);
            }
            caps.fixate();
            let info = gst_audio::AudioInfo::from_caps(&caps).ok()?;
            let fmt = OutFormat {
                format: info.format(),
                channels: info.channels() as usize,
            };
            if pad.current_caps().as_ref() != Some(&caps) {
                gst::info!(CAT, obj = pad, "Output caps {caps}");
                if !pad.push_event(gst::event::Caps::new(&caps)) {
                    gst::debug!(CAT, obj = pad, "Caps not taken (not linked yet?)");
                }
            }
            Some(fmt)
        }

        fn negotiate_all(&self, rate: u32) -> [Option<OutFormat>; PARTIES] {
            [0, 1, 2].map(|i| self.negotiate(i, rate))
        }

        fn sink_chain(
            &self,
            _pad: &gst::Pad,
            buffer: gst::Buffer,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let rate = self
                .state
                .lock()
                .unwrap()
                .rate
                .ok_or(gst::FlowError::NotNegotiated)?;
            // Renegotiate an output whose peer changed (linked, reconfigured).
            let mut formats = self.state.lock().unwrap().out;
            for (i, pad) in self.srcpads.iter().enumerate() {
                if pad.check_reconfigure() || formats[i].is_none() {
                    formats[i] = self.negotiate(i, rate);
                }
            }
            self.state.lock().unwrap().out = formats;

            let map = buffer.map_readable().map_err(|_| {
                gst::element_imp_error!(self, gst::StreamError::Format, ("Could not map buffer"));
                gst::FlowError::Error
            })?;
            let frame_bytes = 4 * PARTIES;
            if !map.len().is_multiple_of(frame_bytes) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    (
                        "Mixer bus buffer of {} bytes is not whole frames",
                        map.len()
                    )
                );
                return Err(gst::FlowError::Error);
            }
            let frames = map.len() / frame_bytes;
            let mut combined = Ok(gst::FlowSuccess::Ok);
            for (i, pad) in self.srcpads.iter().enumerate() {
                let res = match formats[i] {
                    None => Err(gst::FlowError::NotNegotiated),
                    Some(fmt) => {
                        let out = split(&map, frames, i, fmt);
                        let mut out = gst::Buffer::from_mut_slice(out);
                        if let Some(b) = out.get_mut() {
                            b.set_pts(buffer.pts());
                            b.set_duration(buffer.duration());
                            b.set_offset(buffer.offset());
                            b.set_offset_end(buffer.offset_end());
                            b.set_flags(
                                buffer.flags()
                                    & (gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC),
                            );
                        }
                        pad.push(out)
                    }
                };
                if let Err(e) = res
                    && e != gst::FlowError::NotLinked
                    && e != gst::FlowError::Flushing
                {
                    gst::debug!(CAT, obj = pad, "Push returned {e:?}");
                }
                combined = self.combiner.lock().unwrap().update_pad_flow(pad, res);
            }
            combined
        }

        fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
            match event.view() {
                gst::EventView::StreamStart(s) => {
                    // One stream per listener, in the same group.
                    let id = s.stream_id().to_owned();
                    let group = s.group_id();
                    for out in &self.srcpads {
                        let out_id = format!("{id}/{}", out.name());
                        let mut b = gst::event::StreamStart::builder(&out_id)
                            .flags(s.stream_flags())
                            .seqnum(event.seqnum());
                        if let Some(g) = group {
                            b = b.group_id(g);
                        }
                        // Sticky: kept for a listener that is not linked yet.
                        let _ = out.push_event(b.build());
                    }
                    true
                }
                gst::EventView::Caps(c) => {
                    let caps = c.caps_owned();
                    let Ok(info) = gst_audio::AudioInfo::from_caps(&caps) else {
                        gst::error!(CAT, obj = pad, "Unusable bus caps {caps}");
                        return false;
                    };
                    if info.channels() as usize != PARTIES
                        || info.format() != gst_audio::AudioFormat::F32le
                    {
                        gst::error!(CAT, obj = pad, "Not a mixer bus: {caps}");
                        return false;
                    }
                    let rate = info.rate();
                    self.state.lock().unwrap().rate = Some(rate);
                    let formats = self.negotiate_all(rate);
                    let ok = formats.iter().all(Option::is_some);
                    self.state.lock().unwrap().out = formats;
                    if !ok {
                        let warn = !std::mem::replace(&mut self.state.lock().unwrap().warned, true);
                        if warn {
                            gst::element_imp_error!(
                                self,
                                gst::CoreError::Negotiation,
                                (
                                    "A callbarge output's peer accepts none of {}",
                                    output_caps(Some(rate))
                                )
                            );
                        }
                    }
                    ok
                }
                gst::EventView::FlushStop(_) => {
                    self.combiner.lock().unwrap().reset();
                    gst::Pad::event_default(pad, Some(&*self.obj()), event)
                }
                _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
            }
        }

        fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let caps = bus_caps(None);
                    let caps = match q.filter() {
                        Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                        None => caps,
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = q.caps().is_fixed() && q.caps().can_intersect(&bus_caps(None));
                    q.set_result(ok);
                    true
                }
                // The outputs are in other formats: their allocation says
                // nothing about the bus.
                gst::QueryViewMut::Allocation(_) => false,
                _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
            }
        }

        fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let rate = self.state.lock().unwrap().rate;
                    let caps = output_caps(rate);
                    let caps = match q.filter() {
                        Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                        None => caps,
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let rate = self.state.lock().unwrap().rate;
                    let ok = q.caps().is_fixed() && q.caps().can_intersect(&output_caps(rate));
                    q.set_result(ok);
                    true
                }
                _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
            }
        }
    }

    /// One listener's channel of the bus, in the output format.
    fn split(bus: &[u8], frames: usize, channel: usize, fmt: OutFormat) -> Vec<u8> {
        let sample_bytes = match fmt.format {
            gst_audio::AudioFormat::S16le => 2,
            _ => 4,
        };
        let mut out = Vec::with_capacity(frames * fmt.channels * sample_bytes);
        for frame in bus.chunks_exact(4 * PARTIES) {
            let at = channel * 4;
            let v = frame
                .get(at..at + 4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0.0);
            for _ in 0..fmt.channels {
                crate::audio::encode_into(v, fmt.format, &mut out);
            }
        }
        out
    }
}

glib::wrapper! {
    pub struct CallBargeSplitter(ObjectSubclass<imp::CallBargeSplitter>)
        @extends gst::Element, gst::Object;
}
