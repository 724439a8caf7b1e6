// SPDX-License-Identifier: GPL-2.0

//! `NTSYNC_IOC_WAIT_ANY` and `NTSYNC_IOC_WAIT_ALL`: the request sized, its objects taken at
//! once when they are signaled, and otherwise a waiter queued on them until they are.
//!
//! Below this file: the request's fds resolved (`request.rs`) into slots (`slots.rs`), the
//! waiter and the wake-any rule (`waiter.rs`), the wait-all rule (`wake.rs`), and the queueing
//! and sleep (`queued.rs`).

use crate::ffi::uaccess::put_user_u32;
use crate::{
    device::Device,
    object::{
        read_user,
        Object, //
    },
    queued::{
        sleep,
        Queued, //
    },
    request::FD_CHUNK,
    slots::{
        Objects,
        Slots, //
    },
    uapi,
    waiter::{
        Deadline,
        Waiter, //
    },
    wake::{
        take_all,
        Acquired, //
    },
};
use core::pin::Pin;
use kernel::{
    prelude::*,
    uaccess::UserPtr, //
};

/// Room for every object a wait may name, and its alert.
const SLOTS: usize = uapi::MAX_WAIT_COUNT + 1;

/// Acquires the first signaled object, sleeping until there is one if need be.
fn wait_any<const N: usize>(
    dev: &Device<Object>,
    objs: &Slots<Object, N>,
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
fn wait_one(
    dev: &Device<Object>,
    objs: &Objects<Object>,
    obj: &Object,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
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
    dev: &Device<Object>,
    objs: &Slots<Object, N>,
    args: &uapi::WaitArgs,
) -> Result<Acquired> {
    let task = kernel::current!();
    let waiter = |first| {
        let waiter = Waiter::new(task, args.owner, true, Deadline::from_args(args), objs);
        // The next check starts where this one failed.
        waiter.set_blocker(first);
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

/// Waits with more slots than this keep their [`Queued`] on the heap rather than on the
/// kernel stack, where its entries would take more than a kilobyte; only a wait that sleeps
/// allocates it.
const STACK_SLOTS: usize = 4;

/// Runs `f` with `waiter` made into a [`Queued`] with `N` entries, pinned in this frame or, for
/// the largest waits, on the heap.
fn with_queued<'a, const N: usize, R>(
    dev: &'a Device<Object>,
    waiter: Waiter<'a, Object>,
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
fn wait_in<const N: usize>(
    dev: &Device<Object>,
    args: &uapi::WaitArgs,
    all: bool,
) -> Result<Acquired> {
    let run = |objs: &mut Slots<Object, N>| {
        objs.fill_from_user(dev, args, all)?;
        if all {
            wait_all(dev, objs, args)
        } else {
            wait_any(dev, objs, args)
        }
    };
    if N > 2 * FD_CHUNK {
        run(&mut *KBox::init(
            Slots::<Object, N>::empty_in_place(),
            GFP_KERNEL,
        )?)
    } else {
        run(&mut Slots::<Object, N>::empty())
    }
}

/// `NTSYNC_IOC_WAIT_ANY` (`all` false) and `NTSYNC_IOC_WAIT_ALL`: acquires the first
/// signaled object, or all objects at once, sleeping until that is possible, the alert is
/// signaled, the deadline passes or a signal arrives. Only `index` is written back.
pub(crate) fn wait(dev: &Device<Object>, arg: usize, all: bool) -> Result<isize> {
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
