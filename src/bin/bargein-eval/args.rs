//! A small `--key value` option parser: the tool has few options and no
//! need for a parser crate.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Default, Clone)]
pub struct Opts {
    values: BTreeMap<String, Vec<String>>,
}

impl Opts {
    /// `--key value` pairs; a key may repeat (`--set a=1 --set b=2`).
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                bail!("unexpected argument {a:?} (options are --key value)");
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    let v = it
                        .next()
                        .ok_or_else(|| anyhow!("--{key} needs a value"))?
                        .clone();
                    (key.to_string(), v)
                }
            };
            values.entry(key).or_default().push(value);
        }
        Ok(Self { values })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.values.get(key).cloned().unwrap_or_default()
    }

    pub fn path(&self, key: &str) -> Result<PathBuf> {
        self.get(key)
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("--{key} is required"))
    }

    pub fn num<T: FromStr>(&self, key: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| anyhow!("--{key} {v:?}: {e}")),
        }
    }

    /// A comma-separated list, or `default` when absent.
    pub fn list(&self, key: &str, default: &[&str]) -> Vec<String> {
        match self.get(key) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    pub fn num_list<T>(&self, key: &str, default: &[T]) -> Result<Vec<T>>
    where
        T: FromStr + Clone,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split(',')
                .map(|s| s.trim().parse().map_err(|e| anyhow!("--{key} {s:?}: {e}")))
                .collect(),
        }
    }

    /// `MIN:MAX` (or a single value for both).
    pub fn range(&self, key: &str, default: (f64, f64)) -> Result<(f64, f64)> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let (a, b) = v.split_once(':').unwrap_or((v, v));
        let a: f64 = a.trim().parse().with_context(|| format!("--{key} {v:?}"))?;
        let b: f64 = b.trim().parse().with_context(|| format!("--{key} {v:?}"))?;
        if a > b {
            bail!("--{key} {v:?}: MIN is above MAX");
        }
        Ok((a, b))
    }

    /// Number of worker threads: `--jobs`, else every core.
    pub fn jobs(&self) -> Result<usize> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(self.num("jobs", cores)?.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(a: &[&str]) -> Result<Opts> {
        Opts::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn pairs_repeats_and_equals() {
        let o = opts(&["--out", "x", "--set", "a=1", "--set=b=2", "--ser", "-5:10"]).unwrap();
        assert_eq!(o.get("out"), Some("x"));
        assert_eq!(o.all("set"), vec!["a=1", "b=2"]);
        assert_eq!(o.range("ser", (0.0, 0.0)).unwrap(), (-5.0, 10.0));
        assert_eq!(o.range("snr", (1.0, 2.0)).unwrap(), (1.0, 2.0));
    }

    #[test]
    fn errors() {
        assert!(opts(&["--out"]).is_err());
        assert!(opts(&["stray"]).is_err());
        let o = opts(&["--scenes", "x", "--ser", "5:-5"]).unwrap();
        assert!(o.num("scenes", 1u32).is_err());
        assert!(o.range("ser", (0.0, 0.0)).is_err());
    }
}
