// SPDX-License-Identifier: GPL-2.0

//! [`kernel::uaccess`] with the single-word accesses that the series adds.

// All of the kernel crate's module, which this one completes, used or not.
#[allow(unused_imports)]
pub use kernel::uaccess::*;

use crate::ffi::{
    bindings,
    prelude::*, //
};

// upstream: rust/kernel/uaccess.rs, before "/// A pointer to an area in userspace memory, which can be either read-only or read-write."
/// Reads the `u32` at `ptr` with a single access, as `get_user()` does.
///
/// Where a [`UserSliceReader`] copies bytes, this is one naturally aligned load: a value that
/// another thread changes meanwhile is seen either before or after the change, never in part.
/// This suits the one-word arguments of an ioctl, which need no slice.
///
/// Fails with [`EFAULT`] if `ptr` is not a user address or the access faults.
#[inline]
pub fn get_user_u32(ptr: UserPtr) -> Result<u32> {
    let mut val = 0;
    // SAFETY: `get_user()` checks that `ptr` is a user address and handles a fault itself; `val`
    // is a local that outlives the call.
    match unsafe { bindings::get_user_u32(&mut val, ptr.as_const_ptr().cast()) } {
        0 => Ok(val),
        _ => Err(EFAULT),
    }
}

/// Writes `val` to the `u32` at `ptr` with a single access, as `put_user()` does.
///
/// Where a [`UserSliceWriter`] copies bytes, and may have written some of them when a fault
/// stops it, this is one naturally aligned store: it either writes the whole value or nothing.
///
/// Fails with [`EFAULT`] if `ptr` is not a user address or the access faults.
#[inline]
pub fn put_user_u32(ptr: UserPtr, val: u32) -> Result {
    // SAFETY: `put_user()` checks that `ptr` is a user address and handles a fault itself.
    match unsafe { bindings::put_user_u32(val, ptr.as_mut_ptr().cast()) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

// upstream: end
