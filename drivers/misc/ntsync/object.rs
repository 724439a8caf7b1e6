// SPDX-License-Identifier: GPL-2.0

//! An ntsync object: its NT state behind a spinlock, the waiters queued on it, and the ioctls
//! of its file.
//!
//! # Locking
//!
//! A single-object operation takes only the object's spinlock. A wait-all must test and change
//! several objects as one step: it holds the device's `wait_all` mutex and marks every object
//! it works on `dev_locked`. Whoever takes an object's spinlock and finds `dev_locked` set lets
//! go and waits for the device mutex instead, so the holder owns those objects and can reach
//! each one's state in short spinlock sections of its own. At most one object spinlock is ever
//! held, whatever the number of objects in a wait, so preemption is never off for long and
//! lockdep sees no nesting.
//!
//! A state change must also be offered to the wait-all waiters of the object. `all_hint`
//! counts them; while it is zero a change needs only the spinlock, otherwise it is made as the
//! holder of the device mutex, so that it and the wake-ups it causes are one step too.

use crate::ffi::uaccess::{
    get_user_u32,
    put_user_u32, //
};
use crate::{
    device::{
        Device,
        WaitAll, //
    },
    event::Event,
    mutex::Mutex,
    queue::Queue,
    sem::Semaphore,
    state::State,
    uapi,
    wait, //
};
use kernel::{
    impl_list_arc_safe, impl_list_item,
    list::{
        ListArc,
        ListLinks, //
    },
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        lock::spinlock::SpinLockGuard,
        Arc,
        LockedBy,
        SpinLock, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// What the object's spinlock protects.
pub(crate) struct Inner {
    pub(crate) state: State,
    /// Wait-any waiters (and wait-all waiters for which this is the alert), oldest first:
    /// they are offered the object in this order.
    pub(crate) any_waiters: Queue,
    /// The holder of the device's wait-all lock owns this object: see the module
    /// documentation. Only that holder changes it.
    pub(crate) dev_locked: bool,
}

impl Inner {
    /// Hands the object to queued wait-any waiters for as long as it stays signaled.
    #[inline]
    pub(crate) fn wake_any(&mut self) {
        // Most changes find nobody waiting, or leave the object acquirable by nobody (a
        // release of nothing, a reset): they need not make the call.
        if !self.any_waiters.is_empty() && self.state.is_signaled_for_anyone() {
            wait::wake_any(&mut self.state, &mut self.any_waiters);
        }
    }
}

/// A semaphore, mutex or event: the private data of one anonymous-inode file.
#[pin_data]
pub(crate) struct Object {
    #[pin]
    inner: SpinLock<Inner>,
    /// Wait-all waiters, oldest first.
    pub(crate) all_waiters: LockedBy<Queue, WaitAll>,
    /// The number of entries in `all_waiters`, readable without the device lock.
    all_hint: Atomic<u32>,
    /// The `/dev/ntsync` instance that made the object; a wait mixes only objects of one.
    pub(crate) dev: Arc<Device>,
    /// Names the object in the device's debugfs view; unique within the device.
    pub(crate) id: u64,
    /// Its place in the device's list of objects.
    #[pin]
    links: ListLinks,
}

// Only the one `ListArc` made with each object (see `Object::new`) is ever put on a list.
impl_list_arc_safe! {
    impl ListArcSafe<0> for Object { untracked; }
}
impl_list_item! {
    impl ListItem<0> for Object { using ListLinks { self.links }; }
}

impl Object {
    /// A new object of `dev`, as the one reference that may put it on the device's list.
    pub(crate) fn new(dev: Arc<Device>, state: State) -> Result<ListArc<Self>> {
        let all_waiters = LockedBy::new(&dev.wait_all, Queue::new());
        let id = dev.next_object_id();
        ListArc::pin_init(
            try_pin_init!(Self {
                inner <- new_spinlock!(
                    Inner {
                        state,
                        any_waiters: Queue::new(),
                        dev_locked: false,
                    },
                    "Object::inner"
                ),
                all_waiters,
                all_hint: Atomic::new(0),
                dev,
                id,
                links <- ListLinks::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Locks the object on its own, first waiting out a wait-all that holds it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinLockGuard<'_, Inner> {
        loop {
            let guard = self.inner.lock();
            if !guard.dev_locked {
                return guard;
            }
            drop(guard);
            // The holder clears `dev_locked` before it releases the device lock.
            drop(self.dev.wait_all.lock());
        }
    }

    /// Locks the object for the holder of the device's wait-all lock, which `_all` proves.
    pub(crate) fn lock_held<'a>(&'a self, _all: &'a WaitAll) -> SpinLockGuard<'a, Inner> {
        self.inner.lock()
    }

    /// Counts a wait-all waiter in (`queued`) or out of the hint.
    pub(crate) fn count_all_waiter(&self, _all: &WaitAll, queued: bool) {
        self.all_hint
            .add(if queued { 1 } else { u32::MAX }, Relaxed);
    }

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
            if self.all_hint.load(Relaxed) == 0 {
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
        wait::wake_all(&all, self);
        let mut inner = self.lock_held(&all);
        inner.wake_any();
        after(&mut inner.state);
        inner.dev_locked = false;
        Ok(ret)
    }

    /// Reads the state.
    fn read<R>(&self, f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
        f(&self.lock().state)
    }

    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::SEM_RELEASE => self.sem_release_ioctl(arg),
            uapi::SEM_READ => self.sem_read(arg),
            uapi::MUTEX_UNLOCK => self.mutex_unlock_ioctl(arg),
            uapi::MUTEX_KILL => self.mutex_kill_ioctl(arg),
            uapi::MUTEX_READ => self.mutex_read(arg),
            uapi::EVENT_SET | uapi::EVENT_RESET | uapi::EVENT_PULSE => self.event_ioctl(cmd, arg),
            uapi::EVENT_READ => self.event_read(arg),
            _ => Err(ENOIOCTLCMD),
        }
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

    /// `NTSYNC_IOC_SEM_RELEASE`: the previous count replaces the argument.
    fn sem_release_ioctl(&self, arg: usize) -> Result<isize> {
        let prev = self.release(get_user_u32(UserPtr::from_addr(arg))?)?;
        put_user_u32(UserPtr::from_addr(arg), prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_UNLOCK`: the previous count goes to the `count` field only.
    fn mutex_unlock_ioctl(&self, arg: usize) -> Result<isize> {
        let args: uapi::MutexArgs = read_user(arg)?;
        if args.owner == 0 {
            return Err(EINVAL);
        }
        let prev = self.unlock(args.owner)?;
        let count = arg + core::mem::offset_of!(uapi::MutexArgs, count);
        put_user_u32(UserPtr::from_addr(count), prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_KILL`.
    fn mutex_kill_ioctl(&self, arg: usize) -> Result<isize> {
        let owner = get_user_u32(UserPtr::from_addr(arg))?;
        if owner == 0 {
            return Err(EINVAL);
        }
        self.kill(owner)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_EVENT_SET`, `_RESET` and `_PULSE`: the previous state is written out after
    /// the change.
    fn event_ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        let prev = match cmd {
            uapi::EVENT_RESET => self.reset_event()?,
            _ => self.set_event(cmd == uapi::EVENT_PULSE)?,
        };
        put_user_u32(UserPtr::from_addr(arg), prev.into())?;
        Ok(0)
    }

    /// `NTSYNC_IOC_SEM_READ`.
    fn sem_read(&self, arg: usize) -> Result<isize> {
        let args = self.read(|state| match state {
            State::Sem(sem) => Ok(uapi::SemArgs {
                count: sem.count(),
                max: sem.max(),
            }),
            _ => Err(EINVAL),
        })?;
        write_user(arg, &args)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_READ`: EOWNERDEAD, after filling in the state, when abandoned.
    fn mutex_read(&self, arg: usize) -> Result<isize> {
        let mutex = self.read(|state| match state {
            State::Mutex(mutex) => Ok(*mutex),
            _ => Err(EINVAL),
        })?;
        let args = uapi::MutexArgs {
            owner: mutex.owner(),
            count: mutex.count(),
        };
        write_user(arg, &args)?;
        if mutex.is_abandoned() {
            return Err(EOWNERDEAD);
        }
        Ok(0)
    }

    /// `NTSYNC_IOC_EVENT_READ`.
    fn event_read(&self, arg: usize) -> Result<isize> {
        let args = self.read(|state| match state {
            State::Event(event) => Ok(uapi::EventArgs {
                manual: event.is_manual().into(),
                signaled: event.is_signaled().into(),
            }),
            _ => Err(EINVAL),
        })?;
        write_user(arg, &args)?;
        Ok(0)
    }
}

fn as_event(state: &mut State) -> Result<&mut Event> {
    match state {
        State::Event(event) => Ok(event),
        _ => Err(EINVAL),
    }
}

/// Creates the state of a new object from the arguments of a `CREATE_*` ioctl.
pub(crate) fn new_state(cmd: u32, arg: usize) -> Result<State> {
    Ok(match cmd {
        uapi::CREATE_SEM => {
            let args: uapi::SemArgs = read_user(arg)?;
            State::Sem(Semaphore::new(args.count, args.max).ok_or(EINVAL)?)
        }
        uapi::CREATE_MUTEX => {
            let args: uapi::MutexArgs = read_user(arg)?;
            State::Mutex(Mutex::new(args.owner, args.count).ok_or(EINVAL)?)
        }
        uapi::CREATE_EVENT => {
            let args: uapi::EventArgs = read_user(arg)?;
            State::Event(Event::new(args.manual != 0, args.signaled != 0))
        }
        _ => return Err(ENOIOCTLCMD),
    })
}

/// Copies a `T` in from user address `addr`.
pub(crate) fn read_user<T: FromBytes>(addr: usize) -> Result<T> {
    UserSlice::new(UserPtr::from_addr(addr), size_of::<T>())
        .reader()
        .read()
}

/// Copies `value` out to user address `addr`.
pub(crate) fn write_user<T: AsBytes>(addr: usize, value: &T) -> Result {
    UserSlice::new(UserPtr::from_addr(addr), size_of::<T>())
        .writer()
        .write(value)
}
