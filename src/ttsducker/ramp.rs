//! Click-free gain changes: a linear amplitude ramp, sample by sample.

#[derive(Debug, Clone)]
pub struct Ramp {
    gain: f32,
    target: f32,
    step: f32,
    remaining: u64,
}

impl Default for Ramp {
    fn default() -> Self {
        Self {
            gain: 1.0,
            target: 1.0,
            step: 0.0,
            remaining: 0,
        }
    }
}

impl Ramp {
    /// Goes from the current gain to `target` over `samples` samples (per channel).
    pub fn to(&mut self, target: f32, samples: u64) {
        self.target = target;
        if samples == 0 {
            self.gain = target;
            self.remaining = 0;
            self.step = 0.0;
        } else {
            self.remaining = samples;
            self.step = (target - self.gain) / samples as f32;
        }
    }

    /// Next per-sample gain.
    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.gain = if self.remaining == 0 {
                self.target
            } else {
                self.gain + self.step
            };
        }
        self.gain
    }

    /// Unity and not moving: the buffer can pass untouched.
    pub fn is_unity(&self) -> bool {
        self.remaining == 0 && self.gain == 1.0
    }
}

pub fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_linearly_and_lands_exactly() {
        let mut r = Ramp::default();
        r.to(0.0, 4);
        let g: Vec<f32> = (0..6).map(|_| r.next()).collect();
        assert_eq!(g, [0.75, 0.5, 0.25, 0.0, 0.0, 0.0]);
        r.to(1.0, 0);
        assert!(r.is_unity());
    }

    #[test]
    fn retargeting_mid_ramp_starts_from_where_it_is() {
        let mut r = Ramp::default();
        r.to(0.0, 10);
        for _ in 0..5 {
            r.next();
        }
        r.to(1.0, 5);
        let g: Vec<f32> = (0..5).map(|_| r.next()).collect();
        assert!((g[0] - 0.6).abs() < 1e-6 && g[4] == 1.0, "{g:?}");
        assert!((db_to_gain(-20.0) - 0.1).abs() < 1e-6);
    }
}
