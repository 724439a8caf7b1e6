// SPDX-License-Identifier: GPL-2.0

//! Many threads on one mutex through both kinds of wait.

use ntsync_selftests::setup::{count, dev, mutex, sem};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;

/// Threads serialised by one mutex, through wait-any and wait-all, never overlap.
pub(crate) fn stress_mutual_exclusion() -> TestResult {
    const THREADS: u32 = 4;
    const LOOPS: u32 = 50;
    let dev = dev()?;
    let m = Arc::new(mutex(&dev, 0, 0)?);
    let s = Arc::new(sem(&dev, THREADS, THREADS)?);
    let counter = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let dev = dev.try_clone().expect("dup");
            let (m, s, counter) = (m.clone(), s.clone(), counter.clone());
            thread::spawn(move || -> Result<(), String> {
                let owner = t + 1;
                let all = t % 2 == 1;
                let objs = [m.as_raw_fd(), s.as_raw_fd()];
                for _ in 0..LOOPS {
                    let set = if all { &objs[..] } else { &objs[..1] };
                    let wait = Wait::new(set).by(owner).until(in_ms(10_000));
                    let got = if all { wait.all(&dev) } else { wait.any(&dev) };
                    if got != Ok(0) {
                        return Err(format!("thread {t}: wait {got:?}"));
                    }
                    let seen = counter.load(Ordering::Relaxed);
                    thread::yield_now();
                    counter.store(seen + 1, Ordering::Relaxed);
                    if mutex_unlock(&*m, owner) != Ok(1) {
                        return Err(format!("thread {t}: unlock failed"));
                    }
                    if all && sem_release(&*s, 1).is_err() {
                        return Err(format!("thread {t}: release failed"));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    check_eq!(counter.load(Ordering::Relaxed), THREADS * LOOPS);
    check_eq!(mutex_state(&*m), Ok((0, 0)));
    check_eq!(count(&*s)?, THREADS);
    Ok(())
}
