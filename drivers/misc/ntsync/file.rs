// SPDX-License-Identifier: GPL-2.0

//! Object files: every object is the private data of an anonymous-inode file, whose fd is
//! what user space holds. Here are that file's operations, and the reference to an object that
//! holding its file gives.

use crate::ffi::fs::anon_inode;
use crate::object::Object;
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong,
        c_void, //
    },
    fs::{
        file::{
            flags::O_RDWR,
            FileDescriptorReservation, //
        },
        File,
        LocalFile, //
    },
    list::ListArc,
    prelude::*,
    sync::aref::ARef,
};

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
        // SAFETY: The operations of `OBJECT_FOPS` expect `private_data` to point to an object
        // that its device lists until the file's release takes it off: the object is listed
        // below, before anything can reach the file, and only `object_release` unlists it.
        // Without a file, `obj` goes on return.
        let file = unsafe { anon_inode::getfile(c"ntsync", &OBJECT_FOPS.0, private, O_RDWR) }?;
        // INVARIANT: Made with `OBJECT_FOPS` and `private` just above.
        let file = Self(file);
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
