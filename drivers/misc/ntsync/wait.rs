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
        Object, //
    },
    state::State,
    uapi, //
};
use kernel::{
    fmt,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Full,
            Relaxed, //
        },
        Arc, //
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

    /// Moves the objects out, leaving none here.
    fn take(&mut self) -> Self {
        // INVARIANT: All slots are emptied here, and the taken ones keep their order.
        let (len, count) = (
            core::mem::take(&mut self.len),
            core::mem::take(&mut self.count),
        );
        Objects {
            refs: core::mem::replace(&mut self.refs, [const { None }; N]),
            len,
            count,
        }
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

/// One blocked wait call.
///
/// Several objects may try to satisfy the same waiter at once; `claimed` decides which one
/// does. Only whoever moves it away from [`UNCLAIMED`] changes object state on the waiter's
/// behalf and wakes the task, so a wait-any acquires exactly one object and a wait-all all of
/// them exactly once.
pub(crate) struct Waiter<R: ?Sized = [Option<ObjectRef>]> {
    task: ARef<Task>,
    owner: u32,
    /// A wait-all rather than a wait-any.
    all: bool,
    deadline: Option<Deadline>,
    /// The index reported to user space, or [`UNCLAIMED`].
    claimed: Atomic<i32>,
    /// An acquired mutex had been abandoned.
    abandoned: Atomic<bool>,
    objs: Objects<R>,
}

impl Waiter {
    /// A waiter for the calling task that takes over `objs`, in an allocation sized like
    /// them: see [`wait`].
    fn new<const N: usize>(
        owner: u32,
        all: bool,
        deadline: Option<Deadline>,
        objs: &mut Slots<N>,
    ) -> Result<Arc<Self>> {
        let waiter: Arc<Waiter<[Option<ObjectRef>; N]>> = Arc::new(
            Waiter {
                task: ARef::from(&**kernel::current!()),
                owner,
                all,
                deadline,
                claimed: Atomic::new(UNCLAIMED),
                abandoned: Atomic::new(false),
                objs: objs.take(),
            },
            GFP_KERNEL,
        )?;
        Ok(waiter)
    }

    /// One line for the debugfs view: who waits, how, on which objects and until when.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
pub(crate) struct WaitEntry {
    waiter: Arc<Waiter>,
    /// What the waiter reports when this object satisfies it.
    index: u32,
}

impl WaitEntry {
    pub(crate) fn waiter(&self) -> &Waiter {
        &self.waiter
    }

    /// Whether this entry, in `obj`'s queues, is the waiter's first: a waiter has an entry on
    /// each of its objects, and a wait-any may name one object more than once, but a listing
    /// of every queue should show it once.
    pub(crate) fn is_first(&self, obj: &Object) -> bool {
        self.index == 0
            && self
                .waiter
                .objs
                .iter()
                .next()
                .is_some_and(|(_, first)| core::ptr::eq(first, obj))
    }
}

/// Offers the object with `state` to its queued wait-any `waiters`, oldest first. Runs with
/// the object locked.
///
/// Every entry of a satisfied waiter leaves the queue here, in the pass that looks at it
/// anyway: a waiter this object satisfied then need not search the queue for itself, which
/// would make waking many waiters at once quadratic.
pub(crate) fn wake_any(state: &mut State, waiters: &mut KVec<WaitEntry>) {
    let mut i = 0;
    while let Some(entry) = waiters.get(i) {
        let waiter = &entry.waiter;
        if state.is_signaled(waiter.owner) && waiter.try_claim(entry.index) {
            waiter.acquire(state);
            waiter.task.wake_up();
        }
        // Also the entries of waiters satisfied before, here (a wait-any may name this
        // object more than once) or elsewhere.
        if waiter.claimed_index().is_some() {
            let _ = waiters.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Offers `obj`, which the holder of the wait-all lock has dev-locked and changed, to its
/// wait-all waiters.
pub(crate) fn wake_all(all: &WaitAll, obj: &Object) {
    for entry in obj.all_waiters.access(all) {
        try_wake_all(all, &entry.waiter, Some(obj));
    }
}

/// Acquires all objects of the wait-all `waiter` as one step if every one is signaled for it.
/// `locked` is already dev-locked by the caller.
fn try_wake_all(all: &WaitAll, waiter: &Waiter, locked: Option<&Object>) {
    let acquired = acquire_all(all, &waiter.objs, waiter.owner, locked, || {
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
/// on every return path.
struct Queued<'a> {
    dev: &'a Device,
    waiter: &'a Arc<Waiter>,
    /// How many of the waiter's objects (in `Objects::iter` order) the enqueueing reached.
    reached: usize,
}

impl<'a> Queued<'a> {
    fn new(dev: &'a Device, waiter: &'a Arc<Waiter>) -> Self {
        Self {
            dev,
            waiter,
            reached: 0,
        }
    }

    fn entry(&self, index: u32) -> WaitEntry {
        WaitEntry {
            waiter: self.waiter.clone(),
            index,
        }
    }

    /// Queues the waiter and hands it whatever is already signaled. On failure the waiter
    /// may still have been satisfied by an object it reached.
    fn enqueue(&mut self) -> Result {
        if self.waiter.all {
            self.enqueue_all()?;
            // The objects come before the alert: it is offered only after they were.
            if let Some(alert) = self.waiter.objs.alert() {
                if self.waiter.claimed_index().is_none() {
                    alert.lock().wake_any();
                }
            }
            return Ok(());
        }
        // Queueing in array order and offering each object as it is reached makes the lowest
        // signaled index win, objects before the alert; once satisfied, the rest need no
        // queueing.
        for (index, obj) in self.waiter.objs.iter() {
            if self.waiter.claimed_index().is_some() {
                break;
            }
            let mut inner = obj.lock();
            self.reached += 1;
            inner.any_waiters.push(self.entry(index), GFP_NOWAIT)?;
            inner.wake_any();
        }
        Ok(())
    }

    fn enqueue_all(&mut self) -> Result {
        let mut all = self.dev.wait_all.lock();
        all.queued += 1;
        for obj in self.waiter.objs.objects() {
            self.reached += 1;
            obj.all_waiters
                .access_mut(&mut all)
                .push(self.entry(0), GFP_KERNEL)?;
            obj.count_all_waiter(&all, true);
        }
        if let Some(alert) = self.waiter.objs.alert() {
            alert
                .lock_held(&all)
                .any_waiters
                .push(self.entry(self.waiter.objs.count as u32), GFP_NOWAIT)?;
        }
        try_wake_all(&all, self.waiter, None);
        Ok(())
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let waiter = self.waiter;
        let others = |entry: &mut WaitEntry| !Arc::ptr_eq(&entry.waiter, waiter);
        // The object that satisfied a wait-any (or the alert, a wait-all) took all of the
        // waiter's entries off its queue when it did; see `wake_any`.
        let satisfier = waiter
            .claimed_index()
            .and_then(|index| waiter.objs.iter().nth(index as usize))
            .map(|(_, obj)| obj);
        let searched = |obj: &Object| !satisfier.is_some_and(|s| core::ptr::eq(s, obj));
        if !waiter.all {
            for (_, obj) in waiter.objs.iter().take(self.reached) {
                if searched(obj) {
                    obj.lock().any_waiters.retain(others);
                }
            }
            return;
        }
        let mut all = self.dev.wait_all.lock();
        all.queued -= 1;
        for obj in waiter.objs.objects().take(self.reached) {
            let queue = obj.all_waiters.access_mut(&mut all);
            let len = queue.len();
            queue.retain(others);
            if queue.len() != len {
                obj.count_all_waiter(&all, false);
            }
        }
        if let Some(alert) = waiter.objs.alert().filter(|alert| searched(alert)) {
            alert.lock_held(&all).any_waiters.retain(others);
        }
    }
}

/// What a wait acquired.
struct Acquired {
    index: u32,
    abandoned: bool,
}

/// Queues `waiter` and sleeps until it is satisfied, the deadline passes or a signal arrives.
fn sleep(dev: &Device, waiter: Arc<Waiter>) -> Result<Acquired> {
    let mut queued = Queued::new(dev, &waiter);
    let enqueued = queued.enqueue();
    let wakeup = if enqueued.is_ok() {
        let done = || waiter.claimed_index().is_some();
        match waiter.deadline {
            Some(Deadline { clock, ns }) => ffi::sleep_until(done, Some(ns), clock),
            None => ffi::sleep_until(done, None, Clock::Monotonic),
        }
    } else {
        Wakeup::Done
    };
    drop(queued);

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
    objs: &mut Slots<N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
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
    let waiter = Waiter::new(args.owner, false, Deadline::from_args(args), objs)?;
    sleep(dev, waiter)
}

/// Acquires all objects at once, or the alert, sleeping until one of them is possible.
fn wait_all<const N: usize>(
    dev: &Device,
    objs: &mut Slots<N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
    // Most waits find everything signaled: take it without a waiter or any queueing. As
    // when queued, the objects are offered before the alert.
    let acquired = acquire_all(&dev.wait_all.lock(), objs, args.owner, None, || true);
    if let Some(abandoned) = acquired {
        return Ok(Acquired {
            index: 0,
            abandoned,
        });
    }
    if let Some(alert) = objs.alert() {
        let mut inner = alert.lock();
        if inner.state.is_signaled(args.owner) {
            return Ok(Acquired {
                index: objs.count as u32,
                abandoned: inner.state.acquire(args.owner),
            });
        }
    }
    let waiter = Waiter::new(args.owner, true, Deadline::from_args(args), objs)?;
    sleep(dev, waiter)
}

fn wait_in<const N: usize>(dev: &Device, args: &uapi::WaitArgs, all: bool) -> Result<Acquired> {
    let mut objs = Slots::<N>::from_user(dev, args, all)?;
    if all {
        wait_all(dev, &mut objs, args)
    } else {
        wait_any(dev, &mut objs, args)
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

    fn waiter(owner: u32) -> Result<Arc<Waiter>> {
        Waiter::new(
            owner,
            false,
            None,
            &mut Slots::<1>::from_iter(core::iter::empty(), 0),
        )
    }

    fn entry(waiter: &Arc<Waiter>, index: u32) -> WaitEntry {
        WaitEntry {
            waiter: waiter.clone(),
            index,
        }
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
        let (a, b) = (waiter(1)?, waiter(2)?);
        let mut queue = queue_of([entry(&a, 3), entry(&b, 5)])?;
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
        assert!(Arc::ptr_eq(&queue[0].waiter, &b));
        Ok(())
    }

    #[test]
    fn a_mutex_skips_other_owners_and_reports_abandonment() -> Result {
        let (other, killer) = (waiter(2)?, waiter(7)?);
        let mut queue = queue_of([entry(&other, 0), entry(&killer, 1)])?;
        let mut mutex = Mutex::new(7, 1).ok_or(EINVAL)?;
        let mut state = State::Mutex(mutex);
        wake_any(&mut state, &mut queue);
        assert_eq!(other.claimed_index(), None);
        assert_eq!(killer.claimed_index(), Some(1));
        assert!(!killer.abandoned.load(Relaxed));

        assert_eq!(mutex.kill(7), Ok(()));
        let late = waiter(9)?;
        let mut state = State::Mutex(mutex);
        wake_any(&mut state, &mut queue_of([entry(&late, 4)])?);
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
        let mut objs = Slots::<2>::from_iter(
            [
                ObjectRef::new_file(sem.clone())?,
                ObjectRef::new_file(event.clone())?,
            ]
            .into_iter(),
            2,
        );
        let w = Waiter::new(1, true, None, &mut objs)?;

        let mut queued = Queued::new(&dev, &w);
        queued.enqueue()?;
        assert_eq!(w.claimed_index(), None);
        assert_eq!(sem_count(&sem), 1);

        assert_eq!(event.set_event(false), Ok(false));
        assert_eq!(w.claimed_index(), Some(0));
        assert_eq!(sem_count(&sem), 0);
        // The auto-reset event went to the waiter.
        assert_eq!(event.reset_event(), Ok(false));
        drop(queued);
        assert_eq!(dev.wait_all.lock().queued, 0);
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
        let mut objs = Slots::<2>::from_iter(
            [
                ObjectRef::new_file(sem.clone())?,
                ObjectRef::new_file(alert.clone())?,
            ]
            .into_iter(),
            1,
        );
        let w = Waiter::new(1, true, None, &mut objs)?;

        let mut queued = Queued::new(&dev, &w);
        queued.enqueue()?;
        assert_eq!(w.claimed_index(), None);
        assert_eq!(alert.set_event(true), Ok(false));
        assert_eq!(w.claimed_index(), Some(1));
        // A pulse leaves the event unsignaled.
        assert_eq!(alert.reset_event(), Ok(false));
        // Releasing the semaphore now satisfies nobody: the waiter is taken.
        assert_eq!(sem.release(1), Ok(0));
        assert_eq!(sem_count(&sem), 1);
        drop(queued);
        Ok(())
    }
}
