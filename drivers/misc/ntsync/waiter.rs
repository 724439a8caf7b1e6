// SPDX-License-Identifier: GPL-2.0

//! The waiter that objects hand themselves to: one blocked wait call, whichever object
//! satisfies it first claiming it; and the wake-any rule, which hands an object to its queued
//! waiters. Neither needs more of an object than its NT state, so the objects' type is the
//! parameter `T` and this file sits below `object.rs`, whose queues point to waiters.

use crate::ffi::task::Clock;
use crate::{
    queue::Queue,
    slots::Objects,
    state::State,
    uapi, //
};
use core::ops::ControlFlow;
use kernel::{
    sync::atomic::{
        Atomic,
        Full,
        Relaxed, //
    },
    task::Task,
};

/// Nobody has satisfied the waiter yet.
const UNCLAIMED: i32 = -1;

/// The waiters queued on one object, named with the lifetimes erased: an entry hands out its
/// waiter for no longer than it is borrowed, and every borrow a [`Waiter`] hands out is tied
/// to the borrow of the waiter.
pub(crate) type WaitQueue<T> = Queue<Waiter<'static, T>>;

/// The absolute time at which a wait gives up, as user space gave it.
#[derive(Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) clock: Clock,
    pub(crate) ns: i64,
}

impl Deadline {
    pub(crate) fn from_args(args: &uapi::WaitArgs) -> Option<Self> {
        let clock = if args.flags & uapi::WAIT_REALTIME != 0 {
            Clock::Realtime
        } else {
            Clock::Monotonic
        };
        (args.timeout != uapi::TIMEOUT_INFINITE).then_some(Deadline {
            clock,
            ns: args.timeout as i64,
        })
    }
}

/// One blocked wait call on objects of type `T`. It lives inside the `Queued` that puts it on
/// its objects' queues (see `crate::queued`), in the waiting task's stack frame (on the heap
/// for the largest waits).
///
/// Several objects may try to satisfy the same waiter at once; `claimed` decides which one
/// does. Only whoever moves it away from [`UNCLAIMED`] changes object state on the waiter's
/// behalf and wakes the task, so a wait-any acquires exactly one object and a wait-all all of
/// them exactly once.
pub(crate) struct Waiter<'a, T> {
    /// No reference count is needed: the task is running the wait ioctl until the waiter is
    /// gone, and others only reach it through a queue entry, under a lock that the task takes
    /// before the waiter goes.
    task: &'a Task,
    owner: u32,
    /// A wait-all rather than a wait-any.
    all: bool,
    deadline: Option<Deadline>,
    /// The index reported to user space, or [`UNCLAIMED`].
    claimed: Atomic<i32>,
    /// An acquired mutex had been abandoned.
    abandoned: Atomic<bool>,
    /// For a wait-all, the position of the object that its last check found unsignaled,
    /// where the next check starts: it is the likeliest to be unsignaled still. Only the
    /// holder of the wait-all lock uses it.
    blocker: Atomic<u32>,
    objs: &'a Objects<T>,
}

impl<'a, T> Waiter<'a, T> {
    pub(crate) fn new(
        task: &'a Task,
        owner: u32,
        all: bool,
        deadline: Option<Deadline>,
        objs: &'a Objects<T>,
    ) -> Self {
        Self {
            task,
            owner,
            all,
            deadline,
            claimed: Atomic::new(UNCLAIMED),
            abandoned: Atomic::new(false),
            blocker: Atomic::new(0),
            objs,
        }
    }

    pub(crate) fn task(&self) -> &Task {
        self.task
    }

    pub(crate) fn owner(&self) -> u32 {
        self.owner
    }

    /// Whether this is a wait-all rather than a wait-any.
    pub(crate) fn is_all(&self) -> bool {
        self.all
    }

    pub(crate) fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }

    /// The objects, then the alert.
    pub(crate) fn objs(&self) -> &Objects<T> {
        self.objs
    }

    pub(crate) fn claimed_index(&self) -> Option<u32> {
        let index = self.claimed.load(Relaxed);
        (index != UNCLAIMED).then_some(index as u32)
    }

    /// Claims the waiter for reporting `index`; false when someone else was first.
    pub(crate) fn try_claim(&self, index: u32) -> bool {
        self.claimed.cmpxchg(UNCLAIMED, index as i32, Full).is_ok()
    }

    /// Acquires `state` for the claimed waiter.
    fn acquire(&self, state: &mut State) {
        if state.acquire(self.owner) {
            self.set_abandoned();
        }
    }

    /// Whether an acquired mutex had been abandoned.
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.load(Relaxed)
    }

    /// Records that an acquired mutex had been abandoned.
    pub(crate) fn set_abandoned(&self) {
        self.abandoned.store(true, Relaxed);
    }

    /// For a wait-all, the position of the object where the next check starts.
    pub(crate) fn blocker(&self) -> usize {
        self.blocker.load(Relaxed) as usize
    }

    /// Makes the next check of a wait-all start at position `blocker`.
    pub(crate) fn set_blocker(&self, blocker: usize) {
        self.blocker.store(blocker as u32, Relaxed);
    }
}

/// Offers the object with `state` to its queued wait-any `waiters`, oldest first. Runs with
/// the object locked.
///
/// Every entry of a satisfied waiter that the pass looks at leaves the queue here, so that
/// later passes need not look at it again. The pass ends as soon as no waiter at all could
/// acquire the object: a change that wakes nobody, or the last unit handed out, then costs
/// nothing per waiter still queued, however many a thread pool parks on the object.
pub(crate) fn wake_any<T>(state: &mut State, waiters: &mut WaitQueue<T>) {
    waiters.retain(|entry| {
        if !state.is_signaled_for_anyone() {
            return ControlFlow::Break(());
        }
        let waiter = entry.waiter();
        if state.is_signaled(waiter.owner) {
            if waiter.try_claim(entry.index()) {
                waiter.acquire(state);
                waiter.task.wake_up();
            }
            // Claimed now, or before.
            return ControlFlow::Continue(false);
        }
        // Also the entries of waiters satisfied before, here (a wait-any may name this
        // object more than once) or elsewhere.
        ControlFlow::Continue(waiter.claimed_index().is_none())
    });
}

#[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
#[kernel::macros::kunit_tests(ntsync_rs_wake_any)]
mod tests {
    use super::*;
    use crate::{
        mutex::Mutex,
        queue::WaitEntry,
        sem::Semaphore,
        slots::Slots, //
    };
    use core::ptr::NonNull;
    use kernel::prelude::*;

    /// Nothing to wait for: these waiters are offered objects by hand, and no object needs to
    /// be more than its state.
    static NONE: Slots<(), 1> = Slots::empty();

    /// An entry of a [`WaitQueue`] of these waiters.
    type Entry = WaitEntry<Waiter<'static, ()>>;

    fn waiter(task: &Task, owner: u32) -> Waiter<'_, ()> {
        Waiter::new(task, owner, false, None, &NONE)
    }

    /// Queues fresh `entries` on `queue`, each for its waiter and index.
    ///
    /// # Safety
    ///
    /// The entries and waiters must stay where they are until the queue is gone.
    unsafe fn queue_in(queue: &mut WaitQueue<()>, entries: &[(&Entry, &Waiter<'_, ()>, u32)]) {
        for &(entry, waiter, index) in entries {
            // SAFETY: The entry is fresh, and the caller keeps it and the waiter in place.
            unsafe { queue.push_back(entry, NonNull::from(waiter).cast(), index) };
        }
    }

    fn waiters_in(queue: &WaitQueue<()>) -> KVec<*const ()> {
        let mut out = KVec::new();
        for entry in queue.iter() {
            let _ = out.push(core::ptr::from_ref(entry.waiter()).cast(), GFP_KERNEL);
        }
        out
    }

    fn at(waiter: &Waiter<'_, ()>) -> *const () {
        core::ptr::from_ref(waiter).cast()
    }

    #[test]
    fn one_unit_satisfies_the_oldest_waiter_only() -> Result {
        let task = kernel::current!();
        let (a, b) = (waiter(task, 1), waiter(task, 2));
        let (ea, eb) = (WaitEntry::new(), WaitEntry::new());
        let mut queue = WaitQueue::new();
        // SAFETY: The queue goes first, declared after the entries and waiters.
        unsafe { queue_in(&mut queue, &[(&ea, &a, 3), (&eb, &b, 5)]) };
        let mut state = State::Sem(Semaphore::new(0, 2).ok_or(EINVAL)?);
        wake_any(&mut state, &mut queue);
        assert_eq!(a.claimed_index(), None);
        assert_eq!(waiters_in(&queue).len(), 2);
        if let State::Sem(sem) = &mut state {
            assert_eq!(sem.release(1), Ok(0));
        }
        wake_any(&mut state, &mut queue);
        assert_eq!(a.claimed_index(), Some(3));
        assert_eq!(b.claimed_index(), None);
        assert!(!state.is_signaled(2));
        // The satisfied waiter left the queue; the other is still in it.
        assert_eq!(waiters_in(&queue)[..], [at(&b)]);
        Ok(())
    }

    #[test]
    fn a_wake_stops_where_no_one_could_acquire() -> Result {
        let task = kernel::current!();
        let (gone, first, second) = (waiter(task, 1), waiter(task, 2), waiter(task, 3));
        let (eg, ef, es) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let mut queue = WaitQueue::new();
        // SAFETY: The queue goes first, declared after the entries and waiters.
        unsafe {
            queue_in(
                &mut queue,
                &[(&eg, &gone, 0), (&ef, &first, 1), (&es, &second, 2)],
            )
        };
        // Satisfied by another of its objects, the first waiter has not left this queue yet.
        assert!(gone.try_claim(7));
        // Nothing to hand out: the pass looks at no entry, not even to drop the stale one.
        let mut state = State::Sem(Semaphore::new(0, 2).ok_or(EINVAL)?);
        wake_any(&mut state, &mut queue);
        assert_eq!(waiters_in(&queue).len(), 3);
        // One unit: the stale entry goes, the oldest live waiter takes the unit, and the pass
        // stops before the last waiter.
        if let State::Sem(sem) = &mut state {
            assert_eq!(sem.release(1), Ok(0));
        }
        wake_any(&mut state, &mut queue);
        assert_eq!(gone.claimed_index(), Some(7));
        assert_eq!(first.claimed_index(), Some(1));
        assert_eq!(second.claimed_index(), None);
        assert_eq!(waiters_in(&queue)[..], [at(&second)]);
        Ok(())
    }

    #[test]
    fn a_mutex_skips_other_owners_and_reports_abandonment() -> Result {
        let task = kernel::current!();
        let (other, killer) = (waiter(task, 2), waiter(task, 7));
        let (eo, ek, el) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let mut queue = WaitQueue::new();
        // SAFETY: The queue goes first, declared after the entries and waiters.
        unsafe { queue_in(&mut queue, &[(&eo, &other, 0), (&ek, &killer, 1)]) };
        let mut mutex = Mutex::new(7, 1).ok_or(EINVAL)?;
        let mut state = State::Mutex(mutex);
        wake_any(&mut state, &mut queue);
        assert_eq!(other.claimed_index(), None);
        assert_eq!(killer.claimed_index(), Some(1));
        assert!(!killer.abandoned());

        assert_eq!(mutex.kill(7), Ok(()));
        let late = waiter(task, 9);
        let mut state = State::Mutex(mutex);
        let mut queue = WaitQueue::new();
        // SAFETY: The queue goes first, declared after the entry and the waiter.
        unsafe { queue_in(&mut queue, &[(&el, &late, 4)]) };
        wake_any(&mut state, &mut queue);
        assert_eq!(late.claimed_index(), Some(4));
        assert!(late.abandoned());
        assert_eq!(state, State::Mutex(Mutex::new(9, 1).ok_or(EINVAL)?));
        Ok(())
    }

    #[test]
    fn the_recursion_limit_is_unsignaled() -> Result {
        let mut mutex = Mutex::new(5, u32::MAX - 1).ok_or(EINVAL)?;
        assert!(mutex.is_signaled(5));
        assert!(!mutex.acquire(5));
        assert!(!mutex.is_signaled(5));
        assert_eq!(mutex.unlock(5), Ok(u32::MAX));
        Ok(())
    }
}
