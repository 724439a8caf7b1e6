// SPDX-License-Identifier: GPL-2.0

//! Selftest of `/dev/ntsync`, run in the test VM against either driver. TAP on stdout; the
//! exit status is the number of failed tests (capped at 100).
//!
//! Usage: `ntsync-selftest [NAME-SUBSTRING]...`

use libc::{CLOCK_MONOTONIC, CLOCK_REALTIME, EFAULT, EINVAL, ENOTTY, EOVERFLOW, ETIMEDOUT};
use ntsync_selftests::tap::{self, TestResult};
use ntsync_selftests::*;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;

fn dev() -> Result<File, String> {
    open_device().map_err(|e| format!("open /dev/ntsync: {e}"))
}

/// The device node exists, is a character device and is usable by everyone, as Wine needs.
fn device_node() -> TestResult {
    let meta = std::fs::metadata("/dev/ntsync").map_err(|e| e.to_string())?;
    check!(meta.file_type().is_char_device());
    check_eq!(meta.permissions().mode() & 0o777, 0o666);
    dev()?;
    Ok(())
}

/// Object fds are close-on-exec anonymous-inode files.
fn create_sem_fd() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 1).map_err(|e| format!("errno {e}"))?;
    // SAFETY: Querying the flags of an fd we own.
    let flags = unsafe { libc::fcntl(sem.as_raw_fd(), libc::F_GETFD) };
    check!(
        flags >= 0 && flags & libc::FD_CLOEXEC != 0,
        "fd flags {flags:#x}"
    );
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sem.as_raw_fd()))
        .map_err(|e| e.to_string())?;
    check_eq!(link.to_string_lossy(), "anon_inode:ntsync");
    Ok(())
}

fn create_sem_rules() -> TestResult {
    let dev = dev()?;
    check_eq!(create_sem(&dev, 3, 2).err(), Some(EINVAL));
    check!(create_sem(&dev, 2, 2).is_ok());
    check!(create_sem(&dev, 0, 0).is_ok());
    check!(create_sem(&dev, u32::MAX, u32::MAX).is_ok());
    check_eq!(
        ioctl_raw(dev.as_raw_fd(), IOC_CREATE_SEM, 8).err(),
        Some(EFAULT)
    );
    Ok(())
}

fn sem_read_state() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 2, 7).unwrap();
    check_eq!(sem_read(&sem), Ok(SemArgs { count: 2, max: 7 }));
    check_eq!(
        ioctl_raw(sem.as_raw_fd(), IOC_SEM_READ, 8).err(),
        Some(EFAULT)
    );
    Ok(())
}

/// Release returns the previous count; overflow is refused and changes nothing.
fn sem_release_rules() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 2).unwrap();
    check_eq!(sem_release(&sem, 1), Ok(0));
    check_eq!(sem_release(&sem, 1), Ok(1));
    check_eq!(sem_release(&sem, 1), Err(EOVERFLOW));
    check_eq!(sem_read(&sem), Ok(SemArgs { count: 2, max: 2 }));
    check_eq!(sem_release(&sem, 0), Ok(2));

    let big = create_sem(&dev, 5, u32::MAX).unwrap();
    check_eq!(sem_release(&big, u32::MAX), Err(EOVERFLOW));
    check_eq!(
        sem_read(&big),
        Ok(SemArgs {
            count: 5,
            max: u32::MAX
        })
    );
    check_eq!(
        ioctl_raw(sem.as_raw_fd(), IOC_SEM_RELEASE, 8).err(),
        Some(EFAULT)
    );
    Ok(())
}

/// A wait takes one unit of a signaled semaphore and times out on an empty one.
fn wait_any_acquires() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 2, 2).unwrap();
    let fds = [sem.as_raw_fd()];
    check_eq!(Wait::new(&fds).any(&dev), Ok(0));
    check_eq!(sem_read(&sem).unwrap().count, 1);
    check_eq!(Wait::new(&fds).any(&dev), Ok(0));
    check_eq!(Wait::new(&fds).any(&dev), Err(ETIMEDOUT));
    check_eq!(sem_read(&sem).unwrap().count, 0);
    Ok(())
}

/// The lowest signaled index wins, and only that object is acquired.
fn wait_any_lowest_index() -> TestResult {
    let dev = dev()?;
    let sems: Vec<_> = (0..4)
        .map(|i| create_sem(&dev, (i >= 2) as u32, 1).unwrap())
        .collect();
    let fds: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
    check_eq!(Wait::new(&fds).any(&dev), Ok(2));
    check_eq!(sem_read(&sems[2]).unwrap().count, 0);
    check_eq!(sem_read(&sems[3]).unwrap().count, 1);
    check_eq!(Wait::new(&fds).any(&dev), Ok(3));
    // The same object twice is allowed for wait-any.
    let twice = [fds[0], fds[0]];
    sem_release(&sems[0], 1).unwrap();
    check_eq!(Wait::new(&twice).any(&dev), Ok(0));
    Ok(())
}

/// A wait over 64 objects works; 65 is refused.
fn wait_any_max_count() -> TestResult {
    let dev = dev()?;
    let sems: Vec<_> = (0..65).map(|_| create_sem(&dev, 0, 1).unwrap()).collect();
    let fds: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
    sem_release(&sems[63], 1).unwrap();
    check_eq!(Wait::new(&fds[..64]).any(&dev), Ok(63));
    check_eq!(Wait::new(&fds).any(&dev), Err(EINVAL));
    check_eq!(Wait::new(&[]).any(&dev), Err(ETIMEDOUT));
    Ok(())
}

/// An absolute deadline in the past or near future ends the wait with ETIMEDOUT, not before.
fn wait_any_timeout() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 1).unwrap();
    let fds = [sem.as_raw_fd()];
    for (clock, flags) in [(CLOCK_MONOTONIC, 0), (CLOCK_REALTIME, WAIT_REALTIME)] {
        let start = Instant::now();
        let mut wait = Wait::new(&fds);
        wait.flags = flags;
        wait.timeout = now_ns(clock) + 50 * MS;
        check_eq!(wait.any(&dev), Err(ETIMEDOUT));
        let waited = start.elapsed();
        check!(waited >= Duration::from_millis(50), "woke after {waited:?}");
        wait.timeout = now_ns(clock) - 1000 * MS;
        check_eq!(wait.any(&dev), Err(ETIMEDOUT));
    }
    Ok(())
}

/// Malformed waits get upstream's errno.
fn wait_any_validation() -> TestResult {
    let dev = dev()?;
    let other_dev = self::dev()?;
    let sem = create_sem(&dev, 1, 1).unwrap();
    let foreign = create_sem(&other_dev, 1, 1).unwrap();
    let fds = [sem.as_raw_fd()];
    let run = |f: &dyn Fn(&mut WaitArgs)| {
        let mut args = Wait::new(&fds).args();
        f(&mut args);
        ioctl(dev.as_raw_fd(), IOC_WAIT_ANY, &mut args).err()
    };
    check_eq!(run(&|a| a.owner = 0), Some(EINVAL));
    check_eq!(run(&|a| a.pad = 1), Some(EINVAL));
    check_eq!(run(&|a| a.flags = 2), Some(EINVAL));
    check_eq!(run(&|a| a.count = 65), Some(EINVAL));
    check_eq!(run(&|a| a.count = u32::MAX), Some(EINVAL));
    check_eq!(run(&|a| a.objs = 8), Some(EFAULT));
    let dev_fd = [dev.as_raw_fd()];
    check_eq!(Wait::new(&dev_fd).any(&dev), Err(EINVAL));
    check_eq!(Wait::new(&[-1]).any(&dev), Err(EINVAL));
    check_eq!(Wait::new(&[0x7fff_0000]).any(&dev), Err(EINVAL));
    let foreign_fd = [foreign.as_raw_fd()];
    check_eq!(Wait::new(&foreign_fd).any(&dev), Err(EINVAL));
    check_eq!(
        ioctl_raw(dev.as_raw_fd(), IOC_WAIT_ANY, 8).err(),
        Some(EFAULT)
    );
    // None of the refused waits took the unit.
    check_eq!(sem_read(&sem).unwrap().count, 1);
    Ok(())
}

/// Commands a file does not know fail with ENOTTY.
fn unknown_ioctls() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 1).unwrap();
    let mut buf = [0u8; 64];
    let ptr = buf.as_mut_ptr() as usize;
    check_eq!(
        ioctl_raw(dev.as_raw_fd(), IOC_SEM_READ, ptr).err(),
        Some(ENOTTY)
    );
    check_eq!(ioctl_raw(dev.as_raw_fd(), 0x4e7f, ptr).err(), Some(ENOTTY));
    check_eq!(
        ioctl_raw(sem.as_raw_fd(), IOC_CREATE_SEM, ptr).err(),
        Some(ENOTTY)
    );
    check_eq!(
        ioctl_raw(sem.as_raw_fd(), IOC_WAIT_ANY, ptr).err(),
        Some(ENOTTY)
    );
    Ok(())
}

/// Spawns a thread that waits on `fd` and reports the result.
fn spawn_waiter(dev: &File, fd: RawFd, timeout: u64) -> mpsc::Receiver<Result<u32, i32>> {
    let dev = dev.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let fds = [fd];
        let mut wait = Wait::new(&fds);
        wait.timeout = timeout;
        let _ = tx.send(wait.any(&dev));
    });
    rx
}

/// A blocked waiter is woken by a release, and not before.
fn wake_on_release() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 2).unwrap();
    let rx = spawn_waiter(&dev, sem.as_raw_fd(), INFINITE);
    check!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "woke without a release"
    );
    check_eq!(sem_read(&sem).unwrap().count, 0);
    check_eq!(sem_release(&sem, 2), Ok(0));
    check_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(0)));
    // The waiter took exactly one of the two units.
    check_eq!(sem_read(&sem).unwrap().count, 1);
    Ok(())
}

/// One release of one unit wakes exactly one of two waiters.
fn wake_one_of_two() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 2).unwrap();
    let deadline = now_ns(CLOCK_MONOTONIC) + 1500 * MS;
    let a = spawn_waiter(&dev, sem.as_raw_fd(), deadline);
    let b = spawn_waiter(&dev, sem.as_raw_fd(), deadline);
    thread::sleep(Duration::from_millis(100));
    check_eq!(sem_release(&sem, 1), Ok(0));
    let ra = a
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let rb = b
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let woken = [ra, rb].iter().filter(|r| **r == Ok(0)).count();
    let timed_out = [ra, rb].iter().filter(|r| **r == Err(ETIMEDOUT)).count();
    check_eq!((woken, timed_out), (1, 1));
    check_eq!(sem_read(&sem).unwrap().count, 0);
    Ok(())
}

/// Closing an object's fd while another thread waits on it is safe: the wait still ends
/// at its deadline.
fn close_while_waiting() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 0, 1).unwrap();
    let rx = spawn_waiter(&dev, sem.as_raw_fd(), now_ns(CLOCK_MONOTONIC) + 200 * MS);
    thread::sleep(Duration::from_millis(50));
    drop(sem);
    check_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Err(ETIMEDOUT)));
    Ok(())
}

/// Objects outlive the device fd that made them.
fn objects_outlive_device() -> TestResult {
    let dev = dev()?;
    let sem = create_sem(&dev, 1, 3).unwrap();
    drop(dev);
    check_eq!(sem_release(&sem, 1), Ok(1));
    check_eq!(sem_read(&sem), Ok(SemArgs { count: 2, max: 3 }));
    Ok(())
}

const TESTS: &[(&str, fn() -> TestResult)] = &[
    ("device_node", device_node),
    ("create_sem_fd", create_sem_fd),
    ("create_sem_rules", create_sem_rules),
    ("sem_read_state", sem_read_state),
    ("sem_release_rules", sem_release_rules),
    ("wait_any_acquires", wait_any_acquires),
    ("wait_any_lowest_index", wait_any_lowest_index),
    ("wait_any_max_count", wait_any_max_count),
    ("wait_any_timeout", wait_any_timeout),
    ("wait_any_validation", wait_any_validation),
    ("unknown_ioctls", unknown_ioctls),
    ("wake_on_release", wake_on_release),
    ("wake_one_of_two", wake_one_of_two),
    ("close_while_waiting", close_while_waiting),
    ("objects_outlive_device", objects_outlive_device),
];

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let failed = tap::run(TESTS, &filter);
    std::process::exit(failed.min(100) as i32);
}
