// SPDX-License-Identifier: GPL-2.0

//! The kernel facilities that have no Rust abstraction in this kernel, wrapped: anonymous
//! inode files, single-word user memory access, a misc device with a file mode, and the
//! absolute-deadline sleep. This module knows nothing of the driver: the rest builds on it.
//!
//! Elsewhere, `unsafe` only marks the file operations of object files and what they rely on
//! (`object_file.rs`, over the typed private data of `file.rs`), the byte-layout promises of
//! `uapi.rs`, the one-time initialisation of the debugfs root's global lock in `view.rs`, the
//! wait queues of `queue.rs` (rings threaded through entries pinned with their waiters), and,
//! in `queued.rs` and `wait.rs`, the promise to queue each entry where it will be taken out
//! again.

use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_char,
        c_int,
        c_void, //
    },
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions, //
    },
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};

// `struct file` ends in zero-sized arrays that the lint flags; the C side only ever sees
// pointers to it, exactly as in `kernel::bindings`.
#[allow(improper_ctypes)]
extern "C" {
    fn anon_inode_getfile(
        name: *const c_char,
        fops: *const bindings::file_operations,
        priv_: *mut c_void,
        flags: c_int,
    ) -> *mut bindings::file;

    // ntsync_glue.c
    fn ntsync_rs_set_current_interruptible();
    fn ntsync_rs_set_current_running();
    fn ntsync_rs_put_u32(uaddr: *mut u32, val: u32) -> c_int;
    fn ntsync_rs_get_u32(uaddr: *const u32, val: *mut u32) -> c_int;
    fn ntsync_rs_timens_to_host(
        clock: bindings::clockid_t,
        tim: bindings::ktime_t,
    ) -> bindings::ktime_t;
}

/// Makes a new anonymous-inode file, named `name`, with the operations `fops` and the private
/// data `private`; it has no fd yet.
///
/// # Safety
///
/// `fops` must be fit to serve a file whose `private_data` is `private` from the moment this
/// returns until the file's `release`, which on success owns whatever `private` stands for.
pub(crate) unsafe fn anon_inode_file(
    name: &CStr,
    fops: &'static bindings::file_operations,
    private: *mut c_void,
) -> Result<ARef<File>> {
    // SAFETY: The name is a NUL-terminated string and `fops` lives forever; the caller
    // vouches for `private`.
    let raw = unsafe { anon_inode_getfile(name.as_char_ptr(), fops, private, O_RDWR) };
    kernel::error::from_err_ptr(raw)?;
    // SAFETY: `raw` is a new file whose single reference we own; `File` wraps `struct file`
    // transparently, and the file was never shared, so nobody holds an `fdget_pos` region on
    // it.
    Ok(unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(raw))) })
}

/// Files open for reading and writing.
const O_RDWR: c_int = bindings::O_RDWR as c_int;

/// Completes the release of files whose last reference a kernel thread dropped. Such a
/// release is deferred to a workqueue, and an object file holds the module until it runs: a
/// KUnit test that made object files while the module loaded would otherwise keep the module
/// busy for a moment after `insmod` returns.
#[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
pub(crate) fn flush_delayed_fput() {
    // SAFETY: No preconditions; it may sleep, and KUnit tests run in process context.
    unsafe { bindings::flush_delayed_fput() };
}

/// Stores `val` at user address `addr` in one piece, as `put_user()` does: on a fault nothing
/// is written, where a copy would leave the bytes before the fault written.
pub(crate) fn put_user_u32(addr: usize, val: u32) -> Result {
    // SAFETY: `put_user()` validates the user address and handles the fault itself.
    match unsafe { ntsync_rs_put_u32(addr as *mut u32, val) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

/// Loads the `u32` at user address `addr`, as `get_user()` does: the one-word arguments of
/// the object ioctls need no general copy.
pub(crate) fn get_user_u32(addr: usize) -> Result<u32> {
    let mut val = 0;
    // SAFETY: `get_user()` validates the user address and handles the fault itself; `val` is
    // a live local.
    match unsafe { ntsync_rs_get_u32(addr as *const u32, &mut val) } {
        0 => Ok(val),
        _ => Err(EFAULT),
    }
}

/// Makes an open `/dev/ntsync` file refuse positioned I/O (`ESPIPE`), as upstream's does.
pub(crate) fn nonseekable(file: &File) {
    let raw = file.as_ptr();
    // SAFETY: Called from the device's open, where the file is being set up and its mode may
    // be changed; `f_inode` is the device inode.
    unsafe { bindings::nonseekable_open((*raw).f_inode, raw) };
}

/// A misc device registration that, unlike
/// [`MiscDeviceRegistration`](kernel::miscdevice::MiscDeviceRegistration), sets the device
/// node's mode, which Wine needs to be `0666`, and asks for a fixed minor number.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] and registered
/// with `misc_register()` until this value is dropped.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may run on any thread.
unsafe impl<T> Send for MiscRegistration<T> {}
// SAFETY: There are no `&self` methods.
unsafe impl<T> Sync for MiscRegistration<T> {}

impl<T: MiscDevice> MiscRegistration<T> {
    /// Registers a misc device named `name` whose node gets `mode`, with the minor number
    /// `minor` if it is free and a dynamic one otherwise.
    ///
    /// `T::open` receives a `&MiscDeviceRegistration<T>` that points at this registration's
    /// `struct miscdevice`. That type is `repr(transparent)` over the same
    /// `Opaque<bindings::miscdevice>` as this one, so the reference is valid; `T::open` must
    /// not drop or deregister through it.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        minor: i32,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw = MiscDeviceOptions { name }.into_raw::<T>();
                raw.mode = mode;
                raw.minor = minor;
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a valid miscdevice, pinned until `PinnedDrop`
                // deregisters it.
                let ret = unsafe { bindings::misc_register(slot) };
                if ret != -(bindings::EBUSY as i32) {
                    // INVARIANT: On success the device stays registered until drop.
                    return to_result(ret);
                }
                // Another driver has the minor: a node made from the module alias would reach
                // it, but a node that udev makes still reaches us.
                // SAFETY: `misc_register` failed and left `slot` unregistered; nothing else
                // refers to it.
                unsafe { (*slot).minor = bindings::MISC_DYNAMIC_MINOR as i32 };
                // SAFETY: As above.
                // INVARIANT: As above.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
            _t: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered, by the type invariant.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The clock a wait deadline is measured on.
#[derive(Clone, Copy)]
pub(crate) enum Clock {
    /// `CLOCK_MONOTONIC` as the calling task sees it, i.e. in its time namespace.
    Monotonic,
    Realtime,
}

/// How a sleep ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wakeup {
    /// `done()` returned true.
    Done,
    /// The deadline passed.
    TimedOut,
    /// A signal is pending.
    Interrupted,
}

/// Sleeps interruptibly until `done()` returns true, the absolute deadline `deadline_ns` on
/// `clock` passes (never, for `None`), or a signal arrives.
///
/// Whoever makes `done()` true must then wake this task with [`Task::wake_up`]; `done()` is
/// checked after the task is marked as sleeping, so a wake-up cannot be lost.
///
/// [`Task::wake_up`]: kernel::task::Task::wake_up
pub(crate) fn sleep_until(
    done: impl Fn() -> bool,
    deadline_ns: Option<i64>,
    clock: Clock,
) -> Wakeup {
    let (clock_id, mut expires) = match clock {
        Clock::Monotonic => {
            let id = bindings::CLOCK_MONOTONIC as bindings::clockid_t;
            // SAFETY: A pure conversion of the calling task's namespace time to host time.
            (
                id,
                deadline_ns.map(|ns| unsafe { ntsync_rs_timens_to_host(id, ns) }),
            )
        }
        Clock::Realtime => (bindings::CLOCK_REALTIME as bindings::clockid_t, deadline_ns),
    };
    let expires_ptr = match expires.as_mut() {
        Some(ns) => core::ptr::from_mut(ns),
        None => core::ptr::null_mut(),
    };
    let outcome = loop {
        if kernel::current!().signal_pending() {
            break Wakeup::Interrupted;
        }
        // SAFETY: Marks the calling task as about to sleep; it is set back to running below.
        unsafe { ntsync_rs_set_current_interruptible() };
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
    // SAFETY: Restores the running state that was changed above.
    unsafe { ntsync_rs_set_current_running() };
    outcome
}
