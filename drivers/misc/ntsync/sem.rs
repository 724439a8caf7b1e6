// SPDX-License-Identifier: GPL-2.0

//! The NT semaphore rules, free of kernel types so that the host test crate compiles this
//! same file.

/// Releasing would push the count past the maximum (or past `u32::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

/// A counting semaphore: signaled while `count` is nonzero.
///
/// # Invariants
///
/// `count <= max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Semaphore {
    count: u32,
    max: u32,
}

impl Semaphore {
    /// A semaphore holding `count` of at most `max` units, or `None` when `count > max`.
    pub(crate) fn new(count: u32, max: u32) -> Option<Self> {
        // INVARIANT: Checked here.
        (count <= max).then_some(Self { count, max })
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    pub(crate) fn is_signaled(&self) -> bool {
        self.count != 0
    }

    /// Takes one unit. The caller has seen [`Self::is_signaled`].
    pub(crate) fn acquire(&mut self) {
        debug_assert!(self.is_signaled());
        self.count -= 1;
    }

    /// Adds `n` units and returns the previous count; on overflow nothing changes.
    pub(crate) fn release(&mut self, n: u32) -> Result<u32, Overflow> {
        let prev = self.count;
        match prev.checked_add(n) {
            // INVARIANT: The new count is checked against `max`.
            Some(sum) if sum <= self.max => {
                self.count = sum;
                Ok(prev)
            }
            _ => Err(Overflow),
        }
    }
}
