//! Heard-text accounting: which `tts-mark` texts the listener had heard.

#[derive(Debug, Default)]
pub struct Ledger {
    /// (sample position in the utterance where the text starts, text)
    marks: Vec<(u64, String)>,
}

impl Ledger {
    pub fn clear(&mut self) {
        self.marks.clear();
    }

    pub fn mark(&mut self, at: u64, text: &str) {
        self.marks.push((at, text.to_string()));
    }

    /// Texts whose audio had started playing by sample `heard` of the utterance.
    pub fn heard(&self, heard: u64) -> String {
        self.marks
            .iter()
            .filter(|(at, _)| *at < heard)
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_is_what_started_playing() {
        let mut l = Ledger::default();
        l.mark(0, "Welcome to ABC Bank.");
        l.mark(16000, "For account balance, press 1.");
        l.mark(40000, "For loans, press 4.");
        assert_eq!(l.heard(0), "");
        assert_eq!(l.heard(100), "Welcome to ABC Bank.");
        assert_eq!(
            l.heard(20000),
            "Welcome to ABC Bank. For account balance, press 1."
        );
        l.clear();
        assert_eq!(l.heard(99999), "");
    }
}
