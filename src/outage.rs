//! [`Outage`]: one log line when a dependency starts failing and one when it answers
//! again, however many requests fail in between.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a dependency (the call registry, the session store) is failing.
#[derive(Debug, Default)]
pub(crate) struct Outage(AtomicBool);

impl Outage {
    /// Records a failure: `true` for the first one of an outage (log it).
    pub(crate) fn failed(&self) -> bool {
        // A plain load first: during an outage, requests do not contend on a write.
        !self.0.load(Ordering::Relaxed) && !self.0.swap(true, Ordering::AcqRel)
    }

    /// Records an answer: `true` for the first one after an outage (log it).
    pub(crate) fn answered(&self) -> bool {
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::AcqRel)
    }

    /// Whether an outage is in progress.
    pub(crate) fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_at_each_end() {
        let outage = Outage::default();
        assert!(!outage.answered(), "no outage yet");
        assert!(outage.failed());
        assert!(!outage.failed(), "the same outage");
        assert!(outage.is_on());
        assert!(outage.answered());
        assert!(!outage.answered(), "over already");
        assert!(outage.failed(), "a new outage");
    }
}
