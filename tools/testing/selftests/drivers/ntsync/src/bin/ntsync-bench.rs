// SPDX-License-Identifier: GPL-2.0

//! Benchmark of `/dev/ntsync` on Wine-shaped workloads. Prints one `name value unit` line
//! per row, for whichever driver is loaded; the VM scripts run it against both drivers in
//! the same boot and put the numbers side by side.
//!
//! Usage: `ntsync-bench [SECONDS-PER-ROW]` (default 1).

use ntsync_selftests::*;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `op` repeatedly for `secs`; returns operations per second.
fn rate(secs: f64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            op();
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn sem(dev: &File, count: u32) -> OwnedFd {
    create_sem(dev, count, u32::MAX).expect("CREATE_SEM")
}

/// One thread: release a semaphore, then take it back with a zero-timeout wait.
fn uncontended(dev: &File, secs: f64) -> f64 {
    let s = sem(dev, 0);
    let fds = [s.as_raw_fd()];
    let wait = Wait::new(&fds);
    rate(secs, || {
        sem_release(&s, 1).unwrap();
        assert_eq!(wait.any(dev), Ok(0));
    })
}

/// A wait over 64 semaphores of which only the last is signaled.
fn wait_any_64(dev: &File, secs: f64) -> f64 {
    let sems: Vec<_> = (0..64).map(|_| sem(dev, 0)).collect();
    let fds: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
    let wait = Wait::new(&fds);
    rate(secs, || {
        sem_release(&sems[63], 1).unwrap();
        assert_eq!(wait.any(dev), Ok(63));
    })
}

/// Two threads bounce between two auto-reset events; round trips per second.
fn zigzag(dev: &File, secs: f64) -> f64 {
    let ping = create_event(dev, false, false).unwrap();
    let pong = create_event(dev, false, false).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ping_fd, pong_fd) = (ping.as_raw_fd(), pong.as_raw_fd());
    let peer = {
        let dev = dev.try_clone().unwrap();
        let stop = stop.clone();
        thread::spawn(move || {
            let fds = [ping_fd];
            let mut wait = Wait::new(&fds);
            wait.owner = 2;
            wait.timeout = INFINITE;
            while wait.any(&dev).is_ok() && !stop.load(Ordering::Relaxed) {
                let mut prev = 0u32;
                ioctl(pong_fd, IOC_EVENT_SET, &mut prev).unwrap();
            }
        })
    };
    let fds = [pong_fd];
    let mut wait = Wait::new(&fds);
    wait.timeout = INFINITE;
    let r = rate(secs, || {
        let mut prev = 0u32;
        ioctl(ping_fd, IOC_EVENT_SET, &mut prev).unwrap();
        assert_eq!(wait.any(dev), Ok(0));
    });
    stop.store(true, Ordering::Relaxed);
    let mut prev = 0u32;
    ioctl(ping_fd, IOC_EVENT_SET, &mut prev).unwrap();
    peer.join().unwrap();
    r
}

/// Two threads take and release one mutex; acquisitions per second over both.
fn contended_mutex(dev: &File, secs: f64) -> f64 {
    let mutex = Arc::new(create_mutex(dev, 0, 0).unwrap());
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (1..=2u32)
        .map(|owner| {
            let (dev, mutex, start) = (dev.try_clone().unwrap(), mutex.clone(), start.clone());
            thread::spawn(move || {
                let fds = [mutex.as_raw_fd()];
                let mut wait = Wait::new(&fds);
                wait.owner = owner;
                wait.timeout = INFINITE;
                start.wait();
                rate(secs, || {
                    assert_eq!(wait.any(&dev), Ok(0));
                    let mut args = MutexArgs { owner, count: 0 };
                    ioctl(mutex.as_raw_fd(), IOC_MUTEX_UNLOCK, &mut args).unwrap();
                })
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

/// `threads` waiters block on one manual event; microseconds from SET until all returned.
fn wake_storm(dev: &File, threads: usize) -> f64 {
    let rounds = 20;
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let event = create_event(dev, true, false).unwrap();
        let ready = Arc::new(Barrier::new(threads + 1));
        let waiters: Vec<_> = (0..threads)
            .map(|i| {
                let (dev, ready, fd) = (dev.try_clone().unwrap(), ready.clone(), event.as_raw_fd());
                thread::spawn(move || {
                    let fds = [fd];
                    let mut wait = Wait::new(&fds);
                    wait.owner = i as u32 + 1;
                    wait.timeout = INFINITE;
                    ready.wait();
                    assert_eq!(wait.any(&dev), Ok(0));
                })
            })
            .collect();
        ready.wait();
        // Let every waiter reach its sleep before the clock starts.
        thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        let mut prev = 0u32;
        ioctl(event.as_raw_fd(), IOC_EVENT_SET, &mut prev).unwrap();
        for w in waiters {
            w.join().unwrap();
        }
        let took = start.elapsed();
        eprintln!("round {took:?}");
        total += took;
    }
    total.as_secs_f64() * 1e6 / rounds as f64
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let dev = open_device().expect("open /dev/ntsync");
    println!("uncontended {:.0} ops/s", uncontended(&dev, secs));
    println!("wait_any_64 {:.0} ops/s", wait_any_64(&dev, secs));
    println!("zigzag {:.0} iter/s", zigzag(&dev, secs));
    println!("contended_mutex {:.0} ops/s", contended_mutex(&dev, secs));
    for threads in [1, 4, 16] {
        println!("wake_storm_{threads} {:.1} us", wake_storm(&dev, threads));
    }
}
