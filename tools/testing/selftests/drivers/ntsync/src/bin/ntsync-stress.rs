// SPDX-License-Identifier: GPL-2.0

//! Multi-threaded stress test of `/dev/ntsync` with invariants, for either driver.
//!
//! Usage: `ntsync-stress SECONDS [THREADS]` (THREADS at least 6, default 8).
//!
//! Threads wait (wait-any and wait-all, with short absolute deadlines, some with an alert)
//! on shared semaphores, mutexes and events while others release, set, pulse, reset and
//! kill. Prints TAP and exits nonzero when an invariant is broken:
//!
//! 1. conservation: every unit released to a semaphore is acquired exactly once or still
//!    counted at the end; every set of the auto-reset alert event that signaled it is
//!    consumed by exactly one wait or still pending;
//! 2. mutual exclusion: a thread that acquired a mutex finds nobody else inside it, and the
//!    mutex reads as owned by it;
//! 3. no lost wake-up: a wait on a manual event that was set before the wait began, or
//!    before its deadline, and stayed set, never times out;
//! 4. wait-all atomicity: a wait-all on two semaphores takes one unit of each, never one
//!    alone (checked with the totals of two semaphores released in lockstep);
//! 5. EOWNERDEAD only after a kill, exactly once per kill, the acquirer then owning the mutex
//!    with count 1;
//! 6. no unexpected result from any ioctl, and pulsed events are never seen signaled.
//!
//! Every wait has an absolute deadline at most 10 ms away, so the run ends on its own about
//! SECONDS after it starts; a watchdog bails out if it does not.

use ntsync_selftests::rng::Rng;
use ntsync_selftests::task::gettid;
use ntsync_selftests::{
    create_event, create_mutex, create_sem, errname, ioctl, ioctl_raw, ioctl_word, now_ns,
    open_device, read_words, Wait, IOC_EVENT_PULSE, IOC_EVENT_READ, IOC_EVENT_RESET, IOC_EVENT_SET,
    IOC_MUTEX_KILL, IOC_MUTEX_READ, IOC_MUTEX_UNLOCK, IOC_SEM_READ, IOC_SEM_RELEASE, IOC_WAIT_ALL,
    IOC_WAIT_ANY,
};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;
/// Maximum of semaphores A and B, low enough for releases to overflow now and then.
const AB_MAX: u32 = 50;
const TESTS: usize = 6;
const T_CONSERVATION: usize = 0;
const T_EXCLUSION: usize = 1;
const T_WAKEUP: usize = 2;
const T_WAIT_ALL: usize = 3;
const T_OWNERDEAD: usize = 4;
const T_UNEXPECTED: usize = 5;

/// What a wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    /// Acquired the object at this index (the alert when it equals the count); `true` if an
    /// acquired mutex had been abandoned.
    Got(u32, bool),
    TimedOut,
    Error(i32),
}

/// The shared objects and the tallies.
struct Shared {
    dev: File,
    /// Semaphores A and B (max `AB_MAX`), C and D (released in lockstep, unbounded).
    sems: [OwnedFd; 4],
    /// Mutexes 0 and 1 may be killed, mutex 2 never is.
    mutexes: [OwnedFd; 3],
    /// Auto-reset alert event, only ever set (and consumed by waits).
    alert: OwnedFd,
    /// Manual event set and reset in phases by the controller.
    go: OwnedFd,
    /// Auto-reset and manual events that are only ever pulsed.
    pulsed: [OwnedFd; 2],
    /// An auto-reset event that is never signaled.
    never: OwnedFd,

    stop: AtomicBool,
    ioctls: AtomicU64,

    released: [AtomicU64; 4],
    /// Units of A and B taken by wait-any.
    acq_any: [AtomicU64; 2],
    /// Wait-alls satisfied on {A, B} and on {C, D}.
    acq_ab: AtomicU64,
    acq_cd: AtomicU64,
    overflows: AtomicU64,
    /// Sets of the alert that found it unsignaled, and waits that acquired it.
    alert_sets: AtomicU64,
    alert_acq: AtomicU64,

    /// The owner inside each mutex's critical section, 0 for nobody.
    inside: [AtomicU32; 3],
    mutex_acq: AtomicU64,
    mutex_recursive: AtomicU64,
    mutex_all: AtomicU64,
    mutex_eperm: AtomicU64,
    kills: [AtomicU64; 2],
    ownerdead: [AtomicU64; 2],

    /// Odd while `go` is set and stays set; `go_stamp` is when it was set.
    phase: AtomicU64,
    go_stamp: AtomicU64,
    go_waits: AtomicU64,
    go_got: AtomicU64,
    go_timeouts: AtomicU64,
    pulses: [AtomicU64; 2],
    pulse_got: [AtomicU64; 2],

    failures: Mutex<[(u64, Vec<String>); TESTS]>,
}

/// The object a creation made; a failed one ends the run.
fn made(obj: Result<OwnedFd, i32>) -> OwnedFd {
    obj.unwrap_or_else(|e| {
        println!("Bail out! creating an object failed: {}", errname(e));
        exit(1);
    })
}

impl Shared {
    fn new() -> Shared {
        let dev = open_device().unwrap_or_else(|e| {
            println!("Bail out! open /dev/ntsync: {e}");
            exit(1);
        });
        let sem = |max| made(create_sem(&dev, 0, max));
        let mutex = || made(create_mutex(&dev, 0, 0));
        let event = |manual| made(create_event(&dev, manual, false));
        Shared {
            sems: [sem(AB_MAX), sem(AB_MAX), sem(u32::MAX), sem(u32::MAX)],
            mutexes: [mutex(), mutex(), mutex()],
            alert: event(false),
            go: event(true),
            pulsed: [event(false), event(true)],
            never: event(false),
            dev,
            stop: AtomicBool::new(false),
            ioctls: AtomicU64::new(0),
            released: Default::default(),
            acq_any: Default::default(),
            acq_ab: AtomicU64::new(0),
            acq_cd: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
            alert_sets: AtomicU64::new(0),
            alert_acq: AtomicU64::new(0),
            inside: Default::default(),
            mutex_acq: AtomicU64::new(0),
            mutex_recursive: AtomicU64::new(0),
            mutex_all: AtomicU64::new(0),
            mutex_eperm: AtomicU64::new(0),
            kills: Default::default(),
            ownerdead: Default::default(),
            phase: AtomicU64::new(0),
            go_stamp: AtomicU64::new(0),
            go_waits: AtomicU64::new(0),
            go_got: AtomicU64::new(0),
            go_timeouts: AtomicU64::new(0),
            pulses: Default::default(),
            pulse_got: Default::default(),
            failures: Mutex::new(Default::default()),
        }
    }

    fn fail(&self, test: usize, msg: String) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f[test].0 += 1;
        if f[test].1.len() < 10 {
            f[test].1.push(msg);
        }
    }

    fn ioctl(&self, fd: RawFd, cmd: u32, arg: &mut [u32]) -> Result<i32, i32> {
        self.ioctls.fetch_add(1, SeqCst);
        ioctl_raw(fd, cmd, arg.as_mut_ptr() as usize)
    }

    /// A one-word object command; the word it wrote back.
    fn cmd1(&self, fd: RawFd, cmd: u32, arg: u32) -> Result<u32, i32> {
        self.ioctls.fetch_add(1, SeqCst);
        ioctl_word(&fd, cmd, arg)
    }

    /// Reads an object: the two words and the result.
    fn read(&self, fd: RawFd, cmd: u32) -> ([u32; 2], Result<i32, i32>) {
        self.ioctls.fetch_add(1, SeqCst);
        let (r, a) = read_words(&fd, cmd, 0);
        (a, r)
    }

    fn wait(&self, all: bool, objs: &[RawFd], alert: RawFd, owner: u32, deadline: u64) -> Waited {
        let wait = Wait {
            objs,
            owner,
            timeout: deadline,
            flags: 0,
            alert,
        };
        let mut args = wait.args();
        self.ioctls.fetch_add(1, SeqCst);
        let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
        match ioctl(self.dev.as_raw_fd(), cmd, &mut args) {
            Ok(0) => Waited::Got(args.index, false),
            Err(libc::EOWNERDEAD) => Waited::Got(args.index, true),
            Err(libc::ETIMEDOUT) => Waited::TimedOut,
            Ok(r) => Waited::Error(-1000 - r),
            Err(e) => Waited::Error(e),
        }
    }

    fn unexpected(&self, what: &str, got: impl std::fmt::Debug) {
        self.fail(T_UNEXPECTED, format!("{what}: unexpected {got:?}"));
    }

    fn stopped(&self) -> bool {
        self.stop.load(SeqCst)
    }

    /// A deadline 0..`max_ms` ms from now, or one in the past with probability 1/5.
    fn deadline(rng: &mut Rng, max_ms: u64) -> u64 {
        if rng.pct(20) {
            0
        } else {
            now_ns(libc::CLOCK_MONOTONIC) + rng.below(max_ms * MS)
        }
    }

    // -----------------------------------------------------------------------------------
    // Roles.

    /// Releases A, B, C and D, and sets the alert.
    fn releaser(&self, mut rng: Rng) {
        while !self.stopped() {
            let i = rng.below(2) as usize;
            // Now and then a burst, which may overflow.
            let n = if rng.pct(3) {
                20 + rng.below(30) as u32
            } else {
                1 + rng.below(3) as u32
            };
            match self.cmd1(self.sems[i].as_raw_fd(), IOC_SEM_RELEASE, n) {
                Ok(prev) if prev + n <= AB_MAX => {
                    self.released[i].fetch_add(u64::from(n), SeqCst);
                }
                Err(libc::EOVERFLOW) => {
                    self.overflows.fetch_add(1, SeqCst);
                }
                r => self.unexpected("SEM_RELEASE of A/B", r),
            }
            if rng.pct(30) {
                for i in 2..4 {
                    match self.cmd1(self.sems[i].as_raw_fd(), IOC_SEM_RELEASE, 1) {
                        Ok(_) => {
                            self.released[i].fetch_add(1, SeqCst);
                        }
                        r => self.unexpected("SEM_RELEASE of C/D", r),
                    }
                }
            }
            if rng.pct(3) {
                match self.cmd1(self.alert.as_raw_fd(), IOC_EVENT_SET, 0) {
                    Ok(0) => {
                        self.alert_sets.fetch_add(1, SeqCst);
                    }
                    Ok(1) => {}
                    r => self.unexpected("EVENT_SET of the alert", r),
                }
            }
            match rng.below(10) {
                0..=3 => thread::yield_now(),
                4 => thread::sleep(Duration::from_micros(rng.below(2000))),
                _ => {}
            }
        }
    }

    /// Counts an acquisition of the alert, reported at index `index` of a `count`-object
    /// wait.
    fn got_alert(&self, what: &str, index: u32, count: usize) -> bool {
        if index as usize == count {
            self.alert_acq.fetch_add(1, SeqCst);
            true
        } else {
            if index as usize > count {
                self.unexpected(what, ("index", index));
            }
            false
        }
    }

    /// Wait-any on A and B, some with the alert.
    fn any_waiter(&self, mut rng: Rng, owner: u32) {
        let (a, b) = (self.sems[0].as_raw_fd(), self.sems[1].as_raw_fd());
        while !self.stopped() {
            let swap = rng.pct(50);
            let objs = if swap { [b, a] } else { [a, b] };
            let n = if rng.pct(20) { 1 } else { 2 };
            let alert = if rng.pct(30) {
                self.alert.as_raw_fd()
            } else {
                0
            };
            match self.wait(false, &objs[..n], alert, owner, Self::deadline(&mut rng, 5)) {
                Waited::Got(i, false) if !self.got_alert("wait-any A/B", i, n) => {
                    let sem = i as usize ^ usize::from(swap);
                    self.acq_any[sem].fetch_add(1, SeqCst);
                }
                Waited::Got(_, false) | Waited::TimedOut => {}
                r => self.unexpected("wait-any A/B", r),
            }
        }
    }

    /// Wait-all on {A, B} or {C, D}, some with the alert.
    fn all_waiter(&self, mut rng: Rng, owner: u32) {
        while !self.stopped() {
            let cd = rng.pct(50);
            let objs = if cd {
                [self.sems[2].as_raw_fd(), self.sems[3].as_raw_fd()]
            } else {
                [self.sems[0].as_raw_fd(), self.sems[1].as_raw_fd()]
            };
            let alert = if rng.pct(30) {
                self.alert.as_raw_fd()
            } else {
                0
            };
            match self.wait(true, &objs, alert, owner, Self::deadline(&mut rng, 5)) {
                Waited::Got(0, false) => {
                    if cd { &self.acq_cd } else { &self.acq_ab }.fetch_add(1, SeqCst);
                }
                Waited::Got(i, false) if self.got_alert("wait-all", i, 2) => {}
                Waited::TimedOut => {}
                r => self.unexpected("wait-all on two semaphores", r),
            }
        }
    }

    /// Enters mutex `k`, which the wait just acquired for `owner`.
    fn enter(&self, k: usize, owner: u32, abandoned: bool) {
        self.mutex_acq.fetch_add(1, SeqCst);
        let prev = self.inside[k].swap(owner, SeqCst);
        if prev != 0 {
            self.fail(
                T_EXCLUSION,
                format!("owner {owner} acquired mutex {k} while owner {prev} was inside"),
            );
        }
        if abandoned {
            if k == 2 {
                self.fail(T_OWNERDEAD, "EOWNERDEAD from mutex 2, never killed".into());
            } else {
                let seen = self.ownerdead[k].fetch_add(1, SeqCst) + 1;
                let kills = self.kills[k].load(SeqCst);
                if seen > kills {
                    self.fail(
                        T_OWNERDEAD,
                        format!("EOWNERDEAD #{seen} from mutex {k} after only {kills} kills"),
                    );
                }
            }
        }
        let (st, r) = self.read(self.mutexes[k].as_raw_fd(), IOC_MUTEX_READ);
        if r != Ok(0) || st != [owner, 1] {
            let test = if abandoned { T_OWNERDEAD } else { T_EXCLUSION };
            self.fail(
                test,
                format!(
                    "owner {owner} acquired mutex {k}{} but MUTEX_READ gives {st:?} {r:?}",
                    if abandoned { " (EOWNERDEAD)" } else { "" }
                ),
            );
        }
    }

    /// Leaves mutex `k`: unlocks it, or with `die`, kills it in `owner`'s name.
    fn leave(&self, k: usize, owner: u32, die: bool) {
        let prev = self.inside[k].swap(0, SeqCst);
        if prev != owner {
            self.fail(
                T_EXCLUSION,
                format!("owner {owner} leaving mutex {k} found owner {prev} inside"),
            );
        }
        let fd = self.mutexes[k].as_raw_fd();
        if die {
            self.kills[k].fetch_add(1, SeqCst);
            if let r @ Err(_) = self.cmd1(fd, IOC_MUTEX_KILL, owner) {
                self.fail(T_OWNERDEAD, format!("MUTEX_KILL by its owner: {r:?}"));
            }
        } else {
            let mut args = [owner, 0];
            match self.ioctl(fd, IOC_MUTEX_UNLOCK, &mut args) {
                Ok(0) if args[1] == 1 => {}
                r => self.fail(
                    T_EXCLUSION,
                    format!(
                        "MUTEX_UNLOCK of mutex {k} by its owner: {r:?}, previous count {}",
                        args[1]
                    ),
                ),
            }
        }
    }

    /// Some work inside the critical section, giving others the chance to break in.
    fn work(rng: &mut Rng) {
        match rng.below(4) {
            0 => thread::yield_now(),
            1 => thread::sleep(Duration::from_micros(rng.below(300))),
            _ => {
                for _ in 0..rng.below(2000) {
                    std::hint::spin_loop();
                }
            }
        }
    }

    fn mutex_worker(&self, mut rng: Rng, owner: u32) {
        let fds: Vec<RawFd> = self.mutexes.iter().map(|m| m.as_raw_fd()).collect();
        while !self.stopped() {
            let deadline = Self::deadline(&mut rng, 10);
            let alert = if rng.pct(10) {
                self.alert.as_raw_fd()
            } else {
                0
            };
            if rng.pct(25) {
                // Wait-all on a killable mutex and mutex 2.
                let k = rng.below(2) as usize;
                match self.wait(true, &[fds[k], fds[2]], alert, owner, deadline) {
                    Waited::Got(0, dead) => {
                        self.mutex_all.fetch_add(1, SeqCst);
                        self.enter(k, owner, dead);
                        self.enter(2, owner, false);
                        Self::work(&mut rng);
                        self.leave(2, owner, false);
                        self.leave(k, owner, rng.pct(5));
                    }
                    Waited::Got(i, false) if self.got_alert("wait-all on mutexes", i, 2) => {}
                    Waited::TimedOut => {}
                    r => self.unexpected("wait-all on mutexes", r),
                }
            } else {
                let k = rng.below(3) as usize;
                let objs = if rng.pct(50) {
                    vec![k]
                } else {
                    vec![k, (k + 1 + rng.below(2) as usize) % 3]
                };
                let ofds: Vec<RawFd> = objs.iter().map(|&k| fds[k]).collect();
                match self.wait(false, &ofds, alert, owner, deadline) {
                    Waited::Got(i, dead) if (i as usize) < objs.len() => {
                        let k = objs[i as usize];
                        self.enter(k, owner, dead);
                        let recursive = rng.pct(20);
                        if recursive {
                            self.mutex_recursive.fetch_add(1, SeqCst);
                            let r = self.wait(false, &[fds[k]], 0, owner, 0);
                            let (st, rr) = self.read(fds[k], IOC_MUTEX_READ);
                            if r != Waited::Got(0, false) || rr != Ok(0) || st != [owner, 2] {
                                self.fail(
                                    T_EXCLUSION,
                                    format!("recursive acquisition of mutex {k}: {r:?}, then {st:?} {rr:?}"),
                                );
                            }
                        }
                        Self::work(&mut rng);
                        if recursive {
                            let mut args = [owner, 0];
                            let r = self.ioctl(fds[k], IOC_MUTEX_UNLOCK, &mut args);
                            if r != Ok(0) || args[1] != 2 {
                                self.fail(
                                    T_EXCLUSION,
                                    format!(
                                        "inner unlock of mutex {k}: {r:?}, previous count {}",
                                        args[1]
                                    ),
                                );
                            }
                        }
                        self.leave(k, owner, k < 2 && rng.pct(5));
                    }
                    Waited::Got(i, false)
                        if self.got_alert("wait-any on mutexes", i, objs.len()) => {}
                    Waited::TimedOut => {}
                    r => self.unexpected("wait-any on mutexes", r),
                }
            }
            if rng.pct(5) {
                // Not the owner now: unlocking and killing must fail without effect.
                let k = rng.below(3) as usize;
                let mut args = [owner, 0];
                let r = self.ioctl(fds[k], IOC_MUTEX_UNLOCK, &mut args);
                let r2 = self.cmd1(fds[k], IOC_MUTEX_KILL, owner);
                if r != Err(libc::EPERM) || r2 != Err(libc::EPERM) {
                    self.fail(
                        T_EXCLUSION,
                        format!("non-owner unlock/kill of mutex {k}: {r:?} / {r2:?}"),
                    );
                }
                self.mutex_eperm.fetch_add(1, SeqCst);
            }
        }
    }

    /// Pulses the pulse-only events and checks that they never read signaled.
    fn pulse(&self, rng: &mut Rng) {
        let i = rng.below(2) as usize;
        let fd = self.pulsed[i].as_raw_fd();
        self.pulses[i].fetch_add(1, SeqCst);
        match self.cmd1(fd, IOC_EVENT_PULSE, 7) {
            Ok(0) => {}
            r => self.unexpected("EVENT_PULSE of a pulse-only event", r),
        }
        self.check_pulsed(i);
    }

    fn check_pulsed(&self, i: usize) {
        let (st, r) = self.read(self.pulsed[i].as_raw_fd(), IOC_EVENT_READ);
        if r != Ok(0) || st != [i as u32, 0] {
            self.fail(
                T_UNEXPECTED,
                format!("pulse-only event {i} reads {st:?} {r:?}"),
            );
        }
    }

    /// Sets and resets `go` in phases, and pulses.
    fn controller(&self, mut rng: Rng) {
        let go = self.go.as_raw_fd();
        let pause = |rng: &mut Rng| {
            let until = Instant::now() + Duration::from_micros(500 + rng.below(4500));
            while Instant::now() < until && !self.stopped() {
                if rng.pct(50) {
                    self.pulse(rng);
                }
                thread::sleep(Duration::from_micros(rng.below(800)));
            }
        };
        while !self.stopped() {
            match self.cmd1(go, IOC_EVENT_SET, 7) {
                Ok(0) => {}
                r => self.unexpected("EVENT_SET of the reset manual event", r),
            }
            self.go_stamp.store(now_ns(libc::CLOCK_MONOTONIC), SeqCst);
            self.phase.fetch_add(1, SeqCst);
            pause(&mut rng);
            self.phase.fetch_add(1, SeqCst);
            match self.cmd1(go, IOC_EVENT_RESET, 7) {
                Ok(1) => {}
                r => self.unexpected("EVENT_RESET of the set manual event", r),
            }
            pause(&mut rng);
        }
    }

    /// Waits involving `go`, checking that none times out while it is set.
    fn event_waiter(&self, mut rng: Rng, owner: u32) {
        let (go, never) = (self.go.as_raw_fd(), self.never.as_raw_fd());
        let pe = [self.pulsed[0].as_raw_fd(), self.pulsed[1].as_raw_fd()];
        while !self.stopped() {
            let deadline = Self::deadline(&mut rng, 10);
            let p0 = self.phase.load(SeqCst);
            let variant = rng.below(6);
            // (wait-all, objects, alert, the index `go` satisfies, the index a pulse does)
            let (all, objs, alert, go_index, pulse_index) = match variant {
                0 => (false, vec![go], 0, 0, None),
                1 => (false, vec![pe[0], go], 0, 1, Some((0, 0))),
                2 => (true, vec![go], 0, 0, None),
                3 => (false, vec![never], go, 1, None),
                4 => (true, vec![never], go, 1, None),
                _ => (false, vec![pe[1]], 0, u32::MAX, Some((1, 0))),
            };
            let r = self.wait(all, &objs, alert, owner, deadline);
            if go_index != u32::MAX {
                self.go_waits.fetch_add(1, SeqCst);
            }
            match r {
                Waited::Got(i, false) if i == go_index => {
                    self.go_got.fetch_add(1, SeqCst);
                }
                Waited::Got(i, false) if pulse_index.is_some_and(|(_, at)| at == i) => {
                    if let Some((e, _)) = pulse_index {
                        self.pulse_got[e].fetch_add(1, SeqCst);
                    }
                }
                Waited::TimedOut if go_index != u32::MAX => {
                    self.go_timeouts.fetch_add(1, SeqCst);
                    let p1 = self.phase.load(SeqCst);
                    let stamp = self.go_stamp.load(SeqCst);
                    let p2 = self.phase.load(SeqCst);
                    if p1 % 2 == 1 && p1 == p2 && (p0 == p1 || stamp < deadline) {
                        self.fail(
                            T_WAKEUP,
                            if p0 == p1 {
                                format!(
                                    "wait variant {variant}: ETIMEDOUT although the manual event was set before the wait began and stayed set"
                                )
                            } else {
                                format!(
                                    "wait variant {variant}: ETIMEDOUT although the manual event was set {} ns before the deadline and stayed set",
                                    deadline - stamp
                                )
                            },
                        );
                    }
                }
                Waited::TimedOut => {}
                r => self.unexpected(&format!("event wait variant {variant}"), r),
            }
            if rng.pct(10) {
                self.check_pulsed(rng.below(2) as usize);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Releaser,
    AnyWaiter,
    AllWaiter,
    MutexWorker,
    Controller,
    EventWaiter,
}

impl Role {
    const ALL: [Role; 6] = [
        Role::Releaser,
        Role::AnyWaiter,
        Role::AllWaiter,
        Role::MutexWorker,
        Role::Controller,
        Role::EventWaiter,
    ];

    fn name(self) -> &'static str {
        match self {
            Role::Releaser => "releaser",
            Role::AnyWaiter => "wait-any",
            Role::AllWaiter => "wait-all",
            Role::MutexWorker => "mutex",
            Role::Controller => "event controller",
            Role::EventWaiter => "event waiter",
        }
    }

    /// Thread `i`'s role: one of each first (exactly one controller), then more of the
    /// others in turn.
    fn of(i: usize) -> Role {
        const FIRST: [Role; 6] = Role::ALL;
        const MORE: [Role; 5] = [
            Role::MutexWorker,
            Role::AnyWaiter,
            Role::AllWaiter,
            Role::EventWaiter,
            Role::Releaser,
        ];
        if i < FIRST.len() {
            FIRST[i]
        } else {
            MORE[(i - FIRST.len()) % MORE.len()]
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: ntsync-stress SECONDS [THREADS]   (THREADS >= 6, default 8)");
    exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &String| s.parse::<u64>().unwrap_or_else(|_| usage());
    let (secs, threads) = match &args[..] {
        [s] => (num(s), 8),
        [s, t] => (num(s), num(t) as usize),
        _ => usage(),
    };
    if !(6..=256).contains(&threads) || secs > 86_400 {
        usage();
    }

    // Bail out if the threads do not stop on their own.
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(secs + 15));
        println!("Bail out! the threads did not stop {} s after the end", 15);
        exit(1);
    });

    let shared = Arc::new(Shared::new());
    let start = Instant::now();
    let seed = now_ns(libc::CLOCK_MONOTONIC);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let sh = shared.clone();
            let role = Role::of(i);
            let rng = Rng((seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
            thread::spawn(move || {
                let tid = gettid() as u32;
                match role {
                    Role::Releaser => sh.releaser(rng),
                    Role::AnyWaiter => sh.any_waiter(rng, tid),
                    Role::AllWaiter => sh.all_waiter(rng, tid),
                    Role::MutexWorker => sh.mutex_worker(rng, tid),
                    Role::Controller => sh.controller(rng),
                    Role::EventWaiter => sh.event_waiter(rng, tid),
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(secs));
    shared.stop.store(true, SeqCst);
    let mut panicked = 0;
    for h in handles {
        if h.join().is_err() {
            panicked += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sh = &*shared;
    if panicked > 0 {
        sh.fail(T_UNEXPECTED, format!("{panicked} threads panicked"));
    }

    // Final states.
    let ld = |a: &AtomicU64| a.load(SeqCst);
    let sem_count = |i: usize| {
        let (st, r) = sh.read(sh.sems[i].as_raw_fd(), IOC_SEM_READ);
        if r != Ok(0) {
            sh.unexpected("final SEM_READ", r);
        }
        u64::from(st[0])
    };
    let left: Vec<u64> = (0..4).map(sem_count).collect();
    let rel: Vec<u64> = sh.released.iter().map(ld).collect();
    let (acq_ab, acq_cd) = (ld(&sh.acq_ab), ld(&sh.acq_cd));
    for (i, name) in ["A", "B"].iter().enumerate() {
        let acq = ld(&sh.acq_any[i]) + acq_ab;
        if rel[i] != acq + left[i] {
            sh.fail(
                T_CONSERVATION,
                format!(
                    "semaphore {name}: released {} != acquired {acq} (wait-any {}, wait-all {acq_ab}) + left {}",
                    rel[i], ld(&sh.acq_any[i]), left[i]
                ),
            );
        }
    }
    let (st, r) = sh.read(sh.alert.as_raw_fd(), IOC_EVENT_READ);
    if r != Ok(0) || st[0] != 0 {
        sh.unexpected("final EVENT_READ of the alert", (st, r));
    }
    let alert_left = u64::from(st[1]);
    let (alert_sets, alert_acq) = (ld(&sh.alert_sets), ld(&sh.alert_acq));
    if alert_sets != alert_acq + alert_left {
        sh.fail(
            T_CONSERVATION,
            format!("alert event: {alert_sets} effective sets != {alert_acq} acquired + {alert_left} left"),
        );
    }
    for (i, name) in [(2, "C"), (3, "D")] {
        if rel[i] != acq_cd + left[i] {
            sh.fail(
                T_WAIT_ALL,
                format!(
                    "semaphore {name}: released {} != {acq_cd} wait-alls + left {}",
                    rel[i], left[i]
                ),
            );
        }
    }
    if rel[2] != rel[3] || left[2] != left[3] {
        sh.fail(
            T_WAIT_ALL,
            format!(
                "C and D released {}/{}, left {}/{}",
                rel[2], rel[3], left[2], left[3]
            ),
        );
    }
    let mut abandoned = [0u64; 3];
    for (k, m) in sh.mutexes.iter().enumerate() {
        let (st, r) = sh.read(m.as_raw_fd(), IOC_MUTEX_READ);
        match r {
            Ok(0) => {}
            Err(libc::EOWNERDEAD) if k < 2 => abandoned[k] = 1,
            r => sh.fail(T_OWNERDEAD, format!("final MUTEX_READ of mutex {k}: {r:?}")),
        }
        if st != [0, 0] || sh.inside[k].load(SeqCst) != 0 {
            sh.fail(
                T_EXCLUSION,
                format!("mutex {k} still held at the end: {st:?}"),
            );
        }
    }
    for (k, &left_abandoned) in abandoned.iter().enumerate().take(2) {
        let (kills, dead) = (ld(&sh.kills[k]), ld(&sh.ownerdead[k]));
        if kills != dead + left_abandoned {
            sh.fail(
                T_OWNERDEAD,
                format!(
                    "mutex {k}: {kills} kills != {dead} EOWNERDEAD acquisitions + {} still abandoned",
                    left_abandoned
                ),
            );
        }
    }
    for i in 0..2 {
        sh.check_pulsed(i);
        if ld(&sh.pulse_got[i]) > ld(&sh.pulses[i]) && i == 0 {
            sh.fail(
                T_UNEXPECTED,
                format!(
                    "auto-reset event: {} pulses satisfied {} waits",
                    ld(&sh.pulses[0]),
                    ld(&sh.pulse_got[0])
                ),
            );
        }
    }

    let n = |role: Role| (0..threads).filter(|&i| Role::of(i) == role).count();
    let roles: Vec<String> = Role::ALL
        .iter()
        .map(|&r| format!("{} {}", n(r), r.name()))
        .collect();
    let kills = ld(&sh.kills[0]) + ld(&sh.kills[1]);
    let descriptions = [
        format!(
            "conservation ({} releaser, {} wait-any, {} wait-all threads): A released {} acquired {} left {}, B released {} acquired {} left {} ({} overflows), alert set {} acquired {} left {alert_left}",
            n(Role::Releaser), n(Role::AnyWaiter), n(Role::AllWaiter),
            rel[0], ld(&sh.acq_any[0]) + acq_ab, left[0],
            rel[1], ld(&sh.acq_any[1]) + acq_ab, left[1], ld(&sh.overflows),
            alert_sets, alert_acq
        ),
        format!(
            "mutual exclusion ({} mutex threads): {} acquisitions of 3 mutexes ({} wait-all, {} recursive), {} non-owner EPERM checks",
            n(Role::MutexWorker), ld(&sh.mutex_acq), ld(&sh.mutex_all), ld(&sh.mutex_recursive), ld(&sh.mutex_eperm)
        ),
        format!(
            "no lost wake-up ({} event controller, {} event waiter threads): {} waits on a phased manual event, {} satisfied, {} timed out while it was reset",
            n(Role::Controller), n(Role::EventWaiter), ld(&sh.go_waits), ld(&sh.go_got), ld(&sh.go_timeouts)
        ),
        format!(
            "wait-all atomicity ({} wait-all threads): {acq_ab} wait-alls on {{A,B}}, {acq_cd} on {{C,D}}; C and D released {} left {}/{}",
            n(Role::AllWaiter), rel[2], left[2], left[3]
        ),
        format!(
            "EOWNERDEAD ({} mutex threads): {kills} kills, {} EOWNERDEAD acquisitions, {} still abandoned",
            n(Role::MutexWorker),
            ld(&sh.ownerdead[0]) + ld(&sh.ownerdead[1]),
            abandoned[0] + abandoned[1]
        ),
        format!(
            "no unexpected results ({threads} threads): {} ioctls; pulses {}/{} satisfied {}/{} waits (auto/manual)",
            ld(&sh.ioctls), ld(&sh.pulses[0]), ld(&sh.pulses[1]),
            ld(&sh.pulse_got[0]), ld(&sh.pulse_got[1])
        ),
    ];

    println!("TAP version 13");
    println!(
        "# {threads} threads ({}), {elapsed:.1} s, {} ioctls",
        roles.join(", "),
        ld(&sh.ioctls)
    );
    println!("1..{TESTS}");
    let failures = sh.failures.lock().unwrap_or_else(|e| e.into_inner());
    let mut failed = 0;
    for (i, desc) in descriptions.iter().enumerate() {
        let (n, msgs) = &failures[i];
        if *n == 0 {
            println!("ok {} - {desc}", i + 1);
        } else {
            failed += 1;
            println!("not ok {} - {desc}", i + 1);
            println!("# {n} violations, the first:");
            for m in msgs {
                println!("#   {m}");
            }
        }
    }
    println!("# {} passed, {failed} failed", TESTS - failed);
    exit(i32::from(failed > 0));
}
