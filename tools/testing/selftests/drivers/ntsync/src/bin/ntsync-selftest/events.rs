// SPDX-License-Identifier: GPL-2.0

//! Events: creation, set, reset and pulse, and what a wait consumes.

use crate::common::*;
use libc::{EFAULT, ETIMEDOUT};
use ntsync_selftests::setup::{dev, event, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub(crate) fn create_event_rules() -> TestResult {
    let dev = dev()?;
    let make = |manual: u32, signaled: u32| -> Result<OwnedFd, String> {
        let mut args = EventArgs { manual, signaled };
        let fd = ioctl(dev.as_raw_fd(), IOC_CREATE_EVENT, &mut args)
            .map_err(|e| format!("CREATE_EVENT({manual}, {signaled}): errno {e}"))?;
        // SAFETY: A new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    for (manual, sig) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        check_eq!(
            event_read(&make(manual, sig)?),
            Ok(EventArgs {
                manual,
                signaled: sig
            })
        );
    }
    // Any nonzero value counts, and reads back as 1.
    let odd = make(2, 0x100)?;
    check_eq!(event_read(&odd), Ok(ev(1, 1)));
    let objs = [odd.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(event_read(&odd), Ok(ev(1, 1)));
    let auto = make(0, 0x8000_0000)?;
    check_eq!(event_read(&auto), Ok(ev(0, 1)));

    check_eq!(raw(&dev, IOC_CREATE_EVENT, 8), Some(EFAULT));
    let page = Pages::read_only(ev(1, 0));
    let fd = ioctl_raw(dev.as_raw_fd(), IOC_CREATE_EVENT, page.addr())
        .map_err(|e| format!("CREATE_EVENT from a read-only page: errno {e}"))?;
    // SAFETY: A new fd that nothing else owns.
    let e = unsafe { OwnedFd::from_raw_fd(fd) };
    check_eq!(event_read(&e), Ok(ev(1, 0)));
    check_eq!(raw(&e, IOC_EVENT_READ, 8), Some(EFAULT));
    Ok(())
}

/// SET and RESET return the previous state; a failed write-back comes after the change.
pub(crate) fn event_set_reset() -> TestResult {
    let dev = dev()?;
    for manual in [false, true] {
        let e = event(&dev, manual, false)?;
        check_eq!(event_set(&e), Ok(0));
        check_eq!(signaled(&e)?, true);
        check_eq!(event_set(&e), Ok(1));
        check_eq!(signaled(&e)?, true);
        check_eq!(event_reset(&e), Ok(1));
        check_eq!(signaled(&e)?, false);
        check_eq!(event_reset(&e), Ok(0));
        check_eq!(event_read(&e), Ok(ev(manual as u32, 0)));

        // Unwritable output: the change has happened anyway.
        check_eq!(raw(&e, IOC_EVENT_SET, 8), Some(EFAULT));
        check_eq!(signaled(&e)?, true);
        check_eq!(raw(&e, IOC_EVENT_RESET, 8), Some(EFAULT));
        check_eq!(signaled(&e)?, false);
        let page = Pages::read_only(POISON);
        check_eq!(raw(&e, IOC_EVENT_SET, page.addr()), Some(EFAULT));
        check_eq!(signaled(&e)?, true);

        // Only the 32-bit output is written.
        let mut buf = [POISON; 3];
        check_eq!(ioctl(e.as_raw_fd(), IOC_EVENT_RESET, &mut buf[1]), Ok(0));
        check_eq!(buf, [POISON, 1, POISON]);
        check_eq!(ioctl(e.as_raw_fd(), IOC_EVENT_PULSE, &mut buf[1]), Ok(0));
        check_eq!(buf, [POISON, 0, POISON]);
    }
    Ok(())
}

/// A pulse returns the previous state and always leaves the event unsignaled.
pub(crate) fn event_pulse_rules() -> TestResult {
    let dev = dev()?;
    for manual in [false, true] {
        let e = event(&dev, manual, false)?;
        check_eq!(event_pulse(&e), Ok(0));
        check_eq!(signaled(&e)?, false);
        check_eq!(event_set(&e), Ok(0));
        check_eq!(event_pulse(&e), Ok(1));
        check_eq!(signaled(&e)?, false);
        check_eq!(event_read(&e), Ok(ev(manual as u32, 0)));
        // A pulse nobody waits for is lost.
        let objs = [e.as_raw_fd()];
        check_eq!(Wait::new(&objs).any(&dev), Err(ETIMEDOUT));
        // Unwritable output: the pulse has happened anyway.
        event_set(&e).map_err(|e| format!("EVENT_SET: errno {e}"))?;
        check_eq!(raw(&e, IOC_EVENT_PULSE, 8), Some(EFAULT));
        check_eq!(signaled(&e)?, false);
    }
    Ok(())
}

/// An auto-reset event is consumed by the wait that acquires it, a manual-reset one is not.
pub(crate) fn event_wait_consumption() -> TestResult {
    let dev = dev()?;
    let auto = event(&dev, false, true)?;
    let manual = event(&dev, true, true)?;
    let a = [auto.as_raw_fd()];
    let m = [manual.as_raw_fd()];
    check_eq!(Wait::new(&a).any(&dev), Ok(0));
    check_eq!(signaled(&auto)?, false);
    check_eq!(Wait::new(&a).any(&dev), Err(ETIMEDOUT));
    check_eq!(Wait::new(&m).any(&dev), Ok(0));
    check_eq!(Wait::new(&m).any(&dev), Ok(0));
    check_eq!(signaled(&manual)?, true);
    // The same with wait-all.
    event_set(&auto).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    let both = fds(&[&auto, &manual]);
    check_eq!(Wait::new(&both).all(&dev), Ok(0));
    check_eq!(signaled(&auto)?, false);
    check_eq!(signaled(&manual)?, true);
    check_eq!(Wait::new(&both).all(&dev), Err(ETIMEDOUT));
    Ok(())
}

/// The "no concurrent read can observe it signaled" rule of pulses.
pub(crate) fn pulse_never_visible() -> TestResult {
    let dev = dev()?;
    for manual in [false, true] {
        let e = Arc::new(event(&dev, manual, false)?);
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU32::new(0));
        let reader = {
            let (e, stop, reads) = (e.clone(), stop.clone(), reads.clone());
            thread::spawn(move || {
                let mut seen = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    match event_read(&*e) {
                        Ok(args) if args.signaled == 0 => {}
                        _ => seen += 1,
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        };
        // Pulse while the reader reads: at least 300 pulses and 300 reads, for at most 2 s.
        let start = Instant::now();
        while reads.load(Ordering::Relaxed) == 0 && start.elapsed() < Duration::from_secs(2) {
            thread::yield_now();
        }
        let first = reads.load(Ordering::Relaxed);
        let mut pulses = 0;
        while (pulses < 300 || reads.load(Ordering::Relaxed) < first + 300)
            && start.elapsed() < Duration::from_secs(2)
        {
            check_eq!(event_pulse(&*e), Ok(0));
            pulses += 1;
        }
        let during = reads.load(Ordering::Relaxed) - first;
        stop.store(true, Ordering::Relaxed);
        let seen = reader.join().map_err(|_| "reader panicked")?;
        check!(
            first > 0 && during > 0,
            "the reader did not run during the pulses"
        );
        check_eq!(seen, 0);
    }
    Ok(())
}
