// SPDX-License-Identifier: GPL-2.0

//! Signals during a sleeping wait: EINTR, SA_RESTART, and a signal racing with a release.

use crate::common::*;
use libc::{EINTR, ETIMEDOUT, SIGUSR1, SIGUSR2};
use ntsync_selftests::setup::{count, dev, event, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

/// A signal whose handler lacks SA_RESTART ends a sleeping wait with EINTR, writing and
/// acquiring nothing.
pub(crate) fn signal_eintr() -> TestResult {
    install_handler(SIGUSR1, false);
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let e = event(&dev, false, false)?;
    let objs = fds(&[&s, &e]);
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let w = Waiter::spawn(&dev, cmd, &Wait::new(&objs).until(in_ms(WAKE_MS)));
        w.wait_blocked()?;
        w.signal(SIGUSR1);
        check_eq!(w.join(JOIN)?, (Err(EINTR), POISON));
        // Nobody is left waiting: a release and a set stay.
        check_eq!(sem_release(&s, 1), Ok(0));
        check_eq!(event_set(&e), Ok(0));
        check_eq!(count(&s)?, 1);
        check_eq!(signaled(&e)?, true);
        check_eq!(Wait::new(&objs).all(&dev), Ok(0));
    }
    Ok(())
}

/// With SA_RESTART the wait is restarted transparently: still woken by its object, and
/// timing out at its original deadline.
pub(crate) fn signal_restart() -> TestResult {
    install_handler(SIGUSR2, true);
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    w.signal(SIGUSR2);
    w.still_blocked(QUIET)?;
    w.wait_blocked()?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));

    let start = Instant::now();
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(300)))?;
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(50));
        w.signal(SIGUSR2);
    }
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));
    let waited = start.elapsed();
    check!(
        waited >= Duration::from_millis(300),
        "returned after {waited:?}"
    );
    check_eq!(count(&s)?, 0);
    Ok(())
}

/// A signal racing with a release: either the wait acquired the unit and says so, or it was
/// interrupted and the unit is still there. Never both or neither.
pub(crate) fn signal_race() -> TestResult {
    install_handler(SIGUSR1, false);
    let dev = dev()?;
    for i in 0..12 {
        let s = sem(&dev, 0, 1)?;
        let objs = [s.as_raw_fd()];
        let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
        if i % 2 == 0 {
            check_eq!(sem_release(&s, 1), Ok(0));
            w.signal(SIGUSR1);
        } else {
            w.signal(SIGUSR1);
            check_eq!(sem_release(&s, 1), Ok(0));
        }
        let outcome = w.join(JOIN)?;
        let left = count(&s)?;
        check!(
            outcome == (Ok(()), 0) && left == 0 || outcome == (Err(EINTR), POISON) && left == 1,
            "round {i}: wait {outcome:?}, {left} unit(s) left"
        );
    }
    Ok(())
}
