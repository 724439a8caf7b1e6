// SPDX-License-Identifier: GPL-2.0

//! The NT mutex rules, free of kernel types so that the host test crate compiles this same
//! file.

/// The caller does not own the mutex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NotOwner;

/// A recursive mutex owned by a nonzero owner id (Wine uses the thread id).
///
/// # Invariants
///
/// `owner == 0` exactly when `count == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mutex {
    owner: u32,
    count: u32,
    /// The last owner died holding it; the next acquirer is told so, once.
    abandoned: bool,
}

impl Mutex {
    /// A mutex held `count` times by `owner`, or free when both are zero; `None` when only one
    /// of them is zero.
    pub(crate) fn new(owner: u32, count: u32) -> Option<Self> {
        // INVARIANT: Checked here.
        ((owner == 0) == (count == 0)).then_some(Self {
            owner,
            count,
            abandoned: false,
        })
    }

    pub(crate) fn owner(&self) -> u32 {
        self.owner
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned
    }

    /// Free, or already held by `owner` with room for one more recursion.
    pub(crate) fn is_signaled(&self, owner: u32) -> bool {
        (self.owner == 0 || self.owner == owner) && self.count < u32::MAX
    }

    /// Takes the mutex for `owner` (nonzero), who has seen [`Self::is_signaled`]. Returns
    /// whether it had been abandoned.
    pub(crate) fn acquire(&mut self, owner: u32) -> bool {
        debug_assert!(owner != 0 && self.is_signaled(owner));
        // INVARIANT: `owner` is nonzero and `count` becomes nonzero.
        self.owner = owner;
        self.count += 1;
        core::mem::take(&mut self.abandoned)
    }

    /// Drops one recursion level held by `owner` (nonzero); returns the previous count.
    pub(crate) fn unlock(&mut self, owner: u32) -> Result<u32, NotOwner> {
        if owner == 0 || self.owner != owner {
            return Err(NotOwner);
        }
        let prev = self.count;
        // INVARIANT: `owner` is nonzero, so `count` was nonzero; both reach zero together.
        self.count -= 1;
        if self.count == 0 {
            self.owner = 0;
        }
        Ok(prev)
    }

    /// Marks the mutex abandoned by `owner` (nonzero), who dies holding it, and frees it.
    pub(crate) fn kill(&mut self, owner: u32) -> Result<(), NotOwner> {
        if owner == 0 || self.owner != owner {
            return Err(NotOwner);
        }
        // INVARIANT: Both become zero.
        self.owner = 0;
        self.count = 0;
        self.abandoned = true;
        Ok(())
    }
}
