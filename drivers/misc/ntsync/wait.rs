// SPDX-License-Identifier: GPL-2.0

//! `NTSYNC_IOC_WAIT_ANY` and `NTSYNC_IOC_WAIT_ALL`: the waiter that objects hand themselves
//! to, the wake-up rules, and the queueing that every exit path undoes.

use crate::{
    device::{
        Device,
        WaitAll, //
    },
    ffi::{
        self,
        Clock,
        ObjectRef,
        Wakeup, //
    },
    object::{
        read_user,
        Inner,
        Object, //
    },
    state::State,
    uapi, //
};
use core::{
    cell::Cell,
    marker::PhantomPinned,
    pin::Pin,
    ptr::NonNull, //
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

    /// Checks a wait request and resolves its fds, then the alert, into objects of `dev`.
    /// `N` must leave room for all of them, if the request is valid.
    fn from_user(dev: &Device, args: &uapi::WaitArgs, all: bool) -> Result<Self> {
        if args.pad != 0 || args.flags & !uapi::WAIT_REALTIME != 0 || args.owner == 0 {
            return Err(EINVAL);
        }
        let count = args.count as usize;
        if count > uapi::MAX_WAIT_COUNT {
            return Err(EINVAL);
        }
        let mut fds = [[0u8; size_of::<u32>()]; N];
        let fds = fds.as_flattened_mut();
        let fds = fds.get_mut(..count * size_of::<u32>()).ok_or(EINVAL)?;
        UserSlice::new(UserPtr::from_addr(args.objs as usize), fds.len())
            .reader()
            .read_slice(fds)?;

        let fds = fds
            .chunks_exact(size_of::<u32>())
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let alert = (args.alert != 0).then_some(args.alert);
        let mut objs = Self::from_iter(core::iter::empty(), count);
        for fd in Iterator::chain(fds, alert) {
            let obj = ObjectRef::from_fd(fd).ok_or(EINVAL)?;
            if !core::ptr::eq(&*obj.dev, dev) {
                return Err(EINVAL);
            }
            // Acquiring all at once needs distinct objects, the alert included.
            if all && objs.iter().any(|(_, o)| core::ptr::eq(o, &*obj)) {
                return Err(EINVAL);
            }
            // INVARIANT: At most `count + 1` fds, filled in order.
            *objs.refs.get_mut(objs.len).ok_or(EINVAL)? = Some(obj);
            objs.len += 1;
        }
        Ok(objs)
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

/// One blocked wait call. It lives in the waiting task's stack frame, inside the [`Queued`]
/// that puts it on its objects' queues, so waiting allocates nothing.
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

/// A waiter's place in one object's queue.
///
/// # Invariants
///
/// `waiter` points to a live [`Waiter`] that stays where it is for as long as the entry
/// exists. An entry only ever exists inside a queue, and is dropped as it leaves it, under the
/// lock that guards the queue.
pub(crate) struct WaitEntry {
    /// The lifetime is the waiter's own and shorter; [`WaitEntry::waiter`] hands out no
    /// more than the entry's borrow.
    waiter: NonNull<Waiter<'static>>,
    /// What the waiter reports when this object satisfies it.
    index: u32,
}

// SAFETY: An entry is in effect a `&Waiter`, which may go to and be shared with other tasks
// since `Waiter` is `Sync` (checked below).
unsafe impl Send for WaitEntry {}

// SAFETY: As for `Send`: a shared entry gives no more than a `&Waiter`.
unsafe impl Sync for WaitEntry {}

const _: () = {
    const fn sync<T: Sync>() {}
    sync::<Waiter<'static>>();
};

impl WaitEntry {
    /// An entry with which `waiter` reports `index`.
    ///
    /// # Safety
    ///
    /// `waiter` must stay at its address, alive, until the entry is dropped, and the entry must
    /// only be used where `waiter` could be: its queue's lock serialises the two.
    unsafe fn new(waiter: &Waiter<'_>, index: u32) -> Self {
        // INVARIANT: The caller keeps `waiter` where it is for as long as the entry lives.
        Self {
            waiter: NonNull::from(waiter).cast(),
            index,
        }
    }

    fn waiter(&self) -> &Waiter<'_> {
        // SAFETY: By the type invariant the waiter outlives the entry, which the returned
        // reference borrows; whoever reaches the entry holds its queue's lock, which the
        // waiter must take to leave.
        unsafe { self.waiter.as_ref() }
    }

    /// The waiter's line in the debugfs view.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.waiter().describe(f)
    }

    fn is_for(&self, waiter: &Waiter<'_>) -> bool {
        core::ptr::eq(self.waiter.as_ptr().cast_const().cast(), waiter)
    }

    /// Whether this entry, in `obj`'s queues, is the waiter's first: a waiter has an entry on
    /// each of its objects, and a wait-any may name one object more than once, but a listing
    /// of every queue should show it once.
    pub(crate) fn is_first(&self, obj: &Object) -> bool {
        self.index == 0
            && self
                .waiter()
                .objs
                .iter()
                .next()
                .is_some_and(|(_, first)| core::ptr::eq(first, obj))
    }
}

/// Takes `waiter`'s last entry out of `queue`, if one is still there.
fn remove(queue: &mut KVec<WaitEntry>, waiter: &Waiter<'_>) -> bool {
    match queue.iter().rposition(|entry| entry.is_for(waiter)) {
        Some(i) => {
            remove_at(queue, i);
            true
        }
        None => false,
    }
}

/// Takes the `i`th entry out of `queue`, keeping the order of the rest: mostly the last one,
/// which needs no moving.
fn remove_at(queue: &mut KVec<WaitEntry>, i: usize) {
    if i + 1 == queue.len() {
        let _ = queue.pop();
    } else {
        let _ = queue.remove(i);
    }
}

/// Offers the object with `state` to its queued wait-any `waiters`, oldest first. Runs with
/// the object locked.
///
/// Every entry of a satisfied waiter leaves the queue here, in the pass that looks at it
/// anyway: a waiter this object satisfied then need not search the queue for itself (it only
/// takes the lock), which would make waking many waiters at once quadratic.
pub(crate) fn wake_any(state: &mut State, waiters: &mut KVec<WaitEntry>) {
    let mut i = 0;
    while let Some(entry) = waiters.get(i) {
        let waiter = entry.waiter();
        if state.is_signaled(waiter.owner) && waiter.try_claim(entry.index) {
            waiter.acquire(state);
            waiter.task.wake_up();
        }
        // Also the entries of waiters satisfied before, here (a wait-any may name this
        // object more than once) or elsewhere.
        if waiter.claimed_index().is_some() {
            remove_at(waiters, i);
        } else {
            i += 1;
        }
    }
}

/// Offers `obj`, which the holder of the wait-all lock has dev-locked and changed, to its
/// wait-all waiters.
pub(crate) fn wake_all(all: &WaitAll, obj: &Object) {
    for entry in obj.all_waiters.access(all) {
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
    let acquired = acquire_all(all, waiter.objs, waiter.owner, locked, || {
        waiter.try_claim(0)
    });
    if let Some(abandoned) = acquired {
        if abandoned {
            waiter.abandoned.store(true, Relaxed);
        }
        waiter.task.wake_up();
    }
}

/// If every object of `objs` (the alert aside) is signaled for `owner` and `claim()` agrees,
/// acquires them all as one step and returns whether an abandoned mutex was among them. Runs
/// as the holder of the wait-all lock; `locked` is already dev-locked by the caller.
fn acquire_all(
    all: &WaitAll,
    objs: &Objects,
    owner: u32,
    locked: Option<&Object>,
    claim: impl FnOnce() -> bool,
) -> Option<bool> {
    let ours = |obj: &Object| !locked.is_some_and(|l| core::ptr::eq(obj, l));
    // Each object is checked and dev-locked in one section: from then on its state cannot
    // change until it is released below. The first unsignaled one ends the check.
    let mut taken = 0;
    let mut ready = true;
    for obj in objs.objects() {
        let mut inner = obj.lock_held(all);
        ready = inner.state.is_signaled(owner);
        if !ready {
            break;
        }
        if ours(obj) {
            inner.dev_locked = true;
        }
        taken += 1;
    }
    let claimed = ready && claim();
    let mut abandoned = false;
    for obj in objs.objects().take(taken) {
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
    claimed.then_some(abandoned)
}

/// A waiter queued on its objects. Dropping it takes the waiter off every queue it reached,
/// on every return path; as the queues point at the waiter, it must stay pinned until then.
///
/// Other tasks may still hold a `&Waiter` while `drop` runs (until `leave` has taken their
/// lock): `PhantomPinned` makes the type `!Unpin`, so that `&mut self` there asserts no
/// uniqueness.
struct Queued<'a> {
    dev: &'a Device,
    waiter: Waiter<'a>,
    /// How many of the waiter's objects (in `Objects::iter` order) the enqueueing reached.
    reached: Cell<usize>,
    _pin: PhantomPinned,
}

impl<'a> Queued<'a> {
    fn new(dev: &'a Device, waiter: Waiter<'a>) -> Self {
        Self {
            dev,
            waiter,
            reached: Cell::new(0),
            _pin: PhantomPinned,
        }
    }

    fn entry(self: Pin<&Self>, index: u32) -> WaitEntry {
        // SAFETY: The waiter is pinned inside `self`, so it stays where it is, and `pin!` runs
        // `drop` before the frame is reused. Every caller pushes the entry into a queue at once
        // and counts it in `reached` right after, with nothing fallible in between; `drop`
        // takes every counted entry off its queue, under that queue's lock, before the waiter
        // goes.
        unsafe { WaitEntry::new(&self.get_ref().waiter, index) }
    }

    /// Queues the waiter and hands it whatever is already signaled. On failure the waiter
    /// may still have been satisfied by an object it reached.
    fn enqueue(self: Pin<&Self>) -> Result {
        let waiter = &self.waiter;
        if waiter.all {
            if self.reached.get() == 0 {
                self.enqueue_all(&mut self.dev.wait_all.lock())?;
            }
            // The objects come before the alert: it is offered only after they were.
            if let Some(alert) = waiter.objs.alert() {
                if waiter.claimed_index().is_none() {
                    alert.lock().wake_any();
                }
            }
            return Ok(());
        }
        // Queueing in array order and offering each object as it is reached makes the lowest
        // signaled index win, objects before the alert; once satisfied, the rest need no
        // queueing.
        for (index, obj) in waiter.objs.iter().skip(self.reached.get()) {
            if waiter.claimed_index().is_some() {
                break;
            }
            let mut inner = obj.lock();
            self.join(&mut inner, index)?;
            inner.wake_any();
        }
        Ok(())
    }

    /// Queues the wait-any waiter on the next object, whose `inner` the caller locked.
    fn join(self: Pin<&Self>, inner: &mut Inner, index: u32) -> Result {
        inner.any_waiters.push(self.entry(index), GFP_NOWAIT)?;
        self.reached.set(self.reached.get() + 1);
        Ok(())
    }

    /// Queues the wait-all waiter on its objects and its alert, as the holder of the wait-all
    /// lock, and hands it all of its objects if they are signaled by now.
    fn enqueue_all(self: Pin<&Self>, all: &mut WaitAll) -> Result {
        let waiter = &self.waiter;
        for obj in waiter.objs.objects() {
            obj.all_waiters
                .access_mut(all)
                .push(self.entry(0), GFP_KERNEL)?;
            all.entries += 1;
            self.reached.set(self.reached.get() + 1);
            obj.count_all_waiter(all, true);
        }
        if let Some(alert) = waiter.objs.alert() {
            alert
                .lock_held(all)
                .any_waiters
                .push(self.entry(waiter.objs.count as u32), GFP_NOWAIT)?;
            self.reached.set(self.reached.get() + 1);
        }
        try_wake_all(all, waiter, None);
        Ok(())
    }

    /// Takes the waiter off every queue it reached. Whoever satisfied it did so holding the
    /// lock of a queue it is on, and is done with it once that lock is released: from here
    /// on the waiter is the caller's alone.
    fn leave(&self) {
        let waiter = &self.waiter;
        let reached = self.reached.replace(0);
        if reached == 0 {
            return;
        }
        // The object that satisfied a wait-any (or the alert, a wait-all) took all of the
        // waiter's entries off its queue when it did (see `wake_any`), so that queue needs no
        // search. Its lock is taken all the same: that is what makes the satisfier's last use
        // of the waiter happen before this returns.
        let satisfier = waiter
            .claimed_index()
            .and_then(|index| waiter.objs.iter().nth(index as usize))
            .map(|(_, obj)| obj);
        let searched = |obj: &Object| !satisfier.is_some_and(|s| core::ptr::eq(s, obj));
        if !waiter.all {
            for (_, obj) in waiter.objs.iter().take(reached) {
                let mut inner = obj.lock();
                if searched(obj) {
                    remove(&mut inner.any_waiters, waiter);
                }
            }
            return;
        }
        let mut all = self.dev.wait_all.lock();
        for obj in waiter.objs.objects().take(reached) {
            if remove(obj.all_waiters.access_mut(&mut all), waiter) {
                all.entries -= 1;
                obj.count_all_waiter(&all, false);
            }
        }
        if reached > waiter.objs.count {
            if let Some(alert) = waiter.objs.alert() {
                let mut inner = alert.lock_held(&all);
                if searched(alert) {
                    remove(&mut inner.any_waiters, waiter);
                }
            }
        }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
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

/// Queues the waiter, as far as the caller did not (`so_far` is how that went), and sleeps
/// until it is satisfied, the deadline passes or a signal arrives.
fn sleep(queued: Pin<&Queued<'_>>, so_far: Result) -> Result<Acquired> {
    let enqueued = so_far.and_then(|()| queued.enqueue());
    let waiter = &queued.waiter;
    let wakeup = if enqueued.is_ok() {
        let done = || waiter.claimed_index().is_some();
        match waiter.deadline {
            Some(Deadline { clock, ns }) => ffi::sleep_until(done, Some(ns), clock),
            None => ffi::sleep_until(done, None, Clock::Monotonic),
        }
    } else {
        Wakeup::Done
    };
    queued.leave();

    // A claim stands, whatever ended the sleep (a signal, the deadline, or a failure to queue
    // on a later object): the object state has already changed.
    if let Some(index) = waiter.claimed_index() {
        return Ok(Acquired {
            index,
            abandoned: waiter.abandoned.load(Relaxed),
        });
    }
    enqueued?;
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
    let queued = core::pin::pin!(Queued::new(dev, waiter));
    sleep(queued.into_ref(), Ok(()))
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
    let queued = core::pin::pin!(Queued::new(dev, waiter));
    let queued = queued.into_ref();
    // Should this fail, `queued` reached nothing and leaves without locking: it goes before
    // `inner` is unlocked.
    queued.join(&mut inner, 0)?;
    drop(inner);
    sleep(queued, Ok(()))
}

/// Acquires all objects at once, or the alert, sleeping until one of them is possible.
fn wait_all<const N: usize>(
    dev: &Device,
    objs: &Slots<N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
    let task = kernel::current!();
    let waiter = Waiter::new(task, args.owner, true, Deadline::from_args(args), objs);
    let queued = core::pin::pin!(Queued::new(dev, waiter));
    let queued = queued.into_ref();
    let enqueued = {
        let mut all = dev.wait_all.lock();
        // Most waits find everything signaled: take it without any queueing. As when queued,
        // the objects are offered before the alert.
        if let Some(abandoned) = acquire_all(&all, objs, args.owner, None, || true) {
            return Ok(Acquired {
                index: 0,
                abandoned,
            });
        }
        if let Some(alert) = objs.alert() {
            let mut inner = alert.lock_held(&all);
            if inner.state.is_signaled(args.owner) {
                return Ok(Acquired {
                    index: objs.count as u32,
                    abandoned: inner.state.acquire(args.owner),
                });
            }
        }
        // Still the holder, so that queueing costs no second trip. Should it fail, an object
        // reached may still satisfy the waiter before it leaves: `sleep` sorts that out.
        queued.enqueue_all(&mut all)
    };
    sleep(queued, enqueued)
}

fn wait_in<const N: usize>(dev: &Device, args: &uapi::WaitArgs, all: bool) -> Result<Acquired> {
    let objs = Slots::<N>::from_user(dev, args, all)?;
    if all {
        wait_all(dev, &objs, args)
    } else {
        wait_any(dev, &objs, args)
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
    ffi::put_user_u32(arg + uapi::WAIT_INDEX_OFFSET, acquired.index)?;
    if acquired.abandoned {
        return Err(EOWNERDEAD);
    }
    Ok(0)
}

#[kunit_tests(ntsync_rs_wait)]
mod tests {
    use super::*;
    use crate::{
        event::Event,
        mutex::Mutex,
        sem::Semaphore, //
    };

    /// Nothing to wait for: these waiters are offered objects by hand.
    const NONE: Slots<1> = Objects {
        len: 0,
        count: 0,
        refs: [None],
    };

    fn waiter(task: &Task, owner: u32) -> Waiter<'_> {
        Waiter::new(task, owner, false, None, &NONE)
    }

    /// # Safety
    ///
    /// The entry must be dropped before `waiter`.
    unsafe fn entry(waiter: &Waiter<'_>, index: u32) -> WaitEntry {
        // SAFETY: The caller drops the entry first.
        unsafe { WaitEntry::new(waiter, index) }
    }

    fn queue_of<const N: usize>(entries: [WaitEntry; N]) -> Result<KVec<WaitEntry>> {
        let mut queue = KVec::with_capacity(N, GFP_KERNEL)?;
        for e in entries {
            queue.push(e, GFP_KERNEL)?;
        }
        Ok(queue)
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
        // SAFETY: The queue goes first, declared after the waiters.
        let mut queue = queue_of(unsafe { [entry(&a, 3), entry(&b, 5)] })?;
        let mut state = State::Sem(Semaphore::new(0, 2).ok_or(EINVAL)?);
        wake_any(&mut state, &mut queue);
        assert_eq!(a.claimed_index(), None);
        assert_eq!(queue.len(), 2);
        if let State::Sem(sem) = &mut state {
            assert_eq!(sem.release(1), Ok(0));
        }
        wake_any(&mut state, &mut queue);
        assert_eq!(a.claimed_index(), Some(3));
        assert_eq!(b.claimed_index(), None);
        assert!(!state.is_signaled(2));
        // The satisfied waiter left the queue; the other is still in it.
        assert_eq!(queue.len(), 1);
        assert!(queue[0].is_for(&b));
        Ok(())
    }

    #[test]
    fn a_mutex_skips_other_owners_and_reports_abandonment() -> Result {
        let task = kernel::current!();
        let (other, killer) = (waiter(task, 2), waiter(task, 7));
        // SAFETY: The queue goes first, declared after the waiters.
        let mut queue = queue_of(unsafe { [entry(&other, 0), entry(&killer, 1)] })?;
        let mut mutex = Mutex::new(7, 1).ok_or(EINVAL)?;
        let mut state = State::Mutex(mutex);
        wake_any(&mut state, &mut queue);
        assert_eq!(other.claimed_index(), None);
        assert_eq!(killer.claimed_index(), Some(1));
        assert!(!killer.abandoned.load(Relaxed));

        assert_eq!(mutex.kill(7), Ok(()));
        let late = waiter(task, 9);
        let mut state = State::Mutex(mutex);
        // SAFETY: The queue is a temporary, gone at the end of the statement.
        wake_any(&mut state, &mut queue_of(unsafe { [entry(&late, 4)] })?);
        assert_eq!(late.claimed_index(), Some(4));
        assert!(late.abandoned.load(Relaxed));
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

    #[test]
    fn wait_all_takes_everything_at_once_or_nothing() -> Result {
        let result = wait_all_takes_everything_at_once_or_nothing_with_files();
        ffi::flush_delayed_fput();
        result
    }

    fn wait_all_takes_everything_at_once_or_nothing_with_files() -> Result {
        let dev = Device::new()?;
        let sem = Object::new(dev.clone(), State::Sem(Semaphore::new(1, 1).ok_or(EINVAL)?))?;
        let event = Object::new(dev.clone(), State::Event(Event::new(false, false)))?;
        let objs = Slots::<2>::from_iter(
            [
                ObjectRef::new_file(sem.clone())?,
                ObjectRef::new_file(event.clone())?,
            ]
            .into_iter(),
            2,
        );
        let task = kernel::current!();
        let queued = core::pin::pin!(Queued::new(&dev, Waiter::new(task, 1, true, None, &objs)));
        let queued = queued.into_ref();
        queued.enqueue()?;
        let w = &queued.waiter;
        assert_eq!(w.claimed_index(), None);
        assert_eq!(sem_count(&sem), 1);

        assert_eq!(event.set_event(false), Ok(false));
        assert_eq!(w.claimed_index(), Some(0));
        assert_eq!(sem_count(&sem), 0);
        // The auto-reset event went to the waiter.
        assert_eq!(event.reset_event(), Ok(false));
        queued.leave();
        assert_eq!(dev.wait_all.lock().entries, 0);
        Ok(())
    }

    #[test]
    fn the_alert_ends_a_wait_all_with_index_count() -> Result {
        let result = the_alert_ends_a_wait_all_with_index_count_with_files();
        ffi::flush_delayed_fput();
        result
    }

    fn the_alert_ends_a_wait_all_with_index_count_with_files() -> Result {
        let dev = Device::new()?;
        let sem = Object::new(dev.clone(), State::Sem(Semaphore::new(0, 1).ok_or(EINVAL)?))?;
        let alert = Object::new(dev.clone(), State::Event(Event::new(true, false)))?;
        let objs = Slots::<2>::from_iter(
            [
                ObjectRef::new_file(sem.clone())?,
                ObjectRef::new_file(alert.clone())?,
            ]
            .into_iter(),
            1,
        );
        let task = kernel::current!();
        let queued = core::pin::pin!(Queued::new(&dev, Waiter::new(task, 1, true, None, &objs)));
        let queued = queued.into_ref();
        queued.enqueue()?;
        let w = &queued.waiter;
        assert_eq!(w.claimed_index(), None);
        assert_eq!(alert.set_event(true), Ok(false));
        assert_eq!(w.claimed_index(), Some(1));
        // A pulse leaves the event unsignaled.
        assert_eq!(alert.reset_event(), Ok(false));
        // Releasing the semaphore now satisfies nobody: the waiter is taken.
        assert_eq!(sem.release(1), Ok(0));
        assert_eq!(sem_count(&sem), 1);
        Ok(())
    }
}
