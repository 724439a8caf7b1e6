// SPDX-License-Identifier: GPL-2.0

//! `NTSYNC_IOC_WAIT_ANY` and `NTSYNC_IOC_WAIT_ALL`: the waiter that objects hand themselves
//! to, the wake-up rules, and the queueing that every exit path undoes.

use crate::ffi::task::{
    sleep_until,
    Clock,
    Wakeup, //
};
use crate::ffi::uaccess::put_user_u32;
use crate::{
    device::{
        Device,
        WaitAll, //
    },
    file::ObjectRef,
    object::{
        read_user,
        Object, //
    },
    queue::{
        LinkedEntry,
        Queue,
        WaitEntry, //
    },
    state::State,
    uapi, //
};
use core::{
    cell::Cell,
    marker::PhantomPinned,
    ops::ControlFlow,
    pin::Pin, //
};
use kernel::{
    fmt,
    prelude::*,
    sync::atomic::{
        Atomic,
        Full,
        Relaxed, //
    },
    task::Task,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// Nobody has satisfied the waiter yet.
const UNCLAIMED: i32 = -1;

/// Room for every object a wait may name, and its alert.
const SLOTS: usize = uapi::MAX_WAIT_COUNT + 1;

/// The objects a wait names, then its alert event if it has one; each kept alive for the
/// whole wait, so closing an fd meanwhile is harmless. `R` is an array of slots, a few more
/// than the wait names at most (see [`wait`]), or a slice of them.
///
/// # Invariants
///
/// `refs[..len]` are `Some`, the rest `None`; `count <= len <= count + 1`.
pub(crate) struct Objects<R: ?Sized = [Option<ObjectRef>]> {
    len: usize,
    /// How many precede the alert.
    count: usize,
    refs: R,
}

/// `N` slots of objects, on the stack or in a waiter.
type Slots<const N: usize> = Objects<[Option<ObjectRef>; N]>;

impl<const N: usize> Slots<N> {
    /// The objects, then the alert; at most `N`.
    #[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
    fn from_iter(objs: impl Iterator<Item = ObjectRef>, count: usize) -> Self {
        let mut refs = [const { None }; N];
        let mut len = 0;
        for (slot, obj) in refs.iter_mut().zip(objs) {
            *slot = Some(obj);
            len += 1;
        }
        // INVARIANT: The first `len` slots were filled.
        Self { refs, len, count }
    }

    /// No objects yet, written where they will stay.
    fn empty_in_place() -> impl Init<Self, Error> {
        // INVARIANT: None filled.
        try_init!(Self {
            len: 0,
            count: 0,
            refs <- pin_init::init_array_from_fn(|_| None),
        }? Error)
    }

    /// No objects yet.
    fn empty() -> Self {
        // INVARIANT: None filled.
        Self {
            len: 0,
            count: 0,
            refs: [const { None }; N],
        }
    }
}

/// How many fds a wait copies in at a time: a full request's 64 would take a quarter of a
/// kilobyte of stack.
const FD_CHUNK: usize = 16;

impl<const N: usize> Slots<N> {
    /// Checks a wait request and resolves its fds, then the alert, into objects of `dev`, in
    /// these slots, empty so far, which must have room for all of them if the request is valid.
    #[inline(always)]
    fn fill_from_user(&mut self, dev: &Device, args: &uapi::WaitArgs, all: bool) -> Result {
        if args.pad != 0 || args.flags & !uapi::WAIT_REALTIME != 0 || args.owner == 0 {
            return Err(EINVAL);
        }
        let count = args.count as usize;
        if count > uapi::MAX_WAIT_COUNT {
            return Err(EINVAL);
        }
        self.count = count;
        let mut reader = UserSlice::new(
            UserPtr::from_addr(args.objs as usize),
            count * size_of::<u32>(),
        )
        .reader();
        if N <= FD_CHUNK {
            // Sized for the request: one copy.
            let mut fds = [[0u8; size_of::<u32>()]; N];
            let fds = fds.as_flattened_mut();
            let fds = fds.get_mut(..count * size_of::<u32>()).ok_or(EINVAL)?;
            reader.read_slice(fds)?;
            for b in fds.chunks_exact(size_of::<u32>()) {
                self.push_fd(dev, u32::from_ne_bytes([b[0], b[1], b[2], b[3]]), all)?;
            }
        } else {
            // A fault anywhere in the array wins over a bad fd, whatever their order, as when
            // the array is copied in one piece: the first bad fd is only reported at the end.
            let mut resolved = Ok(());
            let mut left = count;
            while left > 0 {
                let n = left.min(FD_CHUNK);
                let mut chunk = [[0u8; size_of::<u32>()]; FD_CHUNK];
                let chunk = &mut chunk.as_flattened_mut()[..n * size_of::<u32>()];
                reader.read_slice(chunk)?;
                left -= n;
                for b in chunk.chunks_exact(size_of::<u32>()) {
                    if resolved.is_err() {
                        break;
                    }
                    resolved = self.push_fd(dev, u32::from_ne_bytes([b[0], b[1], b[2], b[3]]), all);
                }
            }
            resolved?;
        }
        if args.alert != 0 {
            self.push_fd(dev, args.alert, all)?;
        }
        Ok(())
    }

    /// Resolves `fd` into the next slot.
    #[inline(always)]
    fn push_fd(&mut self, dev: &Device, fd: u32, all: bool) -> Result {
        let obj = ObjectRef::from_fd(fd).ok_or(EINVAL)?;
        if !core::ptr::eq(&*obj.dev, dev) {
            return Err(EINVAL);
        }
        // Acquiring all at once needs distinct objects, the alert included.
        if all && self.iter().any(|(_, o)| core::ptr::eq(o, &*obj)) {
            return Err(EINVAL);
        }
        // INVARIANT: Filled in order, after the `len` filled before.
        *self.refs.get_mut(self.len).ok_or(EINVAL)? = Some(obj);
        self.len += 1;
        Ok(())
    }
}

impl<const N: usize> core::ops::Deref for Objects<[Option<ObjectRef>; N]> {
    type Target = Objects;

    fn deref(&self) -> &Objects {
        self
    }
}

impl Objects {
    /// Every object with the index a wait reports for it, the alert last.
    fn iter(&self) -> impl Iterator<Item = (u32, &Object)> {
        (0u32..).zip(self.refs[..self.len].iter().flatten().map(|obj| &**obj))
    }

    /// The object at position `i`, the alert's included.
    fn object(&self, i: usize) -> Option<&Object> {
        self.refs[..self.len].get(i)?.as_deref()
    }

    /// The object, when the wait names only one and no alert.
    fn single(&self) -> Option<&Object> {
        match &self.refs[..self.len] {
            [Some(obj)] if self.count == 1 => Some(obj),
            _ => None,
        }
    }

    /// The objects without the alert.
    fn objects(&self) -> impl Iterator<Item = &Object> {
        self.refs[..self.count].iter().flatten().map(|obj| &**obj)
    }

    fn alert(&self) -> Option<&Object> {
        self.refs[self.count..self.len]
            .iter()
            .flatten()
            .map(|obj| &**obj)
            .next()
    }
}

/// The absolute time at which a wait gives up, as user space gave it.
#[derive(Clone, Copy)]
struct Deadline {
    clock: Clock,
    ns: i64,
}

impl Deadline {
    fn from_args(args: &uapi::WaitArgs) -> Option<Self> {
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

/// One blocked wait call. It lives inside the [`Queued`] that puts it on its objects' queues,
/// in the waiting task's stack frame (on the heap for the largest waits).
///
/// Several objects may try to satisfy the same waiter at once; `claimed` decides which one
/// does. Only whoever moves it away from [`UNCLAIMED`] changes object state on the waiter's
/// behalf and wakes the task, so a wait-any acquires exactly one object and a wait-all all of
/// them exactly once.
pub(crate) struct Waiter<'a> {
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
    objs: &'a Objects,
}

impl<'a> Waiter<'a> {
    fn new(
        task: &'a Task,
        owner: u32,
        all: bool,
        deadline: Option<Deadline>,
        objs: &'a Objects,
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

    /// One line for the debugfs view: who waits, how, on which objects and until when.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.all { "all" } else { "any" };
        write!(
            f,
            "waiter tid {} owner {}: wait-{kind} on objects",
            self.task.pid(),
            self.owner
        )?;
        for obj in self.objs.objects() {
            write!(f, " {}", obj.id)?;
        }
        if let Some(alert) = self.objs.alert() {
            write!(f, ", alert {}", alert.id)?;
        }
        match self.deadline {
            None => write!(f, ", no deadline")?,
            Some(Deadline { clock, ns }) => {
                let clock = match clock {
                    Clock::Monotonic => "monotonic",
                    Clock::Realtime => "realtime",
                };
                write!(f, ", deadline {clock} {ns} ns")?
            }
        }
        if let Some(index) = self.claimed_index() {
            write!(f, ", satisfied with index {index}")?;
        }
        writeln!(f)
    }

    fn claimed_index(&self) -> Option<u32> {
        let index = self.claimed.load(Relaxed);
        (index != UNCLAIMED).then_some(index as u32)
    }

    /// Claims the waiter for reporting `index`; false when someone else was first.
    fn try_claim(&self, index: u32) -> bool {
        self.claimed.cmpxchg(UNCLAIMED, index as i32, Full).is_ok()
    }

    /// Acquires `state` for the claimed waiter.
    fn acquire(&self, state: &mut State) {
        if state.acquire(self.owner) {
            self.abandoned.store(true, Relaxed);
        }
    }
}

const _: () = {
    const fn sync<T: Sync>() {}
    sync::<Waiter<'static>>();
};

impl LinkedEntry {
    /// The waiter's line in the debugfs view.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.waiter().describe(f)
    }

    /// Whether this entry, in `obj`'s queues, is the waiter's first: a waiter has an entry on
    /// each of its objects, and a wait-any may name one object more than once, but a listing
    /// of every queue should show it once.
    pub(crate) fn is_first(&self, obj: &Object) -> bool {
        self.index() == 0
            && self
                .waiter()
                .objs
                .iter()
                .next()
                .is_some_and(|(_, first)| core::ptr::eq(first, obj))
    }
}

/// Offers the object with `state` to its queued wait-any `waiters`, oldest first. Runs with
/// the object locked.
///
/// Every entry of a satisfied waiter that the pass looks at leaves the queue here, so that
/// later passes need not look at it again. The pass ends as soon as no waiter at all could
/// acquire the object: a change that wakes nobody, or the last unit handed out, then costs
/// nothing per waiter still queued, however many a thread pool parks on the object.
pub(crate) fn wake_any(state: &mut State, waiters: &mut Queue) {
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

/// Offers `obj`, which the holder of the wait-all lock has dev-locked and changed, to its
/// wait-all waiters.
pub(crate) fn wake_all(all: &WaitAll, obj: &Object) {
    for entry in obj.all_waiters.access(all).iter() {
        try_wake_all(all, entry.waiter(), Some(obj));
    }
}

/// Acquires all objects of the wait-all `waiter` as one step if every one is signaled for it.
/// `locked` is already dev-locked by the caller.
fn try_wake_all(all: &WaitAll, waiter: &Waiter<'_>, locked: Option<&Object>) {
    // One satisfied but not yet gone costs no look at its objects.
    if waiter.claimed_index().is_some() {
        return;
    }
    let first = waiter.blocker.load(Relaxed) as usize;
    match acquire_all(all, waiter.objs, waiter.owner, locked, first, || {
        waiter.try_claim(0)
    }) {
        Ok(abandoned) => {
            if abandoned {
                waiter.abandoned.store(true, Relaxed);
            }
            waiter.task.wake_up();
        }
        Err(Some(blocker)) => waiter.blocker.store(blocker as u32, Relaxed),
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
    objs: &Objects,
    owner: u32,
    locked: Option<&Object>,
    first: usize,
    claim: impl FnOnce() -> bool,
) -> Result<bool, Option<usize>> {
    let ours = |obj: &Object| !locked.is_some_and(|l| core::ptr::eq(obj, l));
    let count = objs.count;
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

/// A waiter queued on its objects, with its place in each queue: entry `i` is for the `i`th
/// object of `Objects::iter`. Dropping it takes the waiter off every queue it reached, on
/// every return path; as the queues point into it, it must stay pinned until then.
///
/// Other tasks may still hold a `&Waiter` or a `&LinkedEntry` while `drop` runs (until `leave`
/// has taken their lock): `PhantomPinned` makes the type `!Unpin`, so that the `Pin<&mut Self>`
/// there asserts no uniqueness.
#[pin_data(PinnedDrop)]
struct Queued<'a, const N: usize> {
    dev: &'a Device,
    #[pin]
    waiter: Waiter<'a>,
    #[pin]
    entries: [WaitEntry; N],
    /// How many entries, from the first, the enqueueing queued.
    reached: Cell<usize>,
    #[pin]
    _pin: PhantomPinned,
}

impl<'a, const N: usize> Queued<'a, N> {
    /// Initialised in place: the entries of the largest waits take kilobytes.
    fn new(dev: &'a Device, waiter: Waiter<'a>) -> impl PinInit<Self> {
        pin_init!(Self {
            dev,
            waiter,
            entries <- pin_init::init_array_from_fn(|_| WaitEntry::new()),
            reached: Cell::new(0),
            _pin: PhantomPinned,
        })
    }

    /// Queues the next entry on `queue`, reporting `index`; false if there is no entry left,
    /// which `Objects::fill_from_user` rules out. The caller holds the lock that guards `queue`.
    ///
    /// # Safety
    ///
    /// `queue` is the one that [`Queued::leave`] takes the entry out of: entry `i` is for the
    /// `i`th object of `Objects::iter`, on its wait-any queue, except that a wait-all's
    /// objects are queued on their wait-all queues.
    unsafe fn push(self: Pin<&Self>, queue: &mut Queue, index: u32) -> bool {
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
        // queue's lock, as the caller guarantees.
        unsafe { queue.push_back(entry, &this.waiter, index) };
        this.reached.set(reached + 1);
        true
    }

    /// Queues the waiter, as far as it is not yet, and hands it whatever is already signaled.
    fn enqueue(self: Pin<&Self>) {
        let waiter = &self.waiter;
        if waiter.all {
            if self.reached.get() == 0 {
                self.enqueue_all(&mut self.dev.wait_all.lock());
            }
            // The objects come before the alert: it is offered only after they were.
            if let Some(alert) = waiter.objs.alert() {
                if waiter.claimed_index().is_none() {
                    alert.lock().wake_any();
                }
            }
            return;
        }
        // Queueing in array order and offering each object as it is reached makes the lowest
        // signaled index win, objects before the alert; once satisfied, the rest need no
        // queueing.
        for i in self.reached.get()..waiter.objs.len {
            let Some(obj) = waiter.objs.object(i) else {
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
    fn enqueue_all(self: Pin<&Self>, all: &mut WaitAll) {
        let waiter = &self.waiter;
        for obj in waiter.objs.objects() {
            // SAFETY: The next entry is for this object, a wait-all's.
            if unsafe { self.push(obj.all_waiters.access_mut(all), 0) } {
                all.entries += 1;
                obj.count_all_waiter(all, true);
            }
        }
        if let Some(alert) = waiter.objs.alert() {
            let index = waiter.objs.count as u32;
            // SAFETY: The next entry, after the objects', is for the alert.
            unsafe { self.push(&mut alert.lock_held(all).any_waiters, index) };
        }
        try_wake_all(all, waiter, None);
    }

    /// Takes the waiter off every queue it reached, unless whoever satisfied it already took
    /// an entry out. Whoever did so held the lock of that queue and is done with the waiter
    /// once the lock is released, which is why this takes every lock all the same: from here
    /// on the waiter is the caller's alone.
    fn leave(&self) {
        let waiter = &self.waiter;
        let reached = self.reached.replace(0);
        let mut entries = self.entries.iter().take(reached);
        if !waiter.all {
            for (i, entry) in entries.enumerate() {
                if let Some(obj) = waiter.objs.object(i) {
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
        for (obj, entry) in waiter.objs.objects().zip(entries.by_ref()) {
            // SAFETY: The entry was queued, if ever, on this object's wait-all queue.
            if unsafe { obj.all_waiters.access_mut(&mut all).remove(entry) } {
                all.entries -= 1;
                obj.count_all_waiter(&all, false);
            }
        }
        if let (Some(alert), Some(entry)) = (waiter.objs.alert(), entries.next()) {
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

/// What a wait acquired.
struct Acquired {
    index: u32,
    abandoned: bool,
}

/// Queues the waiter, as far as the caller did not, and sleeps until it is satisfied, the
/// deadline passes or a signal arrives.
fn sleep<const N: usize>(queued: Pin<&Queued<'_, N>>) -> Result<Acquired> {
    queued.enqueue();
    let waiter = &queued.waiter;
    let done = || waiter.claimed_index().is_some();
    let (deadline, clock) = match waiter.deadline {
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
            abandoned: waiter.abandoned.load(Relaxed),
        });
    }
    Err(if wakeup == Wakeup::Interrupted {
        ERESTARTSYS
    } else {
        ETIMEDOUT
    })
}

/// Acquires the first signaled object, sleeping until there is one if need be.
fn wait_any<const N: usize>(
    dev: &Device,
    objs: &Slots<N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
    // Only a one-slot wait can name a single object; larger ones need not look.
    if N == 1 {
        if let Some(obj) = objs.single() {
            return wait_one(dev, objs, obj, args);
        }
    }
    // Most waits find an object already signaled: take it without a waiter or any queueing.
    for (index, obj) in objs.iter() {
        let mut inner = obj.lock();
        if inner.state.is_signaled(args.owner) {
            return Ok(Acquired {
                index,
                abandoned: inner.state.acquire(args.owner),
            });
        }
    }
    let task = kernel::current!();
    let waiter = Waiter::new(task, args.owner, false, Deadline::from_args(args), objs);
    with_queued::<N, _>(dev, waiter, sleep)
}

/// [`wait_any`] for `obj`, the only object of `objs`. If it is not signaled, the waiter
/// queues in the same section: nothing can have signaled it in between, so it need not be
/// offered, and the wait costs one trip to the object less.
#[inline(always)]
fn wait_one(dev: &Device, objs: &Objects, obj: &Object, args: &uapi::WaitArgs) -> Result<Acquired> {
    let mut inner = obj.lock();
    if inner.state.is_signaled(args.owner) {
        return Ok(Acquired {
            index: 0,
            abandoned: inner.state.acquire(args.owner),
        });
    }
    let task = kernel::current!();
    let waiter = Waiter::new(task, args.owner, false, Deadline::from_args(args), objs);
    pin_init::stack_pin_init!(let queued = Queued::<1>::new(dev, waiter));
    let queued = queued.into_ref();
    // SAFETY: The only entry is for the only object.
    unsafe { queued.push(&mut inner.any_waiters, 0) };
    // Unlocked before anything can return: `queued` leaves its queue, under this lock, when
    // it goes.
    drop(inner);
    sleep(queued)
}

/// Acquires all objects at once, or the alert, sleeping until one of them is possible.
fn wait_all<const N: usize>(
    dev: &Device,
    objs: &Slots<N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
    let task = kernel::current!();
    let waiter = |first| {
        let waiter = Waiter::new(task, args.owner, true, Deadline::from_args(args), objs);
        // The next check starts where this one failed.
        waiter.blocker.store(first as u32, Relaxed);
        waiter
    };
    if N > STACK_SLOTS {
        // Only a wait that must sleep pays for the allocation.
        let first = match take_all(&dev.wait_all.lock(), objs, args.owner) {
            Ok(acquired) => return Ok(acquired),
            Err(first) => first,
        };
        return with_queued::<N, _>(dev, waiter(first), |queued| {
            // Whatever was signaled meanwhile is still offered: the objects by `enqueue_all`,
            // the alert by `sleep`.
            queued.enqueue_all(&mut dev.wait_all.lock());
            sleep(queued)
        });
    }
    let mut all = dev.wait_all.lock();
    let first = match take_all(&all, objs, args.owner) {
        Ok(acquired) => return Ok(acquired),
        Err(first) => first,
    };
    // Still the holder, so that queueing costs no second trip.
    pin_init::stack_pin_init!(let queued = Queued::<N>::new(dev, waiter(first)));
    let queued = queued.into_ref();
    queued.enqueue_all(&mut all);
    drop(all);
    sleep(queued)
}

/// Most wait-alls find everything signaled, or else their alert: takes that, as the holder of
/// the wait-all lock, without any queueing. As when queued, the objects come before the alert.
/// Otherwise returns the position of the object found unsignaled.
fn take_all(all: &WaitAll, objs: &Objects, owner: u32) -> Result<Acquired, usize> {
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
        index: objs.count as u32,
        abandoned: inner.state.acquire(owner),
    })
}

/// Waits with more slots than this keep their [`Queued`] on the heap rather than on the
/// kernel stack, where its entries would take more than a kilobyte; only a wait that sleeps
/// allocates it.
const STACK_SLOTS: usize = 4;

/// Runs `f` with `waiter` made into a [`Queued`] with `N` entries, pinned in this frame or, for
/// the largest waits, on the heap.
fn with_queued<'a, const N: usize, R>(
    dev: &'a Device,
    waiter: Waiter<'a>,
    f: impl FnOnce(Pin<&Queued<'a, N>>) -> Result<R>,
) -> Result<R> {
    if N > STACK_SLOTS {
        let queued = KBox::pin_init(Queued::new(dev, waiter), GFP_KERNEL)?;
        f(queued.as_ref())
    } else {
        pin_init::stack_pin_init!(let queued = Queued::new(dev, waiter));
        f(queued.into_ref())
    }
}

/// A wait with room for `N` objects. Each size in a frame of its own, so that the stack a
/// wait takes is that of its size only; the slots of the largest, half a kilobyte, go on the
/// heap.
#[inline(never)]
fn wait_in<const N: usize>(dev: &Device, args: &uapi::WaitArgs, all: bool) -> Result<Acquired> {
    let run = |objs: &mut Slots<N>| {
        objs.fill_from_user(dev, args, all)?;
        if all {
            wait_all(dev, objs, args)
        } else {
            wait_any(dev, objs, args)
        }
    };
    if N > 2 * FD_CHUNK {
        run(&mut *KBox::init(Slots::<N>::empty_in_place(), GFP_KERNEL)?)
    } else {
        run(&mut Slots::<N>::empty())
    }
}

/// `NTSYNC_IOC_WAIT_ANY` (`all` false) and `NTSYNC_IOC_WAIT_ALL`: acquires the first
/// signaled object, or all objects at once, sleeping until that is possible, the alert is
/// signaled, the deadline passes or a signal arrives. Only `index` is written back.
pub(crate) fn wait(dev: &Device, arg: usize, all: bool) -> Result<isize> {
    let args: uapi::WaitArgs = read_user(arg)?;
    // Most waits name one or two objects. Sizing the stack copy and the waiter for the
    // request keeps a small wait from setting up, moving and allocating room for 65.
    let slots = (args.count as usize).saturating_add(usize::from(args.alert != 0));
    let acquired = match slots {
        0..=1 => wait_in::<1>(dev, &args, all),
        2 => wait_in::<2>(dev, &args, all),
        3..=4 => wait_in::<4>(dev, &args, all),
        5..=8 => wait_in::<8>(dev, &args, all),
        9..=16 => wait_in::<16>(dev, &args, all),
        _ => wait_in::<SLOTS>(dev, &args, all),
    }?;
    put_user_u32(
        UserPtr::from_addr(arg + uapi::WAIT_INDEX_OFFSET),
        acquired.index,
    )?;
    if acquired.abandoned {
        return Err(EOWNERDEAD);
    }
    Ok(0)
}

#[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
#[kunit_tests(ntsync_rs_wait)]
mod tests {
    use super::*;
    use crate::{
        event::Event,
        mutex::Mutex,
        sem::Semaphore, //
    };
    use kernel::list::ListArc;

    /// Nothing to wait for: these waiters are offered objects by hand.
    const NONE: Slots<1> = Objects {
        len: 0,
        count: 0,
        refs: [None],
    };

    fn waiter(task: &Task, owner: u32) -> Waiter<'_> {
        Waiter::new(task, owner, false, None, &NONE)
    }

    /// Queues fresh `entries` on `queue`, each for its waiter and index.
    ///
    /// # Safety
    ///
    /// The entries and waiters must stay where they are until the queue is gone.
    unsafe fn queue_in(queue: &mut Queue, entries: &[(&WaitEntry, &Waiter<'_>, u32)]) {
        for &(entry, waiter, index) in entries {
            // SAFETY: The entry is fresh, and the caller keeps it and the waiter in place.
            unsafe { queue.push_back(entry, waiter, index) };
        }
    }

    fn waiters_in(queue: &Queue) -> KVec<*const Waiter<'_>> {
        let mut out = KVec::new();
        for entry in queue.iter() {
            let _ = out.push(core::ptr::from_ref(entry.waiter()), GFP_KERNEL);
        }
        out
    }

    fn sem_count(obj: &Object) -> u32 {
        match &obj.lock().state {
            State::Sem(sem) => sem.count(),
            _ => u32::MAX,
        }
    }

    #[test]
    fn one_unit_satisfies_the_oldest_waiter_only() -> Result {
        let task = kernel::current!();
        let (a, b) = (waiter(task, 1), waiter(task, 2));
        let (ea, eb) = (WaitEntry::new(), WaitEntry::new());
        let mut queue = Queue::new();
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
        assert_eq!(waiters_in(&queue)[..], [core::ptr::from_ref(&b)]);
        Ok(())
    }

    #[test]
    fn a_wake_stops_where_no_one_could_acquire() -> Result {
        let task = kernel::current!();
        let (gone, first, second) = (waiter(task, 1), waiter(task, 2), waiter(task, 3));
        let (eg, ef, es) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let mut queue = Queue::new();
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
        assert_eq!(waiters_in(&queue)[..], [core::ptr::from_ref(&second)]);
        Ok(())
    }

    #[test]
    fn a_mutex_skips_other_owners_and_reports_abandonment() -> Result {
        let task = kernel::current!();
        let (other, killer) = (waiter(task, 2), waiter(task, 7));
        let (eo, ek, el) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let mut queue = Queue::new();
        // SAFETY: The queue goes first, declared after the entries and waiters.
        unsafe { queue_in(&mut queue, &[(&eo, &other, 0), (&ek, &killer, 1)]) };
        let mut mutex = Mutex::new(7, 1).ok_or(EINVAL)?;
        let mut state = State::Mutex(mutex);
        wake_any(&mut state, &mut queue);
        assert_eq!(other.claimed_index(), None);
        assert_eq!(killer.claimed_index(), Some(1));
        assert!(!killer.abandoned.load(Relaxed));

        assert_eq!(mutex.kill(7), Ok(()));
        let late = waiter(task, 9);
        let mut state = State::Mutex(mutex);
        let mut queue = Queue::new();
        // SAFETY: The queue goes first, declared after the entry and the waiter.
        unsafe { queue_in(&mut queue, &[(&el, &late, 4)]) };
        wake_any(&mut state, &mut queue);
        assert_eq!(late.claimed_index(), Some(4));
        assert!(late.abandoned.load(Relaxed));
        assert_eq!(state, State::Mutex(Mutex::new(9, 1).ok_or(EINVAL)?));
        Ok(())
    }

    #[test]
    fn a_queue_keeps_order_and_takes_out_anywhere() -> Result {
        let task = kernel::current!();
        let (a, b, c) = (waiter(task, 1), waiter(task, 2), waiter(task, 3));
        let (ea, eb, ec) = (WaitEntry::new(), WaitEntry::new(), WaitEntry::new());
        let at = |w: &Waiter<'_>| core::ptr::from_ref(w).cast::<()>();
        let order = |queue: &Queue| -> KVec<*const ()> {
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
        unsafe { queue.push_back(&eb, &b, 5) };
        assert_eq!(order(&queue)[..], [at(&a), at(&b)]);
        queue.retain(|entry| ControlFlow::Continue(entry.index() != 0));
        assert_eq!(order(&queue)[..], [at(&b)]);
        assert_eq!(queue.iter().map(|entry| entry.index()).next(), Some(5));
        // SAFETY: `eb` is in this queue.
        assert!(unsafe { queue.remove(&eb) });
        assert!(queue.is_empty());
        // SAFETY: `ea` and `eb` are in no queue, and they, `a` and `b` outlive the queue.
        unsafe {
            queue.push_back(&ea, &a, 7);
            queue.push_back(&eb, &b, 8);
        }
        assert_eq!(order(&queue)[..], [at(&a), at(&b)]);
        queue.retain(|_| ControlFlow::Continue(false));
        assert!(queue.is_empty());
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

    /// Runs `test` on a wait-all by owner 1, queued on `objs` of `dev`: the first `count` as
    /// its objects, the other as its alert. Then the waiter must leave every queue, and the
    /// files made for the wait are released at once, not to keep the module busy.
    fn with_wait_all(
        dev: &Device,
        objs: [ListArc<Object>; 2],
        count: usize,
        test: impl FnOnce(&Waiter<'_>, &Object, &Object) -> Result,
    ) -> Result {
        let result = (|| {
            let [first, second] = objs;
            let files = [ObjectRef::new_file(first)?, ObjectRef::new_file(second)?];
            let objs = Slots::<2>::from_iter(files.into_iter(), count);
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
