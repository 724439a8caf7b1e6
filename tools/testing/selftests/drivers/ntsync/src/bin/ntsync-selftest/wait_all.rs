// SPDX-License-Identifier: GPL-2.0

//! Wait for all: acquiring atomically or not at all, duplicates, the alert, abandoned mutexes.

use crate::common::*;
use libc::{EINVAL, EOWNERDEAD, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::time::{Duration, Instant};

/// All signaled: everything is acquired at once, index 0.
pub(crate) fn wait_all_acquires() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 3)?;
    let m = mutex(&dev, 0, 0)?;
    let owned = mutex(&dev, 5, 1)?;
    let auto = event(&dev, false, true)?;
    let manual = event(&dev, true, true)?;
    let objs = fds(&[&s, &m, &owned, &auto, &manual]);
    check_eq!(
        Wait::new(&objs).by(5).outcome(&dev, IOC_WAIT_ALL),
        (Ok(()), 0)
    );
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((5, 1)));
    check_eq!(mutex_state(&owned), Ok((5, 2)));
    check_eq!(signaled(&auto)?, false);
    check_eq!(signaled(&manual)?, true);
    Ok(())
}

/// A partly signaled set times out and nothing is acquired.
pub(crate) fn wait_all_partial() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 1)?;
    let m = mutex(&dev, 0, 0)?;
    let e = event(&dev, false, false)?;
    let objs = fds(&[&s, &m, &e]);
    check_eq!(
        Wait::new(&objs).outcome(&dev, IOC_WAIT_ALL),
        (Err(ETIMEDOUT), POISON)
    );
    check_eq!(Wait::new(&objs).until(in_ms(30)).all(&dev), Err(ETIMEDOUT));
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((0, 0)));
    // A mutex owned by someone else, everything else signaled.
    event_set(&e).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    let held = mutex(&dev, 9, 1)?;
    let with_held = fds(&[&s, &held, &e]);
    check_eq!(Wait::new(&with_held).all(&dev), Err(ETIMEDOUT));
    check_eq!(count(&s)?, 1);
    check_eq!(signaled(&e)?, true);
    check_eq!(mutex_state(&held), Ok((9, 1)));
    // And now the whole set is there.
    check_eq!(Wait::new(&objs).all(&dev), Ok(0));
    check_eq!(count(&s)?, 0);
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(signaled(&e)?, false);
    Ok(())
}

/// Wait-all refuses duplicates and an alert that is also in the set.
pub(crate) fn wait_all_duplicates() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 2)?;
    let e = event(&dev, false, true)?;
    let dup = s.try_clone().map_err(|e| e.to_string())?;
    for objs in [fds(&[&s, &s]), fds(&[&s, &e, &s]), fds(&[&s, &dup])] {
        check_eq!(
            Wait::new(&objs).outcome(&dev, IOC_WAIT_ALL),
            (Err(EINVAL), POISON)
        );
    }
    let objs = fds(&[&s, &e]);
    check_eq!(
        Wait::new(&objs).alert(&e).outcome(&dev, IOC_WAIT_ALL),
        (Err(EINVAL), POISON)
    );
    check_eq!(
        Wait::new(&objs).alert(&dup).outcome(&dev, IOC_WAIT_ALL),
        (Err(EINVAL), POISON)
    );
    check_eq!(count(&s)?, 2);
    check_eq!(signaled(&e)?, true);
    Ok(())
}

/// The alert ends a wait-all only when the set is incomplete; count 0 succeeds at once.
pub(crate) fn wait_all_alert() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let e = event(&dev, true, true)?;
    let alert = event(&dev, false, true)?;
    let objs = fds(&[&s, &e]);
    check_eq!(
        Wait::new(&objs).alert(&alert).outcome(&dev, IOC_WAIT_ALL),
        (Ok(()), 2)
    );
    check_eq!(signaled(&alert)?, false);
    check_eq!(signaled(&e)?, true);
    check_eq!(Wait::new(&objs).alert(&alert).all(&dev), Err(ETIMEDOUT));
    // Set complete and alert signaled: the objects win.
    sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    check_eq!(
        Wait::new(&objs).alert(&alert).outcome(&dev, IOC_WAIT_ALL),
        (Ok(()), 0)
    );
    check_eq!(count(&s)?, 0);
    check_eq!(signaled(&alert)?, true);
    // The empty set is always complete.
    check_eq!(Wait::new(&[]).outcome(&dev, IOC_WAIT_ALL), (Ok(()), 0));
    check_eq!(
        Wait::new(&[]).alert(&alert).outcome(&dev, IOC_WAIT_ALL),
        (Ok(()), 0)
    );
    check_eq!(signaled(&alert)?, true);
    let start = Instant::now();
    check_eq!(Wait::new(&[]).until(in_ms(WAKE_MS)).all(&dev), Ok(0));
    check!(
        start.elapsed() < Duration::from_secs(1),
        "an empty wait-all slept"
    );
    // Versus wait-any with nothing: it times out.
    check_eq!(Wait::new(&[]).any(&dev), Err(ETIMEDOUT));
    Ok(())
}

/// Wait-all with an abandoned mutex: EOWNERDEAD, index 0, everything acquired.
pub(crate) fn wait_all_abandoned() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 1)?;
    let m = mutex(&dev, 8, 2)?;
    let free = mutex(&dev, 0, 0)?;
    check_eq!(mutex_kill(&m, 8), Ok(()));
    let objs = fds(&[&s, &m, &free]);
    check_eq!(
        Wait::new(&objs).by(2).outcome(&dev, IOC_WAIT_ALL),
        (Err(EOWNERDEAD), 0)
    );
    check_eq!(count(&s)?, 0);
    check_eq!(mread(&m), (Ok(()), 2, 1));
    check_eq!(mread(&free), (Ok(()), 2, 1));
    Ok(())
}
