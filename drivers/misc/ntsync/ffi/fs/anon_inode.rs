// SPDX-License-Identifier: GPL-2.0

// upstream: rust/kernel/fs/anon_inode.rs, new
//! Anonymous-inode files.
//!
//! Files that belong to no file system, such as the objects behind the file descriptors that
//! some ioctls return.
//!
//! C header: [`include/linux/anon_inodes.h`](srctree/include/linux/anon_inodes.h)

use crate::ffi::{
    bindings,
    fs::File,
    prelude::*,
    sync::aref::ARef, //
};
use core::ptr::NonNull;

/// Makes a new file named `name`, on the shared anonymous inode, with the operations `fops`,
/// the private data `private` and the open flags `flags` (such as
/// [`flags::O_RDWR`](crate::ffi::fs::file::flags::O_RDWR)), as `anon_inode_getfile()` does.
///
/// The file has no file descriptor yet: a
/// [`FileDescriptorReservation`](crate::ffi::fs::file::FileDescriptorReservation) can install
/// it. Dropping the returned reference instead releases the file.
///
/// # Safety
///
/// The operations of `fops` must be fit to serve a file whose `private_data` is `private`,
/// from the moment this returns until the file's `release`; on success, that `release` owns
/// whatever `private` stands for.
pub unsafe fn getfile(
    name: &CStr,
    fops: &'static bindings::file_operations,
    private: *mut c_void,
    flags: u32,
) -> Result<ARef<File>> {
    // SAFETY: `name` is a NUL-terminated string and `fops` lives forever; the caller vouches
    // for `private`.
    let raw =
        unsafe { bindings::anon_inode_getfile(name.as_char_ptr(), fops, private, flags as c_int) };
    crate::ffi::error::from_err_ptr(raw)?;
    // SAFETY: `raw` is a new file whose single reference we own; `File` wraps `struct file`
    // transparently, and the file was never shared, so nobody holds an `fdget_pos` region on
    // it.
    Ok(unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(raw))) })
}
// upstream: end
