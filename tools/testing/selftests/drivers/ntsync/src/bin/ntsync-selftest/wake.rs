// SPDX-License-Identifier: GPL-2.0

//! Waking sleepers: each kind of change wakes whom it should, in order, for wait-any and
//! wait-all, and nobody else.

use crate::common::*;
use libc::{EFAULT, EOWNERDEAD, EPERM};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A blocked waiter is woken by a release of its object, not of another one; the release
/// and the acquisition are one step.
pub(crate) fn wake_sem_release() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    let other = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    check_eq!(sem_release(&other, 1), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(count(&other)?, 1);
    check_eq!(count(&s)?, 0);
    check_eq!(sem_release(&s, 2), Ok(0));
    // The waiter took its unit before the release returned.
    check_eq!(count(&s)?, 1);
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&s)?, 1);
    Ok(())
}

/// The first of several waiters to report back, and its position.
fn first_of(waiters: &[&Waiter]) -> Result<(usize, Outcome), String> {
    let start = Instant::now();
    while start.elapsed() < JOIN {
        for (i, w) in waiters.iter().enumerate() {
            if let Some(outcome) = w.poll(Duration::from_millis(2)) {
                return Ok((i, outcome));
            }
        }
    }
    Err("no waiter returned".into())
}

/// One unit wakes exactly one of two waiters; the next unit the other.
pub(crate) fn wake_one_of_two() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    let objs = [s.as_raw_fd()];
    let wait = Wait::new(&objs).until(in_ms(WAKE_MS));
    let a = Waiter::any(&dev, &wait)?;
    let b = Waiter::any(&dev, &wait)?;
    check_eq!(sem_release(&s, 1), Ok(0));
    let (i, outcome) = first_of(&[&a, &b])?;
    check_eq!(outcome, (Ok(()), 0));
    let rest = if i == 0 { b } else { a };
    rest.still_blocked(QUIET)?;
    check_eq!(count(&s)?, 0);
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(rest.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&s)?, 0);
    // Two units wake both at once.
    let a = Waiter::any(&dev, &wait)?;
    let b = Waiter::any(&dev, &wait)?;
    check_eq!(sem_release(&s, 2), Ok(0));
    check_eq!(count(&s)?, 0);
    check_eq!(a.join(JOIN)?, (Ok(()), 0));
    check_eq!(b.join(JOIN)?, (Ok(()), 0));
    Ok(())
}

/// Makes an object signaled.
type Signal<'a> = &'a dyn Fn() -> Result<(), Errno>;

/// Waiters are served oldest first, for every kind of object.
pub(crate) fn wake_fifo_order() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let m = mutex(&dev, 9, 1)?;
    let e = event(&dev, false, false)?;
    let wake: [(&OwnedFd, Signal); 3] = [
        (&s, &|| sem_release(&s, 1).map(|_| ())),
        (&m, &|| mutex_unlock(&m, 9).map(|_| ())),
        (&e, &|| event_set(&e).map(|_| ())),
    ];
    for (obj, signal) in wake {
        let objs = [obj.as_raw_fd()];
        let first = Waiter::any(&dev, &Wait::new(&objs).by(1).until(in_ms(WAKE_MS)))?;
        let second = Waiter::any(&dev, &Wait::new(&objs).by(2).until(in_ms(WAKE_MS)))?;
        check_eq!(signal(), Ok(()));
        check_eq!(first.join(JOIN)?, (Ok(()), 0));
        second.still_blocked(QUIET)?;
        if obj.as_raw_fd() == m.as_raw_fd() {
            check_eq!(mutex_state(&m), Ok((1, 1)));
            check_eq!(mutex_unlock(&m, 1), Ok(1));
        } else {
            check_eq!(signal(), Ok(()));
        }
        check_eq!(second.join(JOIN)?, (Ok(()), 0));
        if obj.as_raw_fd() == m.as_raw_fd() {
            check_eq!(mutex_state(&m), Ok((2, 1)));
            check_eq!(mutex_unlock(&m, 2), Ok(1));
            check_eq!(Wait::new(&objs).by(9).any(&dev), Ok(0));
        }
    }
    Ok(())
}

/// A mutex waiter is not woken by an unlock that leaves the mutex owned, and is handed it by
/// the last one; of two waiters, exactly one gets it.
pub(crate) fn wake_mutex_unlock() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 1, 2)?;
    let objs = [m.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).by(2).until(in_ms(WAKE_MS)))?;
    check_eq!(mutex_unlock(&m, 1), Ok(2));
    w.still_blocked(QUIET)?;
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(mutex_unlock(&m, 1), Ok(1));
    // Handed over in the same step as the unlock.
    check_eq!(mutex_state(&m), Ok((2, 1)));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));

    // Two waiters with different owners.
    let a = Waiter::any(&dev, &Wait::new(&objs).by(3).until(in_ms(WAKE_MS)))?;
    let b = Waiter::any(&dev, &Wait::new(&objs).by(4).until(in_ms(WAKE_MS)))?;
    check_eq!(mutex_unlock(&m, 2), Ok(1));
    let (i, outcome) = first_of(&[&a, &b])?;
    check_eq!(outcome, (Ok(()), 0));
    let (winner, rest) = if i == 0 { (3, b) } else { (4, a) };
    check_eq!(mutex_state(&m), Ok((winner, 1)));
    rest.still_blocked(QUIET)?;
    check_eq!(mutex_unlock(&m, winner), Ok(1));
    check_eq!(rest.join(JOIN)?, (Ok(()), 0));
    check_eq!(mutex_state(&m), Ok((7 - winner, 1)));
    Ok(())
}

/// Killing the owner wakes a waiter with EOWNERDEAD and the mutex is then its own.
pub(crate) fn wake_mutex_kill() -> TestResult {
    let dev = dev()?;
    let empty = sem(&dev, 0, 1)?;
    let m = mutex(&dev, 1, 3)?;
    let objs = fds(&[&empty, &m]);
    let w = Waiter::any(&dev, &Wait::new(&objs).by(2).until(in_ms(WAKE_MS)))?;
    check_eq!(mutex_kill(&m, 3), Err(EPERM));
    w.still_blocked(QUIET)?;
    check_eq!(mutex_kill(&m, 1), Ok(()));
    check_eq!(mread(&m), (Ok(()), 2, 1));
    check_eq!(w.join(JOIN)?, (Err(EOWNERDEAD), 1));
    check_eq!(mread(&m), (Ok(()), 2, 1));
    Ok(())
}

/// EVENT_SET wakes waiters: an auto event goes to one and is consumed, a manual one wakes all
/// and stays set; a reset wakes nobody.
pub(crate) fn wake_event_set() -> TestResult {
    let dev = dev()?;
    for manual in [false, true] {
        let e = event(&dev, manual, false)?;
        let objs = [e.as_raw_fd()];
        let wait = Wait::new(&objs).until(in_ms(WAKE_MS));
        let w = Waiter::any(&dev, &wait)?;
        check_eq!(event_reset(&e), Ok(0));
        w.still_blocked(QUIET)?;
        check_eq!(event_set(&e), Ok(0));
        check_eq!(signaled(&e)?, manual);
        check_eq!(w.join(JOIN)?, (Ok(()), 0));
        check_eq!(event_reset(&e), Ok(manual as u32));

        let a = Waiter::any(&dev, &wait)?;
        let b = Waiter::any(&dev, &wait)?;
        check_eq!(event_set(&e), Ok(0));
        check_eq!(signaled(&e)?, manual);
        let (i, outcome) = first_of(&[&a, &b])?;
        check_eq!(outcome, (Ok(()), 0));
        let rest = if i == 0 { b } else { a };
        if !manual {
            rest.still_blocked(QUIET)?;
            check_eq!(event_set(&e), Ok(0));
        }
        check_eq!(rest.join(JOIN)?, (Ok(()), 0));
        check_eq!(signaled(&e)?, manual);
    }
    Ok(())
}

/// A pulse satisfies one waiter of an auto event, all waiters of a manual one, and leaves the
/// event unsignaled either way.
pub(crate) fn wake_event_pulse() -> TestResult {
    let dev = dev()?;
    for manual in [false, true] {
        let e = event(&dev, manual, false)?;
        let objs = [e.as_raw_fd()];
        let wait = Wait::new(&objs).until(in_ms(WAKE_MS));
        let a = Waiter::any(&dev, &wait)?;
        let b = Waiter::any(&dev, &wait)?;
        check_eq!(event_pulse(&e), Ok(0));
        check_eq!(signaled(&e)?, false);
        let (i, outcome) = first_of(&[&a, &b])?;
        check_eq!(outcome, (Ok(()), 0));
        let rest = if i == 0 { b } else { a };
        if manual {
            check_eq!(rest.join(JOIN)?, (Ok(()), 0));
        } else {
            rest.still_blocked(QUIET)?;
            check_eq!(event_pulse(&e), Ok(0));
            check_eq!(rest.join(JOIN)?, (Ok(()), 0));
        }
        check_eq!(signaled(&e)?, false);
    }
    // A pulsed manual event satisfies wait-all and wait-any sleepers alike.
    let s = sem(&dev, 1, 1)?;
    let e = event(&dev, true, false)?;
    let set = fds(&[&s, &e]);
    let one = [e.as_raw_fd()];
    let all = Waiter::all(&dev, &Wait::new(&set).until(in_ms(WAKE_MS)))?;
    let any = Waiter::any(&dev, &Wait::new(&one).until(in_ms(WAKE_MS)))?;
    check_eq!(event_pulse(&e), Ok(0));
    check_eq!(count(&s)?, 0);
    check_eq!(signaled(&e)?, false);
    check_eq!(all.join(JOIN)?, (Ok(()), 0));
    check_eq!(any.join(JOIN)?, (Ok(()), 0));
    Ok(())
}

/// A wait-any sleeper is woken by its alert, with index == count, and not by an object it
/// does not wait for.
pub(crate) fn wake_alert_any() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let other = sem(&dev, 0, 1)?;
    let alert = event(&dev, false, false)?;
    let objs = [s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).alert(&alert).until(in_ms(WAKE_MS)))?;
    check_eq!(sem_release(&other, 1), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(event_set(&alert), Ok(0));
    check_eq!(signaled(&alert)?, false);
    check_eq!(w.join(JOIN)?, (Ok(()), 1));
    check_eq!(count(&s)?, 0);
    check_eq!(count(&other)?, 1);
    Ok(())
}

/// A wait-all sleeper on {semaphore, event} is woken only when both are signaled, then takes
/// both; meanwhile other threads may take the semaphore.
pub(crate) fn wake_all_sem_event() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    let e = event(&dev, false, false)?;
    let objs = fds(&[&s, &e]);
    let w = Waiter::all(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    check_eq!(sem_release(&s, 1), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(count(&s)?, 1);
    // Someone else takes the unit.
    check_eq!(Wait::new(&objs[..1]).by(2).any(&dev), Ok(0));
    check_eq!(event_set(&e), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(signaled(&e)?, true);
    check_eq!(sem_release(&s, 1), Ok(0));
    // Both taken in the same step as the release.
    check_eq!(count(&s)?, 0);
    check_eq!(signaled(&e)?, false);
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    Ok(())
}

/// A wait-all sleeper is woken by its alert, index == count, acquiring nothing else.
pub(crate) fn wake_all_alert() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 1)?;
    let m = mutex(&dev, 9, 1)?;
    let alert = event(&dev, true, false)?;
    let objs = fds(&[&s, &m]);
    let w = Waiter::all(&dev, &Wait::new(&objs).alert(&alert).until(in_ms(WAKE_MS)))?;
    check_eq!(event_set(&alert), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 2));
    check_eq!(signaled(&alert)?, true);
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((9, 1)));
    // The set completes later: the returned waiter is no longer queued to take it.
    check_eq!(mutex_unlock(&m, 9), Ok(1));
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((0, 0)));
    Ok(())
}

/// Sleeping waits over 16, 17 and 64 objects (ours queues the first on the stack and the
/// others on the heap): a wait-any is woken by its last object or by its alert, and a wait-all
/// only once every object is signaled, the last one released waking it.
pub(crate) fn wake_many_objects() -> TestResult {
    let dev = dev()?;
    for n in [16, 17, 64] {
        let sems = (0..n)
            .map(|_| sem(&dev, 0, 1))
            .collect::<Result<Vec<_>, _>>()?;
        let alert = event(&dev, false, false)?;
        let objs: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
        let wait = || Wait::new(&objs).until(in_ms(WAKE_MS));

        let w = Waiter::any(&dev, &wait())?;
        w.still_blocked(QUIET)?;
        check_eq!(sem_release(&sems[n - 1], 1), Ok(0));
        check_eq!(w.join(JOIN)?, (Ok(()), n as u32 - 1));
        check_eq!(count(&sems[n - 1])?, 0);

        let w = Waiter::any(&dev, &wait().alert(&alert))?;
        w.still_blocked(QUIET)?;
        check_eq!(event_set(&alert), Ok(0));
        check_eq!(w.join(JOIN)?, (Ok(()), n as u32));
        check_eq!(signaled(&alert)?, false);

        let w = Waiter::all(&dev, &wait())?;
        for s in &sems[..n - 1] {
            check_eq!(sem_release(s, 1), Ok(0));
        }
        w.still_blocked(QUIET)?;
        check!(sems[..n - 1].iter().all(|s| count(s) == Ok(1)));
        check_eq!(sem_release(&sems[n - 1], 1), Ok(0));
        check!(
            sems.iter().all(|s| count(s) == Ok(0)),
            "{n} objects: the wait-all left units behind"
        );
        check_eq!(w.join(JOIN)?, (Ok(()), 0));
    }
    Ok(())
}

/// Killing the owner of a mutex in a wait-all set completes the set: EOWNERDEAD, index 0.
pub(crate) fn wake_all_mutex_kill() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 9, 2)?;
    let s = sem(&dev, 1, 1)?;
    let objs = fds(&[&m, &s]);
    let w = Waiter::all(&dev, &Wait::new(&objs).by(1).until(in_ms(WAKE_MS)))?;
    check_eq!(mutex_unlock(&m, 9), Ok(2));
    w.still_blocked(QUIET)?;
    check_eq!(mutex_kill(&m, 9), Ok(()));
    check_eq!(w.join(JOIN)?, (Err(EOWNERDEAD), 0));
    check_eq!(mread(&m), (Ok(()), 1, 1));
    check_eq!(count(&s)?, 0);
    Ok(())
}

/// A set is offered to wait-all waiters first: with a wait-all on {semaphore, event} and a
/// wait-any on the event both asleep, the wait-all gets the auto-reset event, whichever
/// queued first.
pub(crate) fn wake_all_before_any() -> TestResult {
    let dev = dev()?;
    for any_first in [true, false] {
        let s = sem(&dev, 1, 1)?;
        let e = event(&dev, false, false)?;
        let set = fds(&[&s, &e]);
        let one = [e.as_raw_fd()];
        let (any, all) = if any_first {
            let any = Waiter::any(&dev, &Wait::new(&one).by(2).until(in_ms(WAKE_MS)))?;
            (
                any,
                Waiter::all(&dev, &Wait::new(&set).until(in_ms(WAKE_MS)))?,
            )
        } else {
            let all = Waiter::all(&dev, &Wait::new(&set).until(in_ms(WAKE_MS)))?;
            (
                Waiter::any(&dev, &Wait::new(&one).by(2).until(in_ms(WAKE_MS)))?,
                all,
            )
        };
        check_eq!(event_set(&e), Ok(0));
        check_eq!(all.join(JOIN)?, (Ok(()), 0));
        any.still_blocked(QUIET)?;
        check_eq!(count(&s)?, 0);
        check_eq!(signaled(&e)?, false);
        check_eq!(event_set(&e), Ok(0));
        check_eq!(any.join(JOIN)?, (Ok(()), 0));
    }
    Ok(())
}

/// A release or set whose write-back faults has still woken the waiter.
pub(crate) fn wake_release_fault() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    let page = Pages::read_only(1u32);
    check_eq!(raw(&s, IOC_SEM_RELEASE, page.addr()), Some(EFAULT));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&s)?, 0);

    let e = event(&dev, false, false)?;
    let objs = [e.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    check_eq!(raw(&e, IOC_EVENT_SET, 8), Some(EFAULT));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(signaled(&e)?, false);
    Ok(())
}
