// SPDX-License-Identifier: GPL-2.0

//! Waiting: `NTSYNC_IOC_WAIT_ANY`, the waiter that objects hand themselves to, and the
//! wake-up rule.

use crate::{
    device::Device,
    ffi::{
        self,
        Clock,
        Wakeup, //
    },
    object::{
        Object,
        State, //
    },
    uapi,
};
use kernel::{
    alloc::KVec,
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

/// Nobody has claimed the waiter yet.
const UNCLAIMED: i32 = -1;

/// One blocked wait call.
///
/// Several objects may try to satisfy the same waiter at once; `claimed` decides which one
/// does. Only the object that moves it away from [`UNCLAIMED`] changes its own state and wakes
/// the task, so a wait-any acquires exactly one object.
pub(crate) struct Waiter {
    task: ARef<Task>,
    owner: u32,
    /// The index of the object that satisfied the wait, or [`UNCLAIMED`].
    claimed: Atomic<i32>,
}

impl Waiter {
    fn claimed_index(&self) -> Option<u32> {
        let index = self.claimed.load(Relaxed);
        (index != UNCLAIMED).then_some(index as u32)
    }

    /// Claims the waiter for the object at `index`; false when another object won.
    fn try_claim(&self, index: u32) -> bool {
        self.claimed.cmpxchg(UNCLAIMED, index as i32, Full).is_ok()
    }
}

/// A waiter's place in one object's queue.
pub(crate) struct WaitEntry {
    waiter: Arc<Waiter>,
    /// Position of the object in the caller's array (the alert comes last).
    index: u32,
}

/// Offers the object with `state` to the queued `waiters`, oldest first, while it stays
/// signaled for them. Runs under the object's lock.
pub(crate) fn wake_any(state: &mut State, waiters: &[WaitEntry]) {
    for entry in waiters {
        let waiter = &entry.waiter;
        if !state.is_signaled(waiter.owner) {
            continue;
        }
        if waiter.try_claim(entry.index) {
            state.acquire(waiter.owner);
            waiter.task.wake_up();
        }
    }
}

/// The objects a wait is queued on; dropping it leaves every queue, on every return path.
struct Queued<'a> {
    objs: &'a [Arc<Object>],
    waiter: &'a Arc<Waiter>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        for obj in self.objs {
            obj.inner
                .lock()
                .any_waiters
                .retain(|entry| !Arc::ptr_eq(&entry.waiter, self.waiter));
        }
    }
}

/// Checks a wait request and resolves its fds (the alert last) into objects of `dev`.
fn objects(dev: &Arc<Device>, args: &uapi::WaitArgs) -> Result<KVec<Arc<Object>>> {
    if args.pad != 0 || args.flags & !uapi::WAIT_REALTIME != 0 || args.owner == 0 {
        return Err(EINVAL);
    }
    let count = args.count as usize;
    if count > uapi::MAX_WAIT_COUNT {
        return Err(EINVAL);
    }
    let mut fds = [0u8; uapi::MAX_WAIT_COUNT * size_of::<u32>()];
    let fds = &mut fds[..count * size_of::<u32>()];
    UserSlice::new(UserPtr::from_addr(args.objs as usize), fds.len())
        .reader()
        .read_slice(fds)?;

    let alert = (args.alert != 0).then_some(args.alert);
    let mut objs = KVec::with_capacity(count + 1, GFP_KERNEL)?;
    let fds = fds
        .chunks_exact(size_of::<u32>())
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    for fd in Iterator::chain(fds, alert) {
        let obj = ffi::object_from_fd(fd).ok_or(EINVAL)?;
        if !Arc::ptr_eq(&obj.dev, dev) {
            return Err(EINVAL);
        }
        objs.push(obj, GFP_KERNEL)?;
    }
    Ok(objs)
}

/// `NTSYNC_IOC_WAIT_ANY`: acquires the first signaled object, or sleeps until one is, the
/// deadline passes or a signal arrives.
pub(crate) fn wait_any(dev: &Arc<Device>, arg: usize) -> Result<isize> {
    let args: uapi::WaitArgs =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::WaitArgs>())
            .reader()
            .read()?;
    let objs = objects(dev, &args)?;
    let waiter = Arc::new(
        Waiter {
            task: ARef::from(&**kernel::current!()),
            owner: args.owner,
            claimed: Atomic::new(UNCLAIMED),
        },
        GFP_KERNEL,
    )?;

    let queued = Queued {
        objs: &objs,
        waiter: &waiter,
    };
    for (index, obj) in (0u32..).zip(objs.iter()) {
        let entry = WaitEntry {
            waiter: waiter.clone(),
            index,
        };
        obj.inner.lock().any_waiters.push(entry, GFP_ATOMIC)?;
    }

    // Objects come before the alert, and lower indices before higher ones: offering them in
    // array order makes the first signaled one win.
    for obj in objs.iter() {
        if waiter.claimed_index().is_some() {
            break;
        }
        let mut inner = obj.inner.lock();
        let inner = &mut *inner;
        wake_any(&mut inner.state, &inner.any_waiters);
    }

    let clock = if args.flags & uapi::WAIT_REALTIME != 0 {
        Clock::Realtime
    } else {
        Clock::Monotonic
    };
    let deadline = (args.timeout != uapi::TIMEOUT_INFINITE).then_some(args.timeout as i64);
    let wakeup = ffi::sleep_until(|| waiter.claimed_index().is_some(), deadline, clock);
    drop(queued);

    // An object may have been handed over after a signal or the deadline: report it, since
    // its state already changed.
    match waiter.claimed_index() {
        Some(index) => {
            UserSlice::new(
                UserPtr::from_addr(arg + uapi::WAIT_INDEX_OFFSET),
                size_of::<u32>(),
            )
            .writer()
            .write(&index)?;
            Ok(0)
        }
        None if wakeup == Wakeup::Interrupted => Err(ERESTARTSYS),
        None => Err(ETIMEDOUT),
    }
}
