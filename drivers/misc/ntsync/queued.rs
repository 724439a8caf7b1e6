// SPDX-License-Identifier: GPL-2.0

//! A waiter on its objects' queues: queueing it, which offers it whatever is signaled
//! already, the sleep until it is satisfied, and leaving every queue again, which its `Drop`
//! does on every return path.

use crate::ffi::task::{
    sleep_until,
    Clock,
    Wakeup, //
};
use crate::{
    device::{
        Device,
        WaitAll, //
    },
    object::Object,
    queue::WaitEntry,
    waiter::{
        Deadline,
        WaitQueue,
        Waiter, //
    },
    wake::{
        try_wake_all,
        Acquired, //
    },
};
use core::{
    cell::Cell,
    marker::PhantomPinned,
    pin::Pin,
    ptr::NonNull, //
};
use kernel::prelude::*;

/// A waiter queued on its objects, with its place in each queue: entry `i` is for the `i`th
/// object of `Objects::iter`. Dropping it takes the waiter off every queue it reached, on
/// every return path; as the queues point into it, it must stay pinned until then.
///
/// Other tasks may still hold a `&Waiter` or a `&LinkedEntry` while `drop` runs (until `leave`
/// has taken their lock): `PhantomPinned` makes the type `!Unpin`, so that the `Pin<&mut Self>`
/// there asserts no uniqueness.
#[pin_data(PinnedDrop)]
pub(crate) struct Queued<'a, const N: usize> {
    dev: &'a Device<Object>,
    #[pin]
    pub(crate) waiter: Waiter<'a, Object>,
    #[pin]
    entries: [WaitEntry<Waiter<'static, Object>>; N],
    /// How many entries, from the first, the enqueueing queued.
    reached: Cell<usize>,
    #[pin]
    _pin: PhantomPinned,
}

impl<'a, const N: usize> Queued<'a, N> {
    /// Initialised in place: the entries of the largest waits take kilobytes.
    pub(crate) fn new(dev: &'a Device<Object>, waiter: Waiter<'a, Object>) -> impl PinInit<Self> {
        pin_init!(Self {
            dev,
            waiter,
            entries <- pin_init::init_array_from_fn(|_| WaitEntry::new()),
            reached: Cell::new(0),
            _pin: PhantomPinned,
        })
    }

    /// Queues the next entry on `queue`, reporting `index`; false if there is no entry left,
    /// which `Slots::fill_from_user` rules out. The caller holds the lock that guards `queue`.
    ///
    /// # Safety
    ///
    /// `queue` is the one that [`Queued::leave`] takes the entry out of: entry `i` is for the
    /// `i`th object of `Objects::iter`, on its wait-any queue, except that a wait-all's
    /// objects are queued on their wait-all queues.
    pub(crate) unsafe fn push(self: Pin<&Self>, queue: &mut WaitQueue<Object>, index: u32) -> bool {
        let this = self.get_ref();
        let reached = this.reached.get();
        let Some(entry) = this.entries.get(reached) else {
            return false;
        };
        // SAFETY: Entries are queued in order, from the first, and only once between two
        // `leave`s, which take out all that `reached` counts: this one is in no queue. It and
        // the waiter are structurally pinned inside `self`, which is dropped (on the stack by
        // `stack_pin_init!`, on the heap by its box) before its memory is reused, and `drop`
        // takes every entry counted in `reached` out of the queue it is in, under that
        // queue's lock, as the caller guarantees. What the waiter borrows, for `'a`, outlives
        // `self`.
        unsafe { queue.push_back(entry, NonNull::from(&this.waiter).cast(), index) };
        this.reached.set(reached + 1);
        true
    }

    /// Queues the waiter, as far as it is not yet, and hands it whatever is already signaled.
    pub(crate) fn enqueue(self: Pin<&Self>) {
        let waiter = &self.waiter;
        if waiter.is_all() {
            if self.reached.get() == 0 {
                self.enqueue_all(&mut self.dev.wait_all.lock());
            }
            // The objects come before the alert: it is offered only after they were.
            if let Some(alert) = waiter.objs().alert() {
                if waiter.claimed_index().is_none() {
                    alert.lock().wake_any();
                }
            }
            return;
        }
        // Queueing in array order and offering each object as it is reached makes the lowest
        // signaled index win, objects before the alert; once satisfied, the rest need no
        // queueing.
        for i in self.reached.get()..waiter.objs().len() {
            let Some(obj) = waiter.objs().object(i) else {
                break;
            };
            if waiter.claimed_index().is_some() {
                break;
            }
            let mut inner = obj.lock();
            // SAFETY: The next entry, the `i`th, is for this object, a wait-any's.
            unsafe { self.push(&mut inner.any_waiters, i as u32) };
            inner.wake_any();
        }
    }

    /// Queues the wait-all waiter on its objects and its alert, as the holder of the wait-all
    /// lock, and hands it all of its objects if they are signaled by now.
    pub(crate) fn enqueue_all(self: Pin<&Self>, all: &mut WaitAll) {
        let waiter = &self.waiter;
        for obj in waiter.objs().objects() {
            // SAFETY: The next entry is for this object, a wait-all's.
            if unsafe { self.push(obj.all_waiters.access_mut(all), 0) } {
                all.entries += 1;
                obj.count_all_waiter(all, true);
            }
        }
        if let Some(alert) = waiter.objs().alert() {
            let index = waiter.objs().count() as u32;
            // SAFETY: The next entry, after the objects', is for the alert.
            unsafe { self.push(&mut alert.lock_held(all).any_waiters, index) };
        }
        try_wake_all(all, waiter, None);
    }

    /// Takes the waiter off every queue it reached, unless whoever satisfied it already took
    /// an entry out. Whoever did so held the lock of that queue and is done with the waiter
    /// once the lock is released, which is why this takes every lock all the same: from here
    /// on the waiter is the caller's alone.
    pub(crate) fn leave(&self) {
        let waiter = &self.waiter;
        let reached = self.reached.replace(0);
        let mut entries = self.entries.iter().take(reached);
        if !waiter.is_all() {
            for (i, entry) in entries.enumerate() {
                if let Some(obj) = waiter.objs().object(i) {
                    // SAFETY: The `i`th entry was queued, if ever, on this object's queue.
                    unsafe { obj.lock().any_waiters.remove(entry) };
                }
            }
            return;
        }
        if reached == 0 {
            return;
        }
        let mut all = self.dev.wait_all.lock();
        for (obj, entry) in waiter.objs().objects().zip(entries.by_ref()) {
            // SAFETY: The entry was queued, if ever, on this object's wait-all queue.
            if unsafe { obj.all_waiters.access_mut(&mut all).remove(entry) } {
                all.entries -= 1;
                obj.count_all_waiter(&all, false);
            }
        }
        if let (Some(alert), Some(entry)) = (waiter.objs().alert(), entries.next()) {
            // SAFETY: The entry after the objects' was queued, if ever, on the alert's queue.
            unsafe { alert.lock_held(&all).any_waiters.remove(entry) };
        }
    }
}

#[pinned_drop]
impl<const N: usize> PinnedDrop for Queued<'_, N> {
    fn drop(self: Pin<&mut Self>) {
        if self.reached.get() != 0 {
            self.leave();
        }
    }
}

/// Queues the waiter, as far as the caller did not, and sleeps until it is satisfied, the
/// deadline passes or a signal arrives.
pub(crate) fn sleep<const N: usize>(queued: Pin<&Queued<'_, N>>) -> Result<Acquired> {
    queued.enqueue();
    let waiter = &queued.waiter;
    let done = || waiter.claimed_index().is_some();
    let (deadline, clock) = match waiter.deadline() {
        Some(Deadline { clock, ns }) => (Some(ns), clock),
        None => (None, Clock::Monotonic),
    };
    let wakeup = sleep_until(done, deadline, clock);
    queued.leave();

    // A claim stands, whatever ended the sleep (a signal or the deadline): the object state
    // has already changed.
    if let Some(index) = waiter.claimed_index() {
        return Ok(Acquired {
            index,
            abandoned: waiter.abandoned(),
        });
    }
    Err(if wakeup == Wakeup::Interrupted {
        ERESTARTSYS
    } else {
        ETIMEDOUT
    })
}

#[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
#[kunit_tests(ntsync_rs_wait)]
mod tests {
    use super::*;
    use crate::{
        event::Event,
        object_file::new_file,
        sem::Semaphore,
        slots::Slots,
        state::State, //
    };
    use kernel::list::ListArc;

    fn sem_count(obj: &Object) -> u32 {
        match &obj.lock().state {
            State::Sem(sem) => sem.count(),
            _ => u32::MAX,
        }
    }

    /// Runs `test` on a wait-all by owner 1, queued on `objs` of `dev`: the first `count` as
    /// its objects, the other as its alert. Then the waiter must leave every queue, and the
    /// files made for the wait are released at once, not to keep the module busy.
    fn with_wait_all(
        dev: &Device<Object>,
        objs: [ListArc<Object>; 2],
        count: usize,
        test: impl FnOnce(&Waiter<'_, Object>, &Object, &Object) -> Result,
    ) -> Result {
        let result = (|| {
            let [first, second] = objs;
            let files = [new_file(first)?, new_file(second)?];
            let objs = Slots::<Object, 2>::from_iter(files.into_iter(), count);
            let task = kernel::current!();
            pin_init::stack_pin_init!(let queued = Queued::<2>::new(
                dev,
                Waiter::new(task, 1, true, None, &objs)
            ));
            let queued = queued.into_ref();
            queued.enqueue();
            let (first, second) = (objs.object(0), objs.object(1));
            test(&queued.waiter, first.ok_or(EINVAL)?, second.ok_or(EINVAL)?)?;
            queued.leave();
            assert_eq!(dev.wait_all.lock().entries, 0);
            Ok(())
        })();
        crate::ffi::fs::file::flush_delayed_fput();
        result
    }

    #[test]
    fn wait_all_takes_everything_at_once_or_nothing() -> Result {
        let dev = Device::new()?;
        let sem = Object::new(dev.clone(), State::Sem(Semaphore::new(1, 1).ok_or(EINVAL)?))?;
        let event = Object::new(dev.clone(), State::Event(Event::new(false, false)))?;
        with_wait_all(&dev, [sem, event], 2, |w, sem, event| {
            assert_eq!(w.claimed_index(), None);
            assert_eq!(sem_count(sem), 1);

            assert_eq!(event.set_event(false), Ok(false));
            assert_eq!(w.claimed_index(), Some(0));
            assert_eq!(sem_count(sem), 0);
            // The auto-reset event went to the waiter.
            assert_eq!(event.reset_event(), Ok(false));
            Ok(())
        })
    }

    #[test]
    fn the_alert_ends_a_wait_all_with_index_count() -> Result {
        let dev = Device::new()?;
        let sem = Object::new(dev.clone(), State::Sem(Semaphore::new(0, 1).ok_or(EINVAL)?))?;
        let alert = Object::new(dev.clone(), State::Event(Event::new(true, false)))?;
        with_wait_all(&dev, [sem, alert], 1, |w, sem, alert| {
            assert_eq!(w.claimed_index(), None);
            assert_eq!(alert.set_event(true), Ok(false));
            assert_eq!(w.claimed_index(), Some(1));
            // A pulse leaves the event unsignaled.
            assert_eq!(alert.reset_event(), Ok(false));
            // Releasing the semaphore now satisfies nobody: the waiter is taken.
            assert_eq!(sem.release(1), Ok(0));
            assert_eq!(sem_count(sem), 1);
            Ok(())
        })
    }
}
