// SPDX-License-Identifier: GPL-2.0

//! What the tests share: time limits and small helpers over the library's.

use ntsync_selftests::*;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub(crate) const MS: u64 = 1_000_000;
/// How long a waiter that should be woken may wait at most.
pub(crate) const WAKE_MS: u64 = 3000;
/// How long a woken waiter has to report back.
pub(crate) const JOIN: Duration = Duration::from_secs(5);
/// How long a waiter that should stay blocked is watched.
pub(crate) const QUIET: Duration = Duration::from_millis(60);

/// `ioctl(obj, cmd, arg)` with a raw argument: the errno, or `None` on success.
pub(crate) fn raw(obj: &impl AsRawFd, cmd: u32, arg: usize) -> Option<Errno> {
    ioctl_raw(obj.as_raw_fd(), cmd, arg).err()
}

pub(crate) const fn ev(manual: u32, signaled: u32) -> EventArgs {
    EventArgs { manual, signaled }
}

pub(crate) const fn sa(count: u32, max: u32) -> SemArgs {
    SemArgs { count, max }
}

/// `MUTEX_READ`: the result, owner and count.
pub(crate) fn mread(mutex: &impl AsRawFd) -> (Result<(), Errno>, u32, u32) {
    let (ret, args) = mutex_read(mutex);
    (ret, args.owner, args.count)
}

pub(crate) fn fds(objs: &[&OwnedFd]) -> Vec<RawFd> {
    objs.iter().map(|o| o.as_raw_fd()).collect()
}

/// Waits for the child `pid`; its exit status, or an error if a signal killed it.
pub(crate) fn wait_child(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(format!("waitpid: errno {}", errno()));
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!("child died: status {status:#x}"))
    }
}
