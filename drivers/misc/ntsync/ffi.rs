// SPDX-License-Identifier: GPL-2.0

//! The kernel crate as the upstream series leaves it, for kernels that lack the series.
//!
//! The series (`make series`) begins with patches to the kernel crate that add what this driver
//! needs and 7.3 does not have: single-word user accesses, an interruptible sleep until an
//! absolute deadline, anonymous-inode files, and misc devices with a node mode and a fixed
//! minor. Built out of tree, the driver cannot change the kernel crate, so this module stands in
//! for it: `crate::ffi::X` is `kernel::X` plus the series' additions, and the driver names each
//! addition as `crate::ffi::...`, which the series rewrites to `kernel::...`.
//!
//! The additions are not copies: every region between an `upstream:` comment and
//! `upstream: end`, here and in `ntsync_glue.c`, is the very text that the series moves into
//! the kernel tree (with `crate::ffi::` read as `crate::`, and the glue's `ntsync_rs_` prefix as
//! `rust_helper_`), so the kernel-crate patches and this module cannot drift apart. What lies
//! outside the regions only fits them to a module of a driver: re-exports of the kernel crate,
//! the `bindings` of the C functions that the kernel crate will bind (`bindings.rs`), and stand-ins
//! for the parts of the kernel crate that a region needs but a driver cannot reach.

// The items are `pub`, as they are in the kernel crate; not all of them are used here.
#![allow(unreachable_pub, dead_code)]

pub use kernel::*;

pub mod bindings;
pub mod fs;
pub mod miscdevice;
pub mod task;
pub mod uaccess;
