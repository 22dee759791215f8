//! What `run` records and `score` reads: one JSON object per line
//! (`events.jsonl`). Any detector can be scored by writing this format.
//!
//! ```json
//! {"system":"ours","scene":"s0001","kind":"scene","end":9.35}
//! {"system":"ours","scene":"s0001","kind":"tentative","source":"speech","onset":3.21,"time":3.29}
//! {"system":"ours","scene":"s0001","kind":"confirmed","source":"speech","onset":3.21,"time":3.47}
//! {"system":"ours","scene":"s0001","kind":"release","onset":5.0,"time":5.3}
//! {"system":"ours","scene":"s0004","kind":"dtmf","digit":"5","onset":2.0,"time":2.05}
//! {"system":"ours","scene":"s0002","kind":"erle","mic_energy":0.31,"out_energy":0.002,"frames":640}
//! {"system":"ours","scene":"s0002","kind":"aec-erle","value":31.5}
//! {"system":"ours","scene":"s0005","kind":"stopped","time":4.91}
//! {"system":"ours","scene":"s0003","kind":"error","message":"..."}
//! ```
//! Times are seconds of the scene (running time). `scene` marks a scene as
//! processed (a scene without it was not run; a processed scene without
//! decisions had none). `stopped` (the closed loop) says the system's
//! ducker stopped the prompt there: the rest of the scene is no TTS time.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

pub const FILE: &str = "events.jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    pub system: String,
    pub scene: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<f64>,
    /// When the decision was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mic_energy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_energy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Event {
    pub fn new(system: &str, scene: &str, kind: &str) -> Self {
        Self {
            system: system.into(),
            scene: scene.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    /// A decision (`tentative` or `confirmed`).
    pub fn decision(
        system: &str,
        scene: &str,
        kind: &str,
        source: &str,
        onset: f64,
        time: f64,
    ) -> Self {
        Self {
            source: Some(source.into()),
            onset: Some(onset),
            time: Some(time),
            ..Self::new(system, scene, kind)
        }
    }
}

pub fn write(path: &Path, events: &[Event]) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut w = BufWriter::new(f);
    for e in events {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("write {}", path.display()))
}

pub fn read(path: &Path) -> Result<Vec<Event>> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).with_context(|| format!("{}:{}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_minimal_lines() {
        let e = Event::decision("ours", "s1", "confirmed", "speech", 1.0, 1.25);
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
        let hand: Event =
            serde_json::from_str(r#"{"system":"x","scene":"a","kind":"confirmed","time":2}"#)
                .unwrap();
        assert_eq!(hand.time, Some(2.0));
        assert!(serde_json::from_str::<Event>(r#"{"scene":"a"}"#).is_err());
    }
}
