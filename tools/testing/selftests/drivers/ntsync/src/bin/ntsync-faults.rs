// SPDX-License-Identifier: GPL-2.0

//! Allocation failures in `/dev/ntsync`, for either driver, on a kernel with
//! CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS (the debug kernel).
//!
//! Usage: `ntsync-faults [NAME-SUBSTRING]...`
//!
//! Each operation runs again and again with the k-th slab allocation of the thread that makes
//! it failed, for k = 1, 2, ... (`/proc/thread-self/fail-nth`, with failslab's
//! `ignore-gfp-wait` off so that allocations that may sleep count too), until a run goes
//! through with no fault left to inject: by then each allocation the operation makes has
//! failed once. Every run must succeed or fail with ENOMEM where the documentation allows it,
//! leave the descriptor table as it was when it fails, and never lose an acquisition: after a
//! wait, its objects hold what was released minus what the wait reports it took. The
//! operations: opening the device; creating each kind of object; a wait-any and a wait-all
//! that sleep until another thread signals them, alone or joining waiters already queued
//! (the queued waiters must survive its failure); the release, set and unlock that wake such
//! waits; every object ioctl and waits that need not sleep. The VM runner's kmemleak scan at
//! the end of the boot finds what a failure path leaked.
//!
//! Every test says how many faults it injected; one that must allocate and injected none
//! fails, so that a kernel without fault injection cannot pass. With our module loaded, the
//! operations that its documentation says allocate nothing (everything but opening and
//! creating) must inject none: the upstream driver allocates for every wait that sleeps.

use libc::ENOMEM;
use ntsync_selftests::failslab::{FailNth, Failslab, INJECTED};
use ntsync_selftests::setup::{count, dev, event, mutex, sem};
use ntsync_selftests::tap::{self, Test, TestResult};
use ntsync_selftests::task::{fd_count, gettid, thread_in_ioctl};
use ntsync_selftests::*;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// No operation makes anywhere near this many allocations.
const MAX_STEPS: u32 = 300;
/// How long a waiter has to fall asleep or fail (the debug kernel under TCG is slow).
const BOUND: Duration = Duration::from_secs(30);
/// The deadline of the sleeping waits, which another thread always ends first.
const FAR_MS: u64 = 120_000;
/// failslab as this test needs it, until the last test puts it back.
static FAILSLAB: std::sync::Mutex<Option<Failslab>> = std::sync::Mutex::new(None);

/// Faults a test injected, and what the operation did under them.
#[derive(Default)]
struct Tally {
    injected: u64,
    enomem: u64,
    survived: u64,
}

impl Tally {
    fn note(&mut self, fired: bool, failed: bool) {
        if fired {
            self.injected += 1;
            if failed {
                self.enomem += 1;
            } else {
                self.survived += 1;
            }
        }
    }

    /// Ends a test: prints the counts; an operation that must allocate must have had a fault,
    /// and one that our driver does without allocating must have had none.
    fn done(&self, what: &str, alloc: Alloc) -> TestResult {
        println!(
            "# {what}: {} faults injected (ENOMEM {}, succeeded anyway {})",
            self.injected, self.enomem, self.survived
        );
        match alloc {
            Alloc::Must => check!(self.injected > 0, "{what}: no fault injected"),
            Alloc::NotOurs => check!(
                self.injected == 0 || !ours(),
                "{what}: ntsync_rs allocated, which it documents it does not"
            ),
            Alloc::COnly if ours() => check!(
                self.injected == 0,
                "{what}: ntsync_rs allocated, which it documents it does not"
            ),
            Alloc::COnly => check!(self.injected > 0, "{what}: no fault injected"),
        }
        Ok(())
    }
}

/// What an operation allocates.
#[derive(Clone, Copy)]
enum Alloc {
    /// Something, with either driver.
    Must,
    /// Nothing, with ours ("Security and resource bounds" in the documentation).
    NotOurs,
    /// Something with the upstream driver, and nothing with ours: waits that sleep.
    COnly,
}

/// Whether our module serves the device.
fn ours() -> bool {
    std::fs::read_to_string("/proc/modules")
        .is_ok_and(|m| m.lines().any(|l| l.starts_with("ntsync_rs ")))
}

/// Faults in the stack that the operation will use, so that the kernel does not allocate for
/// it (and take the fault) while the operation runs.
fn touch_stack() {
    let buf = [1u8; 64 * 1024];
    std::hint::black_box(&buf);
}

// ---------------------------------------------------------------------------------------

/// Configures failslab for fail-nth; the other tests need it.
fn failslab_setup() -> TestResult {
    *FAILSLAB.lock().unwrap() = Some(Failslab::enable()?);
    FailNth::open()?;
    Ok(())
}

/// Runs `step(k)` for k = 1, 2, ..., where `step` makes the operation with the k-th
/// allocation of its thread failed and returns whether that fault fired, until one fires no
/// more: by then each allocation the operation makes has failed once.
fn each_nth(what: &str, mut step: impl FnMut(u32) -> Result<bool, String>) -> TestResult {
    for k in 1..=MAX_STEPS {
        if !step(k)? {
            return Ok(());
        }
    }
    Err(format!("{what}: still allocating after {MAX_STEPS} steps"))
}

/// Opening the device: a descriptor that works, or ENOMEM and no descriptor.
fn open_device_faults() -> TestResult {
    let nth = FailNth::open()?;
    let mut tally = Tally::default();
    each_nth("open", |k| {
        let before = fd_count();
        touch_stack();
        nth.arm(k);
        // SAFETY: A NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/ntsync".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        let err = errno();
        let fired = nth.disarm();
        tally.note(fired, fd < 0);
        if fd >= 0 {
            // SAFETY: A new descriptor that nothing else owns.
            let dev = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let s = sem(&dev, 1, 1)?;
            check_eq!(Wait::new(&[s.as_raw_fd()]).any(&dev), Ok(0));
        } else {
            check!(err == ENOMEM, "step {k}: open failed with {}", errname(err));
            check!(fired, "step {k}: ENOMEM without an injected fault");
            check_eq!(fd_count(), before);
        }
        Ok(fired)
    })?;
    tally.done("open", Alloc::Must)
}

/// Creating an object from `args`: an object in that state, or ENOMEM and no descriptor.
fn create_faults(cmd: u32, args: [u32; 2], what: &str) -> TestResult {
    let dev = dev()?;
    let nth = FailNth::open()?;
    let mut tally = Tally::default();
    each_nth(what, |k| {
        let before = fd_count();
        let mut a = args;
        touch_stack();
        nth.arm(k);
        let got = ioctl(dev.as_raw_fd(), cmd, &mut a);
        let fired = nth.disarm();
        tally.note(fired, got.is_err());
        match got {
            Ok(fd) => {
                // SAFETY: A new descriptor that nothing else owns.
                let obj = unsafe { OwnedFd::from_raw_fd(fd) };
                let mut state = [POISON; 2];
                let read = match cmd {
                    IOC_CREATE_SEM => IOC_SEM_READ,
                    IOC_CREATE_MUTEX => IOC_MUTEX_READ,
                    _ => IOC_EVENT_READ,
                };
                check_eq!(ioctl(obj.as_raw_fd(), read, &mut state), Ok(0));
                check!(state == args, "step {k}: created {state:?} from {args:?}");
            }
            Err(e) => {
                check!(e == ENOMEM, "step {k}: {}", errname(e));
                check!(fired, "step {k}: ENOMEM without an injected fault");
                check_eq!(fd_count(), before);
            }
        }
        if !fired {
            check!(got.is_ok(), "step {k}: failed with no fault injected");
        }
        Ok(fired)
    })?;
    tally.done(what, Alloc::Must)
}

fn create_sem_faults() -> TestResult {
    create_faults(IOC_CREATE_SEM, [3, 5], "CREATE_SEM")
}

fn create_mutex_faults() -> TestResult {
    create_faults(IOC_CREATE_MUTEX, [4, 2], "CREATE_MUTEX")
}

fn create_event_faults() -> TestResult {
    create_faults(IOC_CREATE_EVENT, [1, 1], "CREATE_EVENT")
}

/// What a thread's wait returned: its result, the index it left, whether its fault fired.
type Waited = (Result<i32, i32>, u32, bool);

/// Starts a thread that waits with `cmd` on `objs` and `alert`, with the `k`-th allocation
/// of the wait failed (none if `k` is 0); its id, the result, and whether it has returned.
fn start_waiter(
    dev: &File,
    cmd: u32,
    objs: Vec<RawFd>,
    alert: RawFd,
    k: u32,
) -> Result<(libc::pid_t, mpsc::Receiver<Waited>, Arc<AtomicBool>), String> {
    let dev = dev.try_clone().map_err(|e| e.to_string())?;
    let returned = Arc::new(AtomicBool::new(false));
    let done = returned.clone();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let nth = FailNth::open();
        let _ = tid_tx.send(gettid());
        let mut args = Wait {
            objs: &objs,
            owner: 9,
            timeout: in_ms(FAR_MS),
            flags: 0,
            alert,
        }
        .args();
        touch_stack();
        let armed = match (&nth, k) {
            (Ok(nth), 1..) => {
                nth.arm(k);
                Some(nth)
            }
            _ => None,
        };
        let got = ioctl(dev.as_raw_fd(), cmd, &mut args);
        let fired = armed.is_some_and(|nth| nth.disarm());
        done.store(true, SeqCst);
        let _ = tx.send((got, args.index, fired));
    });
    let tid = tid_rx.recv().map_err(|_| "waiter thread died")?;
    Ok((tid, rx, returned))
}

/// A wait that sleeps until the main thread signals its objects, with the k-th allocation of
/// the waiting thread failed: it acquires, or fails with ENOMEM having acquired nothing.
fn sleeping_wait_faults(all: bool) -> TestResult {
    let dev = dev()?;
    let mut tally = Tally::default();
    let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
    let what = if all {
        "sleeping WAIT_ALL"
    } else {
        "sleeping WAIT_ANY"
    };
    each_nth(what, |k| {
        let s = sem(&dev, 0, 1)?;
        // Manual for wait-all: set, it stays set whatever the wait does.
        let e = event(&dev, all, false)?;
        let alert = event(&dev, false, false)?;
        let objs = vec![s.as_raw_fd(), e.as_raw_fd()];
        let (tid, rx, returned) = start_waiter(&dev, cmd, objs, alert.as_raw_fd(), k)?;
        let asleep = wait_until(BOUND, || {
            returned.load(SeqCst) || thread_in_ioctl(tid) == Some(true)
        });
        // Signalled only once asleep: a wait that failed before never sees it.
        let released = asleep && !returned.load(SeqCst);
        if released {
            check_eq!(sem_release(&s, 1), Ok(0));
            if all {
                check_eq!(event_set(&e), Ok(0));
            }
        }
        let (got, index, fired) = rx
            .recv_timeout(BOUND + Duration::from_millis(FAR_MS))
            .map_err(|_| format!("step {k}: the wait did not return"))?;
        tally.note(fired, got.is_err());
        let left = count(&s)?;
        match got {
            Ok(0) => {
                check!(released, "step {k}: acquired what nobody released");
                check_eq!(index, 0);
                check!(left == 0, "step {k}: success, but {left} unit(s) left");
            }
            Err(ENOMEM) => {
                check!(fired, "step {k}: ENOMEM without an injected fault");
                check_eq!(index, POISON);
                check!(
                    left == released as u32,
                    "step {k}: ENOMEM, but {left} unit(s) left of {}",
                    released as u32
                );
            }
            other => return Err(format!("step {k}: the wait returned {other:?}")),
        }
        check_eq!(event_signaled(&alert), Some(false));
        if !fired {
            check!(got.is_ok(), "step {k}: failed with no fault injected");
        }
        Ok(fired)
    })?;
    tally.done(what, Alloc::COnly)
}

fn wait_any_sleeping_faults() -> TestResult {
    sleeping_wait_faults(false)
}

fn wait_all_sleeping_faults() -> TestResult {
    sleeping_wait_faults(true)
}

/// A sleeping wait that joins `queued` waiters already sleeping on the same objects (1, 2, 4
/// and 8 of them, should a driver grow its queues by doubling), with the k-th allocation of
/// the joining thread failed: a failure must leave the others queued and wakeable. Every
/// waiter that sleeps is then given a unit: each returns with one, and none is left over.
fn queue_growth_faults(all: bool) -> TestResult {
    let dev = dev()?;
    let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
    let mut tally = Tally::default();
    let what = if all {
        "WAIT_ALL joining a queue"
    } else {
        "WAIT_ANY joining a queue"
    };
    for queued in [1usize, 2, 4, 8] {
        each_nth(what, |k| {
            let s = sem(&dev, 0, u32::MAX)?;
            // Manual, and set for wait-all: every waiter sleeps on the semaphore alone.
            let e = event(&dev, true, all)?;
            let objs = vec![s.as_raw_fd(), e.as_raw_fd()];
            let mut waiters = Vec::new();
            for _ in 0..queued {
                waiters.push(start_waiter(&dev, cmd, objs.clone(), 0, 0)?);
            }
            let all_asleep = wait_until(BOUND, || {
                waiters
                    .iter()
                    .all(|(tid, _, done)| !done.load(SeqCst) && thread_in_ioctl(*tid) == Some(true))
            });
            check!(all_asleep, "{queued} waiters did not all sleep");
            let (tid, rx, returned) = start_waiter(&dev, cmd, objs, 0, k)?;
            let asleep = wait_until(BOUND, || {
                returned.load(SeqCst) || thread_in_ioctl(tid) == Some(true)
            }) && !returned.load(SeqCst);
            let sleepers = queued + asleep as usize;
            check_eq!(sem_release(&s, sleepers as u32), Ok(0));
            let (got, index, fired) = rx
                .recv_timeout(BOUND + Duration::from_millis(FAR_MS))
                .map_err(|_| format!("{queued} queued, step {k}: the wait did not return"))?;
            tally.note(fired, got.is_err());
            match got {
                Ok(0) => check!(
                    asleep && index == 0,
                    "{queued} queued, step {k}: index {index}"
                ),
                Err(ENOMEM) => check!(fired, "{queued} queued, step {k}: ENOMEM, no fault"),
                other => return Err(format!("{queued} queued, step {k}: {other:?}")),
            }
            for (_, rx, _) in waiters {
                let got = rx
                    .recv_timeout(BOUND)
                    .map_err(|_| format!("{queued} queued, step {k}: a queued waiter was lost"))?;
                check!(
                    got.0 == Ok(0) && got.1 == 0,
                    "{queued} queued, step {k}: a queued waiter got {got:?}"
                );
            }
            check_eq!(count(&s)?, 0);
            check_eq!(event_signaled(&e), Some(all));
            if !fired {
                check!(
                    got.is_ok(),
                    "{queued} queued, step {k}: failed with no fault"
                );
            }
            Ok(fired)
        })?;
    }
    tally.done(what, Alloc::COnly)
}

fn queue_growth_any_faults() -> TestResult {
    queue_growth_faults(false)
}

fn queue_growth_all_faults() -> TestResult {
    queue_growth_faults(true)
}

/// The change that wakes a sleeping waiter, with the k-th allocation of the changing thread
/// failed: it is not documented to fail with ENOMEM, so it must succeed, and so must the wait.
fn wake_faults(which: u32) -> TestResult {
    let dev = dev()?;
    let nth = FailNth::open()?;
    let mut tally = Tally::default();
    let what = [
        "SEM_RELEASE waking",
        "EVENT_SET waking",
        "MUTEX_UNLOCK waking",
    ][which as usize];
    each_nth(what, |k| {
        let s = sem(&dev, 0, 1)?;
        let e = event(&dev, false, false)?;
        let m = mutex(&dev, 1, 1)?;
        let (cmd, objs) = match which {
            0 => (IOC_WAIT_ANY, vec![s.as_raw_fd()]),
            1 => (IOC_WAIT_ALL, vec![s.as_raw_fd(), e.as_raw_fd()]),
            _ => (IOC_WAIT_ANY, vec![e.as_raw_fd(), m.as_raw_fd()]),
        };
        let (tid, rx, returned) = start_waiter(&dev, cmd, objs, 0, 0)?;
        check!(
            wait_until(BOUND, || returned.load(SeqCst)
                || thread_in_ioctl(tid) == Some(true))
                && !returned.load(SeqCst),
            "the waiter did not sleep"
        );
        if which == 1 {
            check_eq!(sem_release(&s, 1), Ok(0));
        }
        touch_stack();
        nth.arm(k);
        let got = match which {
            0 => sem_release(&s, 1),
            1 => event_set(&e),
            _ => mutex_unlock(&m, 1),
        };
        let fired = nth.disarm();
        tally.note(fired, got.is_err());
        check!(
            got == Ok(if which == 2 { 1 } else { 0 }),
            "step {k}: {got:?}"
        );
        let (waited, index, _) = rx
            .recv_timeout(BOUND)
            .map_err(|_| format!("step {k}: the wait was not woken"))?;
        check_eq!(waited, Ok(0));
        check_eq!(index, if which == 2 { 1 } else { 0 });
        match which {
            0 => check_eq!(count(&s)?, 0),
            1 => {
                check_eq!(count(&s)?, 0);
                check_eq!(event_signaled(&e), Some(false));
            }
            _ => check_eq!(mutex_state(&m), Ok((9, 1))),
        }
        Ok(fired)
    })?;
    tally.done(what, Alloc::NotOurs)
}

fn wake_release_faults() -> TestResult {
    wake_faults(0)
}

fn wake_set_all_faults() -> TestResult {
    wake_faults(1)
}

fn wake_unlock_faults() -> TestResult {
    wake_faults(2)
}

/// One object ioctl or wait that need not sleep, on fresh objects: its result and the
/// states after it.
type Outcome = (Result<i32, i32>, Vec<[u32; 2]>);

fn object_op(
    dev: &File,
    op: usize,
    nth: Option<(&FailNth, u32)>,
) -> Result<(Outcome, bool), String> {
    let s = sem(dev, 1, 3)?;
    let m = mutex(dev, 5, 2)?;
    let e = event(dev, false, true)?;
    let objs = [s.as_raw_fd(), m.as_raw_fd(), e.as_raw_fd()];
    let (fd, cmd, mut arg): (RawFd, u32, [u32; 10]) = match op {
        0 => (objs[0], IOC_SEM_RELEASE, [1; 10]),
        1 => (objs[0], IOC_SEM_READ, [POISON; 10]),
        2 => (objs[1], IOC_MUTEX_UNLOCK, [5; 10]),
        3 => (objs[1], IOC_MUTEX_KILL, [5; 10]),
        4 => (objs[1], IOC_MUTEX_READ, [POISON; 10]),
        5 => (objs[2], IOC_EVENT_SET, [POISON; 10]),
        6 => (objs[2], IOC_EVENT_RESET, [POISON; 10]),
        7 => (objs[2], IOC_EVENT_PULSE, [POISON; 10]),
        8 => (objs[2], IOC_EVENT_READ, [POISON; 10]),
        _ => {
            let cmd = if op == 9 { IOC_WAIT_ANY } else { IOC_WAIT_ALL };
            let args = Wait::new(&objs).by(5).args();
            // SAFETY: `WaitArgs` is 40 bytes of plain integers, as is the array.
            let words: [u32; 10] = unsafe { std::mem::transmute(args) };
            (dev.as_raw_fd(), cmd, words)
        }
    };
    touch_stack();
    if let Some((nth, k)) = nth {
        nth.arm(k);
    }
    let got = ioctl(fd, cmd, &mut arg);
    let fired = nth.is_some_and(|(nth, _)| nth.disarm());
    let states = objs
        .iter()
        .zip(Kind::ALL)
        .map(|(obj, kind)| read_words(obj, kind.read_cmd(), POISON).1)
        .collect();
    Ok(((got, states), fired))
}

/// Object ioctls and waits that need not sleep, with each of their allocations failed in
/// turn: the object ioctls are not documented to fail with ENOMEM, so they must do what they
/// do without faults; a wait may fail with ENOMEM, having changed nothing.
fn object_ioctl_faults() -> TestResult {
    let dev = dev()?;
    let nth = FailNth::open()?;
    let names = [
        "SEM_RELEASE",
        "SEM_READ",
        "MUTEX_UNLOCK",
        "MUTEX_KILL",
        "MUTEX_READ",
        "EVENT_SET",
        "EVENT_RESET",
        "EVENT_PULSE",
        "EVENT_READ",
        "WAIT_ANY (signaled)",
        "WAIT_ALL (signaled)",
    ];
    let untouched = vec![[1, 3], [5, 2], [0, 1]];
    for (op, name) in names.iter().enumerate() {
        let mut tally = Tally::default();
        let (want, _) = object_op(&dev, op, None)?;
        each_nth(name, |k| {
            let (got, fired) = object_op(&dev, op, Some((&nth, k)))?;
            tally.note(fired, got.0.is_err() && want.0.is_ok());
            let enomem_ok = op >= 9 && got == (Err(ENOMEM), untouched.clone());
            check!(
                got == want || enomem_ok && fired,
                "{name}, step {k}: {got:?}, expected {want:?}"
            );
            Ok(fired)
        })?;
        tally.done(name, Alloc::NotOurs)?;
    }
    Ok(())
}

/// Waits with more slots than ours keeps on the stack (17 objects), all signaled: both
/// drivers allocate, ours the table of the objects, and a failure leaves everything as it was.
fn large_signaled_wait_faults() -> TestResult {
    const N: usize = 17;
    let dev = dev()?;
    let nth = FailNth::open()?;
    for (cmd, name, taken) in [
        (IOC_WAIT_ANY, "WAIT_ANY (17 objects, signaled)", 1),
        (IOC_WAIT_ALL, "WAIT_ALL (17 objects, signaled)", N),
    ] {
        let mut tally = Tally::default();
        each_nth(name, |k| {
            let sems = (0..N)
                .map(|_| sem(&dev, 1, 1))
                .collect::<Result<Vec<_>, _>>()?;
            let objs: Vec<RawFd> = sems.iter().map(|s| s.as_raw_fd()).collect();
            let mut args = Wait::new(&objs).by(5).args();
            touch_stack();
            nth.arm(k);
            let got = ioctl(dev.as_raw_fd(), cmd, &mut args);
            let fired = nth.disarm();
            tally.note(fired, got.is_err());
            let left = sems.iter().map(count).collect::<Result<Vec<_>, _>>()?;
            let acquired = left.iter().filter(|&&c| c == 0).count();
            match got {
                Ok(_) => check_eq!(acquired, taken),
                Err(ENOMEM) => {
                    check!(fired, "{name}, step {k}: ENOMEM without an injected fault");
                    check_eq!(acquired, 0);
                }
                other => return Err(format!("{name}, step {k}: {other:?}")),
            }
            Ok(fired)
        })?;
        tally.done(name, Alloc::Must)?;
    }
    Ok(())
}

/// The debugfs view of this process's device with marker objects, and its contents.
fn own_view(marker: &str) -> Result<Option<std::path::PathBuf>, String> {
    let header = format!(" opened by pid {}\n", std::process::id());
    let Ok(dir) = std::fs::read_dir("/sys/kernel/debug/ntsync") else {
        return Ok(None);
    };
    for entry in dir {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(&header) && text.contains(marker) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Reading the debugfs view of ours with each allocation failed in turn: the read fails with
/// ENOMEM, or the listing says that it had no memory to list the objects, or it lists them
/// all. The C driver has no view, which is checked instead.
fn view_read_faults() -> TestResult {
    let dev = dev()?;
    let _objs = [sem(&dev, 1, 93)?, sem(&dev, 2, 93)?, sem(&dev, 3, 93)?];
    let view = own_view("semaphore count 1 max 93")?;
    if !ours() {
        check!(view.is_none(), "a debugfs view of the C driver: {view:?}");
        return Ok(());
    }
    let path = view.ok_or("no debugfs view lists this device")?;
    let nth = FailNth::open()?;
    let mut tally = Tally::default();
    let mut no_memory = 0;
    each_nth("reading the view", |k| {
        let file = File::open(&path).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        touch_stack();
        nth.arm(k);
        // SAFETY: `buf` is a live buffer of the length given.
        let n = unsafe { libc::read(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let err = errno();
        let fired = nth.disarm();
        tally.note(fired, n < 0);
        if n < 0 {
            check!(
                fired && err == ENOMEM,
                "step {k}: read failed with errno {err}"
            );
            return Ok(fired);
        }
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        let listed = (1..=3).all(|c| text.contains(&format!("semaphore count {c} max 93")));
        if text.contains("no memory to list the objects") {
            check!(fired, "step {k}: no memory, with no fault injected");
            no_memory += 1;
        } else {
            check!(listed, "step {k}: a partial listing:\n{text}");
        }
        Ok(fired)
    })?;
    check!(
        no_memory > 0,
        "no read met the listing's own allocation failing"
    );
    tally.done("reading the view", Alloc::Must)
}

/// The total, and the failslab settings put back.
fn faults_injected() -> TestResult {
    drop(FAILSLAB.lock().unwrap().take());
    let n = INJECTED.load(SeqCst);
    println!("# {n} faults injected in all");
    check!(n > 0, "no fault was injected");
    Ok(())
}

const TESTS: &[Test] = &[
    ("failslab_setup", failslab_setup),
    ("open_device_faults", open_device_faults),
    ("create_sem_faults", create_sem_faults),
    ("create_mutex_faults", create_mutex_faults),
    ("create_event_faults", create_event_faults),
    ("wait_any_sleeping_faults", wait_any_sleeping_faults),
    ("wait_all_sleeping_faults", wait_all_sleeping_faults),
    ("queue_growth_any_faults", queue_growth_any_faults),
    ("queue_growth_all_faults", queue_growth_all_faults),
    ("large_signaled_wait_faults", large_signaled_wait_faults),
    ("wake_release_faults", wake_release_faults),
    ("wake_set_all_faults", wake_set_all_faults),
    ("wake_unlock_faults", wake_unlock_faults),
    ("object_ioctl_faults", object_ioctl_faults),
    ("view_read_faults", view_read_faults),
    ("faults_injected", faults_injected),
];

fn main() {
    tap::main(TESTS)
}
