//! Inside `callbarge`: the aggregator that aligns the three parties by
//! running time and mixes what each of them hears into the 3-channel bus.
//!
//! Output timing is its own: 10 ms blocks at the mixing rate, counted in
//! samples since running time 0 (PTS = running time). Each party's input is
//! converted to mono at that rate and kept on a timeline of running time
//! (the same `FarReference` `bargeinaec` uses for its far end); a block takes
//! from every timeline whatever it has for that instant and silence for the
//! rest, so a party that is silent, late, finished or gone never holds the
//! others back for longer than the live timeout.

use gst::glib;
use gst::prelude::*;

use super::imp::Settings;

mod imp {
    use super::*;
    use gst::subclass::prelude::*;
    use gst_base::prelude::*;
    use gst_base::subclass::prelude::*;
    use std::sync::{Arc, LazyLock, Mutex, OnceLock};

    use crate::audio;
    use crate::bargeinaec::far::FarReference;
    use crate::callbarge::keypad::Keypad;
    use crate::callbarge::routing::{self, PARTIES, Party, Router};
    use crate::callbarge::splitter::bus_caps;
    use crate::callbarge::{CAT, Mode};
    use crate::protocol::{self, Structure};

    // Lock order: `state`, then the shared settings. Neither is held across
    // pad calls, finish_buffer, posting or notify.

    /// Output block length.
    const BLOCK_MS: u32 = 10;
    /// Blocks one aggregate() may produce when inputs are ahead (non-live
    /// pipelines, catching up after a stall).
    const MAX_BLOCKS: usize = 10;
    /// Holes in a party's timestamps up to this long are filled with silence.
    const MAX_FILL_NS: u64 = 1_000_000_000;
    /// Longest silence a non-live mixer outputs when every party's audio
    /// starts later: beyond it the output jumps (DISCONT). A timestamp
    /// glitch (hours, or the end of time) or a GAP claiming a day would
    /// otherwise be mixed as silence at CPU speed: a hang, and a flood
    /// for downstream.
    const MAX_SILENCE_S: i64 = 10;

    #[derive(Default)]
    struct Input {
        /// The pad the party talks through (request pads come and go).
        pad: Option<gst_base::AggregatorPad>,
        info: Option<gst_audio::AudioInfo>,
        timeline: Option<FarReference>,
        /// Whether anything arrived since the start or the last flush; a
        /// party that never sent anything is not waited for.
        got_data: bool,
        /// Its EOS was seen and what its resampler held back was let out.
        finished: bool,
        /// Running time (ns) where the party's next buffer should start.
        expected_ns: Option<u64>,
        warned: bool,
    }

    impl Input {
        fn end(&self) -> Option<i64> {
            self.timeline.as_ref().and_then(FarReference::end)
        }
    }

    struct State {
        /// Mixing rate, fixed when the first block is mixed.
        rate: Option<u32>,
        inputs: [Input; PARTIES],
        /// Next output sample, counted at `rate` since running time 0.
        next: Option<i64>,
        /// Earliest input seen before the output started.
        first_seen: Option<i64>,
        discont: bool,
        router: Router,
        keypad: Option<Keypad>,
        block: [Vec<f32>; PARTIES],
        conv: Vec<f32>,
        /// The mixed bus of one aggregate() call, interleaved.
        mix: Vec<f32>,
        warned_no_pts: bool,
    }

    impl Default for State {
        fn default() -> Self {
            Self {
                rate: None,
                inputs: Default::default(),
                next: None,
                first_seen: None,
                discont: true,
                router: Router::new(routing::matrix(Mode::Off, [1.0; PARTIES])),
                keypad: None,
                block: Default::default(),
                conv: Vec::new(),
                mix: Vec::new(),
                warned_no_pts: false,
            }
        }
    }

    impl State {
        /// Fixes the mixing rate and builds what depends on it.
        fn start_rate(&mut self, rate: u32) {
            self.rate = Some(rate);
            let block = (rate / 1000 * BLOCK_MS) as usize;
            for b in &mut self.block {
                *b = vec![0.0; block];
            }
            self.keypad = Some(Keypad::new(rate));
            for i in 0..PARTIES {
                let _ = self.setup_timeline(i);
            }
        }

        /// (Re)builds a party's timeline once its format and the mixing rate
        /// are known.
        fn setup_timeline(&mut self, i: usize) -> Result<(), String> {
            let Some(rate) = self.rate else {
                return Ok(());
            };
            let Some(input) = self.inputs.get_mut(i) else {
                return Ok(());
            };
            let Some(info) = input.info.as_ref() else {
                input.timeline = None;
                return Ok(());
            };
            let keep = input.timeline.as_ref().is_some_and(|t| {
                t.rate() == rate
                    && t.in_rate() == info.rate()
                    && t.in_channels() == info.channels() as usize
            });
            if !keep {
                input.expected_ns = None;
                input.finished = false;
                input.timeline = None;
                input.timeline = Some(FarReference::new(
                    rate,
                    info.rate(),
                    info.channels() as usize,
                )?);
            }
            Ok(())
        }

        fn reset_stream(&mut self) {
            for input in &mut self.inputs {
                if let Some(t) = input.timeline.as_mut() {
                    t.reset();
                }
                input.got_data = false;
                input.finished = false;
                input.expected_ns = None;
            }
            self.next = None;
            self.first_seen = None;
            self.discont = true;
            self.router.settle();
            if let Some(k) = self.keypad.as_mut() {
                k.reset();
            }
        }
    }

    /// What one aggregate() sends once the locks are released.
    #[derive(Default)]
    struct Outgoing {
        caps: Option<gst::Caps>,
        buffer: Option<gst::Buffer>,
        /// Keypad mode changes, (new, previous), in order.
        mode_changes: Vec<(Mode, Mode)>,
        warnings: Vec<String>,
    }

    pub struct CallBargeMixer {
        settings: OnceLock<Arc<Mutex<Settings>>>,
        state: Mutex<State>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CallBargeMixer {
        const NAME: &'static str = "GstCallBargeMixer";
        type Type = super::CallBargeMixer;
        type ParentType = gst_base::Aggregator;

        fn new() -> Self {
            Self {
                settings: OnceLock::new(),
                state: Mutex::new(State::default()),
            }
        }
    }

    impl ObjectImpl for CallBargeMixer {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            // A party that has not started (or never will) must not hold the
            // call back in live pipelines.
            obj.set_ignore_inactive_pads(true);
            // Start with the first buffer of any party, not at running time 0.
            obj.set_start_time_selection(gst_base::AggregatorStartTimeSelection::First);
            // One output block of buffering.
            obj.set_latency(gst::ClockTime::from_mseconds(BLOCK_MS.into()), None);
        }
    }

    impl GstObjectImpl for CallBargeMixer {}

    impl ElementImpl for CallBargeMixer {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Call barge mixer",
                    "Generic/Audio",
                    "Inside callbarge: mixes what each party of a supervised call hears",
                    "gst-bargein developers",
                )
            });
            Some(&*METADATA)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let mut t = vec![
                    gst::PadTemplate::with_gtype(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &bus_caps(None),
                        gst_base::AggregatorPad::static_type(),
                    )
                    .expect("src template"),
                ];
                for p in Party::ALL {
                    t.push(
                        gst::PadTemplate::with_gtype(
                            p.name(),
                            gst::PadDirection::Sink,
                            gst::PadPresence::Request,
                            &audio::SUPPORTED_CAPS,
                            gst_base::AggregatorPad::static_type(),
                        )
                        .expect("party template"),
                    );
                }
                t
            });
            TEMPLATES.as_ref()
        }

        fn release_pad(&self, pad: &gst::Pad) {
            // The base class flushes the pad first: a party's thread blocked
            // in it returns, then the pad goes.
            self.parent_release_pad(pad);
            if let Some(party) = Party::from_name(pad.name().as_str()) {
                let mut state = self.state.lock().unwrap();
                if let Some(input) = state.inputs.get_mut(party.index()) {
                    *input = Input::default();
                }
                if party == Party::Supervisor
                    && let Some(k) = state.keypad.as_mut()
                {
                    k.reset();
                }
                gst::info!(CAT, imp = self, "{} left the call", party.name());
            }
        }
    }

    impl AggregatorImpl for CallBargeMixer {
        fn start(&self) -> Result<(), gst::ErrorMessage> {
            let mut state = self.state.lock().unwrap();
            let pads = state.inputs.each_mut().map(|i| i.pad.take());
            *state = State::default();
            for (input, pad) in state.inputs.iter_mut().zip(pads) {
                input.pad = pad;
            }
            Ok(())
        }

        fn stop(&self) -> Result<(), gst::ErrorMessage> {
            self.start()
        }

        fn flush(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
            self.state.lock().unwrap().reset_stream();
            self.parent_flush()
        }

        fn next_time(&self) -> Option<gst::ClockTime> {
            let state = self.state.lock().unwrap();
            match (state.next, state.rate) {
                (Some(n), Some(rate)) => Some(samples_to_time(n, rate)),
                // Before the first block: decide as soon as possible (the base
                // class only gets here once some party delivered a buffer).
                _ => Some(gst::ClockTime::ZERO),
            }
        }

        fn create_new_pad(
            &self,
            templ: &gst::PadTemplate,
            _req_name: Option<&str>,
            _caps: Option<&gst::Caps>,
        ) -> Option<gst_base::AggregatorPad> {
            let name = templ.name_template();
            let party = Party::from_name(name)?;
            if self.obj().static_pad(name).is_some() {
                gst::warning!(CAT, imp = self, "There already is a {name} pad");
                return None;
            }
            let pad = gst::PadBuilder::<gst_base::AggregatorPad>::from_template(templ)
                .name(name)
                .build();
            let mut state = self.state.lock().unwrap();
            if let Some(input) = state.inputs.get_mut(party.index()) {
                *input = Input {
                    pad: Some(pad.clone()),
                    ..Input::default()
                };
            }
            drop(state);
            // The base class adds the returned pad with gst_element_add_pad(),
            // which sinks a floating reference, as C's create_new_pad
            // returns; gstreamer-rs hands it over as a full one instead, so
            // the add took a second reference and every pad a party ever
            // requested stayed alive after its release, with its sticky
            // events (valgrind: ~10 KB per party per call). Floating, the
            // add takes this reference over.
            // SAFETY: `pad` is a valid GObject we own a reference to; the
            // flag only changes who owns that reference.
            unsafe {
                glib::gobject_ffi::g_object_force_floating(
                    pad.as_ptr() as *mut glib::gobject_ffi::GObject
                );
            }
            gst::info!(CAT, imp = self, "{name} joins the call");
            Some(pad)
        }

        fn update_src_caps(&self, _caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
            match self.state.lock().unwrap().rate {
                Some(rate) => Ok(bus_caps(Some(rate))),
                None => Err(gst_base::AGGREGATOR_FLOW_NEED_DATA),
            }
        }

        fn sink_query(&self, pad: &gst_base::AggregatorPad, query: &mut gst::QueryRef) -> bool {
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    // Any supported format; the mixing rate first, which spares
                    // us resampling when upstream can produce it.
                    let mut caps = match self.state.lock().unwrap().rate {
                        Some(rate) => gst_audio::AudioCapsBuilder::new_interleaved()
                            .format_list([
                                gst_audio::AudioFormat::F32le,
                                gst_audio::AudioFormat::S16le,
                            ])
                            .rate(rate as i32)
                            .channels_range(1..=2)
                            .build(),
                        None => gst::Caps::new_empty(),
                    };
                    caps.merge(audio::SUPPORTED_CAPS.clone());
                    let caps = match q.filter() {
                        Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                        None => caps,
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let caps = q.caps();
                    let ok = caps.is_fixed() && caps.can_intersect(&audio::SUPPORTED_CAPS);
                    if !ok {
                        gst::warning!(
                            CAT,
                            obj = pad,
                            "Refusing {caps}: callbarge takes interleaved F32LE or S16LE, \
                             mono or stereo, at 8000, 16000, 32000 or 48000 Hz; insert \
                             `audioconvert ! audioresample` before {}",
                            pad.name()
                        );
                    }
                    q.set_result(ok);
                    true
                }
                _ => self.parent_sink_query(pad, query),
            }
        }

        fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
            let Some(party) = Party::from_name(pad.name().as_str()) else {
                return self.parent_sink_event(pad, event);
            };
            let i = party.index();
            match event.view() {
                gst::EventView::Caps(c) => {
                    let caps = c.caps_owned();
                    let info = match gst_audio::AudioInfo::from_caps(&caps) {
                        Ok(info) if audio::SUPPORTED_CAPS.can_intersect(&caps) => info,
                        _ => {
                            gst::element_imp_error!(
                                self,
                                gst::StreamError::Format,
                                ("Unsupported audio format on {}: {caps}", pad.name()),
                                ["insert `audioconvert ! audioresample` to get F32LE/S16LE, \
                                     mono or stereo, at 8/16/32/48 kHz"]
                            );
                            return false;
                        }
                    };
                    gst::info!(CAT, obj = pad, "Caps {caps}");
                    let res = {
                        let mut state = self.state.lock().unwrap();
                        if let Some(input) = state.inputs.get_mut(i) {
                            input.info = Some(info);
                        }
                        state.setup_timeline(i)
                    };
                    if let Err(e) = res {
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Init,
                            (
                                "The {} input cannot be converted; it is silent",
                                party.name()
                            ),
                            ["{e}"]
                        );
                    }
                }
                gst::EventView::Segment(s) if s.segment().format() != gst::Format::Time => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("callbarge needs time segments (on {})", pad.name())
                    );
                    return false;
                }
                gst::EventView::StreamStart(_) | gst::EventView::FlushStop(_) => {
                    let mut state = self.state.lock().unwrap();
                    if let Some(input) = state.inputs.get_mut(i) {
                        if let Some(t) = input.timeline.as_mut() {
                            t.reset();
                        }
                        input.expected_ns = None;
                        input.finished = false;
                    }
                    if party == Party::Supervisor
                        && let Some(k) = state.keypad.as_mut()
                    {
                        k.reset();
                    }
                }
                _ => {}
            }
            self.parent_sink_event(pad, event)
        }

        fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
            let settings = self.settings();
            let mut out = Outgoing::default();
            let pads: [Option<gst_base::AggregatorPad>; PARTIES] = {
                let state = self.state.lock().unwrap();
                [0, 1, 2].map(|i| state.inputs.get(i).and_then(|input| input.pad.clone()))
            };

            // The mixing rate: the `rate` property, else the customer's, else
            // whoever has a format.
            let rate = {
                let mut state = self.state.lock().unwrap();
                match state.rate {
                    Some(r) => r,
                    None => {
                        let chosen = (settings.rate != 0).then_some(settings.rate).or_else(|| {
                            state
                                .inputs
                                .iter()
                                .find_map(|i| i.info.as_ref().map(|info| info.rate()))
                        });
                        let Some(r) = chosen else {
                            drop(state);
                            let all_eos = pads.iter().flatten().all(|p| p.is_eos());
                            return Err(if all_eos && pads.iter().any(Option::is_some) {
                                gst::FlowError::Eos
                            } else {
                                gst_base::AGGREGATOR_FLOW_NEED_DATA
                            });
                        };
                        gst::info!(CAT, imp = self, "Mixing at {r} Hz");
                        state.start_rate(r);
                        out.caps = Some(bus_caps(Some(r)));
                        r
                    }
                }
            };
            let block = (rate / 1000 * BLOCK_MS) as usize;
            let ramp = (u64::from(rate) * u64::from(settings.ramp_ms) / 1000) as usize;
            // The base class reports no latency when not live (asked before
            // taking our lock: it takes its own).
            let live = self.obj().latency().is_some();
            let gains = settings.gains.map(|g| g as f32);

            // Mode and gains apply at this buffer boundary, with a ramp.
            {
                let mut state = self.state.lock().unwrap();
                let target = routing::matrix(settings.mode, gains);
                if &target != state.router.target() {
                    gst::info!(
                        CAT,
                        imp = self,
                        "Routing for mode {} from sample {:?}",
                        settings.mode.as_str(),
                        state.next
                    );
                    if state.next.is_some() {
                        state.router.set_target(target, ramp);
                    } else {
                        state.router = Router::new(target);
                    }
                }
            }

            // Where a live output starts when no party's buffer had a time:
            // now, minus the latency (asked before taking our lock: the base
            // class takes its own lock for it).
            let fallback_start = if timeout && self.state.lock().unwrap().next.is_none() {
                self.obj().current_running_time().map(|now| {
                    let latency = self.obj().latency().unwrap_or(gst::ClockTime::ZERO);
                    time_to_samples(now.saturating_sub(latency), rate)
                })
            } else {
                None
            };
            self.state.lock().unwrap().mix.clear();
            let mut first: Option<i64> = None;
            let mut finished = false;
            let mut blocks = 0;
            loop {
                // Take input until every party covers the next block.
                let end = self.state.lock().unwrap().next.map(|n| n + block as i64);
                for (i, pad) in pads.iter().enumerate() {
                    let Some(pad) = pad else { continue };
                    loop {
                        let covered = {
                            let state = self.state.lock().unwrap();
                            let e = state.inputs.get(i).and_then(Input::end);
                            match end {
                                Some(end) => e.is_some_and(|e| e >= end),
                                None => e.is_some(),
                            }
                        };
                        if covered {
                            break;
                        }
                        let Some(buf) = pad.pop_buffer() else { break };
                        if let Some(w) = self.push_input(i, pad, &buf)? {
                            out.warnings.push(w);
                        }
                    }
                }

                let eos = pads
                    .each_ref()
                    .map(|p| p.as_ref().is_some_and(|p| p.is_eos()));
                let mut state = self.state.lock().unwrap();
                let state = &mut *state;
                // A party at another rate than the mix ended: the last
                // ~20 ms of its voice are still inside its resampler.
                for (input, eos) in state.inputs.iter_mut().zip(eos) {
                    if eos
                        && !input.finished
                        && let Some(t) = input.timeline.as_mut()
                    {
                        let before = t.end();
                        t.finish();
                        input.finished = true;
                        gst::debug!(
                            CAT,
                            imp = self,
                            "A party ended at {:?} (was {before:?}), mixing at {:?}",
                            t.end(),
                            state.next
                        );
                    }
                }
                if state.next.is_none() {
                    let start = state.first_seen.or(fallback_start);
                    let Some(start) = start else { break };
                    gst::debug!(
                        CAT,
                        imp = self,
                        "Output starts at {}",
                        samples_to_time(start, rate)
                    );
                    state.next = Some(start);
                }
                let Some(next) = state.next else { break };
                let end = next + block as i64;

                let mut waiting = false;
                let mut done = true;
                let mut any_pad = false;
                for (i, pad) in pads.iter().enumerate() {
                    if pad.is_none() {
                        continue;
                    }
                    any_pad = true;
                    let Some(input) = state.inputs.get(i) else {
                        continue;
                    };
                    let eos = eos[i];
                    let have = input.end();
                    if !eos || have.is_some_and(|h| h > next) {
                        done = false;
                    }
                    if !eos && input.got_data && have.is_none_or(|h| h < end) {
                        waiting = true;
                    }
                }
                if any_pad && done {
                    finished = true;
                    break;
                }
                // Late or silent parties are waited for until the live
                // timeout; then this block goes out without them.
                if waiting && !(timeout && blocks == 0) {
                    break;
                }
                if !live && !waiting {
                    let ahead = state
                        .inputs
                        .iter()
                        .filter_map(|i| i.timeline.as_ref())
                        .filter_map(|t| t.start().zip(t.end()))
                        .filter(|&(_, e)| e > next)
                        .map(|(s, _)| s)
                        .min();
                    if let Some(start) = ahead
                        && start - next > MAX_SILENCE_S * i64::from(rate)
                    {
                        // What was mixed before the jump goes out first.
                        if blocks > 0 {
                            break;
                        }
                        gst::info!(
                            CAT,
                            imp = self,
                            "Every party resumes {} later: the output jumps there",
                            samples_to_time(start - next, rate)
                        );
                        state.next = Some(start);
                        state.discont = true;
                        continue;
                    }
                }

                // Mix one block.
                let at = samples_to_time_ceil(next, rate).nseconds();
                for (input, buf) in state.inputs.iter_mut().zip(state.block.iter_mut()) {
                    buf.resize(block, 0.0);
                    match input.timeline.as_mut() {
                        Some(t) => {
                            t.take(at, buf);
                        }
                        None => buf.fill(0.0),
                    }
                }
                if settings.dtmf_control
                    && let Some(k) = state.keypad.as_mut()
                    && let Some(sup) = state.block.get(Party::Supervisor.index())
                    && let Some((digit, mode)) = k.push(sup)
                {
                    gst::info!(
                        CAT,
                        imp = self,
                        "Supervisor pressed {digit}: {}",
                        mode.as_str()
                    );
                    let mut s = self.settings_arc().lock().unwrap();
                    if s.mode != mode {
                        out.mode_changes.push((mode, s.mode));
                        s.mode = mode;
                    }
                }
                let start = state.mix.len();
                state.mix.resize(start + block * PARTIES, 0.0);
                let [c, a, s] = &state.block;
                if let Some(out) = state.mix.get_mut(start..) {
                    state.router.mix([c, a, s], out);
                }
                first.get_or_insert(next);
                state.next = Some(end);
                blocks += 1;
                if blocks >= MAX_BLOCKS {
                    break;
                }
            }

            if let Some(first) = first {
                let mut state = self.state.lock().unwrap();
                let next = state.next.unwrap_or(first);
                let pts = samples_to_time(first, rate);
                let end = samples_to_time(next, rate);
                let mut buffer = gst::Buffer::with_size(state.mix.len() * 4)
                    .map_err(|_| gst::FlowError::Error)?;
                if let Some(b) = buffer.get_mut() {
                    if let Ok(mut map) = b.map_writable() {
                        for (o, v) in map.chunks_exact_mut(4).zip(state.mix.iter()) {
                            o.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                    b.set_pts(pts);
                    b.set_duration(end.saturating_sub(pts));
                    b.set_offset(u64::try_from(first).unwrap_or(0));
                    b.set_offset_end(u64::try_from(next).unwrap_or(0));
                    if std::mem::replace(&mut state.discont, false) {
                        b.set_flags(gst::BufferFlags::DISCONT);
                    }
                }
                out.buffer = Some(buffer);
            }

            let result = self.send(out);
            if finished {
                gst::debug!(CAT, imp = self, "Every party finished");
                return Err(gst::FlowError::Eos);
            }
            match result {
                Ok(_) if first.is_none() => Err(gst_base::AGGREGATOR_FLOW_NEED_DATA),
                r => r,
            }
        }
    }

    impl CallBargeMixer {
        pub(super) fn attach(&self, settings: Arc<Mutex<Settings>>) {
            let _ = self.settings.set(settings);
        }

        fn settings_arc(&self) -> &Arc<Mutex<Settings>> {
            self.settings.get_or_init(Default::default)
        }

        fn settings(&self) -> Settings {
            self.settings_arc().lock().unwrap().clone()
        }

        /// Adds one buffer of party `i` to its timeline. Returns a warning to
        /// post (once per party) when the buffer is unusable.
        fn push_input(
            &self,
            i: usize,
            pad: &gst_base::AggregatorPad,
            buf: &gst::Buffer,
        ) -> Result<Option<String>, gst::FlowError> {
            // `sink_event` refuses segments not in time, so any other format
            // here is the undefined one a flush of this party leaves between
            // our pop and this read: the buffer belongs to the flushed
            // stream. (Failing here killed the whole call.)
            let Ok(segment) = pad.segment().downcast::<gst::ClockTime>() else {
                gst::debug!(CAT, obj = pad, "Dropping a buffer of a flushed stream");
                return Ok(None);
            };
            let rt = buf.pts().and_then(|pts| segment.to_running_time(pts));
            let mut state = self.state.lock().unwrap();
            let State {
                inputs,
                rate,
                conv,
                first_seen,
                next,
                warned_no_pts,
                ..
            } = &mut *state;
            let Some(rate) = *rate else {
                return Ok(None);
            };
            let Some(input) = inputs.get_mut(i) else {
                return Ok(None);
            };
            // A buffer of a pad that was released meanwhile.
            if input.pad.as_ref() != Some(pad) {
                return Ok(None);
            }
            let Some(info) = input.info.as_ref() else {
                return Ok(None);
            };
            let Some(timeline) = input.timeline.as_mut() else {
                return Ok(None);
            };
            if rt.is_none() && !*warned_no_pts {
                *warned_no_pts = true;
                gst::warning!(
                    CAT,
                    obj = pad,
                    "Buffer without a timestamp: continuing from the last one"
                );
            }
            let rt_ns = rt.map(gst::ClockTime::nseconds);
            let in_rate = u64::from(info.rate());
            // A hole in the party's timestamps (a lost or dropped buffer) is
            // silence, so that what follows stays at its time. Longer jumps
            // restart the timeline.
            if let (Some(rt), Some(expected)) = (rt_ns, input.expected_ns)
                && rt > expected
                && rt - expected <= MAX_FILL_NS
            {
                let frames = (rt - expected)
                    .mul_div_floor(in_rate, 1_000_000_000)
                    .unwrap_or(0);
                if frames > 0 {
                    timeline.push(Some(expected), &[], frames as usize);
                }
            }
            let start_ns = rt_ns.or(input.expected_ns);
            let frames_in = if buf.flags().contains(gst::BufferFlags::GAP) && buf.size() == 0 {
                let frames = buf
                    .duration()
                    .and_then(|d| {
                        d.nseconds()
                            .mul_div_floor(u64::from(info.rate()), 1_000_000_000)
                    })
                    .unwrap_or(0) as usize;
                timeline.push(rt_ns, &[], frames);
                frames as u64
            } else {
                let bpf = info.bpf() as usize;
                let Ok(map) = buf.map_readable() else {
                    return Ok(warn_once(input, "a buffer could not be mapped"));
                };
                if bpf == 0 || !map.len().is_multiple_of(bpf) {
                    let len = map.len();
                    return Ok(warn_once(
                        input,
                        &format!("a buffer of {len} bytes is not whole {bpf}-byte frames"),
                    ));
                }
                conv.clear();
                audio::decode_into(&map, info.format(), conv);
                // A NaN or infinity from a broken upstream would panic the FFT
                // resampler of a party at another rate (realfft refuses a
                // non-finite DC bin) and kill the call: treat it as silence.
                for v in conv.iter_mut().filter(|v| !v.is_finite()) {
                    *v = 0.0;
                }
                timeline.push(rt_ns, conv, 0);
                (conv.len() / (info.channels().max(1) as usize)) as u64
            };
            input.expected_ns =
                start_ns.map(|s| s + frames_in.mul_div_floor(1_000_000_000, in_rate).unwrap_or(0));
            input.got_data = true;
            if next.is_none()
                && let Some(rt) = rt
            {
                let s = time_to_samples(rt, rate);
                *first_seen = Some(first_seen.map_or(s, |f| f.min(s)));
            }
            Ok(None)
        }

        /// Sends what aggregate() produced, with no lock held.
        fn send(&self, out: Outgoing) -> Result<gst::FlowSuccess, gst::FlowError> {
            let obj = self.obj();
            for w in out.warnings {
                gst::element_imp_warning!(self, gst::StreamError::Format, ("{w}"));
            }
            if let Some(caps) = out.caps {
                obj.set_src_caps(&caps);
            }
            let mut result = Ok(gst::FlowSuccess::Ok);
            if let Some(buffer) = out.buffer {
                obj.selected_samples(buffer.pts(), None, buffer.duration(), None);
                gst::log!(
                    CAT,
                    imp = self,
                    "Output {} + {}",
                    buffer.pts().display(),
                    buffer.duration().display()
                );
                result = obj.finish_buffer(buffer);
            }
            if let Some(owner) = obj.parent().and_downcast::<gst::Element>() {
                for (mode, previous) in out.mode_changes {
                    let msg = protocol::CallbargeMode {
                        mode: mode.as_str().into(),
                        previous: previous.as_str().into(),
                    };
                    let _ = owner.post_message(msg.message(&owner));
                    owner.notify("mode");
                }
            }
            result
        }
    }

    fn warn_once(input: &mut Input, what: &str) -> Option<String> {
        if std::mem::replace(&mut input.warned, true) {
            return None;
        }
        let party = input
            .pad
            .as_ref()
            .map(|p| p.name().to_string())
            .unwrap_or_default();
        Some(format!("On {party}: {what}; it is dropped (silence)"))
    }

    fn samples_to_time(samples: i64, rate: u32) -> gst::ClockTime {
        let s = u64::try_from(samples).unwrap_or(0);
        gst::ClockTime::from_nseconds(
            s.mul_div_floor(1_000_000_000, u64::from(rate))
                .unwrap_or(u64::MAX / 2),
        )
    }

    /// The first instant that counts as sample `samples` at `rate`.
    fn samples_to_time_ceil(samples: i64, rate: u32) -> gst::ClockTime {
        let s = u64::try_from(samples).unwrap_or(0);
        gst::ClockTime::from_nseconds(
            s.mul_div_ceil(1_000_000_000, u64::from(rate))
                .unwrap_or(u64::MAX / 2),
        )
    }

    fn time_to_samples(t: gst::ClockTime, rate: u32) -> i64 {
        (u128::from(t.nseconds()) * u128::from(rate) / 1_000_000_000) as i64
    }
}

glib::wrapper! {
    pub struct CallBargeMixer(ObjectSubclass<imp::CallBargeMixer>)
        @extends gst_base::Aggregator, gst::Element, gst::Object;
}

impl CallBargeMixer {
    /// Shares the bin's settings with the mixer.
    pub(super) fn attach(&self, settings: std::sync::Arc<std::sync::Mutex<Settings>>) {
        use gst::subclass::prelude::ObjectSubclassIsExt;
        self.imp().attach(settings);
    }
}
