// SPDX-License-Identifier: GPL-2.0

//! Semaphores: creation, reading, releasing and acquiring.

use crate::common::*;
use libc::{EFAULT, EINVAL, EOVERFLOW, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, sem};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) fn create_sem_rules() -> TestResult {
    let dev = dev()?;
    check_eq!(create_sem(&dev, 3, 2).err(), Some(EINVAL));
    check_eq!(create_sem(&dev, u32::MAX, u32::MAX - 1).err(), Some(EINVAL));
    check_eq!(sem_read(&sem(&dev, 2, 2)?), Ok(sa(2, 2)));
    check_eq!(sem_read(&sem(&dev, 0, 0)?), Ok(sa(0, 0)));
    check_eq!(
        sem_read(&sem(&dev, u32::MAX, u32::MAX)?),
        Ok(sa(u32::MAX, u32::MAX))
    );
    check_eq!(raw(&dev, IOC_CREATE_SEM, 8), Some(EFAULT));
    // The argument is input only: a read-only one will do.
    let page = Pages::read_only(sa(1, 4));
    let fd = ioctl_raw(dev.as_raw_fd(), IOC_CREATE_SEM, page.addr())
        .map_err(|e| format!("CREATE_SEM from a read-only page: errno {e}"))?;
    // SAFETY: A new fd that nothing else owns.
    let s = unsafe { OwnedFd::from_raw_fd(fd) };
    check_eq!(sem_read(&s), Ok(sa(1, 4)));
    Ok(())
}

pub(crate) fn sem_read_state() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 7)?;
    check_eq!(sem_read(&s), Ok(sa(2, 7)));
    check_eq!(raw(&s, IOC_SEM_READ, 8), Some(EFAULT));
    // A read-only structure cannot be written either.
    let page = Pages::read_only(SemArgs::default());
    check_eq!(raw(&s, IOC_SEM_READ, page.addr()), Some(EFAULT));
    Ok(())
}

/// Release returns the previous count; overflow is refused and changes nothing; a failed
/// write-back comes after the release.
pub(crate) fn sem_release_rules() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(sem_release(&s, 1), Ok(1));
    check_eq!(sem_release(&s, 1), Err(EOVERFLOW));
    check_eq!(sem_read(&s), Ok(sa(2, 2)));
    check_eq!(sem_release(&s, 0), Ok(2));

    let big = sem(&dev, 5, u32::MAX)?;
    check_eq!(sem_release(&big, u32::MAX), Err(EOVERFLOW));
    check_eq!(sem_release(&big, u32::MAX - 4), Err(EOVERFLOW));
    check_eq!(sem_read(&big), Ok(sa(5, u32::MAX)));
    check_eq!(sem_release(&big, u32::MAX - 5), Ok(5));
    check_eq!(count(&big)?, u32::MAX);

    // Unreadable argument: EFAULT, nothing released.
    check_eq!(raw(&s, IOC_SEM_RELEASE, 8), Some(EFAULT));
    check_eq!(count(&s)?, 2);

    // Readable but not writable: the release happens, then EFAULT.
    let t = sem(&dev, 1, 3)?;
    let page = Pages::read_only(2u32);
    check_eq!(raw(&t, IOC_SEM_RELEASE, page.addr()), Some(EFAULT));
    check_eq!(count(&t)?, 3);
    // EOVERFLOW comes before the write-back.
    check_eq!(raw(&t, IOC_SEM_RELEASE, page.addr()), Some(EOVERFLOW));
    check_eq!(count(&t)?, 3);

    // Only the 32-bit argument is written.
    let mut buf = [POISON, 1, POISON];
    check_eq!(
        ioctl(t.as_raw_fd(), IOC_SEM_RELEASE, &mut buf[1]),
        Err(EOVERFLOW)
    );
    check_eq!(buf, [POISON, 1, POISON]);
    let u = sem(&dev, 4, 9)?;
    check_eq!(ioctl(u.as_raw_fd(), IOC_SEM_RELEASE, &mut buf[1]), Ok(0));
    check_eq!(buf, [POISON, 4, POISON]);
    Ok(())
}

/// A wait takes one unit of a signaled semaphore and times out on an empty one.
pub(crate) fn wait_any_acquires() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 2)?;
    let objs = [s.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(count(&s)?, 1);
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(Wait::new(&objs).any(&dev), Err(ETIMEDOUT));
    check_eq!(count(&s)?, 0);
    Ok(())
}
