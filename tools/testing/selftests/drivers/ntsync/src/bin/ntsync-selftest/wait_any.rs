// SPDX-License-Identifier: GPL-2.0

//! Wait for any: which object wins, duplicates, the alert, the object count, and concurrent
//! signals.

use crate::common::*;
use libc::{EINVAL, EOWNERDEAD, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Barrier};
use std::thread;

/// The lowest signaled index wins, and only that object is acquired.
pub(crate) fn wait_any_lowest_index() -> TestResult {
    let dev = dev()?;
    let sems = (0..4)
        .map(|i| sem(&dev, (i >= 2) as u32, 1))
        .collect::<Result<Vec<_>, _>>()?;
    let objs: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
    check_eq!(Wait::new(&objs).outcome(&dev, IOC_WAIT_ANY), (Ok(()), 2));
    check_eq!(count(&sems[2])?, 0);
    check_eq!(count(&sems[3])?, 1);
    check_eq!(Wait::new(&objs).any(&dev), Ok(3));
    check_eq!(
        Wait::new(&objs).outcome(&dev, IOC_WAIT_ANY),
        (Err(ETIMEDOUT), POISON)
    );
    // Mixed kinds: a mutex owned by someone else is skipped, an event is taken.
    let m = mutex(&dev, 7, 1)?;
    let e = event(&dev, false, true)?;
    let s = sem(&dev, 1, 1)?;
    let mixed = fds(&[&m, &e, &s]);
    check_eq!(Wait::new(&mixed).any(&dev), Ok(1));
    check_eq!(signaled(&e)?, false);
    check_eq!(count(&s)?, 1);
    check_eq!(Wait::new(&mixed).by(7).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((7, 2)));
    Ok(())
}

/// The same object may appear several times, also as the alert; the lowest position is
/// reported and one acquisition made.
pub(crate) fn wait_any_duplicates() -> TestResult {
    let dev = dev()?;
    let empty = sem(&dev, 0, 1)?;
    let s = sem(&dev, 2, 2)?;
    let twice = fds(&[&empty, &s, &s]);
    check_eq!(Wait::new(&twice).any(&dev), Ok(1));
    check_eq!(count(&s)?, 1);

    let e = event(&dev, false, true)?;
    let objs = fds(&[&empty, &e]);
    check_eq!(Wait::new(&objs).alert(&e).any(&dev), Ok(1));
    check_eq!(signaled(&e)?, false);
    // Also when the wait sleeps first.
    let w = Waiter::any(&dev, &Wait::new(&objs).alert(&e).until(in_ms(WAKE_MS)))?;
    check_eq!(event_set(&e), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 1));
    check_eq!(signaled(&e)?, false);
    // Only the alert position: index == count.
    event_set(&e).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    let one = [empty.as_raw_fd()];
    check_eq!(Wait::new(&one).alert(&e).any(&dev), Ok(1));
    Ok(())
}

/// The alert ends a wait with index == count; objects take precedence; any kind of object
/// serves as the alert and is acquired by the usual rules.
pub(crate) fn wait_any_alert() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    let alert = event(&dev, false, true)?;
    let objs = [s.as_raw_fd()];
    check_eq!(
        Wait::new(&objs).alert(&alert).outcome(&dev, IOC_WAIT_ANY),
        (Ok(()), 1)
    );
    check_eq!(signaled(&alert)?, false);
    check_eq!(Wait::new(&objs).alert(&alert).any(&dev), Err(ETIMEDOUT));
    // Both signaled: the object wins and the alert stays signaled.
    sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    check_eq!(Wait::new(&objs).alert(&alert).any(&dev), Ok(0));
    check_eq!(count(&s)?, 0);
    check_eq!(signaled(&alert)?, true);
    // No objects, only the alert.
    check_eq!(Wait::new(&[]).alert(&alert).any(&dev), Ok(0));
    check_eq!(signaled(&alert)?, false);
    // A semaphore as the alert: one unit taken.
    let sem_alert = sem(&dev, 2, 2)?;
    check_eq!(Wait::new(&objs).alert(&sem_alert).any(&dev), Ok(1));
    check_eq!(count(&sem_alert)?, 1);
    // A mutex as the alert: acquired for the owner, abandoned or not.
    let mutex_alert = mutex(&dev, 3, 1)?;
    check_eq!(
        Wait::new(&objs).by(4).alert(&mutex_alert).any(&dev),
        Err(ETIMEDOUT)
    );
    check_eq!(Wait::new(&objs).by(3).alert(&mutex_alert).any(&dev), Ok(1));
    check_eq!(mutex_state(&mutex_alert), Ok((3, 2)));
    check_eq!(mutex_kill(&mutex_alert, 3), Ok(()));
    check_eq!(
        Wait::new(&objs)
            .by(4)
            .alert(&mutex_alert)
            .outcome(&dev, IOC_WAIT_ANY),
        (Err(EOWNERDEAD), 1)
    );
    check_eq!(mread(&mutex_alert), (Ok(()), 4, 1));
    // A manual-reset event as the alert stays signaled.
    let manual = event(&dev, true, true)?;
    check_eq!(Wait::new(&objs).alert(&manual).any(&dev), Ok(1));
    check_eq!(signaled(&manual)?, true);
    Ok(())
}

/// A wait over 64 objects works; 65 is refused.
pub(crate) fn wait_any_max_count() -> TestResult {
    let dev = dev()?;
    let sems = (0..65)
        .map(|_| sem(&dev, 0, 1))
        .collect::<Result<Vec<_>, _>>()?;
    let objs: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
    sem_release(&sems[63], 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    check_eq!(Wait::new(&objs[..64]).any(&dev), Ok(63));
    sem_release(&sems[0], 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    check_eq!(Wait::new(&objs).any(&dev), Err(EINVAL));
    check_eq!(Wait::new(&objs).all(&dev), Err(EINVAL));
    check_eq!(count(&sems[0])?, 1);
    // 64 for wait-all, with 64 signaled objects, and with one more as the alert.
    for s in &sems[1..64] {
        sem_release(s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    }
    check_eq!(Wait::new(&objs[..64]).alert(&sems[64]).all(&dev), Ok(0));
    check!(sems[..64].iter().all(|s| count(s) == Ok(0)));
    check_eq!(Wait::new(&[]).any(&dev), Err(ETIMEDOUT));
    Ok(())
}

/// Two objects of one wait-any signaled at the same moment: exactly one is acquired.
pub(crate) fn wait_any_one_of_concurrent() -> TestResult {
    let dev = dev()?;
    for round in 0..10 {
        let a = Arc::new(sem(&dev, 0, 1)?);
        let b = Arc::new(sem(&dev, 0, 1)?);
        let objs = fds(&[&*a, &*b]);
        let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
        let barrier = Arc::new(Barrier::new(2));
        let releasers: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|s| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    sem_release(&*s, 1)
                })
            })
            .collect();
        for r in releasers {
            check_eq!(r.join().map_err(|_| "releaser panicked")?, Ok(0));
        }
        let (ret, index) = w.join(JOIN)?;
        check_eq!(ret, Ok(()));
        let counts = [count(&*a)?, count(&*b)?];
        check!(
            index < 2 && counts[index as usize] == 0 && counts[1 - index as usize] == 1,
            "round {round}: index {index}, counts {counts:?}"
        );
    }
    Ok(())
}
