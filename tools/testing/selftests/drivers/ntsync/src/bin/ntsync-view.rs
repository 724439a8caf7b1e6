// SPDX-License-Identifier: GPL-2.0

//! Tests of the debugfs view of ntsync_rs (`/sys/kernel/debug/ntsync/<device>`), which the
//! upstream C driver does not have: run against ours only. Prints TAP.
//!
//! Usage: `ntsync-view [NAME-FILTER...]`

use ntsync_selftests::setup::{dev, event, mutex, sem};
use ntsync_selftests::tap::{self, Test, TestResult};
use ntsync_selftests::*;
use ntsync_selftests::{check, check_eq};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

const ROOT: &str = "/sys/kernel/debug/ntsync";

/// Every device file in the view directory, with its contents.
fn views() -> Result<Vec<(PathBuf, String)>, String> {
    let dir = std::fs::read_dir(ROOT).map_err(|e| format!("{ROOT}: {e}"))?;
    let mut out = Vec::new();
    for entry in dir {
        let path = entry.map_err(|e| format!("{ROOT}: {e}"))?.path();
        // A device closed since the listing takes its file with it.
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
    Ok(out)
}

/// The view of the one device of this process whose listing contains `marker`.
fn view_with(marker: &str) -> Result<(PathBuf, String), String> {
    let header = format!(" opened by pid {}\n", std::process::id());
    let mut found: Vec<_> = views()?
        .into_iter()
        .filter(|(_, text)| text.contains(&header) && text.contains(marker))
        .collect();
    check!(
        found.len() == 1,
        "{} views of this process contain {marker:?}",
        found.len()
    );
    Ok(found.remove(0))
}

/// The id that `line`, `object ID: ...`, gives the object it describes.
fn object_id(view: &str, rest: &str) -> Result<u64, String> {
    view.lines()
        .find_map(|l| {
            let (head, tail) = l.split_once(": ")?;
            (tail == rest).then(|| head.strip_prefix("object ")?.parse().ok())?
        })
        .ok_or_else(|| format!("no object line ending in {rest:?} in:\n{view}"))
}

/// Each object is listed with its kind and state, and leaves the listing with its last fd.
fn view_lists_objects() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 3, 77)?;
    let m = mutex(&dev, 4242, 2)?;
    let e = event(&dev, true, true)?;
    let a = event(&dev, false, false)?;
    let (path, view) = view_with("semaphore count 3 max 77")?;
    check!(view.starts_with("device "), "unexpected header in:\n{view}");
    let ids = [
        object_id(&view, "semaphore count 3 max 77")?,
        object_id(&view, "mutex owner 4242 count 2")?,
        object_id(&view, "event manual signaled")?,
        object_id(&view, "event auto unsignaled")?,
    ];
    let mut sorted = ids;
    sorted.sort_unstable();
    check_eq!(sorted, ids);
    check!(
        !view.contains("waiter"),
        "a waiter with nobody waiting:\n{view}"
    );

    // State changes show, and so does abandonment.
    sem_release(&s, 4).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    mutex_kill(&m, 4242).map_err(|e| format!("MUTEX_KILL: errno {e}"))?;
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check_eq!(object_id(&view, "semaphore count 7 max 77")?, ids[0]);
    check_eq!(object_id(&view, "mutex owner 0 count 0 abandoned")?, ids[1]);

    // A duplicate keeps the object; the last close takes it away.
    let dup = s.try_clone().map_err(|e| e.to_string())?;
    drop(s);
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check_eq!(object_id(&view, "semaphore count 7 max 77")?, ids[0]);
    drop(dup);
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check!(
        !view.contains("semaphore"),
        "a closed semaphore is still listed:\n{view}"
    );
    drop((m, e, a));
    Ok(())
}

/// A blocked wait is listed with its thread, owner, kind, objects, alert and deadline while it
/// sleeps, and not after it returns.
fn view_lists_blocked_waiters() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 5)?;
    let m = mutex(&dev, 9, 1)?;
    let alert = event(&dev, false, false)?;
    let (path, view) = view_with("semaphore count 0 max 5")?;
    let (sid, mid) = (
        object_id(&view, "semaphore count 0 max 5")?,
        object_id(&view, "mutex owner 9 count 1")?,
    );
    let aid = object_id(&view, "event auto unsignaled")?;

    let objs = [s.as_raw_fd(), m.as_raw_fd()];
    let deadline = in_ms(60_000);
    let any = Waiter::any(&dev, &Wait::new(&objs).by(31).alert(&alert).until(INFINITE))?;
    let all = Waiter::all(&dev, &Wait::new(&objs).by(32).until(deadline))?;
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let want_any = format!(
        "waiter tid {} owner 31: wait-any on objects {sid} {mid}, alert {aid}, no deadline",
        any.tid()
    );
    let want_all = format!(
        "waiter tid {} owner 32: wait-all on objects {sid} {mid}, deadline monotonic {deadline} ns",
        all.tid()
    );
    for want in [&want_any, &want_all] {
        check_eq!(view.lines().filter(|l| l == want).count(), 1);
    }
    check_eq!(view.lines().filter(|l| l.starts_with("waiter ")).count(), 2);

    // The alert ends the wait-any; the wait-all stays.
    event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    check_eq!(any.join(Duration::from_secs(5))?, (Ok(()), 2));
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check!(
        !view.contains(&want_any),
        "a returned wait is listed:\n{view}"
    );
    check!(view.contains(&want_all), "the wait-all is gone:\n{view}");

    // The mutex owner gives it up and a unit arrives: the wait-all takes both and leaves.
    mutex_unlock(&m, 9).map_err(|e| format!("MUTEX_UNLOCK: errno {e}"))?;
    sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    check_eq!(all.join(Duration::from_secs(5))?, (Ok(()), 0));
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check!(
        !view.contains("waiter"),
        "a returned wait is listed:\n{view}"
    );
    check_eq!(object_id(&view, "mutex owner 32 count 1")?, mid);
    Ok(())
}

/// A wait-any that names one object twice is still listed once.
fn view_lists_a_waiter_once() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 6)?;
    let (path, _) = view_with("semaphore count 0 max 6")?;
    let objs = [s.as_raw_fd(), s.as_raw_fd(), s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).by(5).until(INFINITE))?;
    let view = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    check_eq!(view.lines().filter(|l| l.starts_with("waiter ")).count(), 1);
    sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    check_eq!(w.join(Duration::from_secs(5))?, (Ok(()), 0));
    Ok(())
}

/// Pins the calling thread (`tid` 0) or thread `tid` to one CPU.
fn pin(tid: libc::pid_t, cpu: usize) -> Result<(), String> {
    // SAFETY: A zeroed cpu_set_t is an empty set, which CPU_SET then fills.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of CPUs, checked by the caller, within the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    let ret = unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
    check!(
        ret == 0,
        "sched_setaffinity({tid}, {cpu}): {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// A thread that keeps CPU 0 to itself, at real-time priority, until it is dropped.
struct Hog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Hog {
    fn start() -> Result<Hog, String> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let running = std::sync::Arc::new(AtomicBool::new(false));
        let (stop2, running2) = (stop.clone(), running.clone());
        let handle = std::thread::spawn(move || {
            pin(0, 0)?;
            let param = libc::sched_param { sched_priority: 1 };
            // SAFETY: `param` is a valid sched_param.
            let ret = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            running2.store(true, Ordering::SeqCst);
            check!(ret == 0, "SCHED_FIFO: {}", std::io::Error::last_os_error());
            while !stop2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            Ok(())
        });
        while !running.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        Ok(Hog {
            stop,
            handle: Some(handle),
        })
    }

    fn stop(mut self) -> TestResult {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .take()
            .map_or(Ok(()), |h| h.join().map_err(|_| "the hog panicked")?)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A waiter that one of its objects satisfied, but that has not run since to leave its other
/// queues, is listed as satisfied: the view shows a task that cannot run. Its CPU is kept busy
/// by a real-time thread meanwhile.
fn view_lists_a_satisfied_waiter_not_yet_gone() -> TestResult {
    // SAFETY: No preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    check!(cpus >= 2, "{cpus} CPUs online: the test needs two");
    pin(0, 1)?;
    let dev = dev()?;
    let first = sem(&dev, 0, 7)?;
    let second = sem(&dev, 0, 8)?;
    let (path, view) = view_with("semaphore count 0 max 7")?;
    let (fid, sid) = (
        object_id(&view, "semaphore count 0 max 7")?,
        object_id(&view, "semaphore count 0 max 8")?,
    );
    // The real-time thread gets a second at most before the scheduler lets others run for a
    // moment: a few tries make sure that one lands in it.
    let mut seen = 0;
    for _ in 0..5 {
        let objs = [first.as_raw_fd(), second.as_raw_fd()];
        let w = Waiter::any(&dev, &Wait::new(&objs).by(44).until(INFINITE))?;
        pin(w.tid(), 0)?;
        let want = format!(
            "waiter tid {} owner 44: wait-any on objects {fid} {sid}, no deadline, satisfied with index 1",
            w.tid()
        );
        let hog = Hog::start()?;
        sem_release(&second, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
        let view = std::fs::read_to_string(&path).map_err(|e| e.to_string());
        hog.stop()?;
        check_eq!(w.join(Duration::from_secs(30))?, (Ok(()), 1));
        if view?.lines().any(|l| l == want) {
            seen += 1;
        }
    }
    check!(
        seen > 0,
        "no listing showed the satisfied waiter in 5 tries"
    );
    Ok(())
}

/// The view goes with the device file, even while its objects live on.
fn view_goes_with_the_device() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 88)?;
    let (path, _) = view_with("semaphore count 1 max 88")?;
    drop(dev);
    check!(!path.exists(), "{} outlived its device", path.display());
    check_eq!(sem_read(&s).map(|a| (a.count, a.max)), Ok((1, 88)));
    Ok(())
}

/// Each open of the device has its own view, under its own name.
fn each_device_has_its_own_view() -> TestResult {
    let (d1, d2) = (dev()?, dev()?);
    let _s1 = sem(&d1, 1, 91)?;
    let _s2 = sem(&d2, 1, 92)?;
    let (p1, v1) = view_with("semaphore count 1 max 91")?;
    let (p2, v2) = view_with("semaphore count 1 max 92")?;
    check!(p1 != p2, "two devices share {}", p1.display());
    check!(!v1.contains("max 92") && !v2.contains("max 91"));
    Ok(())
}

const TESTS: &[Test] = &[
    ("view_lists_objects", view_lists_objects),
    ("view_lists_blocked_waiters", view_lists_blocked_waiters),
    ("view_lists_a_waiter_once", view_lists_a_waiter_once),
    (
        "view_lists_a_satisfied_waiter_not_yet_gone",
        view_lists_a_satisfied_waiter_not_yet_gone,
    ),
    ("view_goes_with_the_device", view_goes_with_the_device),
    ("each_device_has_its_own_view", each_device_has_its_own_view),
];

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(i32::from(tap::run(TESTS, &filter) != 0));
}
