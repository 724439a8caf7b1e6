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

use crate::{
    device::{
        Device,
        WaitAll, //
    },
    event::Event,
    mutex::Mutex,
    sem::Semaphore,
    state::State,
    uapi,
    wait::{
        self,
        WaitEntry, //
    },
};
use kernel::{
    alloc::KVec,
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
    pub(crate) any_waiters: KVec<WaitEntry>,
    /// The holder of the device's wait-all lock owns this object: see the module
    /// documentation.
    dev_locked: bool,
}

impl Inner {
    /// Hands the object to queued wait-any waiters for as long as it stays signaled.
    pub(crate) fn wake_any(&mut self) {
        wait::wake_any(&mut self.state, &self.any_waiters);
    }
}

/// A semaphore, mutex or event: the private data of one anonymous-inode file.
#[pin_data]
pub(crate) struct Object {
    #[pin]
    inner: SpinLock<Inner>,
    /// Wait-all waiters, oldest first.
    pub(crate) all_waiters: LockedBy<KVec<WaitEntry>, WaitAll>,
    /// The number of entries in `all_waiters`, readable without the device lock.
    all_hint: Atomic<u32>,
    /// The `/dev/ntsync` instance that made the object; a wait mixes only objects of one.
    pub(crate) dev: Arc<Device>,
}

impl Object {
    pub(crate) fn new(dev: Arc<Device>, state: State) -> Result<Arc<Self>> {
        let all_waiters = LockedBy::new(&dev.wait_all, KVec::new());
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_spinlock!(
                    Inner {
                        state,
                        any_waiters: KVec::new(),
                        dev_locked: false,
                    },
                    "Object::inner"
                ),
                all_waiters,
                all_hint: Atomic::new(0),
                dev,
            }),
            GFP_KERNEL,
        )
    }

    /// Locks the object on its own, first waiting out a wait-all that holds it.
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

    /// Marks the object owned (or no longer owned) by the wait-all lock holder.
    pub(crate) fn set_dev_locked(&self, all: &WaitAll, locked: bool) {
        self.lock_held(all).dev_locked = locked;
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
        let mut inner = self.lock();
        if self.all_hint.load(Relaxed) == 0 {
            let ret = op(&mut inner.state)?;
            inner.wake_any();
            after(&mut inner.state);
            return Ok(ret);
        }
        drop(inner);

        let all = self.dev.wait_all.lock();
        self.set_dev_locked(&all, true);
        let ret = op(&mut self.lock_held(&all).state);
        if ret.is_ok() {
            wait::wake_all(&all, self);
            let mut inner = self.lock_held(&all);
            inner.wake_any();
            after(&mut inner.state);
        }
        self.set_dev_locked(&all, false);
        ret
    }

    /// Reads the state.
    fn read<R>(&self, f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
        f(&self.lock().state)
    }

    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::SEM_RELEASE => self.sem_release(arg),
            uapi::SEM_READ => self.sem_read(arg),
            uapi::MUTEX_UNLOCK => self.mutex_unlock(arg),
            uapi::MUTEX_KILL => self.mutex_kill(arg),
            uapi::MUTEX_READ => self.mutex_read(arg),
            uapi::EVENT_SET => self.event_store(arg, true, false),
            uapi::EVENT_RESET => self.event_store(arg, false, false),
            uapi::EVENT_PULSE => self.event_store(arg, true, true),
            uapi::EVENT_READ => self.event_read(arg),
            _ => Err(ENOIOCTLCMD),
        }
    }

    /// `NTSYNC_IOC_SEM_RELEASE`: adds units and reports the previous count.
    fn sem_release(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<u32>()).reader_writer();
        let n: u32 = reader.read()?;
        let prev = self.update(
            |state| match state {
                State::Sem(sem) => sem.release(n).map_err(|_| EOVERFLOW),
                _ => Err(EINVAL),
            },
            |_| (),
        )?;
        writer.write(&prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_UNLOCK`: drops one level held by `owner`; reports the previous count
    /// in the `count` field.
    fn mutex_unlock(&self, arg: usize) -> Result<isize> {
        let args: uapi::MutexArgs = read_user(arg)?;
        if args.owner == 0 {
            return Err(EINVAL);
        }
        let prev = self.update(
            |state| match state {
                State::Mutex(mutex) => mutex.unlock(args.owner).map_err(|_| EPERM),
                _ => Err(EINVAL),
            },
            |_| (),
        )?;
        write_user(arg + core::mem::offset_of!(uapi::MutexArgs, count), &prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_KILL`: `owner` died holding the mutex.
    fn mutex_kill(&self, arg: usize) -> Result<isize> {
        let owner: u32 = read_user(arg)?;
        if owner == 0 {
            return Err(EINVAL);
        }
        self.update(
            |state| match state {
                State::Mutex(mutex) => mutex.kill(owner).map_err(|_| EPERM),
                _ => Err(EINVAL),
            },
            |_| (),
        )?;
        Ok(0)
    }

    /// `NTSYNC_IOC_EVENT_SET`, `_RESET` and `_PULSE`: reports the previous state.
    ///
    /// A pulse sets the event, wakes whom that satisfies and resets it, all in one step.
    fn event_store(&self, arg: usize, signaled: bool, pulse: bool) -> Result<isize> {
        fn event(state: &mut State) -> Result<&mut Event> {
            match state {
                State::Event(event) => Ok(event),
                _ => Err(EINVAL),
            }
        }
        let prev = if signaled {
            self.update(
                |state| Ok(event(state)?.store(true)),
                |state| {
                    if pulse {
                        let _ = event(state).map(|e| e.store(false));
                    }
                },
            )?
        } else {
            // Resetting satisfies nobody: no wake-up to offer.
            let mut inner = self.lock();
            event(&mut inner.state)?.store(false)
        };
        write_user(arg, &u32::from(prev))?;
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
