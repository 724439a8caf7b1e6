// SPDX-License-Identifier: GPL-2.0

//! A wait's argument: malformed ones and the order of the checks, and what a wait writes back.

use crate::common::*;
use libc::{EFAULT, EINVAL, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, RawFd};
use std::thread;
use std::time::Duration;

/// Malformed waits get the documented errno, write nothing and touch no object.
pub(crate) fn wait_validation() -> TestResult {
    let dev = dev()?;
    let other_dev = self::dev()?;
    let s = sem(&dev, 1, 1)?;
    let e = event(&dev, false, true)?;
    let m = mutex(&dev, 0, 0)?;
    let foreign = sem(&other_dev, 1, 1)?;
    let (pipe_rd, _pipe_wr) = pipe()?;
    let good = fds(&[&s, &e, &m]);
    let bad_fds: [(RawFd, &str); 6] = [
        (pipe_rd.as_raw_fd(), "a pipe"),
        (-1, "-1"),
        (0x7fff_0000, "a closed fd"),
        (dev.as_raw_fd(), "this device"),
        (other_dev.as_raw_fd(), "another /dev/ntsync open"),
        (foreign.as_raw_fd(), "an object of another instance"),
    ];
    type Edit = Box<dyn Fn(&mut WaitArgs)>;
    let mut cases: Vec<(String, Edit, i32)> = vec![
        ("pad".into(), Box::new(|a| a.pad = 1), EINVAL),
        (
            "pad high bit".into(),
            Box::new(|a| a.pad = 0x8000_0000),
            EINVAL,
        ),
        ("flags 2".into(), Box::new(|a| a.flags = 2), EINVAL),
        ("flags 3".into(), Box::new(|a| a.flags = 3), EINVAL),
        (
            "flags high bit".into(),
            Box::new(|a| a.flags = 0x8000_0000),
            EINVAL,
        ),
        ("owner 0".into(), Box::new(|a| a.owner = 0), EINVAL),
        ("count 65".into(), Box::new(|a| a.count = 65), EINVAL),
        ("count max".into(), Box::new(|a| a.count = u32::MAX), EINVAL),
        ("objs NULL".into(), Box::new(|a| a.objs = 0), EFAULT),
        ("objs 8".into(), Box::new(|a| a.objs = 8), EFAULT),
        (
            "objs kernel".into(),
            Box::new(|a| a.objs = 0xffff_ffff_ffff_f000),
            EFAULT,
        ),
    ];
    for (fd, what) in bad_fds {
        let mut with_bad = good.clone();
        with_bad.push(fd);
        let ptr = Box::leak(with_bad.into_boxed_slice()).as_ptr() as u64;
        cases.push((
            format!("objs ending with {what}"),
            Box::new(move |a| {
                a.objs = ptr;
                a.count = 4;
            }),
            EINVAL,
        ));
        cases.push((
            format!("alert {what}"),
            Box::new(move |a| a.alert = fd as u32),
            EINVAL,
        ));
    }
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        for (what, edit, want) in &cases {
            let mut args = Wait::new(&good).args();
            edit(&mut args);
            let sent = args;
            let got = ioctl(dev.as_raw_fd(), cmd, &mut args);
            check!(
                got == Err(*want),
                "cmd {cmd:#x}, {what}: {got:?}, expected {want}"
            );
            check!(
                args == sent,
                "cmd {cmd:#x}, {what}: the arguments were written"
            );
        }
        check_eq!(raw(&dev, cmd, 8), Some(EFAULT));
        check_eq!(raw(&dev, cmd, 0), Some(EFAULT));
        // An array that runs into an inaccessible page.
        let pages = Pages::new(2);
        pages.write(PAGE - 4, s.as_raw_fd());
        pages.protect(1, libc::PROT_NONE);
        let mut args = Wait::new(&good).args();
        args.objs = (pages.addr() + PAGE - 4) as u64;
        args.count = 2;
        check_eq!(ioctl(dev.as_raw_fd(), cmd, &mut args), Err(EFAULT));
        args.count = 1;
        check_eq!(ioctl(dev.as_raw_fd(), cmd, &mut args), Ok(0));
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    }
    // Nothing was acquired by any refused wait.
    check_eq!(count(&s)?, 1);
    check_eq!(signaled(&e)?, true);
    check_eq!(mread(&m), (Ok(()), 0, 0));
    check_eq!(count(&foreign)?, 1);
    // An empty array is never read, whatever its address.
    for objs in [0, 8] {
        let mut args = Wait::new(&[]).args();
        args.objs = objs;
        check_eq!(
            ioctl(dev.as_raw_fd(), IOC_WAIT_ANY, &mut args),
            Err(ETIMEDOUT)
        );
        check_eq!(ioctl(dev.as_raw_fd(), IOC_WAIT_ALL, &mut args), Ok(0));
        check_eq!(args.index, 0);
    }
    // The valid waits do take them.
    check_eq!(Wait::new(&good).all(&dev), Ok(0));
    check_eq!(Wait::new(&[]).alert(&foreign).any(&other_dev), Ok(0));
    Ok(())
}

/// The checks come in the documented order.
pub(crate) fn wait_check_order() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 2)?;
    let (pipe_rd, _pipe_wr) = pipe()?;
    let objs = [s.as_raw_fd()];
    let dup = [s.as_raw_fd(), s.as_raw_fd(), pipe_rd.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let try_args = |edit: &dyn Fn(&mut WaitArgs)| {
            let mut args = Wait::new(&objs).args();
            edit(&mut args);
            ioctl(dev.as_raw_fd(), cmd, &mut args).err()
        };
        // pad and flags, owner and count come before reading the array.
        check_eq!(
            try_args(&|a| {
                a.pad = 1;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.flags = 4;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.owner = 0;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.count = 65;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        // Reading the array comes before resolving its descriptors and the alert.
        check_eq!(
            try_args(&|a| {
                a.objs = 8;
                a.alert = pipe_rd.as_raw_fd() as u32
            }),
            Some(EFAULT)
        );
        // A signaled object before a bad one is not acquired.
        check_eq!(
            try_args(&|a| {
                a.objs = dup[1..].as_ptr() as u64;
                a.count = 2
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| a.alert = pipe_rd.as_raw_fd() as u32),
            Some(EINVAL)
        );
        // A duplicate is only wrong for wait-all, and still EINVAL with a bad fd after it.
        check_eq!(
            try_args(&|a| {
                a.objs = dup.as_ptr() as u64;
                a.count = 3
            }),
            Some(EINVAL)
        );
    }
    check_eq!(count(&s)?, 1);
    Ok(())
}

/// Only `index` is written, and only when something was acquired.
pub(crate) fn wait_outputs_only() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 1)?;
    let alert = event(&dev, true, false)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let wait = Wait::new(&objs).by(0x1234).alert(&alert);
        let sent = wait.args();
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Ok(()));
        check_eq!(args, WaitArgs { index: 0, ..sent });
        // Timeouts write nothing.
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Err(ETIMEDOUT));
        check_eq!(args, sent);
        let (ret, args) = Wait::new(&objs).until(in_ms(20)).call(&dev, cmd);
        check_eq!(ret, Err(ETIMEDOUT));
        check_eq!(args.index, POISON);
        // The alert: index == count.
        event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Ok(()));
        check_eq!(args, WaitArgs { index: 1, ..sent });
        event_reset(&alert).map_err(|e| format!("EVENT_RESET: errno {e}"))?;
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    }
    Ok(())
}

/// When `index` cannot be written the wait fails with EFAULT, but has acquired its objects.
pub(crate) fn wait_index_fault() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 2)?;
    let m = mutex(&dev, 0, 0)?;
    let alert = event(&dev, false, false)?;
    let objs = fds(&[&s, &m]);
    let run = |cmd, wait: Wait| {
        let page = Pages::read_only(wait.args());
        raw(&dev, cmd, page.addr())
    };
    check_eq!(run(IOC_WAIT_ANY, Wait::new(&objs)), Some(EFAULT));
    check_eq!(count(&s)?, 1);
    check_eq!(run(IOC_WAIT_ALL, Wait::new(&objs).by(2)), Some(EFAULT));
    check_eq!(count(&s)?, 0);
    check_eq!(mutex_state(&m), Ok((2, 1)));
    // Nothing acquired: nothing written, so no fault.
    check_eq!(run(IOC_WAIT_ALL, Wait::new(&objs).by(3)), Some(ETIMEDOUT));
    check_eq!(
        run(IOC_WAIT_ANY, Wait::new(&objs[..1]).until(in_ms(20))),
        Some(ETIMEDOUT)
    );
    // The alert.
    event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    check_eq!(
        run(IOC_WAIT_ANY, Wait::new(&objs[..1]).alert(&alert)),
        Some(EFAULT)
    );
    check_eq!(signaled(&alert)?, false);
    // EFAULT takes the place of EOWNERDEAD; the mutex is acquired and the flag cleared.
    check_eq!(mutex_kill(&m, 2), Ok(()));
    check_eq!(run(IOC_WAIT_ANY, Wait::new(&objs).by(3)), Some(EFAULT));
    check_eq!(mread(&m), (Ok(()), 3, 1));
    // A woken sleeper too.
    let s2 = sem(&dev, 0, 1)?;
    let one = [s2.as_raw_fd()];
    let wait = Wait::new(&one).until(in_ms(WAKE_MS));
    let page = Pages::read_only(wait.args());
    let addr = page.addr();
    let devc = dev.try_clone().map_err(|e| e.to_string())?;
    let sleeper = thread::spawn(move || raw(&devc, IOC_WAIT_ANY, addr));
    thread::sleep(Duration::from_millis(100));
    check_eq!(sem_release(&s2, 1), Ok(0));
    check_eq!(
        sleeper.join().map_err(|_| "sleeper panicked")?,
        Some(EFAULT)
    );
    check_eq!(count(&s2)?, 0);
    Ok(())
}
