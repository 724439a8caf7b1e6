// SPDX-License-Identifier: GPL-2.0

//! This process's threads and descriptors, as `/proc` shows them: which thread sleeps in a
//! wait, and how many descriptors are open.

/// The kernel thread id of the caller.
pub fn gettid() -> libc::pid_t {
    // SAFETY: No preconditions.
    unsafe { libc::gettid() }
}

/// The number of open descriptors.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Whether the task whose `/proc` directory is `task` (`/proc/PID/task/TID`) sleeps in
/// ioctl(2): `Some(false)` if it does not sleep (or is gone), `None` if it sleeps but the kernel
/// has no `/proc/PID/syscall` to name the syscall.
pub fn in_ioctl(task: &str) -> Option<bool> {
    let Ok(stat) = std::fs::read_to_string(format!("{task}/stat")) else {
        return Some(false);
    };
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    if !state.is_some_and(|s| s.starts_with('S')) {
        return Some(false);
    }
    std::fs::read_to_string(format!("{task}/syscall"))
        .ok()
        .map(|sc| sc.split_whitespace().next() == Some(&libc::SYS_ioctl.to_string()))
}

/// [`in_ioctl`] for thread `tid` of this process.
pub fn thread_in_ioctl(tid: libc::pid_t) -> Option<bool> {
    in_ioctl(&format!("/proc/self/task/{tid}"))
}
