// SPDX-License-Identifier: GPL-2.0

//! Thin, checked access to the `/dev/ntsync` uAPI and a tiny TAP harness, shared by the
//! selftest and benchmark binaries.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub mod tap;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemArgs {
    pub count: u32,
    pub max: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MutexArgs {
    pub owner: u32,
    pub count: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventArgs {
    pub manual: u32,
    pub signaled: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitArgs {
    pub timeout: u64,
    pub objs: u64,
    pub count: u32,
    pub index: u32,
    pub flags: u32,
    pub owner: u32,
    pub alert: u32,
    pub pad: u32,
}

pub const WAIT_REALTIME: u32 = 0x1;
pub const MAX_WAIT_COUNT: usize = 64;
pub const INFINITE: u64 = u64::MAX;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'N' as u32) << 8) | nr
}
const W: u32 = 1;
const R: u32 = 2;
const RW: u32 = 3;

pub const IOC_CREATE_SEM: u32 = ioc(W, 0x80, 8);
pub const IOC_SEM_RELEASE: u32 = ioc(RW, 0x81, 4);
pub const IOC_WAIT_ANY: u32 = ioc(RW, 0x82, 40);
pub const IOC_WAIT_ALL: u32 = ioc(RW, 0x83, 40);
pub const IOC_CREATE_MUTEX: u32 = ioc(W, 0x84, 8);
pub const IOC_MUTEX_UNLOCK: u32 = ioc(RW, 0x85, 8);
pub const IOC_MUTEX_KILL: u32 = ioc(W, 0x86, 4);
pub const IOC_CREATE_EVENT: u32 = ioc(W, 0x87, 8);
pub const IOC_EVENT_SET: u32 = ioc(R, 0x88, 4);
pub const IOC_EVENT_RESET: u32 = ioc(R, 0x89, 4);
pub const IOC_EVENT_PULSE: u32 = ioc(R, 0x8a, 4);
pub const IOC_SEM_READ: u32 = ioc(R, 0x8b, 8);
pub const IOC_MUTEX_READ: u32 = ioc(R, 0x8c, 8);
pub const IOC_EVENT_READ: u32 = ioc(R, 0x8d, 8);

/// The errno of a failed call.
pub type Errno = i32;

/// `ioctl(fd, cmd, arg)`, returning the nonnegative result or the errno.
pub fn ioctl_raw(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, Errno> {
    // SAFETY: The driver validates every pointer it is given; a bad one yields EFAULT.
    let ret = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

/// `ioctl` with a pointer to `arg`, which the kernel may read and write.
pub fn ioctl<T>(fd: RawFd, cmd: u32, arg: &mut T) -> Result<i32, Errno> {
    ioctl_raw(fd, cmd, arg as *mut T as usize)
}

pub fn open_device() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open("/dev/ntsync")
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: The driver returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub fn create_sem(dev: &File, count: u32, max: u32) -> Result<OwnedFd, Errno> {
    let mut args = SemArgs { count, max };
    ioctl(dev.as_raw_fd(), IOC_CREATE_SEM, &mut args).map(owned)
}

pub fn create_mutex(dev: &File, owner: u32, count: u32) -> Result<OwnedFd, Errno> {
    let mut args = MutexArgs { owner, count };
    ioctl(dev.as_raw_fd(), IOC_CREATE_MUTEX, &mut args).map(owned)
}

pub fn create_event(dev: &File, manual: bool, signaled: bool) -> Result<OwnedFd, Errno> {
    let mut args = EventArgs {
        manual: manual as u32,
        signaled: signaled as u32,
    };
    ioctl(dev.as_raw_fd(), IOC_CREATE_EVENT, &mut args).map(owned)
}

/// `SEM_RELEASE`: the previous count.
pub fn sem_release(sem: &impl AsRawFd, count: u32) -> Result<u32, Errno> {
    let mut arg = count;
    ioctl(sem.as_raw_fd(), IOC_SEM_RELEASE, &mut arg).map(|_| arg)
}

pub fn sem_read(sem: &impl AsRawFd) -> Result<SemArgs, Errno> {
    let mut args = SemArgs::default();
    ioctl(sem.as_raw_fd(), IOC_SEM_READ, &mut args).map(|_| args)
}

/// `CLOCK_MONOTONIC` (or another clock) now, in nanoseconds.
pub fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A wait request over `objs`.
pub struct Wait<'a> {
    pub objs: &'a [RawFd],
    pub owner: u32,
    pub timeout: u64,
    pub flags: u32,
    pub alert: RawFd,
}

impl<'a> Wait<'a> {
    /// A wait over `objs` by owner 1 that gives up at once.
    pub fn new(objs: &'a [RawFd]) -> Self {
        Self {
            objs,
            owner: 1,
            timeout: 0,
            flags: 0,
            alert: 0,
        }
    }

    pub fn args(&self) -> WaitArgs {
        WaitArgs {
            timeout: self.timeout,
            objs: self.objs.as_ptr() as u64,
            count: self.objs.len() as u32,
            owner: self.owner,
            flags: self.flags,
            alert: self.alert as u32,
            ..Default::default()
        }
    }

    /// Runs the wait with `cmd` (`IOC_WAIT_ANY` or `IOC_WAIT_ALL`); on success, the index.
    pub fn run(&self, dev: &File, cmd: u32) -> Result<u32, Errno> {
        let mut args = self.args();
        ioctl(dev.as_raw_fd(), cmd, &mut args).map(|_| args.index)
    }

    pub fn any(&self, dev: &File) -> Result<u32, Errno> {
        self.run(dev, IOC_WAIT_ANY)
    }
}
