// SPDX-License-Identifier: GPL-2.0

//! [`kernel::task`] with the interruptible sleep until an absolute deadline that the series
//! adds.

// All of the kernel crate's module, which this one completes, used or not.
#[allow(unused_imports)]
pub use kernel::task::*;

use crate::ffi::bindings;

// upstream: rust/kernel/task.rs, before "/// Annotation for functions that can sleep."
/// The clock that a [`sleep_until`] deadline is measured on.
///
/// A value rather than a [`ClockSource`](crate::ffi::time::ClockSource) type: the clock of a
/// deadline is often chosen at run time, by a flag that user space passes.
#[derive(Clone, Copy)]
pub enum Clock {
    /// `CLOCK_MONOTONIC` as the calling task sees it, i.e. in its time namespace.
    Monotonic,
    /// `CLOCK_REALTIME`, which time namespaces do not change.
    Realtime,
}

/// How a [`sleep_until`] ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// The condition became true.
    Done,
    /// The deadline passed.
    TimedOut,
    /// A signal is pending.
    Interrupted,
}

/// Sleeps interruptibly until `done()` returns true, the absolute deadline `deadline_ns` on
/// `clock` passes (never, for `None`), or a signal arrives, as the C pattern of
/// `set_current_state(TASK_INTERRUPTIBLE)` and `schedule_hrtimeout_range_clock()` does.
///
/// Whoever makes `done()` true must then wake this task with [`Task::wake_up`]. `done()` is
/// checked after the task is marked as sleeping, so such a wake-up cannot be lost; it is
/// checked again after every wake-up, spurious ones included. A deadline on
/// [`Clock::Monotonic`] is in the calling task's time namespace, as `clock_nanosleep()` takes it.
///
/// Must be called in a context that may sleep. Returns with the task running.
pub fn sleep_until(done: impl Fn() -> bool, deadline_ns: Option<i64>, clock: Clock) -> Wakeup {
    let (clock_id, mut expires) = match clock {
        Clock::Monotonic => {
            let id = bindings::CLOCK_MONOTONIC as bindings::clockid_t;
            // SAFETY: A pure conversion of the calling task's namespace time to host time.
            (
                id,
                deadline_ns.map(|ns| unsafe { bindings::timens_ktime_to_host(id, ns) }),
            )
        }
        Clock::Realtime => (bindings::CLOCK_REALTIME as bindings::clockid_t, deadline_ns),
    };
    let expires_ptr = match expires.as_mut() {
        Some(ns) => core::ptr::from_mut(ns),
        None => core::ptr::null_mut(),
    };
    let outcome = loop {
        if crate::ffi::current!().signal_pending() {
            break Wakeup::Interrupted;
        }
        // SAFETY: Marks the calling task as about to sleep; it is set back to running below.
        unsafe { bindings::set_current_state(bindings::TASK_INTERRUPTIBLE) };
        if done() {
            break Wakeup::Done;
        }
        // SAFETY: `expires_ptr` is null or points at `expires`, which outlives the call; the
        // task state was set just above, as the function requires.
        let ret = unsafe {
            bindings::schedule_hrtimeout_range_clock(
                expires_ptr,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                clock_id,
            )
        };
        if ret == 0 {
            break Wakeup::TimedOut;
        }
    };
    // SAFETY: Restores the running state that was changed above; the task only ever changes
    // its own state.
    unsafe { bindings::__set_current_state(bindings::TASK_RUNNING) };
    outcome
}

// upstream: end
