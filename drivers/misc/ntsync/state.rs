// SPDX-License-Identifier: GPL-2.0

//! The NT state of one object, whatever its kind: the pure core that the kernel shell locks,
//! and that the host test crate checks against a reference model.

use crate::{
    event::Event,
    mutex::Mutex,
    sem::Semaphore, //
};

/// The state of a semaphore, mutex or event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Sem(Semaphore),
    Mutex(Mutex),
    Event(Event),
}

impl State {
    /// Whether a wait by `owner` could acquire the object now.
    pub(crate) fn is_signaled(&self, owner: u32) -> bool {
        match self {
            State::Sem(sem) => sem.is_signaled(),
            State::Mutex(mutex) => mutex.is_signaled(owner),
            State::Event(event) => event.is_signaled(),
        }
    }

    /// Whether a wait by some owner could acquire the object now: a mutex held by one owner
    /// can still be acquired by that owner's waits.
    #[inline]
    pub(crate) fn is_signaled_for_anyone(&self) -> bool {
        match self {
            State::Sem(sem) => sem.is_signaled(),
            State::Mutex(mutex) => mutex.count() < u32::MAX,
            State::Event(event) => event.is_signaled(),
        }
    }

    /// A wait by `owner` acquires the object; the caller has seen [`Self::is_signaled`].
    /// Returns whether the object was an abandoned mutex.
    pub(crate) fn acquire(&mut self, owner: u32) -> bool {
        match self {
            State::Sem(sem) => {
                sem.acquire();
                false
            }
            State::Mutex(mutex) => mutex.acquire(owner),
            State::Event(event) => {
                event.acquire();
                false
            }
        }
    }
}
