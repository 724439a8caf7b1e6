// SPDX-License-Identifier: GPL-2.0

//! Which commands apply where: unknown commands, and object commands on the wrong kind of object.

use crate::common::*;
use libc::{EFAULT, EINVAL, ENOTTY};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::AsRawFd;

/// Commands a file does not know fail with ENOTTY: device commands on objects, object
/// commands on the device, and numbers nobody defines.
pub(crate) fn unknown_ioctls() -> TestResult {
    let dev = dev()?;
    let objs = [
        sem(&dev, 0, 1)?,
        mutex(&dev, 0, 0)?,
        event(&dev, false, false)?,
    ];
    let mut buf = [0u8; 64];
    let ptr = buf.as_mut_ptr() as usize;
    // Unknown to both: other numbers, and known numbers with another size or direction.
    let foreign = [
        0u32,
        0x4e7f,
        0xc008_4e8e,
        0xc008_4e79,
        0xc004_4e80,
        0x8008_4e80,
        0xc008_4e81,
        0x4004_4e81,
        0xc030_4e82,
        0x8028_4e83,
        0x0000_4e8b,
        0xc008_4e8d,
        0x4008_4d80,
    ];
    for cmd in OBJECT_CMDS.iter().chain(&foreign) {
        let got = ioctl_raw(dev.as_raw_fd(), *cmd, ptr).err();
        check!(got == Some(ENOTTY), "device, cmd {cmd:#x}: {got:?}");
    }
    for obj in &objs {
        for cmd in DEVICE_CMDS.iter().chain(&foreign) {
            let got = ioctl_raw(obj.as_raw_fd(), *cmd, ptr).err();
            check!(got == Some(ENOTTY), "object, cmd {cmd:#x}: {got:?}");
        }
    }
    check!(buf.iter().all(|b| *b == 0), "something was written");
    check_eq!(count(&objs[0])?, 0);
    check_eq!(mutex_state(&objs[1]), Ok((0, 0)));
    check_eq!(signaled(&objs[2])?, false);
    Ok(())
}

/// An object command for another kind of object fails with EINVAL, writing and changing
/// nothing; commands that read an argument read it first (EFAULT wins), the others check
/// the kind first (EINVAL wins).
pub(crate) fn kind_mismatch() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 2)?;
    let m = mutex(&dev, 1, 1)?;
    let e = event(&dev, false, true)?;
    let reads_arg = [IOC_SEM_RELEASE, IOC_MUTEX_UNLOCK, IOC_MUTEX_KILL];
    let cmds: [(u32, usize); 9] = [
        (IOC_SEM_RELEASE, 0),
        (IOC_SEM_READ, 0),
        (IOC_MUTEX_UNLOCK, 1),
        (IOC_MUTEX_KILL, 1),
        (IOC_MUTEX_READ, 1),
        (IOC_EVENT_SET, 2),
        (IOC_EVENT_RESET, 2),
        (IOC_EVENT_PULSE, 2),
        (IOC_EVENT_READ, 2),
    ];
    let objs = [&s, &m, &e];
    for (cmd, kind) in cmds {
        for (i, obj) in objs.iter().enumerate() {
            if i == kind {
                continue;
            }
            // Owner 1 for unlock and kill, one unit for a release.
            let mut buf = [1u32, POISON, POISON];
            let got = ioctl(obj.as_raw_fd(), cmd, &mut buf).err();
            check!(
                got == Some(EINVAL),
                "cmd {cmd:#x} on object kind {i}: {got:?}"
            );
            check_eq!(buf, [1u32, POISON, POISON]);
            let want = if reads_arg.contains(&cmd) {
                EFAULT
            } else {
                EINVAL
            };
            let got = raw(*obj, cmd, 8);
            check!(
                got == Some(want),
                "cmd {cmd:#x} on kind {i}, bad pointer: {got:?}"
            );
        }
    }
    check_eq!(sem_read(&s), Ok(sa(1, 2)));
    check_eq!(mread(&m), (Ok(()), 1, 1));
    check_eq!(event_read(&e), Ok(ev(0, 1)));
    Ok(())
}
