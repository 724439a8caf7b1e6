// SPDX-License-Identifier: GPL-2.0

//! Mutexes: creation, unlocking, killing, reading, owners, recursion and abandonment.

use crate::common::*;
use libc::{EFAULT, EINVAL, EOWNERDEAD, EPERM, ETIMEDOUT};
use ntsync_selftests::setup::{dev, mutex, sem};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) fn create_mutex_rules() -> TestResult {
    let dev = dev()?;
    check_eq!(create_mutex(&dev, 0, 1).err(), Some(EINVAL));
    check_eq!(create_mutex(&dev, 1, 0).err(), Some(EINVAL));
    check_eq!(create_mutex(&dev, 0, u32::MAX).err(), Some(EINVAL));
    check_eq!(mread(&mutex(&dev, 0, 0)?), (Ok(()), 0, 0));
    check_eq!(mread(&mutex(&dev, 5, 3)?), (Ok(()), 5, 3));
    check_eq!(
        mutex_state(&mutex(&dev, u32::MAX, u32::MAX)?),
        Ok((u32::MAX, u32::MAX))
    );
    check_eq!(raw(&dev, IOC_CREATE_MUTEX, 8), Some(EFAULT));
    let page = Pages::read_only(MutexArgs { owner: 7, count: 2 });
    let fd = ioctl_raw(dev.as_raw_fd(), IOC_CREATE_MUTEX, page.addr())
        .map_err(|e| format!("CREATE_MUTEX from a read-only page: errno {e}"))?;
    // SAFETY: A new fd that nothing else owns.
    let m = unsafe { OwnedFd::from_raw_fd(fd) };
    check_eq!(mutex_state(&m), Ok((7, 2)));
    Ok(())
}

/// MUTEX_UNLOCK: errors in order, the previous count in `count` only, and zero frees.
pub(crate) fn mutex_unlock_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 5, 2)?;
    let fd = m.as_raw_fd();

    let unlock = |owner: u32| {
        let mut args = MutexArgs {
            owner,
            count: POISON,
        };
        (ioctl(fd, IOC_MUTEX_UNLOCK, &mut args).map(|_| ()), args)
    };
    // Refusals write nothing and change nothing.
    check_eq!(
        unlock(0),
        (
            Err(EINVAL),
            MutexArgs {
                owner: 0,
                count: POISON
            }
        )
    );
    check_eq!(
        unlock(6),
        (
            Err(EPERM),
            MutexArgs {
                owner: 6,
                count: POISON
            }
        )
    );
    check_eq!(raw(&fd, IOC_MUTEX_UNLOCK, 8), Some(EFAULT));
    check_eq!(mutex_state(&m), Ok((5, 2)));

    check_eq!(unlock(5), (Ok(()), MutexArgs { owner: 5, count: 2 }));
    check_eq!(mutex_state(&m), Ok((5, 1)));
    // Unlocking to zero frees it; `owner` is still not written.
    check_eq!(unlock(5), (Ok(()), MutexArgs { owner: 5, count: 1 }));
    check_eq!(mutex_state(&m), Ok((0, 0)));
    // An unowned mutex is nobody's to unlock.
    check_eq!(
        unlock(5),
        (
            Err(EPERM),
            MutexArgs {
                owner: 5,
                count: POISON
            }
        )
    );
    check_eq!(mutex_state(&m), Ok((0, 0)));
    // And it is free for anyone now.
    let objs = [fd];
    check_eq!(Wait::new(&objs).by(9).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((9, 1)));

    // Readable but not writable: the unlock happens, then EFAULT.
    let n = mutex(&dev, 3, 2)?;
    let page = Pages::read_only(MutexArgs { owner: 3, count: 0 });
    check_eq!(raw(&n, IOC_MUTEX_UNLOCK, page.addr()), Some(EFAULT));
    check_eq!(mutex_state(&n), Ok((3, 1)));
    // EPERM comes before the write-back.
    let other = Pages::read_only(MutexArgs { owner: 4, count: 0 });
    check_eq!(raw(&n, IOC_MUTEX_UNLOCK, other.addr()), Some(EPERM));
    check_eq!(mutex_state(&n), Ok((3, 1)));
    Ok(())
}

/// MUTEX_KILL: errors in order, input only, abandons whatever the recursion count.
pub(crate) fn mutex_kill_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 5, 3)?;
    let fd = m.as_raw_fd();
    check_eq!(raw(&fd, IOC_MUTEX_KILL, 8), Some(EFAULT));
    check_eq!(mutex_kill(&m, 0), Err(EINVAL));
    check_eq!(mutex_kill(&m, 6), Err(EPERM));
    check_eq!(mread(&m), (Ok(()), 5, 3));

    // The argument is input only: a read-only one will do.
    let page = Pages::read_only(5u32);
    check_eq!(ioctl_raw(fd, IOC_MUTEX_KILL, page.addr()), Ok(0));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));
    // Abandoned means unowned: neither the dead owner nor anyone else may kill or unlock it.
    check_eq!(mutex_kill(&m, 5), Err(EPERM));
    check_eq!(mutex_unlock(&m, 5), Err(EPERM));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));

    // An unowned mutex cannot be killed.
    let free = mutex(&dev, 0, 0)?;
    check_eq!(mutex_kill(&free, 1), Err(EPERM));
    check_eq!(mread(&free), (Ok(()), 0, 0));
    Ok(())
}

/// MUTEX_READ: EINVAL before EFAULT before EOWNERDEAD.
pub(crate) fn mutex_read_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 2, 1)?;
    check_eq!(raw(&m, IOC_MUTEX_READ, 8), Some(EFAULT));
    mutex_kill(&m, 2).map_err(|e| format!("MUTEX_KILL: errno {e}"))?;
    check_eq!(raw(&m, IOC_MUTEX_READ, 8), Some(EFAULT));
    let page = Pages::read_only(MutexArgs::default());
    check_eq!(raw(&m, IOC_MUTEX_READ, page.addr()), Some(EFAULT));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));
    // Reading does not clear the flag.
    check_eq!(mread(&m).0, Err(EOWNERDEAD));
    let s = sem(&dev, 0, 1)?;
    check_eq!(raw(&s, IOC_MUTEX_READ, 8), Some(EINVAL));
    Ok(())
}

/// A mutex is signaled for its owner and for nobody else; owner ids are opaque.
pub(crate) fn mutex_wait_owner() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 0, 0)?;
    let objs = [m.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(1).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(Wait::new(&objs).by(1).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, 2)));
    check_eq!(Wait::new(&objs).by(2).any(&dev), Err(ETIMEDOUT));
    check_eq!(Wait::new(&objs).by(2).all(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_state(&m), Ok((1, 2)));

    // Any nonzero 32-bit value is an owner, the "negative" ones included.
    let top = mutex(&dev, u32::MAX, 1)?;
    let objs = [top.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(u32::MAX).any(&dev), Ok(0));
    check_eq!(mutex_state(&top), Ok((u32::MAX, 2)));
    check_eq!(Wait::new(&objs).by(0x8000_0000).any(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_unlock(&top, 0x8000_0000), Err(EPERM));
    check_eq!(mutex_unlock(&top, u32::MAX), Ok(2));
    check_eq!(mutex_unlock(&top, u32::MAX), Ok(1));
    check_eq!(Wait::new(&objs).by(0x8000_0000).any(&dev), Ok(0));
    check_eq!(mutex_state(&top), Ok((0x8000_0000, 1)));
    check_eq!(mutex_kill(&top, 0x8000_0000), Ok(()));
    check_eq!(mread(&top).0, Err(EOWNERDEAD));
    Ok(())
}

/// A mutex whose count reached UINT32_MAX is unsignaled even for its owner.
pub(crate) fn mutex_recursion_limit() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 1, u32::MAX - 1)?;
    let objs = [m.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    check_eq!(Wait::new(&objs).any(&dev), Err(ETIMEDOUT));
    check_eq!(Wait::new(&objs).all(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    // Also while the caller sleeps: the wait ends at its deadline.
    check_eq!(Wait::new(&objs).until(in_ms(30)).any(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_unlock(&m, 1), Ok(u32::MAX));
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    Ok(())
}

/// A wait that acquires an abandoned mutex reports EOWNERDEAD with its index, and the mutex
/// is then owned once and no longer abandoned.
pub(crate) fn mutex_abandoned_wait() -> TestResult {
    let dev = dev()?;
    let empty = sem(&dev, 0, 1)?;
    let m = mutex(&dev, 1, 4)?;
    check_eq!(mutex_kill(&m, 1), Ok(()));
    let objs = fds(&[&empty, &m]);
    check_eq!(
        Wait::new(&objs).by(2).outcome(&dev, IOC_WAIT_ANY),
        (Err(EOWNERDEAD), 1)
    );
    check_eq!(mread(&m), (Ok(()), 2, 1));
    // The flag is cleared: the next acquisition is a plain one.
    check_eq!(
        Wait::new(&objs).by(2).outcome(&dev, IOC_WAIT_ANY),
        (Ok(()), 1)
    );
    check_eq!(mutex_state(&m), Ok((2, 2)));
    // Abandoned again; a wait that does not include it leaves the flag alone.
    check_eq!(mutex_kill(&m, 2), Ok(()));
    check_eq!(mutex_unlock(&m, 2), Err(EPERM));
    check_eq!(Wait::new(&objs[..1]).by(3).any(&dev), Err(ETIMEDOUT));
    check_eq!(mread(&m).0, Err(EOWNERDEAD));
    check_eq!(
        Wait::new(&objs[1..]).by(3).outcome(&dev, IOC_WAIT_ANY),
        (Err(EOWNERDEAD), 0)
    );
    check_eq!(mread(&m), (Ok(()), 3, 1));
    Ok(())
}
