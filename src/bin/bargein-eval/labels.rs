//! The ground truth of one scene, `scene.labels`: a line-oriented text file
//! simple enough to write by hand for a real recording.
//!
//! ```text
//! # a line starting with '#' is a comment
//! type barge-in            conditions: free `key value` pairs; the generator writes
//! ser_db 4.5               type, language, noise, ser_db, snr_db, rt60_s, delay_ms,
//! noise pink               nonlinear, voice, near_voice, rate, duration_s, line
//! line echo                (echo or echo-free; an echo-free line has no ser_db,
//!                          delay_ms or nonlinear)
//! tts 0.300 8.120          the machine is speaking (seconds, start end)
//! speech 3.210 4.870       the user talks to interrupt (a true barge-in onset at 3.210)
//! backchannel 5.0 5.3      the user says "uh-huh" (should not interrupt)
//! dtmf 2.0 2.12 5          a key press and its digit
//! event 6.1 6.4 door-slam  a noise event (informative)
//! ```
//! Only the event lines matter for scoring; without `tts` lines the whole
//! recording counts as machine speech.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub const FILE: &str = "scene.labels";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    /// Conditions and other `key value` lines, in file order by key.
    pub conditions: BTreeMap<String, String>,
    pub tts: Vec<Span>,
    pub speech: Vec<Span>,
    pub backchannel: Vec<Span>,
    pub dtmf: Vec<(Span, String)>,
    pub events: Vec<(Span, String)>,
}

impl Labels {
    pub fn condition(&self, key: &str) -> Option<&str> {
        self.conditions.get(key).map(String::as_str)
    }

    pub fn condition_f64(&self, key: &str) -> Option<f64> {
        self.condition(key).and_then(|v| v.parse().ok())
    }

    pub fn scene_type(&self) -> &str {
        self.condition("type").unwrap_or("unknown")
    }

    /// Every span where the user makes a sound on purpose.
    pub fn near_spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.speech
            .iter()
            .chain(&self.backchannel)
            .copied()
            .chain(self.dtmf.iter().map(|(s, _)| *s))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut l = Labels::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            // Only whole-line comments: `#` is also a DTMF key.
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            let rest: Vec<&str> = words.collect();
            let span = || -> Result<Span> {
                let (Some(a), Some(b)) = (rest.first(), rest.get(1)) else {
                    bail!("line {}: `{key}` needs start and end seconds", n + 1);
                };
                let start: f64 = a.parse().with_context(|| format!("line {}", n + 1))?;
                let end: f64 = b.parse().with_context(|| format!("line {}", n + 1))?;
                if !(start.is_finite() && end.is_finite() && end >= start) {
                    bail!("line {}: bad span {start} {end}", n + 1);
                }
                Ok(Span { start, end })
            };
            let third = || rest.get(2).map(|s| s.to_string()).unwrap_or_default();
            match key {
                "tts" => l.tts.push(span()?),
                "speech" => l.speech.push(span()?),
                "backchannel" => l.backchannel.push(span()?),
                "dtmf" => {
                    let d = third();
                    if d.is_empty() {
                        bail!("line {}: dtmf needs a digit", n + 1);
                    }
                    l.dtmf.push((span()?, d));
                }
                "event" => l.events.push((span()?, third())),
                _ => {
                    l.conditions.insert(key.to_string(), rest.join(" "));
                }
            }
        }
        for v in [&mut l.tts, &mut l.speech, &mut l.backchannel] {
            v.sort_by(|a, b| a.start.total_cmp(&b.start));
        }
        l.dtmf.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
        Ok(l)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parse {}", path.display()))
    }

    pub fn to_text(&self) -> String {
        let mut s = String::from("# bargein-eval labels v1 (times in seconds)\n");
        for (k, v) in &self.conditions {
            let _ = writeln!(s, "{k} {v}");
        }
        for t in &self.tts {
            let _ = writeln!(s, "tts {:.3} {:.3}", t.start, t.end);
        }
        for t in &self.speech {
            let _ = writeln!(s, "speech {:.3} {:.3}", t.start, t.end);
        }
        for t in &self.backchannel {
            let _ = writeln!(s, "backchannel {:.3} {:.3}", t.start, t.end);
        }
        for (t, d) in &self.dtmf {
            let _ = writeln!(s, "dtmf {:.3} {:.3} {d}", t.start, t.end);
        }
        for (t, k) in &self.events {
            let _ = writeln!(s, "event {:.3} {:.3} {k}", t.start, t.end);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_roundtrip() {
        let text = "# hand-made\ntype barge-in\nser_db -3.5\ntts 0.3 8.1\n\
                    speech 3.25 4.5\nbackchannel 1 1.3\ndtmf 2 2.1 #\n\
                    dtmf 5 5.1 7\nevent 6 6.2 door-slam\n";
        let l = Labels::parse(text).unwrap();
        assert_eq!(l.scene_type(), "barge-in");
        assert_eq!(l.condition_f64("ser_db"), Some(-3.5));
        assert_eq!(
            l.speech,
            vec![Span {
                start: 3.25,
                end: 4.5
            }]
        );
        assert_eq!(l.dtmf[0].1, "#");
        assert_eq!(l.dtmf[1].1, "7");
        assert_eq!(l.near_spans().count(), 4);
        assert_eq!(Labels::parse(&l.to_text()).unwrap(), l);
    }

    #[test]
    fn bad_lines() {
        assert!(Labels::parse("speech 1").is_err());
        assert!(Labels::parse("speech 2 1").is_err());
        assert!(Labels::parse("speech a b").is_err());
    }
}
