// SPDX-License-Identifier: GPL-2.0

//! Wait queues: first-in first-out lists threaded through entries that live with the blocked
//! waiters (in their stack frames, but for the largest waits), so that joining or leaving a
//! queue takes constant time and never allocates.
//!
//! A queue belongs to the lock that guards it (an object's spinlock or the device's wait-all
//! lock) and is only ever reached through that lock, which `&mut Queue` (or `&Queue`, to look)
//! stands for. An entry is written by its owner while it is in no queue, and otherwise only by
//! whoever holds the lock of the queue it is in.
//!
//! A queue knows nothing of what its entries point to: the waiter type `W` is a parameter, so
//! that this file sits below the objects that hold queues and the waiters that join them.

use core::{
    cell::Cell,
    marker::PhantomPinned,
    ops::ControlFlow,
    ptr::NonNull, //
};

/// A waiter's place in one queue.
///
/// # Invariants
///
/// While `linked`, the entry is in exactly one [`Queue`], `waiter` points to a live `W`,
/// `prev` and `next` are its neighbours in that queue's ring (itself, when it is
/// alone), and the entry stays where it is until it is taken out of that queue, under the
/// queue's lock.
pub(crate) struct WaitEntry<W> {
    /// The waiter may borrow for less than `W` says ([`Queue::push_back`] takes a pointer for
    /// that reason); [`LinkedEntry::waiter`] hands out no more than the entry's borrow.
    waiter: Cell<NonNull<W>>,
    /// What the waiter reports when this queue's object satisfies it.
    index: Cell<u32>,
    prev: Cell<Link<W>>,
    next: Cell<Link<W>>,
    linked: Cell<bool>,
    /// The queue the entry went into, which [`Queue::remove`] checks in debug builds: its
    /// callers only promise it.
    #[cfg(debug_assertions)]
    queue: Cell<*const Queue<W>>,
    _pin: PhantomPinned,
}

impl<W> WaitEntry<W> {
    pub(crate) const fn new() -> Self {
        Self {
            waiter: Cell::new(NonNull::dangling()),
            index: Cell::new(0),
            prev: Cell::new(NonNull::dangling()),
            next: Cell::new(NonNull::dangling()),
            linked: Cell::new(false),
            #[cfg(debug_assertions)]
            queue: Cell::new(core::ptr::null()),
            _pin: PhantomPinned,
        }
    }
}

/// A [`WaitEntry`] as reached through the queue it is in: only [`Queue::iter`] and
/// [`Queue::retain`] hand these out, borrowing the queue, so whoever holds one holds the
/// queue's lock and the entry is linked.
#[repr(transparent)]
pub(crate) struct LinkedEntry<W>(WaitEntry<W>);

impl<W> LinkedEntry<W> {
    /// # Safety
    ///
    /// `entry` is in a queue, which the returned borrow must not outlive.
    unsafe fn from_entry(entry: &WaitEntry<W>) -> &Self {
        // SAFETY: `LinkedEntry` is a transparent wrapper of `WaitEntry`.
        unsafe { &*core::ptr::from_ref(entry).cast::<Self>() }
    }

    pub(crate) fn waiter(&self) -> &W {
        // SAFETY: The entry is linked, and by the type invariant of `WaitEntry` its waiter is
        // alive until the entry leaves its queue, which takes the queue's lock: the caller
        // holds it for as long as it borrows `self`.
        unsafe { self.0.waiter.get().as_ref() }
    }

    /// What the waiter reports when this queue's object satisfies it.
    pub(crate) fn index(&self) -> u32 {
        self.0.index.get()
    }
}

/// Waiters queued on one object, oldest first. A queue stays where it is made, in its object.
///
/// Only the oldest entry is kept here: the entries form a ring, so the newest is the oldest's
/// `prev`. One pointer per queue keeps an object, which has two queues, as small as the C
/// driver's, however many objects a program opens.
///
/// # Invariants
///
/// `head` is `None` when the queue is empty, and otherwise the oldest of a ring of linked
/// [`WaitEntry`]s, each in this queue and no other.
pub(crate) struct Queue<W> {
    head: Option<Link<W>>,
}

/// An entry's place in a ring: its neighbours, and a queue's oldest.
type Link<W> = NonNull<WaitEntry<W>>;

// SAFETY: The queue and its entries are only touched by whoever holds the lock that guards the
// queue, whichever task that is, and a `LinkedEntry` gives no more than a `&W`, which is `Sync`.
unsafe impl<W: Sync> Send for Queue<W> {}

// SAFETY: A shared queue only reads its entries' links, which nobody writes meanwhile: that
// takes `&mut Queue`; and it gives no more than a `&W`, which is `Sync`.
unsafe impl<W: Sync> Sync for Queue<W> {}

impl<W> Queue<W> {
    pub(crate) const fn new() -> Self {
        // INVARIANT: Empty.
        Self { head: None }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Queues `entry` at the tail, for `waiter` to report `index`.
    ///
    /// # Safety
    ///
    /// `entry` must be in no queue, and `entry` and `waiter` must stay where they are, alive,
    /// until the entry has been taken out of this queue again, under the lock that guards it.
    /// Whatever `waiter` borrows must live as long too.
    pub(crate) unsafe fn push_back(
        &mut self,
        entry: &WaitEntry<W>,
        waiter: NonNull<W>,
        index: u32,
    ) {
        let ptr = NonNull::from(entry);
        debug_assert!(!entry.linked.get());
        entry.waiter.set(waiter);
        entry.index.set(index);
        entry.linked.set(true);
        #[cfg(debug_assertions)]
        entry.queue.set(self);
        let Some(head) = self.head else {
            entry.prev.set(ptr);
            entry.next.set(ptr);
            // INVARIANT: A ring of one; the caller keeps `entry` alive and in place.
            self.head = Some(ptr);
            return;
        };
        // SAFETY: By the type invariant the head is a live entry of this queue, and so is its
        // `prev`, the tail.
        let (head, tail) = unsafe { (head.as_ref(), head.as_ref().prev.get().as_ref()) };
        entry.prev.set(NonNull::from(tail));
        entry.next.set(NonNull::from(head));
        tail.next.set(ptr);
        // INVARIANT: `entry` is the new tail, between the old one and the head; the caller
        // keeps it alive and in place.
        head.prev.set(ptr);
    }

    /// Takes `entry` out of the queue if it is still in it (whoever satisfied its waiter may
    /// have taken it out already); returns whether it was.
    ///
    /// # Safety
    ///
    /// `entry` was queued, if ever, in this queue only.
    pub(crate) unsafe fn remove(&mut self, entry: &WaitEntry<W>) -> bool {
        if !entry.linked.get() {
            return false;
        }
        #[cfg(debug_assertions)]
        assert!(
            core::ptr::eq(entry.queue.get(), self),
            "a wait entry taken out of a queue it is not in"
        );
        self.unlink(entry);
        true
    }

    /// Takes out `entry`, which is in this queue.
    fn unlink(&mut self, entry: &WaitEntry<W>) {
        let ptr = NonNull::from(entry);
        let (prev, next) = (entry.prev.get(), entry.next.get());
        if next == ptr {
            // INVARIANT: It was alone.
            self.head = None;
        } else {
            // SAFETY: By the type invariant the neighbours of an entry are live entries of
            // this queue.
            unsafe {
                prev.as_ref().next.set(next);
                next.as_ref().prev.set(prev);
            }
            if self.head == Some(ptr) {
                // INVARIANT: The next oldest leads now.
                self.head = Some(next);
            }
        }
        // INVARIANT: The ring goes around the entry, which no longer counts as queued.
        entry.linked.set(false);
    }

    /// The first entry and the last, if any.
    fn ends(&self) -> Option<(Link<W>, Link<W>)> {
        let head = self.head?;
        // SAFETY: By the type invariant the head is a live entry of this queue.
        Some((head, unsafe { head.as_ref() }.prev.get()))
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LinkedEntry<W>> {
        let mut ends = self.ends();
        core::iter::from_fn(move || {
            let (next, tail) = ends?;
            // SAFETY: By the type invariant every entry of the ring is live while it is in
            // the queue, which the borrow of `self` keeps unchanged.
            let entry = unsafe { next.as_ref() };
            ends = (next != tail).then(|| (entry.next.get(), tail));
            // SAFETY: The entry is in this queue, which the item borrows.
            Some(unsafe { LinkedEntry::from_entry(entry) })
        })
    }

    /// Shows the entries to `keep`, oldest first, and takes out those for which it returns
    /// `Continue(false)`; stops at the first for which it returns `Break`, leaving that one
    /// and the rest untouched.
    pub(crate) fn retain(
        &mut self,
        mut keep: impl FnMut(&LinkedEntry<W>) -> ControlFlow<(), bool>,
    ) {
        // The tail stays the tail until the loop reaches it: only the entry at hand is ever
        // taken out.
        let Some((mut next, tail)) = self.ends() else {
            return;
        };
        loop {
            // SAFETY: By the type invariant every entry of the ring is live while it is in
            // the queue; only this loop takes entries out meanwhile, after moving past them.
            let entry = unsafe { next.as_ref() };
            let last = next == tail;
            next = entry.next.get();
            // SAFETY: The entry is in this queue, and `keep` borrows it for the call only.
            match keep(unsafe { LinkedEntry::from_entry(entry) }) {
                ControlFlow::Continue(true) => {}
                ControlFlow::Continue(false) => self.unlink(entry),
                ControlFlow::Break(()) => break,
            }
            if last {
                break;
            }
        }
    }
}

#[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
#[kernel::macros::kunit_tests(ntsync_rs_queue)]
mod tests {
    use super::*;
    use kernel::prelude::*;

    /// Queues fresh `entries` on `queue`, each for its waiter and index.
    ///
    /// # Safety
    ///
    /// The entries and waiters must stay where they are until the queue is gone.
    unsafe fn queue_in<W>(queue: &mut Queue<W>, entries: &[(&WaitEntry<W>, &W, u32)]) {
        for &(entry, waiter, index) in entries {
            // SAFETY: The entry is fresh, and the caller keeps it and the waiter in place.
            unsafe { queue.push_back(entry, NonNull::from(waiter), index) };
        }
    }

    #[test]
    fn a_queue_keeps_order_and_takes_out_anywhere() -> Result {
        // Stand-ins for waiters: a queue only points to them.
        let (a, b, c) = (1u32, 2u32, 3u32);
        let (ea, eb, ec) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let at = |w: &u32| core::ptr::from_ref(w);
        let order = |queue: &Queue<u32>| -> KVec<*const u32> {
            let mut out = KVec::new();
            for entry in queue.iter() {
                let _ = out.push(at(entry.waiter()), GFP_KERNEL);
            }
            out
        };
        let mut queue = Queue::new();
        // SAFETY: The queue goes first, declared after the entries and waiters.
        unsafe { queue_in(&mut queue, &[(&ea, &a, 0), (&eb, &b, 1), (&ec, &c, 2)]) };
        assert_eq!(order(&queue)[..], [at(&a), at(&b), at(&c)]);
        // SAFETY: `eb` went into this queue only.
        assert!(unsafe { queue.remove(&eb) });
        // SAFETY: As above; it is out already.
        assert!(!unsafe { queue.remove(&eb) });
        assert_eq!(order(&queue)[..], [at(&a), at(&c)]);
        queue.retain(|entry| ControlFlow::Continue(entry.index() != 2));
        assert_eq!(order(&queue)[..], [at(&a)]);
        // SAFETY: `eb` is in no queue, and it and `b` outlive the queue.
        unsafe { queue.push_back(&eb, NonNull::from(&b), 5) };
        assert_eq!(order(&queue)[..], [at(&a), at(&b)]);
        queue.retain(|entry| ControlFlow::Continue(entry.index() != 0));
        assert_eq!(order(&queue)[..], [at(&b)]);
        assert_eq!(queue.iter().map(|entry| entry.index()).next(), Some(5));
        // SAFETY: `eb` is in this queue.
        assert!(unsafe { queue.remove(&eb) });
        assert!(queue.is_empty());
        // SAFETY: `ea` and `eb` are in no queue, and they, `a` and `b` outlive the queue.
        unsafe {
            queue.push_back(&ea, NonNull::from(&a), 7);
            queue.push_back(&eb, NonNull::from(&b), 8);
        }
        assert_eq!(order(&queue)[..], [at(&a), at(&b)]);
        queue.retain(|_| ControlFlow::Continue(false));
        assert!(queue.is_empty());
        Ok(())
    }
}
