//! `sweep`: our detector over a grid of far-end threshold × start-ms ×
//! confirm-ms × warmup-ms × onset-db, every setting on the same scenes,
//! with trade-off curves and a recommendation.
//!
//! All settings of a scene run in one pipeline: one `bargeinaec`, a tee, one
//! `bargeinvad` per setting. The echo canceller (the costlier element) runs
//! once per scene, and every setting sees exactly the same cleaned audio.
//!
//! The grid's threshold is the one used while the prompt plays
//! (`far-end-threshold`, which is when barge-in matters); `threshold` (far
//! end silent) is set to the lower of it and 0.5.

use crate::args::Opts;
use crate::events;
use crate::plot;
use crate::run::{self, Plan, RunMeta, VadBranch};
use crate::score::{self, SystemScore};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// The targets.
pub const TARGET_HIT_RATE: f64 = 0.98;
pub const TARGET_CONFIRMED_P95_MS: f64 = 300.0;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    /// None for the reference systems (ours at defaults, Pipecat, LiveKit).
    pub threshold: Option<f64>,
    pub start_ms: Option<u32>,
    pub confirm_ms: Option<u32>,
    pub warmup_ms: Option<u32>,
    pub onset_db: Option<f64>,
    pub hit_rate: Option<f64>,
    pub hit_rate_target_ser: Option<f64>,
    pub tentative_p95_ms: Option<f64>,
    pub confirmed_p50_ms: Option<f64>,
    pub confirmed_p95_ms: Option<f64>,
    pub false_alarms: usize,
    pub false_per_hour: Option<f64>,
    /// What the target applies to: babble (other talkers) is reported apart.
    pub false_alarms_no_babble: usize,
    pub false_per_hour_no_babble: Option<f64>,
    pub backchannel_trigger_rate: Option<f64>,
}

impl Row {
    fn from_score(s: &SystemScore, grid: Option<Setting>) -> Self {
        let m = &s.overall;
        Self {
            name: s.system.clone(),
            threshold: grid.map(|g| g.threshold),
            start_ms: grid.map(|g| g.start_ms),
            confirm_ms: grid.map(|g| g.confirm_ms),
            warmup_ms: grid.map(|g| g.warmup_ms),
            onset_db: grid.map(|g| g.onset_db),
            hit_rate: m.hit_rate,
            hit_rate_target_ser: s.hit_rate_target_ser,
            tentative_p95_ms: m.tentative_p95_ms,
            confirmed_p50_ms: m.confirmed_p50_ms,
            confirmed_p95_ms: m.confirmed_p95_ms,
            false_alarms: m.false_alarms,
            false_per_hour: m.false_per_hour,
            false_alarms_no_babble: s.false_alarms_no_babble,
            false_per_hour_no_babble: s.false_per_hour_no_babble,
            backchannel_trigger_rate: m.backchannel_trigger_rate,
        }
    }

    /// Meets every target of the issue (false interruptions counted
    /// without babble scenes).
    pub fn passes(&self, target_fph: f64) -> bool {
        self.false_per_hour_no_babble
            .is_some_and(|f| f < target_fph)
            && self
                .hit_rate_target_ser
                .is_some_and(|h| h >= TARGET_HIT_RATE)
            && self
                .confirmed_p95_ms
                .is_some_and(|p| p < TARGET_CONFIRMED_P95_MS)
    }
}

/// One point of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub threshold: f64,
    pub start_ms: u32,
    pub confirm_ms: u32,
    pub warmup_ms: u32,
    pub onset_db: f64,
}

impl Setting {
    pub fn name(&self) -> String {
        format!(
            "thr{:.2}-start{}-confirm{}-warmup{}-onset{}",
            self.threshold, self.start_ms, self.confirm_ms, self.warmup_ms, self.onset_db
        )
    }

    pub fn props(&self) -> Vec<(String, String)> {
        vec![
            ("threshold".into(), format!("{}", self.threshold.min(0.5))),
            ("far-end-threshold".into(), format!("{}", self.threshold)),
            ("start-ms".into(), self.start_ms.to_string()),
            ("confirm-ms".into(), self.confirm_ms.to_string()),
            ("warmup-ms".into(), self.warmup_ms.to_string()),
            ("onset-db".into(), format!("{}", self.onset_db)),
        ]
    }
}

/// The recommended row: among those meeting every target, the fastest
/// (lowest confirmed p95), then the fewest false alarms, then the most hits.
pub fn recommend(rows: &[Row], target_fph: f64) -> Option<&Row> {
    rows.iter()
        .filter(|r| r.threshold.is_some() && r.passes(target_fph))
        .min_by(|a, b| {
            let key = |r: &Row| {
                (
                    r.confirmed_p95_ms.unwrap_or(f64::MAX),
                    r.false_per_hour_no_babble.unwrap_or(f64::MAX),
                    -r.hit_rate_target_ser.unwrap_or(0.0),
                )
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(ka.2.total_cmp(&kb.2))
        })
}

/// When no setting meets every target: the setting a deployment should
/// start from. False interruptions come first (a machine that stops for
/// nothing is worse than one that stops late); among the settings under the
/// target, the most hits at SER ≥ −5 dB, then the lowest confirmed p95.
/// Without any under the target, the fewest false interruptions.
pub fn closest(rows: &[Row], target_fph: f64) -> Option<&Row> {
    let grid = || rows.iter().filter(|r| r.threshold.is_some());
    let fph = |r: &Row| r.false_per_hour_no_babble.unwrap_or(f64::MAX);
    let hits = |r: &Row| r.hit_rate_target_ser.unwrap_or(0.0);
    let p95 = |r: &Row| r.confirmed_p95_ms.unwrap_or(f64::MAX);
    let under: Vec<&Row> = grid().filter(|r| fph(r) < target_fph).collect();
    if under.is_empty() {
        grid().min_by(|a, b| {
            fph(a)
                .total_cmp(&fph(b))
                .then(hits(b).total_cmp(&hits(a)))
                .then(p95(a).total_cmp(&p95(b)))
        })
    } else {
        under
            .into_iter()
            .min_by(|a, b| hits(b).total_cmp(&hits(a)).then(p95(a).total_cmp(&p95(b))))
    }
}

pub fn main(o: &Opts) -> Result<()> {
    let corpus = o.path("corpus")?;
    let out = o.path("out")?;
    let jobs = o.jobs()?;
    // Each setting runs its own detector on every scene, so the default grid
    // stays near 100 settings (about 6 minutes for 200 scenes on 2 cores).
    let thresholds: Vec<f64> = o.num_list("thresholds", &[0.6, 0.7, 0.8, 0.9])?;
    let starts: Vec<u32> = o.num_list("start-ms", &[32, 64])?;
    let confirms: Vec<u32> = o.num_list("confirm-ms", &[128, 192, 256, 320])?;
    let warmups: Vec<u32> = o.num_list("warmup-ms", &[0, 1200, 2500])?;
    let onsets: Vec<f64> = o.num_list("onset-db", &[6.0])?;
    let target_fph: f64 = o.num("target-false-per-hour", 1.0)?;
    if let Some(t) = thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        bail!("--thresholds {t}: must be within 0…1");
    }

    let mut base = Plan::from_opts(&Opts::parse(&[])?)?;
    base.vads = vec![
        VadBranch::ours(&[]),
        VadBranch::pipecat(),
        VadBranch::livekit(),
    ];
    for s in o.all("set") {
        if let Some((k, v)) = s.strip_prefix("aec.").and_then(|s| s.split_once('=')) {
            base.aec_props.push((k.into(), v.into()));
        } else {
            bail!("sweep --set takes aec.prop=value only (the grid sets the detector)");
        }
    }
    let mut grid = Vec::new();
    for &threshold in &thresholds {
        for &start_ms in &starts {
            for &confirm_ms in confirms.iter().filter(|&&c| c >= start_ms) {
                for &warmup_ms in &warmups {
                    for &onset_db in &onsets {
                        let g = Setting {
                            threshold,
                            start_ms,
                            confirm_ms,
                            warmup_ms,
                            onset_db,
                        };
                        grid.push(g);
                        base.vads.push(VadBranch {
                            name: g.name(),
                            props: g.props(),
                            warmup: false,
                        });
                    }
                }
            }
        }
    }
    let scenes = run::load_scenes(&corpus)?;
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    eprintln!(
        "sweep: {} settings (+3 references) × {} scenes",
        grid.len(),
        scenes.len()
    );
    let t0 = Instant::now();
    let mut all = run::run_plan(&scenes, &base, jobs, jobs)?;
    run::sort_events(&mut all);
    events::write(&out.join(events::FILE), &all)?;
    let failed = all.iter().filter(|e| e.kind == "error").count();
    let meta = RunMeta {
        corpus: std::fs::canonicalize(&corpus).unwrap_or(corpus.clone()),
        systems: base.systems(),
        set: o.all("set"),
        scenes: scenes.len(),
        failed,
        seconds: t0.elapsed().as_secs_f64(),
    };
    std::fs::write(out.join(run::META), serde_json::to_string_pretty(&meta)?)?;
    if failed > 0 {
        bail!(
            "{failed} scene runs failed (see {})",
            out.join(events::FILE).display()
        );
    }

    let truth = score::load_truth(&corpus)?;
    let mut rows = Vec::new();
    for name in ["ours", "pipecat", "livekit"] {
        rows.push(Row::from_score(
            &score::score_system(name, &truth, &all),
            None,
        ));
    }
    for g in &grid {
        let sc = score::score_system(&g.name(), &truth, &all);
        rows.push(Row::from_score(&sc, Some(*g)));
    }
    let tts_hours = score::score_system("ours", &truth, &all).tts_hours_no_babble;
    let rec = recommend(&rows, target_fph).cloned();
    write_csv(&out.join("sweep.csv"), &rows)?;
    std::fs::write(
        out.join("sweep.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "target_false_per_hour": target_fph,
            "tts_hours_no_babble": tts_hours,
            "recommended": rec,
            "closest": closest(&rows, target_fph),
            "rows": rows,
        }))?,
    )?;
    let md = report(&rows, rec.as_ref(), target_fph, tts_hours);
    std::fs::write(out.join("sweep.md"), &md)?;
    if let Err(e) = plot::tradeoff(&out.join("tradeoff.png"), &rows, rec.as_ref(), target_fph) {
        eprintln!("warning: no plot: {e:#}");
    }
    print!("{md}");
    eprintln!(
        "wrote {}/{{sweep.md,sweep.csv,sweep.json,tradeoff.png}} in {:.0} s",
        out.display(),
        meta.seconds
    );
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |v| format!("{v:.digits$}"))
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut s = String::from(
        "name,threshold,start_ms,confirm_ms,warmup_ms,onset_db,hit_rate,hit_rate_ser_ge_-5,tentative_p95_ms,\
         confirmed_p50_ms,confirmed_p95_ms,false_alarms,false_per_hour,false_alarms_no_babble,\
         false_per_hour_no_babble,backchannel_trigger_rate\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.name,
            opt(r.threshold, 2),
            r.start_ms.map_or(String::new(), |v| v.to_string()),
            r.confirm_ms.map_or(String::new(), |v| v.to_string()),
            r.warmup_ms.map_or(String::new(), |v| v.to_string()),
            opt(r.onset_db, 1),
            opt(r.hit_rate, 4),
            opt(r.hit_rate_target_ser, 4),
            opt(r.tentative_p95_ms, 0),
            opt(r.confirmed_p50_ms, 0),
            opt(r.confirmed_p95_ms, 0),
            r.false_alarms,
            opt(r.false_per_hour, 2),
            r.false_alarms_no_babble,
            opt(r.false_per_hour_no_babble, 2),
            opt(r.backchannel_trigger_rate, 4),
        );
    }
    std::fs::write(path, s).with_context(|| format!("write {}", path.display()))
}

/// The recommendation plus the best settings by false alarms.
fn report(rows: &[Row], rec: Option<&Row>, target_fph: f64, tts_hours: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Targets: fewer than {target_fph} false interruption per hour of TTS (scenes without \
         babble: other talkers are speech to any VAD and are counted apart), ≥ {:.0} % hits at \
         SER ≥ −5 dB, confirmed p95 < {TARGET_CONFIRMED_P95_MS:.0} ms. Those scenes hold \
         {tts_hours:.2} h of TTS: one false interruption is {:.1} per hour.\n",
        TARGET_HIT_RATE * 100.0,
        1.0 / tts_hours.max(1e-9)
    );
    let describe = |r: &Row| {
        format!(
            "far-end-threshold {} (threshold {}), start-ms {}, confirm-ms {}, warmup-ms {}, \
             onset-db {} — {} hits at SER ≥ −5 dB, confirmed p50 / p95 {} / {} ms, {} false \
             interruptions / h without babble ({} with)",
            opt(r.threshold, 2),
            opt(r.threshold.map(|t| t.min(0.5)), 2),
            r.start_ms.unwrap_or(0),
            r.confirm_ms.unwrap_or(0),
            r.warmup_ms.unwrap_or(0),
            opt(r.onset_db, 0),
            score::pct(r.hit_rate_target_ser),
            opt(r.confirmed_p50_ms, 0),
            opt(r.confirmed_p95_ms, 0),
            opt(r.false_per_hour_no_babble, 1),
            opt(r.false_per_hour, 1)
        )
    };
    match rec {
        Some(r) => {
            let _ = writeln!(s, "**Recommended**: {}.\n", describe(r));
        }
        None => {
            s.push_str("**No setting of the grid meets every target** on this corpus. ");
            if let Some(r) = closest(rows, target_fph) {
                let _ = write!(
                    s,
                    "Closest (false interruptions first, then hits, then p95): {}.",
                    describe(r)
                );
            }
            s.push_str(" The table shows the settings with the fewest false interruptions.\n\n");
        }
    }
    s.push_str(
        "| setting | hits SER ≥ −5 dB | hits, all | confirmed p50 / p95 ms | tentative p95 ms \
         | false / h without babble (n) | false / h, all (n) | backchannels that interrupted \
         | meets targets |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    // References first, then the grid sorted by false alarms, then hits.
    let mut sorted: Vec<&Row> = rows.iter().filter(|r| r.threshold.is_some()).collect();
    sorted.sort_by(|a, b| {
        a.false_alarms_no_babble
            .cmp(&b.false_alarms_no_babble)
            .then(
                b.hit_rate_target_ser
                    .unwrap_or(0.0)
                    .total_cmp(&a.hit_rate_target_ser.unwrap_or(0.0)),
            )
    });
    let shown = rows
        .iter()
        .filter(|r| r.threshold.is_none())
        .chain(sorted.into_iter().take(15));
    for r in shown {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} / {} | {} | {} ({}) | {} ({}) | {} | {} |",
            r.name,
            score::pct(r.hit_rate_target_ser),
            score::pct(r.hit_rate),
            opt(r.confirmed_p50_ms, 0),
            opt(r.confirmed_p95_ms, 0),
            opt(r.tentative_p95_ms, 0),
            opt(r.false_per_hour_no_babble, 1),
            r.false_alarms_no_babble,
            opt(r.false_per_hour, 1),
            r.false_alarms,
            score::pct(r.backchannel_trigger_rate),
            if r.passes(target_fph) { "yes" } else { "no" },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, fph: f64, hits: f64, p95: f64) -> Row {
        Row {
            name: name.into(),
            threshold: Some(0.7),
            start_ms: Some(64),
            confirm_ms: Some(256),
            warmup_ms: Some(2500),
            onset_db: Some(6.0),
            hit_rate: Some(hits),
            hit_rate_target_ser: Some(hits),
            tentative_p95_ms: None,
            confirmed_p50_ms: None,
            confirmed_p95_ms: Some(p95),
            false_alarms: fph as usize,
            false_per_hour: Some(fph),
            false_alarms_no_babble: fph as usize,
            false_per_hour_no_babble: Some(fph),
            backchannel_trigger_rate: None,
        }
    }

    #[test]
    fn recommendation_picks_fastest_passing() {
        let rows = vec![
            row("slow", 0.0, 0.99, 290.0),
            row("fast", 0.5, 0.985, 250.0),
            row("noisy", 3.0, 1.0, 200.0),
            row("deaf", 0.0, 0.90, 200.0),
        ];
        assert_eq!(recommend(&rows, 1.0).map(|r| r.name.as_str()), Some("fast"));
        assert!(recommend(&rows[2..], 1.0).is_none());
        let g = |threshold| Setting {
            threshold,
            start_ms: 64,
            confirm_ms: 256,
            warmup_ms: 1200,
            onset_db: 6.0,
        };
        assert_eq!(g(0.7).props()[0].1, "0.5");
        assert_eq!(g(0.3).props()[0].1, "0.3");
        assert_eq!(g(0.7).props()[4].1, "1200");
        assert_eq!(
            g(0.7).name(),
            "thr0.70-start64-confirm256-warmup1200-onset6"
        );
    }

    #[test]
    fn closest_keeps_the_false_alarm_target_first() {
        let rows = vec![
            row("deaf", 0.0, 0.80, 900.0),
            row("better", 0.0, 0.86, 1100.0),
            row("noisy", 3.0, 0.97, 300.0),
        ];
        assert!(recommend(&rows, 1.0).is_none());
        assert_eq!(closest(&rows, 1.0).map(|r| r.name.as_str()), Some("better"));
        assert_eq!(
            closest(&rows[2..], 1.0).map(|r| r.name.as_str()),
            Some("noisy")
        );
    }
}
