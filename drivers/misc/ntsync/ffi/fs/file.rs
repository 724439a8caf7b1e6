// SPDX-License-Identifier: GPL-2.0

//! [`kernel::fs::file`] with the file functions that the series adds.

// All of the kernel crate's module, which this one completes, used or not.
#[allow(unused_imports)]
pub use kernel::fs::file::*;

use crate::ffi::bindings;

// upstream: rust/kernel/fs/file.rs, before "/// Represents the [`EBADF`] error code."
/// Makes `file` refuse `llseek()`, `pread()` and `pwrite()`, as `nonseekable_open()` does.
///
/// # Safety
///
/// Must be called while `file` is being opened (from its `open` operation, or from whatever
/// made it before anything else can reach it), as its mode may only change then.
#[inline]
pub unsafe fn nonseekable_open(file: &File) {
    let raw = file.as_ptr();
    // SAFETY: `raw` is a live file; the caller promises that nothing else can look at its mode
    // yet. `nonseekable_open()` only uses its inode argument to ignore it.
    unsafe { bindings::nonseekable_open((*raw).f_inode, raw) };
}

/// Completes the releases of files whose last reference a kernel thread dropped, as
/// `flush_delayed_fput()` does.
///
/// Such a release is deferred to a workqueue; a test that made files and dropped them can
/// wait here until they are gone, along with the module references their operations held.
///
/// Must be called in a context that may sleep.
#[inline]
pub fn flush_delayed_fput() {
    // SAFETY: No preconditions beyond being able to sleep.
    unsafe { bindings::flush_delayed_fput() };
}

// upstream: end
