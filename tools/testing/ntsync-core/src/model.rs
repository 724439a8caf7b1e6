// SPDX-License-Identifier: GPL-2.0

//! A deliberately plain reference model of the NT objects, written from the rules (and the
//! upstream C driver, drivers/misc/ntsync.c) without calling or copying the core.
//!
//! Counts are `u64` so that no arithmetic here can wrap or saturate: every limit is an explicit
//! comparison against `u32::MAX` or the semaphore maximum. A mutex is "free" when its count is
//! zero, and its owner is then expected to read 0; the model keeps the owner as a separate
//! field and the harness checks that the two agree with the core after every step.

/// `u32::MAX`, widened once.
const U32_MAX: u64 = u32::MAX as u64;

/// Why an operation failed, as the ioctl layer would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// `CREATE_*` arguments out of range (`EINVAL`).
    Invalid,
    /// Semaphore release past its maximum or past `u32::MAX` (`EOVERFLOW`).
    Overflow,
    /// Mutex unlock or kill by someone who is not the owner (`EPERM`).
    NotOwner,
    /// The operation is for another kind of object (`EINVAL`).
    WrongKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SemModel {
    pub(crate) count: u64,
    pub(crate) max: u64,
}

impl SemModel {
    pub(crate) fn create(count: u32, max: u32) -> Result<Self, Error> {
        let (count, max) = (u64::from(count), u64::from(max));
        if count > max {
            return Err(Error::Invalid);
        }
        Ok(Self { count, max })
    }

    pub(crate) fn signaled(&self) -> bool {
        self.count > 0
    }

    pub(crate) fn acquire(&mut self) {
        assert!(self.count > 0, "model: acquiring an empty semaphore");
        self.count -= 1;
    }

    /// NtReleaseSemaphore: all or nothing; reports the count before the release.
    pub(crate) fn release(&mut self, n: u32) -> Result<u64, Error> {
        let wanted = self.count + u64::from(n);
        // `max` is at most `u32::MAX`, so this also refuses anything past `u32::MAX`.
        if wanted > self.max || wanted > U32_MAX {
            return Err(Error::Overflow);
        }
        let before = self.count;
        self.count = wanted;
        Ok(before)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MutexModel {
    pub(crate) owner: u32,
    pub(crate) count: u64,
    pub(crate) abandoned: bool,
}

impl MutexModel {
    pub(crate) fn create(owner: u32, count: u32) -> Result<Self, Error> {
        let free = owner == 0 && count == 0;
        let held = owner != 0 && count != 0;
        if !free && !held {
            return Err(Error::Invalid);
        }
        Ok(Self {
            owner,
            count: u64::from(count),
            abandoned: false,
        })
    }

    fn is_free(&self) -> bool {
        self.count == 0
    }

    fn held_by(&self, who: u32) -> bool {
        !self.is_free() && who != 0 && self.owner == who
    }

    /// A wait by `who` can take it: free, or already `who`'s, and the recursion count has
    /// room for one more.
    pub(crate) fn signaled(&self, who: u32) -> bool {
        let available = self.is_free() || self.owner == who;
        available && self.count < U32_MAX
    }

    /// Returns whether the acquirer is told the mutex was abandoned.
    pub(crate) fn acquire(&mut self, who: u32) -> bool {
        assert!(who != 0, "model: waits have a nonzero owner");
        assert!(self.signaled(who), "model: acquiring an unavailable mutex");
        self.owner = who;
        self.count += 1;
        let was_abandoned = self.abandoned;
        self.abandoned = false;
        was_abandoned
    }

    /// NtReleaseMutant: reports the count before the unlock.
    pub(crate) fn unlock(&mut self, who: u32) -> Result<u64, Error> {
        if !self.held_by(who) {
            return Err(Error::NotOwner);
        }
        let before = self.count;
        self.count = before - 1;
        if self.count == 0 {
            self.owner = 0;
        }
        Ok(before)
    }

    /// The owner died holding it (at whatever depth): free it and remember.
    pub(crate) fn kill(&mut self, who: u32) -> Result<(), Error> {
        if !self.held_by(who) {
            return Err(Error::NotOwner);
        }
        self.owner = 0;
        self.count = 0;
        self.abandoned = true;
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventModel {
    pub(crate) manual: bool,
    pub(crate) signaled: bool,
}

impl EventModel {
    pub(crate) fn create(manual: bool, signaled: bool) -> Self {
        Self { manual, signaled }
    }

    pub(crate) fn acquire(&mut self) {
        assert!(self.signaled, "model: acquiring an unsignaled event");
        // A manual-reset event stays signaled for every waiter.
        if !self.manual {
            self.signaled = false;
        }
    }

    /// SetEvent (`true`) or ResetEvent (`false`): reports the state before.
    pub(crate) fn put(&mut self, signaled: bool) -> bool {
        let before = self.signaled;
        self.signaled = signaled;
        before
    }

    /// PulseEvent: set (whoever waits is woken) then reset; reports the state before.
    pub(crate) fn pulse(&mut self) -> bool {
        let before = self.signaled;
        self.signaled = false;
        before
    }
}

/// One object of any kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ObjModel {
    Sem(SemModel),
    Mutex(MutexModel),
    Event(EventModel),
}

impl ObjModel {
    pub(crate) fn signaled(&self, who: u32) -> bool {
        match self {
            ObjModel::Sem(s) => s.signaled(),
            ObjModel::Mutex(m) => m.signaled(who),
            ObjModel::Event(e) => e.signaled,
        }
    }

    /// Returns whether the object was an abandoned mutex.
    pub(crate) fn acquire(&mut self, who: u32) -> bool {
        match self {
            ObjModel::Sem(s) => {
                s.acquire();
                false
            }
            ObjModel::Mutex(m) => m.acquire(who),
            ObjModel::Event(e) => {
                e.acquire();
                false
            }
        }
    }
}
