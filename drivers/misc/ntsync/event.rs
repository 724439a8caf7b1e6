// SPDX-License-Identifier: GPL-2.0

//! The NT event rules, free of kernel types so that the host test crate compiles this same
//! file.

/// A manual-reset event stays signaled until reset; an auto-reset event is reset by the wait
/// that acquires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    manual: bool,
    signaled: bool,
}

impl Event {
    pub(crate) fn new(manual: bool, signaled: bool) -> Self {
        Self { manual, signaled }
    }

    pub(crate) fn is_manual(&self) -> bool {
        self.manual
    }

    pub(crate) fn is_signaled(&self) -> bool {
        self.signaled
    }

    /// A wait acquires the event; the caller has seen [`Self::is_signaled`].
    pub(crate) fn acquire(&mut self) {
        debug_assert!(self.signaled);
        if !self.manual {
            self.signaled = false;
        }
    }

    /// Sets the signaled state to `signaled`; returns the previous one.
    pub(crate) fn store(&mut self, signaled: bool) -> bool {
        core::mem::replace(&mut self.signaled, signaled)
    }
}
