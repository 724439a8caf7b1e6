// SPDX-License-Identifier: GPL-2.0

//! Files that carry a `T`: every object is the private data of an anonymous-inode file, whose
//! fd is what user space holds, and holding the file keeps the object alive. This file types
//! that pointer and knows nothing of what a `T` is; the operations of object files are in
//! `object_file.rs`.

use crate::ffi::fs::anon_inode;
use core::marker::PhantomData;
use kernel::{
    bindings,
    ffi::c_void,
    fs::{
        file::flags::O_RDWR,
        File,
        LocalFile, //
    },
    prelude::*,
    sync::aref::ARef,
};

/// A counted reference to the `T` that is the private data of a file, held through the file
/// as the C driver does: a wait keeps every object it names alive this way, so closing the fd
/// meanwhile is harmless.
///
/// # Invariants
///
/// The file's `private_data` points to a `T` that stays alive until the file is released.
pub(crate) struct FileRef<T>(ARef<File>, PhantomData<T>);

impl<T> FileRef<T> {
    /// Makes a new anonymous-inode file, named `name`, with the operations `fops` and `private`
    /// as its private data; it has no fd yet.
    ///
    /// # Safety
    ///
    /// `fops` must be fit to serve a file whose `private_data` is `private`, and `private` must
    /// stay alive until the file's release.
    pub(crate) unsafe fn new_file(
        name: &CStr,
        fops: &'static bindings::file_operations,
        private: &T,
    ) -> Result<Self> {
        let ptr = core::ptr::from_ref(private).cast_mut().cast::<c_void>();
        // SAFETY: The caller vouches for `fops` and for the life of `private`.
        let file = unsafe { anon_inode::getfile(name, fops, ptr, O_RDWR) }?;
        // INVARIANT: The caller keeps `private` alive until the release.
        Ok(Self(file, PhantomData))
    }

    /// The `T` behind `fd`, or `None` when `fd` is not a file with the operations `fops`.
    ///
    /// # Safety
    ///
    /// Every file with the operations `fops` has as its `private_data` a `T` that stays alive
    /// until the file is released.
    pub(crate) unsafe fn from_fd(
        fd: u32,
        fops: &'static bindings::file_operations,
    ) -> Option<Self> {
        let file = LocalFile::fget(fd).ok()?;
        // SAFETY: `file` holds a reference, so the file is live; its `f_op` never changes.
        if !core::ptr::eq(unsafe { (*file.as_ptr()).f_op }, fops) {
            return None;
        }
        // SAFETY: Waits run inside an ioctl, which holds no `fdget_pos` region, and these files
        // have no file position anyway.
        // INVARIANT: The caller vouches for the files with `fops`.
        Some(Self(
            unsafe { LocalFile::assume_no_fdget_pos(file) },
            PhantomData,
        ))
    }

    /// The file, to install as an fd.
    pub(crate) fn into_file(self) -> ARef<File> {
        self.0
    }
}

impl<T> core::ops::Deref for FileRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant, `private_data` points to a `T` that stays alive until
        // the file is released, which `self.0` keeps from happening: the `T` outlives the
        // returned reference.
        unsafe { &*(*self.0.as_ptr()).private_data.cast::<T>() }
    }
}
