//! `score`: events against labels.
//!
//! * **hit**: a `confirmed` decision within 1.5 s after a true speech onset
//!   (`speech` label); labels may be 50 ms late, so decisions up to 50 ms
//!   before the onset count too.
//! * **latency**: onset → first `tentative` / `confirmed` decision in that
//!   window; p50 and p95 (nearest rank) over the hits.
//! * **false interruption**: a `confirmed` decision not within [start − 50 ms,
//!   end + 1.5 s] of any labelled speech, backchannel or key press; counted
//!   per hour of machine speech (`tts` labels, else the whole recording).
//! * **backchannel trigger**: a `confirmed` decision within a backchannel or
//!   the second after it (these are not also counted as false interruptions).
//! * **after a stop**: where the system itself had stopped the prompt
//!   (`stopped` events, the closed loop), the rest of the scene is no
//!   machine speech: a caller starting then had nothing to interrupt (counted
//!   apart, not a target), nor a backchannel, and its time is no TTS time.
//! * **DTMF**: a `dtmf` event with the right digit within [start − 50 ms, end + 0.5 s].
//! * **ERLE**: microphone over output energy in far-end-only frames of
//!   echo-only scenes, summed over scenes (energy-weighted, so it is the
//!   ERLE of the whole set); AEC3's own estimate is the median of scenes' medians.

use crate::args::Opts;
use crate::events::{self, Event};
use crate::labels::Labels;
use crate::run;
use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

pub const HIT_WINDOW_S: f64 = 1.5;
pub const EARLY_S: f64 = 0.05;
const NEAR_POST_S: f64 = 1.5;
const BACKCHANNEL_POST_S: f64 = 1.0;
const DTMF_POST_S: f64 = 0.5;
/// The SER above which the targets (≥ 98 % hits) apply.
pub const TARGET_SER_DB: f64 = -5.0;

/// Counts for a set of scenes; merged across scenes, finished into `Metrics`.
#[derive(Debug, Clone, Default)]
pub struct Acc {
    pub scenes: usize,
    pub targets: usize,
    pub hits: usize,
    pub after_stop: usize,
    pub tentative_ms: Vec<f64>,
    pub confirmed_ms: Vec<f64>,
    pub false_alarms: usize,
    pub tts_s: f64,
    pub backchannels: usize,
    pub backchannel_triggers: usize,
    pub dtmf: usize,
    pub dtmf_detected: usize,
    pub erle_mic: f64,
    pub erle_out: f64,
    pub erle_scenes: usize,
    pub aec_erle: Vec<f64>,
}

impl Acc {
    pub fn add(&mut self, o: &Acc) {
        self.scenes += o.scenes;
        self.targets += o.targets;
        self.hits += o.hits;
        self.after_stop += o.after_stop;
        self.tentative_ms.extend(&o.tentative_ms);
        self.confirmed_ms.extend(&o.confirmed_ms);
        self.false_alarms += o.false_alarms;
        self.tts_s += o.tts_s;
        self.backchannels += o.backchannels;
        self.backchannel_triggers += o.backchannel_triggers;
        self.dtmf += o.dtmf;
        self.dtmf_detected += o.dtmf_detected;
        self.erle_mic += o.erle_mic;
        self.erle_out += o.erle_out;
        self.erle_scenes += o.erle_scenes;
        self.aec_erle.extend(&o.aec_erle);
    }

    pub fn metrics(&self) -> Metrics {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let hours = self.tts_s / 3600.0;
        Metrics {
            scenes: self.scenes,
            targets: self.targets,
            hits: self.hits,
            hit_rate: ratio(self.hits, self.targets),
            after_stop: self.after_stop,
            tentative_p50_ms: percentile(&self.tentative_ms, 50.0),
            tentative_p95_ms: percentile(&self.tentative_ms, 95.0),
            confirmed_p50_ms: percentile(&self.confirmed_ms, 50.0),
            confirmed_p95_ms: percentile(&self.confirmed_ms, 95.0),
            false_alarms: self.false_alarms,
            tts_hours: hours,
            false_per_hour: (hours > 0.0).then(|| self.false_alarms as f64 / hours),
            backchannels: self.backchannels,
            backchannel_trigger_rate: ratio(self.backchannel_triggers, self.backchannels),
            dtmf: self.dtmf,
            dtmf_rate: ratio(self.dtmf_detected, self.dtmf),
            erle_db: (self.erle_scenes > 0 && self.erle_out > 0.0)
                .then(|| 10.0 * (self.erle_mic / self.erle_out).log10()),
            aec_erle_db: run::median(&mut self.aec_erle.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub scenes: usize,
    pub targets: usize,
    pub hits: usize,
    pub hit_rate: Option<f64>,
    /// Callers who started after the system had stopped the prompt.
    pub after_stop: usize,
    pub tentative_p50_ms: Option<f64>,
    pub tentative_p95_ms: Option<f64>,
    pub confirmed_p50_ms: Option<f64>,
    pub confirmed_p95_ms: Option<f64>,
    pub false_alarms: usize,
    pub tts_hours: f64,
    pub false_per_hour: Option<f64>,
    pub backchannels: usize,
    pub backchannel_trigger_rate: Option<f64>,
    pub dtmf: usize,
    pub dtmf_rate: Option<f64>,
    pub erle_db: Option<f64>,
    pub aec_erle_db: Option<f64>,
}

/// Nearest-rank percentile.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s.get(rank.clamp(1, s.len()) - 1).copied()
}

/// One scene's counts. `duration` is the recording's length (for the TTS
/// time when there are no `tts` labels).
pub fn scene_acc(truth: &Labels, duration: f64, ev: &[&Event]) -> Acc {
    let mut a = Acc {
        scenes: 1,
        ..Default::default()
    };
    let stop = ev
        .iter()
        .filter(|e| e.kind == "stopped")
        .filter_map(|e| e.time)
        .fold(f64::INFINITY, f64::min);
    let tts: f64 = truth
        .tts
        .iter()
        .map(|s| (s.end.min(stop) - s.start).max(0.0))
        .sum();
    a.tts_s = if truth.tts.is_empty() {
        duration.min(stop)
    } else {
        tts
    };
    let playing = |t: f64| t <= stop + EARLY_S;
    let times = |kind: &str| -> Vec<f64> {
        let mut t: Vec<f64> = ev
            .iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| e.time)
            .collect();
        t.sort_by(f64::total_cmp);
        t
    };
    let tentative = times("tentative");
    let confirmed = times("confirmed");
    let first_in = |v: &[f64], onset: f64| {
        v.iter()
            .copied()
            .find(|&t| t >= onset - EARLY_S && t <= onset + HIT_WINDOW_S)
    };
    for s in &truth.speech {
        if !playing(s.start) {
            a.after_stop += 1;
            continue;
        }
        a.targets += 1;
        if let Some(t) = first_in(&confirmed, s.start) {
            a.hits += 1;
            a.confirmed_ms.push((t - s.start) * 1000.0);
        }
        if let Some(t) = first_in(&tentative, s.start) {
            a.tentative_ms.push((t - s.start) * 1000.0);
        }
    }
    let in_backchannel = |t: f64| {
        truth
            .backchannel
            .iter()
            .any(|b| t >= b.start - EARLY_S && t <= b.end + BACKCHANNEL_POST_S)
    };
    for b in truth.backchannel.iter().filter(|b| playing(b.start)) {
        a.backchannels += 1;
        if confirmed
            .iter()
            .any(|&t| t >= b.start - EARLY_S && t <= b.end + BACKCHANNEL_POST_S)
        {
            a.backchannel_triggers += 1;
        }
    }
    let near_wanted = |t: f64| {
        truth
            .speech
            .iter()
            .chain(truth.dtmf.iter().map(|(s, _)| s))
            .any(|s| t >= s.start - EARLY_S && t <= s.end + NEAR_POST_S)
    };
    a.false_alarms = confirmed
        .iter()
        .filter(|&&t| !near_wanted(t) && !in_backchannel(t))
        .count();
    for (s, digit) in &truth.dtmf {
        a.dtmf += 1;
        if ev.iter().any(|e| {
            e.kind == "dtmf"
                && e.digit.as_deref() == Some(digit.as_str())
                && e.time
                    .is_some_and(|t| t >= s.start - EARLY_S && t <= s.end + DTMF_POST_S)
        }) {
            a.dtmf_detected += 1;
        }
    }
    let mut aec_erle = Vec::new();
    for e in ev {
        match e.kind.as_str() {
            "erle" => {
                if let (Some(m), Some(o)) = (e.mic_energy, e.out_energy) {
                    a.erle_mic += m;
                    a.erle_out += o;
                    a.erle_scenes += 1;
                }
            }
            "aec-erle" => aec_erle.extend(e.value),
            _ => {}
        }
    }
    // AEC3's own figure beside ours, over the same (echo-only) scenes: in a
    // scene with a caller or without echo it measures something else.
    if a.erle_scenes > 0 {
        a.aec_erle = aec_erle;
    }
    a
}

/// The condition buckets a scene falls into: (dimension, rank, bucket);
/// the rank keeps numeric buckets in their natural order in reports.
pub fn buckets(l: &Labels) -> Vec<(&'static str, u8, String)> {
    fn banded(v: f64, bands: &[(f64, &str)], last: &str) -> (u8, String) {
        for (i, (lo, name)) in bands.iter().enumerate() {
            if v >= *lo {
                return (i as u8, name.to_string());
            }
        }
        (bands.len() as u8, last.to_string())
    }
    let mut b = vec![("type", 0, l.scene_type().to_string())];
    if let Some(v) = l.condition_f64("ser_db") {
        let (r, s) = banded(
            v,
            &[
                (5.0, "≥ +5 dB"),
                (0.0, "0 … +5 dB"),
                (TARGET_SER_DB, "−5 … 0 dB"),
            ],
            "< −5 dB",
        );
        b.push(("SER", r, s));
    }
    if let Some(v) = l.condition_f64("snr_db") {
        let (r, s) = banded(v, &[(20.0, "≥ 20 dB"), (10.0, "10 … 20 dB")], "< 10 dB");
        b.push(("SNR", r, s));
    }
    if let Some(v) = l.condition("noise") {
        b.push(("noise", 0, v.to_string()));
    }
    if let Some(v) = l.condition("language") {
        b.push(("language", 0, v.to_string()));
    }
    if let Some(v) = l.condition("position") {
        let (r, s) = match v {
            "first" => (0, "first prompt (cold canceller)"),
            _ => (1, "later prompt"),
        };
        b.push(("call position", r, s.to_string()));
    }
    if let Some(v) = l.condition_f64("rt60_s") {
        let (r, s) = banded(-v, &[(-0.3, "≤ 0.3 s"), (-0.5, "0.3 … 0.5 s")], "> 0.5 s");
        b.push(("RT60", r, s));
    }
    if let Some(v) = l.condition("line") {
        b.push(("line", 0, v.to_string()));
    }
    if let Some(v) = l.condition_f64("nonlinear") {
        let s = if v > 0.0 { "soft-clipping" } else { "linear" };
        b.push(("loudspeaker", 0, s.to_string()));
    }
    b
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub dimension: String,
    pub bucket: String,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemScore {
    pub system: String,
    pub overall: Metrics,
    /// Hit rate over the barge-ins at SER ≥ −5 dB (the target set).
    pub hit_rate_target_ser: Option<f64>,
    /// False interruptions per hour over the scenes without babble noise:
    /// babble is other people talking, speech to every VAD (see DATA.md), so
    /// it is reported apart from echo and noise.
    pub false_per_hour_no_babble: Option<f64>,
    pub false_alarms_no_babble: usize,
    pub tts_hours_no_babble: f64,
    pub groups: Vec<Group>,
}

/// A labelled scene of the corpus.
pub struct Truth {
    pub id: String,
    pub labels: Labels,
    pub duration: f64,
}

pub fn load_truth(corpus: &Path) -> Result<Vec<Truth>> {
    let mut out = Vec::new();
    for sc in run::load_scenes(corpus)? {
        let Some(labels) = sc.labels else {
            eprintln!("warning: {} has no labels, not scored", sc.id);
            continue;
        };
        let duration = match labels.condition_f64("duration_s") {
            Some(d) => d,
            None => {
                let r = hound::WavReader::open(&sc.mic)
                    .with_context(|| format!("open {}", sc.mic.display()))?;
                f64::from(r.duration()) / f64::from(r.spec().sample_rate.max(1))
            }
        };
        out.push(Truth {
            id: sc.id,
            labels,
            duration,
        });
    }
    Ok(out)
}

/// Scores one system. Its scenes are those with a `scene` event; a system
/// without any `scene` events (a hand-written event list) is taken to have
/// run every labelled scene.
pub fn score_system(system: &str, truth: &[Truth], events: &[Event]) -> SystemScore {
    let mine: Vec<&Event> = events.iter().filter(|e| e.system == system).collect();
    let ran: BTreeSet<&str> = mine
        .iter()
        .filter(|e| e.kind == "scene")
        .map(|e| e.scene.as_str())
        .collect();
    let mut overall = Acc::default();
    let mut target = Acc::default();
    let mut no_babble = Acc::default();
    let mut groups: BTreeMap<(&'static str, u8, String), Acc> = BTreeMap::new();
    for t in truth {
        if !ran.is_empty() && !ran.contains(t.id.as_str()) {
            continue;
        }
        let ev: Vec<&Event> = mine.iter().copied().filter(|e| e.scene == t.id).collect();
        let acc = scene_acc(&t.labels, t.duration, &ev);
        overall.add(&acc);
        if t.labels
            .condition_f64("ser_db")
            .is_none_or(|s| s >= TARGET_SER_DB)
        {
            target.add(&acc);
        }
        if t.labels.condition("noise") != Some("babble") {
            no_babble.add(&acc);
        }
        for b in buckets(&t.labels) {
            groups.entry(b).or_default().add(&acc);
        }
    }
    SystemScore {
        system: system.to_string(),
        overall: overall.metrics(),
        hit_rate_target_ser: target.metrics().hit_rate,
        false_per_hour_no_babble: no_babble.metrics().false_per_hour,
        false_alarms_no_babble: no_babble.false_alarms,
        tts_hours_no_babble: no_babble.tts_s / 3600.0,
        groups: groups
            .into_iter()
            .map(|((d, _, b), a)| Group {
                dimension: d.to_string(),
                bucket: b,
                metrics: a.metrics(),
            })
            .collect(),
    }
}

/// Systems in the order they first appear.
pub fn systems_in(events: &[Event]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for e in events {
        if !v.contains(&e.system) {
            v.push(e.system.clone());
        }
    }
    v
}

pub fn main(o: &Opts) -> Result<()> {
    let results = o.path("results")?;
    let corpus = match o.get("corpus") {
        Some(c) => c.into(),
        None => run::read_meta(&results)
            .map(|m| m.corpus)
            .context("no --corpus and no run.json to find it")?,
    };
    let events = events::read(&results.join(events::FILE))?;
    let truth = load_truth(&corpus)?;
    if truth.is_empty() {
        bail!("no labelled scenes in {}", corpus.display());
    }
    let mut systems = systems_in(&events);
    if let Ok(meta) = run::read_meta(&results) {
        // Report order of the run, not of the file.
        systems.sort_by_key(|s| {
            meta.systems
                .iter()
                .position(|m| m == s)
                .unwrap_or(usize::MAX)
        });
    }
    let scores: Vec<SystemScore> = systems
        .iter()
        .map(|s| score_system(s, &truth, &events))
        .collect();
    let md = markdown(&scores);
    let md_path = o
        .get("out")
        .map(Into::into)
        .unwrap_or_else(|| results.join("score.md"));
    std::fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
    let json_path = results.join("score.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&scores)?)
        .with_context(|| format!("write {}", json_path.display()))?;
    print!("{md}");
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    let errors = events.iter().filter(|e| e.kind == "error").count();
    if errors > 0 {
        return Err(anyhow!("{errors} scene runs had errors (see events.jsonl)"));
    }
    Ok(())
}

pub fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn ms_pair(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
        _ => "–".into(),
    }
}

fn per_hour(m: &Metrics) -> String {
    match m.false_per_hour {
        Some(f) => format!("{f:.1} ({} in {:.2} h)", m.false_alarms, m.tts_hours),
        None => "–".into(),
    }
}

fn erle(m: &Metrics) -> String {
    match (m.erle_db, m.aec_erle_db) {
        (Some(e), Some(a)) => format!("{e:.1} dB (AEC3: {a:.1})"),
        (Some(e), None) => format!("{e:.1} dB"),
        _ => "–".into(),
    }
}

fn count_rate(rate: Option<f64>, n: usize) -> String {
    match rate {
        Some(_) => format!("{} of {n}", pct(rate)),
        None => "–".into(),
    }
}

/// Hits, and how many callers came after a stop where any did.
fn hits(m: &Metrics) -> String {
    let h = count_rate(m.hit_rate, m.targets);
    if m.after_stop > 0 {
        format!("{h} (+{} after a stop)", m.after_stop)
    } else {
        h
    }
}

/// The summary table plus one table of conditions per system.
pub fn markdown(scores: &[SystemScore]) -> String {
    let mut s = String::new();
    s.push_str(
        "| system | hits (all SER) | hits SER ≥ −5 dB | tentative p50 / p95 ms | confirmed p50 / p95 ms \
         | false interruptions / h of TTS | same, without babble | backchannels that interrupted \
         | DTMF detected | ERLE, echo-only |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for sc in scores {
        let m = &sc.overall;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            sc.system,
            hits(m),
            pct(sc.hit_rate_target_ser),
            ms_pair(m.tentative_p50_ms, m.tentative_p95_ms),
            ms_pair(m.confirmed_p50_ms, m.confirmed_p95_ms),
            per_hour(m),
            sc.false_per_hour_no_babble.map_or("–".into(), |f| format!(
                "{f:.1} ({})",
                sc.false_alarms_no_babble
            )),
            count_rate(m.backchannel_trigger_rate, m.backchannels),
            count_rate(m.dtmf_rate, m.dtmf),
            erle(m),
        );
    }
    for sc in scores {
        let _ = writeln!(s, "\n`{}` by condition:\n", sc.system);
        s.push_str(
            "| condition | bucket | scenes | hits | tentative p50 / p95 ms | confirmed p50 / p95 ms \
             | false / h | backchannels | DTMF | ERLE |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for g in &sc.groups {
            let m = &g.metrics;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                g.dimension,
                g.bucket,
                m.scenes,
                hits(m),
                ms_pair(m.tentative_p50_ms, m.tentative_p95_ms),
                ms_pair(m.confirmed_p50_ms, m.confirmed_p95_ms),
                per_hour(m),
                count_rate(m.backchannel_trigger_rate, m.backchannels),
                count_rate(m.dtmf_rate, m.dtmf),
                erle(m),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Labels {
        Labels::parse(text).unwrap()
    }

    fn conf(t: f64) -> Event {
        Event::decision("x", "a", "confirmed", "speech", t, t)
    }

    fn tent(t: f64) -> Event {
        Event::decision("x", "a", "tentative", "speech", t, t)
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn hit_latency_and_false_alarms_by_hand() {
        // TTS 0–10 s; the caller speaks 3.0–4.0 s; a backchannel at 6.0–6.3 s.
        let l = labels("tts 0 10\nspeech 3.0 4.0\nbackchannel 6.0 6.3\n");
        let ev = [
            conf(1.0),  // false: nothing near
            tent(3.08), // tentative 80 ms after the onset
            conf(3.27), // hit, 270 ms
            conf(5.2),  // within 1.5 s after the speech ended: not false
            conf(6.5),  // the backchannel interrupted
            conf(8.0),  // false
        ];
        let refs: Vec<&Event> = ev.iter().collect();
        let a = scene_acc(&l, 10.0, &refs);
        assert_eq!((a.targets, a.hits), (1, 1));
        assert_eq!(a.tentative_ms.len(), 1);
        assert!((a.tentative_ms[0] - 80.0).abs() < 1e-6);
        assert!((a.confirmed_ms[0] - 270.0).abs() < 1e-6);
        assert_eq!(a.false_alarms, 2);
        assert_eq!((a.backchannels, a.backchannel_triggers), (1, 1));
        let m = a.metrics();
        // 2 false alarms in 10 s of TTS = 720 per hour.
        assert!((m.false_per_hour.unwrap() - 720.0).abs() < 1e-6);
    }

    #[test]
    fn after_a_stop_there_is_nothing_to_interrupt() {
        // TTS 0–10 s and 12–20 s; a false stop at 2.0 s; a caller at 5.0 s
        // and a backchannel at 7.0 s come after it, a key at 15 s too.
        let l =
            labels("tts 0 10\ntts 12 20\nspeech 5.0 6.0\nbackchannel 7.0 7.3\ndtmf 15.0 15.1 4\n");
        let ev = [
            conf(1.9),
            Event {
                time: Some(2.0),
                ..Event::new("x", "a", "stopped")
            },
            conf(5.3),
            Event {
                digit: Some("4".into()),
                time: Some(15.05),
                ..Event::new("x", "a", "dtmf")
            },
        ];
        let refs: Vec<&Event> = ev.iter().collect();
        let a = scene_acc(&l, 21.0, &refs);
        assert_eq!((a.targets, a.hits, a.after_stop), (0, 0, 1));
        assert_eq!(a.backchannels, 0);
        assert_eq!(a.false_alarms, 1);
        // Machine speech until the stop only.
        assert!((a.tts_s - 2.0).abs() < 1e-9, "{}", a.tts_s);
        assert_eq!((a.dtmf, a.dtmf_detected), (1, 1));
        let truth = [Truth {
            id: "a".into(),
            labels: l,
            duration: 21.0,
        }];
        let md = markdown(&[score_system("x", &truth, &ev)]);
        assert!(md.contains("+1 after a stop"), "{md}");
    }

    #[test]
    fn late_or_early_decisions_miss() {
        let l = labels("speech 2.0 3.0\n");
        // 1.6 s after the onset is too late; 0.2 s before it is too early.
        let ev = [conf(1.8), conf(3.6)];
        let refs: Vec<&Event> = ev.iter().collect();
        let a = scene_acc(&l, 5.0, &refs);
        assert_eq!((a.targets, a.hits), (1, 0));
        // The early one is not near any speech: false. The late one is
        // within 1.5 s of the speech's end: not false.
        assert_eq!(a.false_alarms, 1);
        // No tts lines: the whole 5 s counts as machine speech.
        assert!((a.tts_s - 5.0).abs() < 1e-9);
        // Within the 50 ms label tolerance: a hit at −30 ms.
        let ev = [conf(1.97)];
        let refs: Vec<&Event> = ev.iter().collect();
        assert_eq!(scene_acc(&l, 5.0, &refs).hits, 1);
    }

    #[test]
    fn dtmf_needs_the_right_digit_in_time() {
        let l = labels("dtmf 1.0 1.1 5\ndtmf 2.0 2.1 #\ndtmf 3.0 3.1 7\n");
        let ev = [
            Event {
                digit: Some("5".into()),
                time: Some(1.05),
                ..Event::new("x", "a", "dtmf")
            },
            Event {
                digit: Some("9".into()), // wrong key
                time: Some(2.05),
                ..Event::new("x", "a", "dtmf")
            },
            Event {
                digit: Some("7".into()), // too late
                time: Some(3.9),
                ..Event::new("x", "a", "dtmf")
            },
        ];
        let refs: Vec<&Event> = ev.iter().collect();
        let a = scene_acc(&l, 5.0, &refs);
        assert_eq!((a.dtmf, a.dtmf_detected), (3, 1));
    }

    #[test]
    fn erle_is_energy_weighted_over_scenes() {
        let mut a = Acc::default();
        for (m, o) in [(1.0, 0.01), (1.0, 0.001)] {
            a.add(&Acc {
                erle_mic: m,
                erle_out: o,
                erle_scenes: 1,
                ..Default::default()
            });
        }
        // 2 / 0.011 → 22.6 dB, not the mean of 20 and 30.
        let e = a.metrics().erle_db.unwrap();
        assert!((e - 22.596).abs() < 0.01, "{e}");
    }

    #[test]
    fn aec3s_erle_counts_where_ours_is_measured() {
        let l = labels("type barge-in\ntts 0 5\nspeech 1 2\n");
        let aec = |v: f64| Event {
            value: Some(v),
            ..Event::new("x", "a", "aec-erle")
        };
        let only_aec = [aec(0.2)];
        let refs: Vec<&Event> = only_aec.iter().collect();
        assert!(scene_acc(&l, 5.0, &refs).aec_erle.is_empty());
        let both = [
            aec(9.5),
            Event {
                mic_energy: Some(1.0),
                out_energy: Some(0.01),
                ..Event::new("x", "a", "erle")
            },
        ];
        let refs: Vec<&Event> = both.iter().collect();
        assert_eq!(scene_acc(&l, 5.0, &refs).aec_erle, vec![9.5]);
    }

    #[test]
    fn buckets_in_natural_order() {
        let b = buckets(&labels("ser_db -5\nsnr_db 9.9\nrt60_s 0.3\n"));
        assert!(b.contains(&("SER", 2, "−5 … 0 dB".into())), "{b:?}");
        assert!(b.contains(&("SNR", 2, "< 10 dB".into())), "{b:?}");
        assert!(b.contains(&("RT60", 0, "≤ 0.3 s".into())), "{b:?}");
        let b = buckets(&labels("ser_db 10\nrt60_s 0.8\n"));
        assert!(b.contains(&("SER", 0, "≥ +5 dB".into())), "{b:?}");
        assert!(b.contains(&("RT60", 2, "> 0.5 s".into())), "{b:?}");
    }

    #[test]
    fn systems_and_buckets() {
        let truth = vec![
            Truth {
                id: "a".into(),
                labels: labels("type barge-in\nser_db -7\ntts 0 5\nspeech 1 2\n"),
                duration: 5.0,
            },
            Truth {
                id: "b".into(),
                labels: labels("type barge-in\nser_db 3\ntts 0 5\nspeech 1 2\n"),
                duration: 5.0,
            },
        ];
        let mut ev = vec![conf(1.3)];
        ev.push(Event::decision("x", "b", "confirmed", "speech", 1.0, 1.2));
        let s = score_system("x", &truth, &ev);
        assert_eq!(s.overall.hits, 2);
        assert_eq!(s.hit_rate_target_ser, Some(1.0));
        let ser: Vec<&Group> = s.groups.iter().filter(|g| g.dimension == "SER").collect();
        assert_eq!(ser.len(), 2);
        // With `scene` events only the scenes run count.
        ev.push(Event::new("x", "b", "scene"));
        let s = score_system("x", &truth, &ev);
        assert_eq!(s.overall.scenes, 1);
        assert!(markdown(&[s]).contains("| x |"));
    }
}
