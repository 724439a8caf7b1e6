// SPDX-License-Identifier: GPL-2.0

//! The only place where this driver touches C directly.
//!
//! Each item wraps a kernel facility that has no Rust abstraction in this kernel: anonymous
//! inode files for objects, a misc device with a file mode, and the absolute-deadline sleep.
//! Elsewhere, `unsafe` only marks the byte-layout promises of `uapi.rs`, the one-time
//! initialisation of the debugfs root's global lock in `view.rs`, the wait queues of
//! `queue.rs` (lists threaded through entries pinned with their waiters), and, in `wait.rs`,
//! the promise to queue each entry where it will be taken out again.

use crate::object::Object;
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
        c_long,
        c_uint,
        c_ulong,
        c_void, //
    },
    fs::{
        file::FileDescriptorReservation,
        File,
        LocalFile, //
    },
    list::ListArc,
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

/// The file operations of an object file. A `static`, so that its address identifies object
/// files: see [`ObjectRef::from_fd`].
struct ObjectFops(bindings::file_operations);

// SAFETY: The table is never written after initialisation; the raw pointers inside it (the
// owning module and functions) are valid from any thread.
unsafe impl Sync for ObjectFops {}

static OBJECT_FOPS: ObjectFops = ObjectFops(bindings::file_operations {
    owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
    release: Some(object_release),
    unlocked_ioctl: Some(object_ioctl),
    // Every argument is a pointer to a structure laid out alike for 32- and 64-bit callers,
    // so a 32-bit caller only needs its pointer widened. The binding is `None` without
    // CONFIG_COMPAT.
    compat_ioctl: bindings::compat_ptr_ioctl,
    ..pin_init::zeroed()
});

/// # Safety
///
/// `file` is an object file being released: its `private_data` came from
/// [`ObjectRef::new_file`] and is not used again.
unsafe extern "C" fn object_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: The file was made by `ObjectRef::new_file`, so `private_data` points to an
    // object that its device lists until this release takes it off; no other file operation
    // can run any more.
    let obj = unsafe { &*(*file).private_data.cast::<Object>() };
    let listed = obj.dev.unlist(obj);
    // Dropped once nothing borrows the object: it may be the last reference to it, and
    // through it to its device.
    drop(listed);
    0
}

/// # Safety
///
/// `file` is a live object file.
unsafe extern "C" fn object_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The object of a live object file stays listed, and so alive, until the file's
    // release, which cannot run while this ioctl holds the file.
    let obj = unsafe { &*(*file).private_data.cast::<Object>() };
    match obj.ioctl(cmd, arg) {
        Ok(ret) => ret as c_long,
        Err(err) => err.to_errno() as c_long,
    }
}

/// Makes `obj` a new anonymous-inode file and installs it as a close-on-exec fd.
pub(crate) fn install_object(obj: ListArc<Object>) -> Result<u32> {
    // Reserved first: once the file exists, failing would have to undo more.
    let reservation = FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC)?;
    let file = ObjectRef::new_file(obj)?;
    let fd = reservation.reserved_fd();
    reservation.fd_install(file.0);
    Ok(fd)
}

/// A counted reference to an object, held through its file as the C driver does: a wait
/// keeps every object it names alive this way, so closing the fd meanwhile is harmless.
///
/// # Invariants
///
/// The file was made by [`ObjectRef::new_file`], so its `private_data` points to an object
/// that its device lists, keeping it alive, until the file is released.
pub(crate) struct ObjectRef(ARef<File>);

impl ObjectRef {
    /// Makes `obj` a new anonymous-inode file, with no fd yet, and lists it in its device,
    /// which holds it for the file: the file needs no reference of its own.
    pub(crate) fn new_file(obj: ListArc<Object>) -> Result<Self> {
        let private = core::ptr::from_ref::<Object>(&obj)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: The name is a NUL-terminated string and the fops table is static. On
        // success the file points to the object, which is listed below before anything can
        // reach the file, and taken off the list only by `object_release`.
        let raw = unsafe {
            anon_inode_getfile(
                c"ntsync".as_char_ptr(),
                &OBJECT_FOPS.0,
                private,
                bindings::O_RDWR as c_int,
            )
        };
        // Without a file, `obj` goes here.
        kernel::error::from_err_ptr(raw)?;
        // SAFETY: `raw` is a new file whose single reference we own; `File` wraps
        // `struct file` transparently, and the file was never shared, so nobody holds an
        // `fdget_pos` region on it.
        // INVARIANT: Made with `OBJECT_FOPS` and `private` just above.
        let file = Self(unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(raw))) });
        // Listed only now that the file exists: its release takes the object off the list.
        file.dev.list(obj);
        Ok(file)
    }

    /// The object behind `fd`, or `None` when `fd` is not an open ntsync object.
    pub(crate) fn from_fd(fd: u32) -> Option<Self> {
        let file = LocalFile::fget(fd).ok()?;
        // SAFETY: `file` holds a reference, so the file is live; its `f_op` never changes.
        if !core::ptr::eq(unsafe { (*file.as_ptr()).f_op }, &OBJECT_FOPS.0) {
            return None;
        }
        // SAFETY: Waits run inside an ioctl, which holds no `fdget_pos` region, and object
        // files have no file position anyway.
        // INVARIANT: Only `new_file` makes files with `OBJECT_FOPS`.
        Some(Self(unsafe { LocalFile::assume_no_fdget_pos(file) }))
    }
}

impl core::ops::Deref for ObjectRef {
    type Target = Object;

    fn deref(&self) -> &Object {
        // SAFETY: By the type invariant, `private_data` points to an object that stays alive
        // until the file is released, which `self.0` keeps from happening: the object
        // outlives the returned reference.
        unsafe { &*(*self.0.as_ptr()).private_data.cast::<Object>() }
    }
}

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
