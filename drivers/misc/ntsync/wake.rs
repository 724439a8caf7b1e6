// SPDX-License-Identifier: GPL-2.0

//! The wake-up rules that reach across objects, and the state changes that apply them. A
//! wait-all acquires all of its objects as one step, as the holder of the device's wait-all
//! lock (see `crate::object` for the locking); a release, unlock, kill or set offers the
//! changed object to every waiter it may now satisfy, in the same step as the change.

use crate::{
    device::WaitAll,
    object::{
        as_event,
        Object, //
    },
    slots::Objects,
    state::State,
    waiter::Waiter, //
};
use kernel::prelude::*;

/// What a wait acquired.
pub(crate) struct Acquired {
    pub(crate) index: u32,
    pub(crate) abandoned: bool,
}

impl Object {
    /// Applies `op` to the state and, if it succeeds, offers the object to every waiter it may
    /// now satisfy; `after` then runs on the state in the same step (a pulse resets the event
    /// there).
    fn update<R>(
        &self,
        op: impl FnOnce(&mut State) -> Result<R>,
        after: impl FnOnce(&mut State),
    ) -> Result<R> {
        // The hint counts only when read under the spinlock: a wait-all counts itself in
        // before it checks this object under the same lock, so a zero here means that its
        // check comes later and will see the change.
        {
            let mut inner = self.lock();
            if !self.has_all_waiters() {
                let ret = op(&mut inner.state)?;
                inner.wake_any();
                after(&mut inner.state);
                return Ok(ret);
            }
        }

        // As the holder: the change and the dev-lock in one section, the wake-ups of wait-any
        // waiters and the release in another.
        let all = self.dev.wait_all.lock();
        let ret = {
            let mut inner = self.lock_held(&all);
            let ret = op(&mut inner.state)?;
            inner.dev_locked = true;
            ret
        };
        wake_all(&all, self);
        let mut inner = self.lock_held(&all);
        inner.wake_any();
        after(&mut inner.state);
        inner.dev_locked = false;
        Ok(ret)
    }

    /// Adds `n` units to a semaphore; returns the previous count.
    pub(crate) fn release(&self, n: u32) -> Result<u32> {
        self.update(
            |state| match state {
                State::Sem(sem) => sem.release(n).map_err(|_| EOVERFLOW),
                _ => Err(EINVAL),
            },
            |_| (),
        )
    }

    /// Drops one level of a mutex held by `owner`; returns the previous count.
    pub(crate) fn unlock(&self, owner: u32) -> Result<u32> {
        self.update(
            |state| match state {
                State::Mutex(mutex) => mutex.unlock(owner).map_err(|_| EPERM),
                _ => Err(EINVAL),
            },
            |_| (),
        )
    }

    /// Abandons a mutex held by `owner`, who died.
    pub(crate) fn kill(&self, owner: u32) -> Result {
        self.update(
            |state| match state {
                State::Mutex(mutex) => mutex.kill(owner).map_err(|_| EPERM),
                _ => Err(EINVAL),
            },
            |_| (),
        )
    }

    /// Signals an event; a pulse resets it again in the same step, after the waiters it
    /// satisfies were woken. Returns the previous state.
    pub(crate) fn set_event(&self, pulse: bool) -> Result<bool> {
        self.update(
            |state| Ok(as_event(state)?.store(true)),
            |state| {
                if pulse {
                    let _ = as_event(state).map(|event| event.store(false));
                }
            },
        )
    }

    /// Resets an event; returns the previous state. Nobody can be satisfied by that, so there
    /// is no one to wake.
    pub(crate) fn reset_event(&self) -> Result<bool> {
        as_event(&mut self.lock().state).map(|event| event.store(false))
    }
}

/// Offers `obj`, which the holder of the wait-all lock has dev-locked and changed, to its
/// wait-all waiters.
pub(crate) fn wake_all(all: &WaitAll, obj: &Object) {
    for entry in obj.all_waiters.access(all).iter() {
        try_wake_all(all, entry.waiter(), Some(obj));
    }
}

/// Acquires all objects of the wait-all `waiter` as one step if every one is signaled for it.
/// `locked` is already dev-locked by the caller.
pub(crate) fn try_wake_all(all: &WaitAll, waiter: &Waiter<'_, Object>, locked: Option<&Object>) {
    // One satisfied but not yet gone costs no look at its objects.
    if waiter.claimed_index().is_some() {
        return;
    }
    let first = waiter.blocker();
    match acquire_all(all, waiter.objs(), waiter.owner(), locked, first, || {
        waiter.try_claim(0)
    }) {
        Ok(abandoned) => {
            if abandoned {
                waiter.set_abandoned();
            }
            waiter.task().wake_up();
        }
        Err(Some(blocker)) => waiter.set_blocker(blocker),
        Err(None) => (),
    }
}

/// If every object of `objs` (the alert aside) is signaled for `owner` and `claim()` agrees,
/// acquires them all as one step and returns whether an abandoned mutex was among them;
/// otherwise returns the position of the object found unsignaled, if one was. Looks at the
/// objects from position `first` on, then from the start. Runs as the holder of the wait-all
/// lock; `locked` is already dev-locked by the caller.
fn acquire_all(
    all: &WaitAll,
    objs: &Objects<Object>,
    owner: u32,
    locked: Option<&Object>,
    first: usize,
    claim: impl FnOnce() -> bool,
) -> Result<bool, Option<usize>> {
    let ours = |obj: &Object| !locked.is_some_and(|l| core::ptr::eq(obj, l));
    let count = objs.count();
    let first = if first < count { first } else { 0 };
    let after = |i: usize| if i + 1 < count { i + 1 } else { 0 };
    // Each object is checked and dev-locked in one section: from then on its state cannot
    // change until it is released below. The first unsignaled one ends the check.
    let mut taken = 0;
    let mut blocker = None;
    let mut i = first;
    while taken < count {
        let Some(obj) = objs.object(i) else {
            break;
        };
        let mut inner = obj.lock_held(all);
        if !inner.state.is_signaled(owner) {
            blocker = Some(i);
            break;
        }
        if ours(obj) {
            inner.dev_locked = true;
        }
        taken += 1;
        i = after(i);
    }
    let claimed = blocker.is_none() && claim();
    let mut abandoned = false;
    let mut i = first;
    for _ in 0..taken {
        let Some(obj) = objs.object(i) else {
            break;
        };
        i = after(i);
        // Unless acquiring, only the marks need undoing, and `locked` has none of ours.
        if !claimed && !ours(obj) {
            continue;
        }
        let mut inner = obj.lock_held(all);
        if claimed {
            abandoned |= inner.state.acquire(owner);
        }
        if ours(obj) {
            inner.dev_locked = false;
        }
    }
    if claimed {
        Ok(abandoned)
    } else {
        Err(blocker)
    }
}

/// Most wait-alls find everything signaled, or else their alert: takes that, as the holder of
/// the wait-all lock, without any queueing. As when queued, the objects come before the alert.
/// Otherwise returns the position of the object found unsignaled.
pub(crate) fn take_all(
    all: &WaitAll,
    objs: &Objects<Object>,
    owner: u32,
) -> Result<Acquired, usize> {
    let blocker = match acquire_all(all, objs, owner, None, 0, || true) {
        Ok(abandoned) => {
            return Ok(Acquired {
                index: 0,
                abandoned,
            })
        }
        Err(blocker) => blocker.unwrap_or(0),
    };
    let alert = objs.alert().ok_or(blocker)?;
    let mut inner = alert.lock_held(all);
    if !inner.state.is_signaled(owner) {
        return Err(blocker);
    }
    Ok(Acquired {
        index: objs.count() as u32,
        abandoned: inner.state.acquire(owner),
    })
}
