// SPDX-License-Identifier: GPL-2.0

//! An ntsync object: its NT state behind a spinlock, the waiters queued on it, and how it is
//! locked. The state changes, each with the wake-ups it causes, are in `wake.rs`; the ioctls
//! of the object's file in `object_file.rs`.
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
    waiter::{
        self,
        WaitQueue, //
    },
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
    pub(crate) any_waiters: WaitQueue<Object>,
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
            waiter::wake_any(&mut self.state, &mut self.any_waiters);
        }
    }
}

/// A semaphore, mutex or event: the private data of one anonymous-inode file.
#[pin_data]
pub(crate) struct Object {
    #[pin]
    inner: SpinLock<Inner>,
    /// Wait-all waiters, oldest first.
    pub(crate) all_waiters: LockedBy<WaitQueue<Object>, WaitAll>,
    /// The number of entries in `all_waiters`, readable without the device lock.
    all_hint: Atomic<u32>,
    /// The `/dev/ntsync` instance that made the object; a wait mixes only objects of one.
    pub(crate) dev: Arc<Device<Object>>,
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
    pub(crate) fn new(dev: Arc<Device<Object>>, state: State) -> Result<ListArc<Self>> {
        let all_waiters = LockedBy::new(&dev.wait_all, WaitQueue::new());
        let id = dev.next_object_id();
        ListArc::pin_init(
            try_pin_init!(Self {
                inner <- new_spinlock!(
                    Inner {
                        state,
                        any_waiters: WaitQueue::new(),
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

    /// Whether wait-all waiters are counted in the hint, which counts only when read under
    /// the object's spinlock: see `Object::update` in `wake.rs`.
    #[inline]
    pub(crate) fn has_all_waiters(&self) -> bool {
        self.all_hint.load(Relaxed) != 0
    }

    /// Reads the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
        f(&self.lock().state)
    }
}

/// The event, if the state is one.
pub(crate) fn as_event(state: &mut State) -> Result<&mut Event> {
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
