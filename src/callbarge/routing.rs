//! Who hears whom: the mixing matrix of each mode, and the linear ramp that
//! moves from one matrix to the next without clicks. Plain Rust: no pads, no
//! locks.

use super::Mode;

/// The three parties of a supervised call. Each is an input (what they say)
/// and an output (what they hear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    Customer = 0,
    Agent = 1,
    Supervisor = 2,
}

pub const PARTIES: usize = 3;

impl Party {
    pub const ALL: [Party; PARTIES] = [Party::Customer, Party::Agent, Party::Supervisor];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Name of the party's sink pad.
    pub fn name(self) -> &'static str {
        match self {
            Party::Customer => "customer",
            Party::Agent => "agent",
            Party::Supervisor => "supervisor",
        }
    }

    /// Name of the src pad carrying what the party hears.
    pub fn output_name(self) -> &'static str {
        match self {
            Party::Customer => "to_customer",
            Party::Agent => "to_agent",
            Party::Supervisor => "to_supervisor",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Party::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn from_output_name(name: &str) -> Option<Self> {
        Party::ALL.into_iter().find(|p| p.output_name() == name)
    }
}

/// Gains `[listener][talker]`: what each output takes from each input.
pub type Matrix = [[f32; PARTIES]; PARTIES];

/// Whether `listener` hears `talker` in `mode`. Nobody ever hears themself.
pub fn hears(mode: Mode, listener: Party, talker: Party) -> bool {
    use Party::*;
    if listener == talker {
        return false;
    }
    match (listener, talker) {
        // The two-party call always flows.
        (Customer, Agent) | (Agent, Customer) => true,
        // The supervisor hears the call in every mode but off.
        (Supervisor, _) => mode != Mode::Off,
        // The agent hears the supervisor when whispered to or barged on.
        (Agent, Supervisor) => matches!(mode, Mode::Whisper | Mode::Barge),
        // The customer hears the supervisor only in a barge.
        (Customer, Supervisor) => mode == Mode::Barge,
        _ => false,
    }
}

/// The routing of `mode` with each talker's input gain.
pub fn matrix(mode: Mode, gains: [f32; PARTIES]) -> Matrix {
    let mut m = [[0.0; PARTIES]; PARTIES];
    for listener in Party::ALL {
        for talker in Party::ALL {
            if hears(mode, listener, talker) {
                m[listener.index()][talker.index()] = gains[talker.index()];
            }
        }
    }
    m
}

/// Mixes the inputs into the outputs with a matrix that ramps linearly from
/// the last one to a new target over a fixed number of samples: a gain moves
/// by at most `|Δgain| / ramp` per sample, so switching modes never clicks.
#[derive(Debug, Clone)]
pub struct Router {
    from: Matrix,
    to: Matrix,
    /// Samples into the current ramp, and its length.
    pos: usize,
    len: usize,
}

impl Router {
    /// At rest on `m`.
    pub fn new(m: Matrix) -> Self {
        Self {
            from: m,
            to: m,
            pos: 0,
            len: 0,
        }
    }

    pub fn target(&self) -> &Matrix {
        &self.to
    }

    pub fn ramping(&self) -> bool {
        self.pos < self.len
    }

    /// The matrix applied to the next sample.
    pub fn current(&self) -> Matrix {
        if !self.ramping() {
            return self.to;
        }
        let t = self.pos as f32 / self.len as f32;
        let mut m = self.to;
        for (row, (f, to)) in m.iter_mut().zip(self.from.iter().zip(self.to.iter())) {
            for (g, (a, b)) in row.iter_mut().zip(f.iter().zip(to.iter())) {
                *g = a + (b - a) * t;
            }
        }
        m
    }

    /// Starts a ramp from wherever the gains are now to `target` over
    /// `ramp` samples (0: jump). Setting the current target again changes
    /// nothing.
    pub fn set_target(&mut self, target: Matrix, ramp: usize) {
        if target == self.to {
            return;
        }
        self.from = self.current();
        self.to = target;
        self.pos = 0;
        self.len = ramp;
    }

    /// Jumps to the target (after a flush: there is nothing to ramp from).
    pub fn settle(&mut self) {
        self.from = self.to;
        self.pos = 0;
        self.len = 0;
    }

    /// Mixes `frames` samples of the mono inputs into `out`, interleaved with
    /// one channel per listener (`out[frame * 3 + listener]`).
    pub fn mix(&mut self, inputs: [&[f32]; PARTIES], out: &mut [f32]) {
        for (n, frame) in out.chunks_exact_mut(PARTIES).enumerate() {
            let x = [
                inputs[0].get(n).copied().unwrap_or(0.0),
                inputs[1].get(n).copied().unwrap_or(0.0),
                inputs[2].get(n).copied().unwrap_or(0.0),
            ];
            if self.ramping() {
                let m = self.current();
                self.pos += 1;
                for (o, row) in frame.iter_mut().zip(m.iter()) {
                    *o = row[0] * x[0] + row[1] * x[1] + row[2] * x[2];
                }
            } else {
                for (o, row) in frame.iter_mut().zip(self.to.iter()) {
                    *o = row[0] * x[0] + row[1] * x[1] + row[2] * x[2];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONES: [f32; 3] = [1.0; 3];

    #[test]
    fn routing_table_of_every_mode() {
        use Party::*;
        // (mode, listener, talkers heard)
        let table: [(Mode, Party, &[Party]); 12] = [
            (Mode::Off, Customer, &[Agent]),
            (Mode::Off, Agent, &[Customer]),
            (Mode::Off, Supervisor, &[]),
            (Mode::Listen, Customer, &[Agent]),
            (Mode::Listen, Agent, &[Customer]),
            (Mode::Listen, Supervisor, &[Customer, Agent]),
            (Mode::Whisper, Customer, &[Agent]),
            (Mode::Whisper, Agent, &[Customer, Supervisor]),
            (Mode::Whisper, Supervisor, &[Customer, Agent]),
            (Mode::Barge, Customer, &[Agent, Supervisor]),
            (Mode::Barge, Agent, &[Customer, Supervisor]),
            (Mode::Barge, Supervisor, &[Customer, Agent]),
        ];
        for (mode, listener, heard) in table {
            for talker in Party::ALL {
                assert_eq!(
                    hears(mode, listener, talker),
                    heard.contains(&talker),
                    "{mode:?}: {listener:?} hearing {talker:?}"
                );
            }
        }
    }

    #[test]
    fn nobody_hears_themself_and_the_customer_never_hears_a_whisper() {
        for mode in [Mode::Off, Mode::Listen, Mode::Whisper, Mode::Barge] {
            let m = matrix(mode, [2.0, 3.0, 4.0]);
            for p in Party::ALL {
                assert_eq!(m[p.index()][p.index()], 0.0);
            }
            if mode != Mode::Barge {
                assert_eq!(m[Party::Customer.index()][Party::Supervisor.index()], 0.0);
            }
        }
        // Gains scale the talker in every output that hears them.
        let m = matrix(Mode::Barge, [2.0, 3.0, 4.0]);
        assert_eq!(m[1][0], 2.0);
        assert_eq!(m[0][2], 4.0);
        assert_eq!(m[2][1], 3.0);
    }

    #[test]
    fn ramps_linearly_and_lands_exactly() {
        let mut r = Router::new(matrix(Mode::Listen, ONES));
        r.set_target(matrix(Mode::Whisper, ONES), 100);
        // Only the supervisor talks, a constant 1.0.
        let zeros = [0.0f32; 150];
        let ones = [1.0f32; 150];
        let mut out = vec![0.0; 150 * 3];
        r.mix([&zeros, &zeros, &ones], &mut out);
        let agent: Vec<f32> = out.chunks(3).map(|f| f[1]).collect();
        let customer: Vec<f32> = out.chunks(3).map(|f| f[0]).collect();
        assert_eq!(agent[0], 0.0);
        for w in agent.windows(2) {
            let step = w[1] - w[0];
            assert!((0.0..=0.01 + 1e-6).contains(&step), "step {step}");
        }
        assert_eq!(agent[100], 1.0);
        assert_eq!(agent[149], 1.0);
        assert!(!r.ramping());
        // The customer never got any of it.
        assert!(customer.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_new_target_mid_ramp_starts_from_where_the_gains_are() {
        let mut r = Router::new(matrix(Mode::Off, ONES));
        r.set_target(matrix(Mode::Barge, ONES), 10);
        let zeros = [0.0f32; 5];
        let ones = [1.0f32; 5];
        let mut out = vec![0.0; 15];
        r.mix([&zeros, &zeros, &ones], &mut out);
        let mid = r.current()[0][2];
        assert!((mid - 0.5).abs() < 1e-6, "{mid}");
        r.set_target(matrix(Mode::Listen, ONES), 10);
        assert!((r.current()[0][2] - mid).abs() < 1e-6, "no jump");
        let mut out = vec![0.0; 30];
        let zeros = [0.0f32; 10];
        let ones = [1.0f32; 10];
        r.mix([&zeros, &zeros, &ones], &mut out);
        assert_eq!(r.current()[0][2], 0.0);
        // Same target again: nothing restarts.
        r.set_target(matrix(Mode::Listen, ONES), 10);
        assert!(!r.ramping());
    }

    #[test]
    fn zero_ramp_jumps() {
        let mut r = Router::new(matrix(Mode::Off, ONES));
        r.set_target(matrix(Mode::Barge, ONES), 0);
        assert_eq!(r.current(), matrix(Mode::Barge, ONES));
    }

    #[test]
    fn names_round_trip() {
        for p in Party::ALL {
            assert_eq!(Party::from_name(p.name()), Some(p));
            assert_eq!(Party::from_output_name(p.output_name()), Some(p));
        }
        assert_eq!(Party::from_name("to_customer"), None);
    }
}
