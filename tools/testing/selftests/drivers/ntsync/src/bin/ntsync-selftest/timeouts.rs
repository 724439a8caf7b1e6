// SPDX-License-Identifier: GPL-2.0

//! Deadlines: monotonic and realtime, none at all, and the caller's time namespace.

use crate::common::*;
use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, sem};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// An absolute deadline in the near future ends the wait with ETIMEDOUT, not before; one in
/// the past returns at once, after acquiring what it can.
pub(crate) fn wait_any_timeout() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let start = Instant::now();
        check_eq!(
            Wait::new(&objs).until(in_ms(50)).run(&dev, cmd),
            Err(ETIMEDOUT)
        );
        let waited = start.elapsed();
        check!(waited >= Duration::from_millis(50), "woke after {waited:?}");

        for timeout in [0, 1, now_ns(CLOCK_MONOTONIC) - 1000 * MS] {
            let start = Instant::now();
            check_eq!(
                Wait::new(&objs).until(timeout).run(&dev, cmd),
                Err(ETIMEDOUT)
            );
            let waited = start.elapsed();
            check!(waited < Duration::from_secs(1), "returned after {waited:?}");
            sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
            check_eq!(Wait::new(&objs).until(timeout).run(&dev, cmd), Ok(0));
            check_eq!(count(&s)?, 0);
        }
    }
    Ok(())
}

/// NTSYNC_WAIT_REALTIME measures the deadline on CLOCK_REALTIME.
pub(crate) fn wait_realtime() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let wait = |timeout| {
            Wait::new(&objs)
                .flags(WAIT_REALTIME)
                .until(timeout)
                .run(&dev, cmd)
        };
        // First, so that a driver ignoring the flag fails here rather than sleeping for
        // decades below: a monotonic-clock deadline 500 ms ahead is long past on the
        // realtime clock.
        let (mono, real) = (now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME));
        if real > mono + 1000 * 1000 * MS {
            let start = Instant::now();
            check_eq!(wait(mono + 500 * MS), Err(ETIMEDOUT));
            let waited = start.elapsed();
            check!(
                waited < Duration::from_millis(400),
                "returned after {waited:?}"
            );
        }
        let start = Instant::now();
        check_eq!(wait(now_ns(CLOCK_REALTIME) + 50 * MS), Err(ETIMEDOUT));
        let waited = start.elapsed();
        check!(waited >= Duration::from_millis(50), "woke after {waited:?}");
        let start = Instant::now();
        check_eq!(wait(now_ns(CLOCK_REALTIME) - 1000 * MS), Err(ETIMEDOUT));
        check!(start.elapsed() < Duration::from_secs(1));
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
        check_eq!(wait(now_ns(CLOCK_REALTIME) + 1000 * MS), Ok(0));
    }
    Ok(())
}

/// U64_MAX means no deadline, with either clock: the wait sleeps until woken.
pub(crate) fn wait_infinite() -> TestResult {
    let dev = dev()?;
    for (cmd, flags) in [
        (IOC_WAIT_ANY, 0),
        (IOC_WAIT_ANY, WAIT_REALTIME),
        (IOC_WAIT_ALL, 0),
    ] {
        let s = sem(&dev, 0, 1)?;
        let objs = [s.as_raw_fd()];
        let w = Waiter::spawn(&dev, cmd, &Wait::new(&objs).until(INFINITE).flags(flags));
        w.wait_blocked()?;
        w.still_blocked(QUIET)?;
        check_eq!(sem_release(&s, 1), Ok(0));
        check_eq!(w.join(JOIN)?, (Ok(()), 0));
        check_eq!(count(&s)?, 0);
    }
    Ok(())
}

/// The monotonic deadline is read in the caller's time namespace.
pub(crate) fn wait_timens() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let host_before = now_ns(CLOCK_MONOTONIC);
    // SAFETY: The children only make raw syscalls, then _exit().
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: As above.
        unsafe {
            if libc::unshare(libc::CLONE_NEWTIME) != 0 {
                libc::_exit(77);
            }
            // Children of this process see a monotonic clock 100 s ahead.
            let path = c"/proc/self/timens_offsets";
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            let line = b"1 100 0";
            if fd < 0 || libc::write(fd, line.as_ptr().cast(), line.len()) != line.len() as isize {
                libc::_exit(78);
            }
            libc::close(fd);
            let child = libc::fork();
            if child == 0 {
                // A driver that ignores the namespace sleeps 100 s: the alarm ends that.
                libc::alarm(5);
                let start = now_ns(CLOCK_MONOTONIC);
                if start < host_before + 99_000 * MS {
                    libc::_exit(79);
                }
                if Wait::new(&objs).until(start + 200 * MS).any(&dev) != Err(ETIMEDOUT) {
                    libc::_exit(80);
                }
                let waited = now_ns(CLOCK_MONOTONIC) - start;
                libc::_exit(if waited < 200 * MS { 81 } else { 0 });
            }
            let mut status = 0;
            if child < 0 || libc::waitpid(child, &mut status, 0) != child {
                libc::_exit(82);
            }
            libc::_exit(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                83
            });
        }
    }
    check!(pid > 0, "fork: errno {}", errno());
    match wait_child(pid)? {
        0 => Ok(()),
        77 => Err("unshare(CLONE_NEWTIME) failed: no time namespaces".into()),
        79 => Err("the time namespace offset did not apply".into()),
        80 => Err("the wait did not time out".into()),
        81 => Err("the wait returned before its deadline in namespace time".into()),
        83 => Err("the wait slept on the host clock (killed by its 5 s alarm)".into()),
        code => Err(format!("child failed with status {code}")),
    }
}
