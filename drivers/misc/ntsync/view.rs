// SPDX-License-Identifier: GPL-2.0

//! The debugfs view: `/sys/kernel/debug/ntsync/<device id>` lists, for one open of
//! `/dev/ntsync`, every object with its state and every blocked wait, so that a hung program
//! can be diagnosed with `cat`.
//!
//! Reading a view copies the device's list of objects, then looks at one object at a time,
//! under that object's locks only, taken in the order waits take them: each object's lines
//! are consistent, the listing never changes state, and a program using the device waits for
//! the view no longer than for another ioctl on that object.

use crate::ffi::task::Clock;
use crate::{
    device::Device,
    object::Object,
    queue::LinkedEntry,
    state::State,
    waiter::{
        Deadline,
        Waiter, //
    },
};
use kernel::{
    debugfs::{
        Dir,
        Writer, //
    },
    fmt,
    prelude::*,
    sync::{
        global_lock,
        Arc, //
    },
};

global_lock! {
    // SAFETY: `Root::create` initialises the lock, once, when the module loads and before the
    // device is registered; nothing else uses it before.
    unsafe(uninit) static ROOT: Mutex<Option<Dir>> = None;
}

/// The `ntsync` directory in debugfs, for as long as the module is loaded.
pub(crate) struct Root(());

impl Root {
    /// Makes the directory; called once, from the module's init.
    pub(crate) fn create() -> Self {
        // SAFETY: Called once per load of the module, before anything else uses `ROOT`.
        unsafe { ROOT.init() };
        // Without debugfs, or without memory for it, devices work and have no view.
        *ROOT.lock() = Some(Dir::new(c"ntsync"));
        Root(())
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        ROOT.lock().take();
    }
}

/// Where a new device puts its view. `Root` lives as long as the module and devices are only
/// opened while it is loaded, so there always is one.
pub(crate) fn root() -> Result<Dir> {
    ROOT.lock().clone().ok_or(ENODEV)
}

/// The contents of one device's debugfs file.
pub(crate) struct View(Arc<Device<Object>>);

impl View {
    pub(crate) fn new(dev: Arc<Device<Object>>) -> Self {
        View(dev)
    }
}

impl Writer for View {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dev = &*self.0;
        writeln!(f, "device {} opened by pid {}", dev.id, dev.opener)?;
        let Ok(objects) = dev.objects() else {
            return writeln!(f, "no memory to list the objects");
        };
        for obj in &objects {
            write!(f, "object {}: ", obj.id)?;
            describe_state(&obj.lock().state, f)?;
        }
        // A waiter's line goes with the first of its objects, in the locks of that object's
        // queues, which keep the waiter from leaving while it is described.
        for obj in &objects {
            let all = dev.wait_all.lock();
            let inner = obj.lock_held(&all);
            for entry in Iterator::chain(
                inner.any_waiters.iter(),
                obj.all_waiters.access(&all).iter(),
            ) {
                if is_first(entry, obj) {
                    describe_waiter(entry.waiter(), f)?;
                }
            }
        }
        Ok(())
    }
}

fn describe_state(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match state {
        State::Sem(sem) => writeln!(f, "semaphore count {} max {}", sem.count(), sem.max()),
        State::Mutex(mutex) => {
            write!(f, "mutex owner {} count {}", mutex.owner(), mutex.count())?;
            if mutex.is_abandoned() {
                write!(f, " abandoned")?;
            }
            writeln!(f)
        }
        State::Event(event) => {
            let kind = if event.is_manual() { "manual" } else { "auto" };
            let signaled = if event.is_signaled() { "" } else { "un" };
            writeln!(f, "event {kind} {signaled}signaled")
        }
    }
}

/// Whether `entry`, in `obj`'s queues, is its waiter's first: a waiter has an entry on each of
/// its objects, and a wait-any may name one object more than once, but a listing of every queue
/// should show it once.
fn is_first(entry: &LinkedEntry<Waiter<'_, Object>>, obj: &Object) -> bool {
    entry.index() == 0
        && entry
            .waiter()
            .objs()
            .iter()
            .next()
            .is_some_and(|(_, first)| core::ptr::eq(first, obj))
}

/// One line: who waits, how, on which objects and until when.
fn describe_waiter(waiter: &Waiter<'_, Object>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let kind = if waiter.is_all() { "all" } else { "any" };
    write!(
        f,
        "waiter tid {} owner {}: wait-{kind} on objects",
        waiter.task().pid(),
        waiter.owner()
    )?;
    for obj in waiter.objs().objects() {
        write!(f, " {}", obj.id)?;
    }
    if let Some(alert) = waiter.objs().alert() {
        write!(f, ", alert {}", alert.id)?;
    }
    match waiter.deadline() {
        None => write!(f, ", no deadline")?,
        Some(Deadline { clock, ns }) => {
            let clock = match clock {
                Clock::Monotonic => "monotonic",
                Clock::Realtime => "realtime",
            };
            write!(f, ", deadline {clock} {ns} ns")?
        }
    }
    if let Some(index) = waiter.claimed_index() {
        write!(f, ", satisfied with index {index}")?;
    }
    writeln!(f)
}
