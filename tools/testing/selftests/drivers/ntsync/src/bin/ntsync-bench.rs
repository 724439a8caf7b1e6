// SPDX-License-Identifier: GPL-2.0

//! Benchmark of `/dev/ntsync` on Wine-shaped workloads. Prints one `name value unit` line
//! per row, for whichever driver is loaded; the VM scripts run it against both drivers in
//! the same boot and put the numbers side by side.
//!
//! Usage: `ntsync-bench [--floors] [SECONDS-PER-ROW]` (default 1). `--floors` measures the
//! same shapes without ntsync instead: a futex ping-pong (the cost of any cross-thread kernel
//! wake), an eventfd ping-pong (esync-like) and an AF_UNIX request/reply (wineserver-like).
//!
//! `ntsync-bench --ops N ROW` runs exactly N operations of one row (for a wake storm, N
//! rounds) instead of timing it, with the profiler of `tools/testing/profile` counting, and
//! prints `ROW OPS ops` with the operations done in all (twice N for the two-thread rows).

use ntsync::Acquired;
use ntsync::AsObject;
use ntsync::Deadline;
use ntsync::Device;
use ntsync::Semaphore;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Operations per row in `--ops` mode; 0 when timing.
static OPS: AtomicU64 = AtomicU64::new(0);

/// Threads inside a `Counting` section: the profiler counts from the first one in to the
/// last one out, so that two-thread rows are counted whole.
static COUNTING: AtomicUsize = AtomicUsize::new(0);

/// A profiler marker: `nopl 0x4e5453NN(%rax)`, an instruction that does nothing, which the
/// QEMU plugin `tools/testing/vm/profile/insn-profile.c` recognises by its bytes. `OP` 1
/// starts counting, 2 stops it, 3 closes the region.
fn marker<const OP: u8>() {
    // SAFETY: A multi-byte NOP: it reads no memory and changes no register or flag.
    unsafe {
        std::arch::asm!(
            ".byte 0x0f, 0x1f, 0x80, {op}, 0x53, 0x54, 0x4e",
            op = const OP,
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// While one exists in any thread, the profiler counts.
struct Counting;

impl Counting {
    fn begin() -> Self {
        if COUNTING.fetch_add(1, Ordering::SeqCst) == 0 {
            marker::<1>();
        }
        Counting
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        if COUNTING.fetch_sub(1, Ordering::SeqCst) == 1 {
            marker::<2>();
        }
    }
}

/// Runs `op` repeatedly for `secs`; returns operations per second. In `--ops` mode, runs it
/// exactly that many times, counted, and returns that number.
fn rate(secs: f64, mut op: impl FnMut()) -> f64 {
    let ops = OPS.load(Ordering::Relaxed);
    if ops > 0 {
        let _counting = Counting::begin();
        for _ in 0..ops {
            op();
        }
        return ops as f64;
    }
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

fn sem(dev: &Device, count: u32) -> Semaphore {
    dev.create_semaphore(count, u32::MAX).expect("CREATE_SEM")
}

/// What a wait that acquires its `index`th object, not abandoned, returns.
const fn took(index: usize) -> ntsync::Result<Acquired> {
    Ok(Acquired {
        index,
        abandoned: false,
        alerted: false,
    })
}

/// One thread: release a semaphore, then take it back with a zero-timeout wait.
fn uncontended(dev: &Device, secs: f64) -> f64 {
    let s = sem(dev, 0);
    let wait = dev.wait_any(&[&s], 1).deadline(Deadline::Monotonic(0));
    rate(secs, || {
        s.release(1).unwrap();
        assert_eq!(wait.run(), took(0));
    })
}

/// A wait over 64 semaphores of which only the last is signaled.
fn wait_any_64(dev: &Device, secs: f64) -> f64 {
    let sems: Vec<_> = (0..64).map(|_| sem(dev, 0)).collect();
    let objs: Vec<&dyn AsObject> = sems.iter().map(|s| s as &dyn AsObject).collect();
    let wait = dev.wait_any(&objs, 1).deadline(Deadline::Monotonic(0));
    rate(secs, || {
        sems[63].release(1).unwrap();
        assert_eq!(wait.run(), took(63));
    })
}

/// Two threads bounce between two auto-reset events; round trips per second.
fn zigzag(dev: &Device, secs: f64) -> f64 {
    let ping = dev.create_event(false, false).unwrap();
    let pong = dev.create_event(false, false).unwrap();
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let peer_dev = dev.try_clone().unwrap();
        let (ping, pong, stop) = (&ping, &pong, &stop);
        let peer = scope.spawn(move || {
            let wait = peer_dev.wait_any(&[ping], 2);
            while wait.run().is_ok() && !stop.load(Ordering::Relaxed) {
                pong.set().unwrap();
            }
        });
        let wait = dev.wait_any(&[pong], 1);
        let r = rate(secs, || {
            ping.set().unwrap();
            assert_eq!(wait.run(), took(0));
        });
        stop.store(true, Ordering::Relaxed);
        ping.set().unwrap();
        peer.join().unwrap();
        r
    })
}

/// Two threads take and release one mutex; acquisitions per second over both.
fn contended_mutex(dev: &Device, secs: f64) -> f64 {
    let mutex = dev.create_mutex(0, 0).unwrap();
    let start = Barrier::new(2);
    thread::scope(|scope| {
        let workers: Vec<_> = (1..=2u32)
            .map(|owner| {
                let (dev, mutex, start) = (dev.try_clone().unwrap(), &mutex, &start);
                scope.spawn(move || {
                    let wait = dev.wait_any(&[mutex], owner);
                    start.wait();
                    rate(secs, || {
                        assert_eq!(wait.run(), took(0));
                        mutex.unlock(owner).unwrap();
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Two threads each wait for all of `objects` shared semaphores and give them back;
/// acquisitions per second over both (each one a wait-all and `objects` releases).
fn wait_all(dev: &Device, secs: f64, objects: usize) -> f64 {
    let sems: Vec<Semaphore> = (0..objects).map(|_| sem(dev, 1)).collect();
    let start = Barrier::new(2);
    thread::scope(|scope| {
        let workers: Vec<_> = (1..=2u32)
            .map(|owner| {
                let (dev, sems, start) = (dev.try_clone().unwrap(), &sems, &start);
                scope.spawn(move || {
                    let objs: Vec<&dyn AsObject> =
                        sems.iter().map(|s| s as &dyn AsObject).collect();
                    let wait = dev.wait_all(&objs, owner);
                    start.wait();
                    rate(secs, || {
                        assert_eq!(wait.run(), took(0));
                        for s in sems {
                            s.release(1).unwrap();
                        }
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Creates a semaphore and closes it, on `threads` threads at once: through one device
/// instance, whose objects they then share (as Wine's one wineserver creates every object),
/// or with `own_devices` each through its own instance. Objects per second over all threads.
fn create_close(dev: &Device, secs: f64, threads: usize, own_devices: bool) -> f64 {
    if threads == 1 {
        return rate(secs, || drop(sem(dev, 0)));
    }
    let start = Barrier::new(threads);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let dev = if own_devices {
                    Device::open().expect("open /dev/ntsync")
                } else {
                    dev.try_clone().unwrap()
                };
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    rate(secs, || drop(sem(&dev, 0)))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Objects that `mem_per_object` holds open at once: enough that the slab pages they fill
/// dwarf whatever else the guest allocates meanwhile.
const MEM_OBJECTS: usize = 100_000;

/// The kernel's slab memory in bytes (SReclaimable plus SUnreclaim in /proc/meminfo): whole
/// slab pages, so what each object costs in fragmentation counts too.
fn slab_bytes() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kib: u64 = info
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            match f.next()? {
                "SReclaimable:" | "SUnreclaim:" => f.next()?.parse::<u64>().ok(),
                _ => None,
            }
        })
        .sum();
    kib * 1024
}

/// Slab bytes per live object: how much the kernel's slab memory grows while `MEM_OBJECTS`
/// semaphores are open in one device instance, divided by their number. It counts all that
/// an object holds (the driver's own structure, the file, its dentry, any debugfs entry), as
/// both drivers' objects are anonymous-inode files. The median of three tries, since other
/// slab users in the guest can move any single one.
fn mem_per_object(dev: &Device) -> f64 {
    let fds = (MEM_OBJECTS + 1024) as libc::rlim_t;
    let limit = libc::rlimit {
        rlim_cur: fds,
        rlim_max: fds,
    };
    // SAFETY: `limit` is a valid rlimit for the call to read.
    let raised = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(raised, 0, "raising RLIMIT_NOFILE to {fds} (needs root)");
    // Grow the descriptor table to its final size before the first try, so that its growth
    // is not counted as the objects'.
    // SAFETY: Duplicates stdin onto a free descriptor number and closes the copy.
    unsafe {
        let top = (MEM_OBJECTS + 512) as i32;
        assert_eq!(libc::dup2(0, top), top, "dup2 to grow the descriptor table");
        libc::close(top);
    }
    let mut tries: Vec<f64> = (0..3)
        .map(|_| {
            let before = slab_bytes();
            let objs: Vec<Semaphore> = (0..MEM_OBJECTS).map(|_| sem(dev, 0)).collect();
            let after = slab_bytes();
            drop(objs);
            // Give frees deferred past an RCU grace period time to happen before the next
            // try takes its starting point.
            thread::sleep(Duration::from_millis(100));
            (after as f64 - before as f64) / MEM_OBJECTS as f64
        })
        .collect();
    tries.sort_by(f64::total_cmp);
    tries[1]
}

/// `threads` waiters block on one manual event; microseconds from SET until all returned.
fn wake_storm(dev: &Device, threads: usize) -> f64 {
    let ops = OPS.load(Ordering::Relaxed);
    let rounds = if ops > 0 { ops as u32 } else { 20 };
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let event = dev.create_event(true, false).unwrap();
        let ready = Barrier::new(threads + 1);
        total += thread::scope(|scope| {
            let waiters: Vec<_> = (0..threads)
                .map(|i| {
                    let (dev, ready, event) = (dev.try_clone().unwrap(), &ready, &event);
                    scope.spawn(move || {
                        let wait = dev.wait_any(&[event], i as u32 + 1);
                        ready.wait();
                        assert_eq!(wait.run(), took(0));
                    })
                })
                .collect();
            ready.wait();
            // Let every waiter reach its sleep before the clock starts.
            thread::sleep(Duration::from_millis(20));
            let start = Instant::now();
            let counting = (ops > 0).then(Counting::begin);
            event.set().unwrap();
            for w in waiters {
                w.join().unwrap();
            }
            drop(counting);
            start.elapsed()
        });
    }
    if ops > 0 {
        return rounds as f64;
    }
    total.as_secs_f64() * 1e6 / rounds as f64
}

/// One thread releases 0 units of a semaphore, a change that wakes nobody, while `waiters`
/// threads sleep in a wait-any on it, each with its own alert as Wine's threads have (a
/// thread pool parks dozens to hundreds of threads on one object). Changes per second.
fn idle_change(dev: &Device, secs: f64, waiters: usize) -> f64 {
    let s = sem(dev, 0);
    let alerts: Vec<_> = (0..waiters)
        .map(|_| dev.create_event(true, false).expect("CREATE_EVENT"))
        .collect();
    let ready = Barrier::new(waiters + 1);
    thread::scope(|scope| {
        for (i, alert) in alerts.iter().enumerate() {
            let (s, ready) = (&s, &ready);
            scope.spawn(move || {
                let wait = dev.wait_any(&[s], i as u32 + 1).alert(alert);
                ready.wait();
                assert!(wait.run().expect("WAIT_ANY").alerted);
            });
        }
        ready.wait();
        // Let every waiter reach its sleep before the changes start.
        thread::sleep(Duration::from_millis(20 + waiters as u64 / 2));
        let r = rate(secs, || {
            assert_eq!(s.release(0), Ok(0));
        });
        for alert in &alerts {
            alert.set().unwrap();
        }
        r
    })
}

/// The waiter counts of the `idle_change_N` and `satisfy_one_N` rows.
const IDLE_WAITERS: [usize; 4] = [1, 16, 256, 1000];

/// Threads blocked on one manual event in the `wake_storm_N` rows.
const STORM_THREADS: [usize; 6] = [1, 4, 16, 32, 64, 256];

/// One thread sets an auto-reset event on which `waiters` threads sleep in a wait-any, each
/// with its own alert as Wine's threads have. Each set satisfies one of them, which answers
/// through a second auto-reset event and queues again, so the queue stays `waiters` long (one
/// shorter while the woken one answers). Sets per second: the zigzag round trip plus whatever
/// the queue length adds to a change that wakes one waiter.
fn satisfy_one(dev: &Device, secs: f64, waiters: usize) -> f64 {
    let event = dev.create_event(false, false).expect("CREATE_EVENT");
    let reply = dev.create_event(false, false).expect("CREATE_EVENT");
    let alerts: Vec<_> = (0..waiters)
        .map(|_| dev.create_event(true, false).expect("CREATE_EVENT"))
        .collect();
    let ready = Barrier::new(waiters + 1);
    thread::scope(|scope| {
        for (i, alert) in alerts.iter().enumerate() {
            let (event, reply, ready) = (&event, &reply, &ready);
            scope.spawn(move || {
                let wait = dev.wait_any(&[event], i as u32 + 1).alert(alert);
                ready.wait();
                while !wait.run().expect("WAIT_ANY").alerted {
                    reply.set().unwrap();
                }
            });
        }
        ready.wait();
        // Let every waiter reach its sleep before the changes start.
        thread::sleep(Duration::from_millis(20 + waiters as u64 / 2));
        let wait = dev.wait_any(&[&reply], waiters as u32 + 1);
        let r = rate(secs, || {
            event.set().unwrap();
            assert_eq!(wait.run(), took(0));
        });
        for alert in &alerts {
            alert.set().unwrap();
        }
        r
    })
}

/// Runs `ping` on this thread and `pong` on another until `secs` pass; round trips per second.
/// `pong` returns false once it has seen the stop request that `stop` sends.
fn ping_pong(
    secs: f64,
    mut ping: impl FnMut(),
    pong: impl FnMut() -> bool + Send + 'static,
    stop: impl FnOnce(),
) -> f64 {
    let mut pong = pong;
    let peer = thread::spawn(move || while pong() {});
    let r = rate(secs, &mut ping);
    stop();
    peer.join().unwrap();
    r
}

/// The cost of any cross-thread kernel wake: two threads bounce a futex word.
fn futex_floor(secs: f64) -> f64 {
    static WORD: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const STOP: u32 = 2;
    fn futex(op: i32, val: u32) {
        // SAFETY: `WORD` is a valid, aligned futex word for the life of the program.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                WORD.as_ptr(),
                op,
                val,
                0usize,
                0usize,
                0u32,
            )
        };
    }
    let wait_while = |v: u32| {
        while WORD.load(Ordering::Acquire) == v {
            futex(libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, v);
        }
    };
    ping_pong(
        secs,
        move || {
            WORD.store(1, Ordering::Release);
            futex(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
            wait_while(1);
        },
        move || {
            wait_while(0);
            if WORD.load(Ordering::Acquire) == STOP {
                return false;
            }
            WORD.store(0, Ordering::Release);
            futex(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
            true
        },
        || {
            WORD.store(STOP, Ordering::Release);
            futex(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        },
    )
}

/// esync-like: two threads bounce through two eventfds.
fn eventfd_floor(secs: f64) -> f64 {
    // SAFETY: Plain syscalls creating new fds.
    let (a, b) = unsafe { (libc::eventfd(0, 0), libc::eventfd(0, 0)) };
    let post = |fd: i32| {
        let one = 1u64;
        // SAFETY: Writes 8 bytes from a valid buffer.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    };
    let take = |fd: i32| {
        let mut v = 0u64;
        // SAFETY: Reads 8 bytes into a valid buffer.
        unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
        v
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let r = ping_pong(
        secs,
        || {
            post(a);
            take(b);
        },
        move || {
            take(a);
            post(b);
            !stop2.load(Ordering::Relaxed)
        },
        || {
            stop.store(true, Ordering::Relaxed);
            post(a);
        },
    );
    // SAFETY: Closing fds we own.
    unsafe { (libc::close(a), libc::close(b)) };
    r
}

/// wineserver-like: a server thread answers requests over an AF_UNIX socket pair.
fn unix_floor(secs: f64) -> f64 {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two new fds.
    unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) };
    let (client, server) = (fds[0], fds[1]);
    let xfer = |fd: i32, send: bool| {
        let mut buf = [0u8; 64];
        // SAFETY: The buffer is valid for 64 bytes.
        unsafe {
            if send {
                libc::write(fd, buf.as_ptr().cast(), buf.len())
            } else {
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            }
        }
    };
    let r = ping_pong(
        secs,
        || {
            xfer(client, true);
            xfer(client, false);
        },
        move || {
            if xfer(server, false) <= 0 {
                return false;
            }
            xfer(server, true);
            true
        },
        || {
            // SAFETY: The server sees end-of-file and stops.
            unsafe { libc::shutdown(client, libc::SHUT_WR) };
        },
    );
    // SAFETY: Closing fds we own.
    unsafe { (libc::close(client), libc::close(server)) };
    r
}

/// `--ops N ROW`: one row by its name in the output, counted by the profiler.
fn profile(ops: u64, row: &str) {
    OPS.store(ops, Ordering::Relaxed);
    let dev = || Device::open().expect("open /dev/ntsync");
    let done = match row {
        "uncontended" => uncontended(&dev(), 0.0),
        "wait_any_64" => wait_any_64(&dev(), 0.0),
        "zigzag" => zigzag(&dev(), 0.0),
        "contended_mutex" => contended_mutex(&dev(), 0.0),
        "wait_all" => wait_all(&dev(), 0.0, 4),
        "wait_all_64" => wait_all(&dev(), 0.0, 64),
        "create_close" => create_close(&dev(), 0.0, 1, false),
        "create_close_2t" => create_close(&dev(), 0.0, 2, false),
        "create_close_2d" => create_close(&dev(), 0.0, 2, true),
        "floor_futex" => futex_floor(0.0),
        "floor_eventfd" => eventfd_floor(0.0),
        "floor_unix" => unix_floor(0.0),
        _ => {
            let arg = |prefix| row.strip_prefix(prefix).and_then(|t| t.parse().ok());
            if let Some(threads) = arg("wake_storm_") {
                wake_storm(&dev(), threads)
            } else if let Some(waiters) = arg("idle_change_") {
                idle_change(&dev(), 0.0, waiters)
            } else if let Some(waiters) = arg("satisfy_one_") {
                satisfy_one(&dev(), 0.0, waiters)
            } else {
                panic!("--ops: unknown row '{row}'")
            }
        }
    };
    marker::<3>();
    println!("{row} {done:.0} ops");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--ops") {
        let ops = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0);
        match (ops, args.get(i + 2)) {
            (Some(ops), Some(row)) => return profile(ops, row),
            _ => panic!("usage: ntsync-bench --ops N ROW"),
        }
    }
    let floors = args.iter().any(|a| a == "--floors");
    let secs: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1.0);
    if floors {
        println!("floor_futex {:.0} iter/s", futex_floor(secs));
        println!("floor_eventfd {:.0} iter/s", eventfd_floor(secs));
        println!("floor_unix {:.0} iter/s", unix_floor(secs));
        return;
    }
    let dev = Device::open().expect("open /dev/ntsync");
    // Measured first, while the guest's slab memory holds still: after the rows that start
    // and end hundreds of threads, the freeing of what they left lowers the count for a while.
    let mem = mem_per_object(&dev);
    println!("uncontended {:.0} ops/s", uncontended(&dev, secs));
    println!("wait_any_64 {:.0} ops/s", wait_any_64(&dev, secs));
    println!(
        "create_close {:.0} objects/s",
        create_close(&dev, secs, 1, false)
    );
    println!(
        "create_close_2t {:.0} objects/s",
        create_close(&dev, secs, 2, false)
    );
    println!(
        "create_close_2d {:.0} objects/s",
        create_close(&dev, secs, 2, true)
    );
    println!("zigzag {:.0} iter/s", zigzag(&dev, secs));
    println!("contended_mutex {:.0} ops/s", contended_mutex(&dev, secs));
    println!("wait_all {:.0} ops/s", wait_all(&dev, secs, 4));
    println!("wait_all_64 {:.0} ops/s", wait_all(&dev, secs, 64));
    for threads in STORM_THREADS {
        println!("wake_storm_{threads} {:.1} us", wake_storm(&dev, threads));
    }
    for waiters in IDLE_WAITERS {
        println!(
            "idle_change_{waiters} {:.0} ops/s",
            idle_change(&dev, secs, waiters)
        );
    }
    for waiters in IDLE_WAITERS {
        println!(
            "satisfy_one_{waiters} {:.0} ops/s",
            satisfy_one(&dev, secs, waiters)
        );
    }
    println!("mem_per_object {mem:.0} bytes");
}
