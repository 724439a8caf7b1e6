// SPDX-License-Identifier: GPL-2.0

//! Mirrors of `include/uapi/linux/ntsync.h`.
//!
//! Every layout and ioctl number is checked at build time against the values the C header
//! produces, so a drift from the ABI that Wine is built against cannot compile.

use core::mem::{
    offset_of,
    size_of, //
};
use kernel::{
    ioctl::{
        _IOR,
        _IOW,
        _IOWR, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

/// `struct ntsync_sem_args`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct SemArgs {
    pub(crate) count: u32,
    pub(crate) max: u32,
}

/// `struct ntsync_mutex_args`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct MutexArgs {
    pub(crate) owner: u32,
    pub(crate) count: u32,
}

/// `struct ntsync_event_args`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct EventArgs {
    pub(crate) manual: u32,
    pub(crate) signaled: u32,
}

/// `struct ntsync_wait_args`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct WaitArgs {
    pub(crate) timeout: u64,
    pub(crate) objs: u64,
    pub(crate) count: u32,
    pub(crate) index: u32,
    pub(crate) flags: u32,
    pub(crate) owner: u32,
    pub(crate) alert: u32,
    pub(crate) pad: u32,
}

// SAFETY: Each type is `repr(C)` and made only of `u32`/`u64` fields laid out without padding
// (checked below), so every byte is initialised and every bit pattern is a valid value.
unsafe impl FromBytes for SemArgs {}
// SAFETY: As above.
unsafe impl AsBytes for SemArgs {}
// SAFETY: As above.
unsafe impl FromBytes for MutexArgs {}
// SAFETY: As above.
unsafe impl AsBytes for MutexArgs {}
// SAFETY: As above.
unsafe impl FromBytes for EventArgs {}
// SAFETY: As above.
unsafe impl AsBytes for EventArgs {}
// SAFETY: As above.
unsafe impl FromBytes for WaitArgs {}
// SAFETY: As above.
unsafe impl AsBytes for WaitArgs {}

/// `NTSYNC_WAIT_REALTIME`: the timeout is on `CLOCK_REALTIME` rather than `CLOCK_MONOTONIC`.
pub(crate) const WAIT_REALTIME: u32 = 0x1;
/// `NTSYNC_MAX_WAIT_COUNT`.
pub(crate) const MAX_WAIT_COUNT: usize = 64;
/// A wait timeout that never expires.
pub(crate) const TIMEOUT_INFINITE: u64 = u64::MAX;

const TYPE: u32 = b'N' as u32;

pub(crate) const CREATE_SEM: u32 = _IOW::<SemArgs>(TYPE, 0x80);
pub(crate) const SEM_RELEASE: u32 = _IOWR::<u32>(TYPE, 0x81);
pub(crate) const WAIT_ANY: u32 = _IOWR::<WaitArgs>(TYPE, 0x82);
pub(crate) const WAIT_ALL: u32 = _IOWR::<WaitArgs>(TYPE, 0x83);
pub(crate) const CREATE_MUTEX: u32 = _IOW::<MutexArgs>(TYPE, 0x84);
pub(crate) const MUTEX_UNLOCK: u32 = _IOWR::<MutexArgs>(TYPE, 0x85);
pub(crate) const MUTEX_KILL: u32 = _IOW::<u32>(TYPE, 0x86);
pub(crate) const CREATE_EVENT: u32 = _IOW::<EventArgs>(TYPE, 0x87);
pub(crate) const EVENT_SET: u32 = _IOR::<u32>(TYPE, 0x88);
pub(crate) const EVENT_RESET: u32 = _IOR::<u32>(TYPE, 0x89);
pub(crate) const EVENT_PULSE: u32 = _IOR::<u32>(TYPE, 0x8a);
pub(crate) const SEM_READ: u32 = _IOR::<SemArgs>(TYPE, 0x8b);
pub(crate) const MUTEX_READ: u32 = _IOR::<MutexArgs>(TYPE, 0x8c);
pub(crate) const EVENT_READ: u32 = _IOR::<EventArgs>(TYPE, 0x8d);

/// Byte offset of `index` in `struct ntsync_wait_args`: a wait writes back only that field.
pub(crate) const WAIT_INDEX_OFFSET: usize = offset_of!(WaitArgs, index);

// The values below are what the C header yields on Linux's generic ioctl encoding.
const _: () = {
    assert!(size_of::<SemArgs>() == 8);
    assert!(size_of::<MutexArgs>() == 8);
    assert!(size_of::<EventArgs>() == 8);
    assert!(size_of::<WaitArgs>() == 40);
    assert!(offset_of!(WaitArgs, objs) == 8);
    assert!(offset_of!(WaitArgs, count) == 16);
    assert!(offset_of!(WaitArgs, index) == 20);
    assert!(offset_of!(WaitArgs, flags) == 24);
    assert!(offset_of!(WaitArgs, owner) == 28);
    assert!(offset_of!(WaitArgs, alert) == 32);
    assert!(offset_of!(WaitArgs, pad) == 36);

    assert!(CREATE_SEM == 0x4008_4e80);
    assert!(SEM_RELEASE == 0xc004_4e81);
    assert!(WAIT_ANY == 0xc028_4e82);
    assert!(WAIT_ALL == 0xc028_4e83);
    assert!(CREATE_MUTEX == 0x4008_4e84);
    assert!(MUTEX_UNLOCK == 0xc008_4e85);
    assert!(MUTEX_KILL == 0x4004_4e86);
    assert!(CREATE_EVENT == 0x4008_4e87);
    assert!(EVENT_SET == 0x8004_4e88);
    assert!(EVENT_RESET == 0x8004_4e89);
    assert!(EVENT_PULSE == 0x8004_4e8a);
    assert!(SEM_READ == 0x8008_4e8b);
    assert!(MUTEX_READ == 0x8008_4e8c);
    assert!(EVENT_READ == 0x8008_4e8d);
};
