//! Trade-off curves of a sweep as one PNG: false interruptions per hour
//! against confirmed p95 latency (left) and against the hit rate at
//! SER ≥ −5 dB (right), one colour per threshold, the references and the
//! recommendation marked, the targets as dashed lines.

use crate::sweep::{Row, TARGET_CONFIRMED_P95_MS, TARGET_HIT_RATE};
use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use std::path::Path;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT)
            .map_err(|e| format!("{FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
        // plotters keeps a 'static reference to the font for the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "cannot register the font".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

pub fn tradeoff(path: &Path, rows: &[Row], rec: Option<&Row>, target_fph: f64) -> Result<()> {
    register_font()?;
    let e = |e: &dyn std::fmt::Display| anyhow!("plot: {e}");
    let root = BitMapBackend::new(path, (1600, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root
        .titled(
            "bargeinvad settings: false interruptions vs latency and hits",
            ("sans-serif", 24),
        )
        .map_err(|x| e(&x))?;
    let (left, right) = root.split_horizontally(800);
    let max_fph = rows
        .iter()
        .filter_map(|r| r.false_per_hour_no_babble)
        .fold(target_fph * 2.0, f64::max)
        * 1.05;
    let mut thresholds: Vec<f64> = rows.iter().filter_map(|r| r.threshold).collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let color = |r: &Row| -> RGBColor {
        r.threshold
            .and_then(|t| thresholds.iter().position(|x| (x - t).abs() < 1e-9))
            .map_or(BLACK, |i| PALETTE[i % PALETTE.len()])
    };

    type Getter = fn(&Row) -> Option<f64>;
    let panels: [(_, &str, Getter, f64); 2] = [
        (
            &left,
            "confirmed p95 latency (ms)",
            |r: &Row| r.confirmed_p95_ms,
            TARGET_CONFIRMED_P95_MS,
        ),
        (
            &right,
            "hits at SER ≥ −5 dB (%)",
            |r: &Row| r.hit_rate_target_ser.map(|h| h * 100.0),
            TARGET_HIT_RATE * 100.0,
        ),
    ];
    for (area, ylabel, get, target_y) in panels {
        let ys: Vec<f64> = rows.iter().filter_map(get).collect();
        let (ymin, ymax) = ys
            .iter()
            .fold((target_y, target_y), |(a, b), &y| (a.min(y), b.max(y)));
        let pad = ((ymax - ymin) * 0.08).max(1.0);
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_fph, (ymin - pad)..(ymax + pad))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("false interruptions per hour of TTS (scenes without babble)")
            .y_desc(ylabel)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        let dashed = ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(target_fph, ymin - pad), (target_fph, ymax + pad)],
                dashed,
            )))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, target_y), (max_fph, target_y)],
                dashed,
            )))
            .map_err(|x| e(&x))?;
        for (i, t) in thresholds.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    rows.iter()
                        .filter(|r| r.threshold.is_some_and(|x| (x - t).abs() < 1e-9))
                        .filter_map(|r| Some((r.false_per_hour_no_babble?, get(r)?)))
                        .map(move |p| Circle::new(p, 4, c.filled())),
                )
                .map_err(|x| e(&x))?
                .label(format!("threshold {t:.2}"))
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        for r in rows.iter().filter(|r| r.threshold.is_none()) {
            if let (Some(x), Some(y)) = (r.false_per_hour_no_babble, get(r)) {
                chart
                    .draw_series(std::iter::once(TriangleMarker::new(
                        (x, y),
                        8,
                        BLACK.filled(),
                    )))
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        r.name.clone(),
                        (x, y),
                        ("sans-serif", 14),
                    )))
                    .map_err(|x| e(&x))?;
            }
        }
        if let Some(r) = rec
            && let (Some(x), Some(y)) = (r.false_per_hour_no_babble, get(r))
        {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, y),
                    9,
                    color(r).stroke_width(3),
                )))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "recommended".to_string(),
                    (x, y),
                    ("sans-serif", 14),
                )))
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present()
        .with_context(|| format!("write {}", path.display()))
}
