//! The far-end reference: what the loudspeaker played, converted to mono at
//! the near end's rate and kept on a timeline of running time, so that every
//! 10 ms near-end frame can be paired with the far-end audio of the same
//! instant. Plain Rust: no pads, no locks.

use rubato::{FftFixedIn, Resampler};
use std::collections::VecDeque;

/// How much far-end audio is kept ahead of the near end. A TTS that runs
/// further ahead than this loses its oldest audio (counted in `dropped`).
/// It does not bound the drift `offset`: the ring holds what the far end is
/// ahead of the reference handed out, not of the near end's running time,
/// so a reference handed out a minute late still needs only that (see
/// `an_offset_of_minutes_does_not_grow_the_ring`).
const MAX_SECONDS: usize = 3;
/// Jumps in the far end's timestamps larger than this restart the timeline.
const MAX_GAP_SECONDS: i64 = 2;

pub struct FarReference {
    /// Near-end rate: the rate of the ring.
    rate: u32,
    in_rate: u32,
    in_channels: usize,
    resampler: Option<FftFixedIn<f32>>,
    /// Mono samples at `in_rate` waiting for a full resampler chunk.
    pending: Vec<f32>,
    res_in: Vec<Vec<f32>>,
    res_out: Vec<Vec<f32>>,
    /// Mono far-end samples at `rate`.
    ring: VecDeque<f32>,
    /// Timeline position (in samples at `rate` since running time 0) of ring[0].
    ring_start: Option<i64>,
    /// Where the next input sample belongs, in input samples since running time 0.
    next_in: Option<i64>,
    max_len: usize,
    /// Samples lost because the far end ran too far ahead.
    pub dropped: u64,
    /// How much later than its running time the reference is handed out,
    /// in ring samples: follows a microphone clock that drifts against the
    /// playback clock (see `shift`); 3.6 s per hour at 0.1 %, for as long as
    /// the call lasts (a number, not a buffer). Negative when the microphone
    /// clock is the slower one: the echo then comes earlier than the audio's
    /// running time, and the reference has to be handed out ahead of it, as
    /// far as the far end arrives ahead.
    offset: i64,
    /// Smallest lookahead (see `lookahead`) seen by `take` since the last
    /// `take_lead_min`, over frames the far end was playing in.
    lead_min: Option<i64>,
    /// Whether `take` measures the lead: not for near buffers processed
    /// without waiting for far_sink (they say nothing of how early it comes).
    pub measure_lead: bool,
    /// Whether a non-live element waits briefly for far_sink to refill the
    /// lookahead spare: once the far end has filled it (fed ahead: a file, a
    /// TTS, an appsrc, whose thread refills it as soon as it runs again), or
    /// once the drift follower wanted the reference earlier than the spare
    /// allowed. Cleared after `missed_refills` waits in vain in a row (a far
    /// end that comes just in time, as the output advances).
    wait_for_spare: bool,
    /// Waits in a row in which it did not refill the spare.
    missed_refills: u32,
    /// Checks that want the spare to let pass before waiting again, after
    /// waiting was given up.
    spare_backoff: u32,
}

impl FarReference {
    pub fn new(rate: u32, in_rate: u32, in_channels: usize) -> Result<Self, String> {
        let chunk = in_rate as usize / 100;
        let resampler = if in_rate != rate {
            Some(
                FftFixedIn::<f32>::new(in_rate as usize, rate as usize, chunk, 1, 1)
                    .map_err(|e| format!("far-end resampler {in_rate} → {rate} Hz: {e}"))?,
            )
        } else {
            None
        };
        let res_out = match &resampler {
            Some(r) => vec![vec![0.0; r.output_frames_max()]],
            None => Vec::new(),
        };
        Ok(Self {
            rate,
            in_rate,
            in_channels: in_channels.max(1),
            resampler,
            pending: Vec::with_capacity(chunk * 4),
            res_in: vec![vec![0.0; chunk]],
            res_out,
            ring: VecDeque::with_capacity(rate as usize * MAX_SECONDS),
            ring_start: None,
            next_in: None,
            max_len: rate as usize * MAX_SECONDS,
            dropped: 0,
            offset: 0,
            lead_min: None,
            measure_lead: true,
            wait_for_spare: false,
            missed_refills: 0,
            spare_backoff: 0,
        })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Forgets the audio (flush, new stream). The offset stays: it follows
    /// the two clocks, which a new far stream does not change (ttsducker's
    /// stop flushes the far branch mid-call); dropping it would leave an
    /// echo that had come early before its reference again.
    pub fn reset(&mut self) {
        self.lead_min = None;
        self.wait_for_spare = false;
        self.missed_refills = 0;
        self.spare_backoff = 0;
        self.pending.clear();
        self.ring.clear();
        self.ring_start = None;
        self.next_in = None;
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
    }

    /// Delay the resampler adds, in ring samples.
    fn resampler_delay(&self) -> i64 {
        self.resampler
            .as_ref()
            .map_or(0, |r| r.output_delay() as i64)
    }

    /// Adds interleaved far-end audio whose first sample plays at `running_ns`
    /// (None: continues where the last buffer ended). `silence` adds that many
    /// frames of silence instead (a GAP).
    pub fn push(&mut self, running_ns: Option<u64>, interleaved: &[f32], silence_frames: usize) {
        let frames = if interleaved.is_empty() {
            silence_frames
        } else {
            interleaved.len() / self.in_channels
        };
        if frames == 0 {
            return;
        }
        if interleaved.is_empty() && frames > self.in_rate as usize * MAX_SECONDS {
            // A gap longer than the ring: the ring would end up all silence
            // anyway, so jump there instead of generating hours of zeros.
            let start = running_ns
                .map(|rt| ns_to_samples(rt, self.in_rate))
                .or(self.next_in);
            if let Some(start) = start {
                self.restart(start.saturating_add(frames as i64));
            }
            return;
        }
        if let Some(rt) = running_ns {
            let at = ns_to_samples(rt, self.in_rate);
            match self.next_in {
                None => self.restart(at),
                Some(expected) => {
                    let gap = at - expected;
                    let tolerance = i64::from(self.in_rate) / 100;
                    if gap.abs() > i64::from(self.in_rate) * MAX_GAP_SECONDS {
                        self.restart(at);
                    } else if gap > tolerance {
                        // A hole in the far end (the TTS paused): silence.
                        self.push_mono(std::iter::repeat_n(0.0, gap as usize));
                    }
                    // Small overlaps and jitter are absorbed: the samples are
                    // appended where the timeline expects them.
                }
            }
        } else if self.next_in.is_none() {
            return; // nothing to anchor untimed audio to
        }
        if interleaved.is_empty() {
            self.push_mono(std::iter::repeat_n(0.0, frames));
        } else {
            let ch = self.in_channels;
            let scale = 1.0 / ch as f32;
            // Downmix: the AEC needs what reaches the room, one signal.
            let iter = interleaved
                .chunks_exact(ch)
                .map(move |f| f.iter().sum::<f32>() * scale);
            self.push_mono(iter);
        }
    }

    /// The input ended: pushes silence through the resampler so that the
    /// last real samples come out of it (it holds back its delay plus a
    /// partial chunk), then keeps only what lies before the input's end.
    pub fn finish(&mut self) {
        let (Some(next_in), Some(r)) = (self.next_in, self.resampler.as_ref()) else {
            return;
        };
        let end = next_in * i64::from(self.rate) / i64::from(self.in_rate);
        let delay_in = (r.output_delay() * self.in_rate as usize).div_ceil(self.rate as usize);
        let flush = delay_in + r.input_frames_next();
        self.push_mono(std::iter::repeat_n(0.0, flush));
        if let Some(start) = self.ring_start {
            let keep = (end - start).clamp(0, self.ring.len() as i64) as usize;
            self.ring.truncate(keep);
        }
        self.next_in = Some(next_in);
    }

    fn restart(&mut self, at_in_samples: i64) {
        self.pending.clear();
        self.ring.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
        self.next_in = Some(at_in_samples);
        let at = at_in_samples * i64::from(self.rate) / i64::from(self.in_rate);
        self.ring_start = Some(at - self.resampler_delay());
    }

    fn push_mono(&mut self, samples: impl Iterator<Item = f32>) {
        let mut n = 0i64;
        match self.resampler.is_some() {
            false => {
                for s in samples {
                    self.ring.push_back(s);
                    n += 1;
                }
            }
            true => {
                for s in samples {
                    self.pending.push(s);
                    n += 1;
                }
                self.drain_resampler();
            }
        }
        if let Some(next) = self.next_in.as_mut() {
            *next += n;
        }
        self.bound();
    }

    fn drain_resampler(&mut self) {
        let Some(r) = self.resampler.as_mut() else {
            return;
        };
        let chunk = r.input_frames_next();
        let mut used = 0;
        while self.pending.len() - used >= chunk {
            self.res_in[0].clear();
            self.res_in[0].extend_from_slice(&self.pending[used..used + chunk]);
            used += chunk;
            match r.process_into_buffer(&self.res_in, &mut self.res_out, None) {
                Ok((_, out_frames)) => {
                    self.ring
                        .extend(self.res_out[0].iter().take(out_frames).copied());
                }
                Err(_) => {
                    // Sizes are fixed at construction; should not happen. Keep
                    // the timeline right with silence rather than stall.
                    let out = chunk * self.rate as usize / self.in_rate as usize;
                    self.ring.extend(std::iter::repeat_n(0.0, out));
                }
            }
        }
        self.pending.drain(..used);
    }

    fn bound(&mut self) {
        if self.ring.len() > self.max_len {
            let excess = self.ring.len() - self.max_len;
            self.ring.drain(..excess);
            if let Some(s) = self.ring_start.as_mut() {
                *s += excess as i64;
            }
            self.dropped += excess as u64;
        }
    }

    /// Whether fewer than `spare` samples are here beyond what the near end
    /// up to `until_ns` needs (None: nothing to tell). A far end found to
    /// have filled the spare is fed ahead, and waited for from then on.
    pub fn check_spare(&mut self, until_ns: u64, spare: i64) -> Option<bool> {
        let short = self.lookahead(until_ns)? < spare;
        if !short {
            self.spare_filled();
        }
        Some(short)
    }

    pub fn waits_for_spare(&self) -> bool {
        self.wait_for_spare
    }

    /// A wait for far_sink refilled the spare.
    pub fn refilled(&mut self) {
        self.missed_refills = 0;
    }

    /// A wait for far_sink ran out: after `limit` in a row, waiting is given
    /// up for `rearm_checks` `want_spare` calls. Returns whether it was.
    pub fn missed_refill(&mut self, limit: u32, rearm_checks: u32) -> bool {
        self.missed_refills += 1;
        let give_up = self.missed_refills >= limit;
        if give_up {
            self.give_up_spare(rearm_checks);
        }
        give_up
    }

    /// The far end filled the lookahead spare: it is fed ahead.
    fn spare_filled(&mut self) {
        self.wait_for_spare = true;
        self.missed_refills = 0;
        self.spare_backoff = 0;
    }

    /// The drift follower wanted the reference earlier than the spare let
    /// it: wait for far_sink to refill, unless that was given up lately.
    pub fn want_spare(&mut self) {
        if self.spare_backoff > 0 {
            self.spare_backoff -= 1;
        } else {
            self.wait_for_spare = true;
        }
    }

    /// Waiting did not refill the spare (`checks`: how many `want_spare`
    /// calls to ignore before waiting again).
    fn give_up_spare(&mut self, checks: u32) {
        self.wait_for_spare = false;
        self.missed_refills = 0;
        self.spare_backoff = checks;
    }

    /// Timeline position of the oldest far sample kept (or, with none kept,
    /// of the next one expected).
    pub fn start(&self) -> Option<i64> {
        self.ring_start
    }

    /// Timeline position just after the last far sample we have, if any.
    pub fn end(&self) -> Option<i64> {
        self.ring_start.map(|s| s + self.ring.len() as i64)
    }

    /// Whether far audio up to `until_ns` (running time) is already here,
    /// counting the offset: with a negative one, audio from beyond
    /// `until_ns` is needed.
    pub fn covers(&self, until_ns: u64) -> bool {
        self.lookahead(until_ns).is_some_and(|l| l >= 0)
    }

    /// How many far samples are here beyond what the near end up to
    /// `until_ns` needs (negative: that many are still missing).
    pub fn lookahead(&self, until_ns: u64) -> Option<i64> {
        self.end()
            .map(|e| e - (ns_to_samples(until_ns, self.rate) - self.offset))
    }

    /// The smallest lookahead `take` saw since the last call, over frames
    /// in which the far end was playing (None: it was not): how much earlier
    /// the reference could be handed out without waiting for audio that is
    /// not there yet.
    pub fn take_lead_min(&mut self) -> Option<i64> {
        self.lead_min.take()
    }

    /// Hands the reference out `by` samples later from now on (earlier when
    /// negative; before its running time too, as long as the far end is
    /// here that early: the caller checks `take_lead_min`). Moving later
    /// repeats at most the last frame handed out, after `by` less one frame
    /// of silence; moving earlier skips audio.
    pub fn shift(&mut self, by: i64) -> i64 {
        self.offset += by;
        if by > 0
            && let Some(start) = self.ring_start
        {
            let by = by.min(self.max_len as i64);
            for _ in 0..by {
                self.ring.push_front(0.0);
            }
            self.ring_start = Some(start - by);
        }
        by
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Fills `out` with the far end at running time `at_ns` (silence where
    /// there is none) and drops what is older. Returns whether any far sample
    /// was real.
    pub fn take(&mut self, at_ns: u64, out: &mut [f32]) -> bool {
        out.fill(0.0);
        let Some(start) = self.ring_start else {
            return false;
        };
        let at = ns_to_samples(at_ns, self.rate) - self.offset;
        let end = start + self.ring.len() as i64;
        // The far end plays at this frame's own running time: what is here
        // beyond the frame is how far ahead of the near end it is fed.
        if self.measure_lead && end > at + self.offset {
            let lead = end - (at + out.len() as i64);
            self.lead_min = Some(self.lead_min.map_or(lead, |m| m.min(lead)));
        }
        let skip = at - start;
        if skip > 0 {
            let k = (skip as usize).min(self.ring.len());
            self.ring.drain(..k);
            self.ring_start = Some(start + k as i64);
        }
        let Some(start) = self.ring_start else {
            return false;
        };
        // The far end may begin inside this frame.
        let lead = (start - at).max(0) as usize;
        if lead >= out.len() {
            return false;
        }
        let mut real = false;
        for (o, s) in out[lead..].iter_mut().zip(self.ring.iter()) {
            *o = *s;
            real = true;
        }
        real
    }
}

fn ns_to_samples(ns: u64, rate: u32) -> i64 {
    (u128::from(ns) * u128::from(rate) / 1_000_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ramp(n: usize, from: f32) -> Vec<f32> {
        (0..n).map(|i| from + i as f32).collect()
    }

    #[test]
    fn pairs_far_and_near_by_running_time() {
        let mut f = FarReference::new(16000, 16000, 1).unwrap();
        f.push(Some(100 * MS), &ramp(1600, 0.0), 0);
        let mut out = vec![0.0; 160];
        // Before the far end starts: silence.
        assert!(!f.take(80 * MS, &mut out));
        assert!(out.iter().all(|&v| v == 0.0));
        // A frame straddling the start: 10 ms of silence then far samples.
        assert!(f.take(95 * MS, &mut out));
        assert_eq!(out[79], 0.0);
        assert_eq!(out[80], 0.0); // the first far sample is 0.0 itself
        assert_eq!(out[81], 1.0);
        // Exactly aligned.
        assert!(f.take(110 * MS, &mut out));
        assert_eq!(out[0], 160.0);
        assert_eq!(out[159], 319.0);
        // Skipping ahead drops what is older.
        assert!(f.take(150 * MS, &mut out));
        assert_eq!(out[0], 800.0);
        assert!(f.covers(190 * MS));
        assert!(!f.covers(201 * MS));
    }

    #[test]
    fn downmixes_stereo_and_fills_gaps_with_silence() {
        let mut f = FarReference::new(8000, 8000, 2).unwrap();
        let stereo: Vec<f32> = (0..80).flat_map(|_| [0.2f32, 0.4]).collect();
        f.push(Some(0), &stereo, 0);
        // 20 ms hole, then more audio.
        f.push(Some(30 * MS), &stereo, 0);
        let mut out = vec![0.0; 80];
        f.take(0, &mut out);
        assert!(out.iter().all(|v| (v - 0.3).abs() < 1e-6));
        f.take(10 * MS, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "hole is silence");
        f.take(30 * MS, &mut out);
        assert!(out.iter().all(|v| (v - 0.3).abs() < 1e-6));
    }

    #[test]
    fn resamples_and_keeps_time() {
        let mut f = FarReference::new(16000, 48000, 1).unwrap();
        // 200 ms of a 440 Hz tone at 48 kHz.
        let tone: Vec<f32> = (0..9600)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48000.0).sin() * 0.5)
            .collect();
        f.push(Some(0), &tone, 0);
        let mut out = vec![0.0; 160];
        assert!(f.take(100 * MS, &mut out));
        let rms = (out.iter().map(|v| v * v).sum::<f32>() / 160.0).sqrt();
        assert!((rms - 0.354).abs() < 0.03, "rms {rms}");
        // Compare phase with the ideal tone at 16 kHz at the same time.
        let ideal: Vec<f32> = (1600..1760)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin() * 0.5)
            .collect();
        let err: f32 = out
            .iter()
            .zip(&ideal)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 160.0;
        assert!(
            err < 0.05,
            "resampled far end is misaligned: mean error {err}"
        );
    }

    #[test]
    fn finish_lets_the_resampled_tail_out() {
        let mut f = FarReference::new(48000, 16000, 1).unwrap();
        f.push(Some(0), &[0.5; 1600], 0);
        // The resampler holds back its delay: the ring ends short of 100 ms.
        assert!(f.end().unwrap() < 4800);
        f.finish();
        assert_eq!(f.end(), Some(4800), "exactly the input's end, no padding");
        let mut out = vec![0.0; 480];
        assert!(f.take(90 * MS, &mut out));
        assert!(out[..400].iter().all(|v| (v - 0.5).abs() < 0.05), "{out:?}");
        // Nothing to finish without a resampler or without input.
        let mut g = FarReference::new(16000, 16000, 1).unwrap();
        g.finish();
        assert_eq!(g.end(), None);
    }

    #[test]
    fn bounded_when_the_far_end_runs_ahead() {
        let mut f = FarReference::new(8000, 8000, 1).unwrap();
        for i in 0..50u64 {
            f.push(Some(i * 100 * MS), &vec![0.1; 800], 0);
        }
        assert!(f.ring.len() <= 8000 * MAX_SECONDS);
        assert!(f.dropped > 0);
        let mut out = vec![0.0; 80];
        assert!(f.take(4900 * MS, &mut out));
    }

    #[test]
    fn shifting_hands_the_reference_out_later_or_earlier() {
        let mut far = FarReference::new(16000, 16000, 1).unwrap();
        let input = ramp(1600, 1.0);
        far.push(Some(0), &input, 0);
        let mut out = vec![0.0; 160];
        assert!(far.take(0, &mut out));
        assert_eq!(out[..], input[..160]);
        // 20 ms later from now on: 20 ms of silence, then the audio again
        // from where it was (the frame handed out last is repeated).
        assert_eq!(far.shift(320), 320);
        far.take(10 * MS, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
        far.take(20 * MS, &mut out);
        assert_eq!(out[..], input[..160]);
        far.take(30 * MS, &mut out);
        assert_eq!(out[..], input[160..320]);
        // Back to its running time.
        assert_eq!(far.shift(-320), -320);
        assert_eq!(far.offset(), 0);
        far.take(50 * MS, &mut out);
        assert_eq!(out[..], input[800..960]);
    }

    #[test]
    fn shifting_earlier_hands_out_audio_from_ahead() {
        let mut far = FarReference::new(16000, 16000, 1).unwrap();
        let input = ramp(1600, 1.0);
        far.push(Some(0), &input, 0);
        let mut out = vec![0.0; 160];
        assert!(far.take(0, &mut out));
        assert_eq!(far.take_lead_min(), Some(1440));
        assert_eq!(far.take_lead_min(), None, "taking it starts a new period");
        // 20 ms earlier than its running time: the frame at 10 ms gets
        // the far end of 30 ms (what was in between is skipped).
        assert_eq!(far.shift(-320), -320);
        assert_eq!(far.offset(), -320);
        assert!(far.take(10 * MS, &mut out));
        assert_eq!(out[..], input[480..640]);
        assert_eq!(far.take_lead_min(), Some(1600 - 640));
        // The ring must reach 20 ms beyond a frame to cover it.
        assert!(far.covers(80 * MS));
        assert!(!far.covers(81 * MS));
        assert_eq!(far.lookahead(80 * MS), Some(0));
        assert_eq!(far.lookahead(90 * MS), Some(-160));
        // Further earlier, then later again past zero: consistent both ways.
        far.shift(-160);
        assert!(far.take(20 * MS, &mut out));
        assert_eq!(out[..], input[800..960]);
        far.shift(480 + 160);
        assert_eq!(far.offset(), 160);
        assert!(far.take(70 * MS, &mut out));
        assert_eq!(out[..], input[960..1120]);
    }

    #[test]
    fn lookahead_short_of_an_early_reference() {
        let mut far = FarReference::new(16000, 16000, 1).unwrap();
        far.push(Some(0), &ramp(320, 1.0), 0);
        far.shift(-320);
        let mut out = vec![0.0; 160];
        // Fed just in time: the far end plays now, but nothing from 20 ms
        // ahead is here. The shortfall is reported (negative lookahead)…
        assert!(!far.covers(10 * MS));
        assert!(!far.take(0, &mut out));
        assert_eq!(far.take_lead_min(), Some(-160));
        // …while a far end that is not playing at all counts for nothing.
        assert!(!far.take(100 * MS, &mut out));
        assert_eq!(far.take_lead_min(), None);
    }

    #[test]
    fn waiting_for_the_spare_backs_off_after_giving_up() {
        let mut f = FarReference::new(16000, 16000, 1).unwrap();
        assert!(
            !f.wait_for_spare,
            "nothing says the far end comes ahead yet"
        );
        f.want_spare();
        assert!(f.wait_for_spare);
        f.give_up_spare(2);
        assert!(!f.wait_for_spare);
        f.want_spare();
        f.want_spare();
        assert!(!f.wait_for_spare, "two checks pass before trying again");
        f.want_spare();
        assert!(f.wait_for_spare);
        f.give_up_spare(5);
        f.spare_filled();
        assert!(
            f.wait_for_spare,
            "a far end that fills the spare is fed ahead"
        );
        f.reset();
        assert!(!f.wait_for_spare, "a new far stream starts over");
    }

    #[test]
    fn reset_keeps_the_offset() {
        let mut far = FarReference::new(16000, 16000, 1).unwrap();
        far.push(Some(0), &ramp(1600, 1.0), 0);
        far.shift(-160);
        far.reset();
        assert_eq!(far.offset(), -160, "the clocks did not change");
        let input = ramp(1600, 1.0);
        far.push(Some(500 * MS), &input, 0);
        let mut out = vec![0.0; 160];
        assert!(far.take(490 * MS, &mut out));
        assert_eq!(out[..], input[..160]);
    }

    /// A microphone clock fast against the playback clock, far enough for
    /// the offset to pass a minute (0.1 % takes 17 hours to get there; 5 %
    /// here, 22 minutes of audio). The reference is pulled as bargeinaec
    /// pulls it (until it covers the frame plus 250 ms, from a far end that
    /// could deliver far more) and moved later whenever the echo has slid
    /// 150 ms, as its drift follower does. The ring holds what is pulled
    /// beyond the frame and the silence of the last move, never the offset:
    /// nothing is dropped, memory stays where it was at the start, and every
    /// sample handed out is the far end's at its place.
    #[test]
    fn an_offset_of_minutes_does_not_grow_the_ring() {
        const RATE: i64 = 16000;
        const FRAME: i64 = 160;
        let value = |q: i64| q.rem_euclid(1 << 20) as f32;
        let ns = |samples: i64| samples as u64 * 1_000_000_000 / RATE as u64;
        let mut far = FarReference::new(RATE as u32, RATE as u32, 1).unwrap();
        let (spare, slide) = (RATE / 4, RATE * 150 / 1000);
        let mut pulled = 0i64;
        let mut out = vec![0.0; FRAME as usize];
        let (mut longest, mut moves, mut exact) = (0, 0, 0);
        let frames = 130_000i64;
        for k in 0..frames {
            let m = k * FRAME; // the microphone's label
            let d = m - m * 100 / 105; // how far it runs ahead of the far end
            if d - far.offset() > slide {
                far.shift(d - far.offset());
                moves += 1;
            }
            while far.lookahead(ns(m + FRAME)).is_none_or(|l| l < spare) {
                let chunk: Vec<f32> = (pulled..pulled + FRAME).map(value).collect();
                far.push(Some(ns(pulled)), &chunk, 0);
                pulled += FRAME;
            }
            far.take(ns(m), &mut out);
            longest = longest.max(far.ring.len());
            let at = m - far.offset();
            for (i, v) in out.iter().enumerate() {
                assert!(
                    *v == 0.0 || *v == value(at + i as i64),
                    "frame {k} (offset {} s), sample {i}: {v}",
                    far.offset() / RATE
                );
            }
            if out
                .iter()
                .enumerate()
                .all(|(i, v)| *v == value(at + i as i64))
            {
                exact += 1;
            }
        }
        assert!(far.offset() > 60 * RATE, "offset {}", far.offset());
        assert!(moves > 400);
        assert_eq!(far.dropped, 0);
        assert!(
            (longest as i64) <= spare + 2 * FRAME + slide + RATE / 100,
            "the ring grew to {longest} samples"
        );
        // Only the silence after each move is not the far end.
        assert!(
            exact > frames * 95 / 100,
            "{exact} of {frames} frames exact"
        );
    }

    #[test]
    fn endless_gap_is_bounded_silence() {
        let mut f = FarReference::new(16000, 16000, 1).unwrap();
        f.push(Some(0), &[0.5; 160], 0);
        // A GAP claiming a day: no day of zeros is generated.
        f.push(Some(10 * MS), &[], 16000 * 86_400);
        assert!(f.ring.len() <= 16000 * MAX_SECONDS);
        let mut out = vec![0.0; 160];
        assert!(!f.take(20 * MS, &mut out));
        assert!(out.iter().all(|&v| v == 0.0));
        // Audio after the gap lands on the timeline where it belongs.
        let after = (86_400_000 + 10) * MS;
        f.push(Some(after), &[0.25; 160], 0);
        assert!(f.take(after, &mut out));
        assert!(out.iter().all(|&v| v == 0.25));
    }

    #[test]
    fn gap_buffers_are_silence() {
        let mut f = FarReference::new(16000, 16000, 1).unwrap();
        f.push(Some(0), &[0.5; 160], 0);
        f.push(Some(10 * MS), &[], 160);
        f.push(Some(20 * MS), &[0.5; 160], 0);
        let mut out = vec![0.0; 160];
        f.take(10 * MS, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
        f.take(20 * MS, &mut out);
        assert!(out.iter().all(|&v| v == 0.5));
    }
}

#[cfg(test)]
mod continuity {
    use super::*;

    #[test]
    fn odd_buffer_sizes_keep_every_sample_in_order() {
        for (buf_ms, in_rate) in [(20u64, 16000u32), (7, 16000), (20, 48000)] {
            let mut f = FarReference::new(16000, in_rate, 1).unwrap();
            let per = (in_rate as u64 * buf_ms / 1000) as usize;
            let total = in_rate as usize; // 1 s
            let ramp: Vec<f32> = (0..total).map(|i| i as f32 / total as f32).collect();
            let mut out = vec![0.0; 160];
            let mut pushed = 0usize;
            let mut got = Vec::new();
            for frame in 0..90u64 {
                let at = frame * 10_000_000;
                // push far buffers until they cover the frame
                while (pushed as u64) * 1_000_000_000 / in_rate as u64 <= at + 20_000_000
                    && pushed < total
                {
                    let n = per.min(total - pushed);
                    let rt = pushed as u64 * 1_000_000_000 / in_rate as u64;
                    f.push(Some(rt), &ramp[pushed..pushed + n], 0);
                    pushed += n;
                }
                f.take(at, &mut out);
                got.extend_from_slice(&out);
            }
            // The ramp must come back monotonic and continuous (±resampler ripple).
            let skip = 400;
            let mut bad = 0;
            for w in got[skip..].windows(2) {
                let step = w[1] - w[0];
                if !(-0.002..0.003).contains(&step) {
                    bad += 1;
                }
            }
            assert_eq!(
                bad, 0,
                "{buf_ms} ms buffers at {in_rate} Hz: {bad} discontinuities"
            );
        }
    }
}
