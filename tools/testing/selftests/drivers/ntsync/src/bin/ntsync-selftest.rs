// SPDX-License-Identifier: GPL-2.0

//! Selftest of `/dev/ntsync`, run in the test VM against either driver. TAP on stdout; the
//! exit status is the number of failed tests (capped at 100).
//!
//! Usage: `ntsync-selftest [NAME-SUBSTRING]...`
//!
//! Every rule of `Documentation/userspace-api/ntsync.rst` is listed in [`RULES`] with the
//! tests that check it; the `rule_table` test checks that the table and [`TESTS`] agree.
//! Every blocking wait has a deadline, so that a driver bug fails a test instead of hanging
//! the run.

use libc::{
    CLOCK_MONOTONIC, CLOCK_REALTIME, EFAULT, EINTR, EINVAL, EMFILE, ENOTTY, EOVERFLOW, EOWNERDEAD,
    EPERM, ESPIPE, ETIMEDOUT, SIGUSR1, SIGUSR2,
};
use ntsync_selftests::setup::{count, dev, event, mutex, sem};
use ntsync_selftests::tap::{self, TestResult};
use ntsync_selftests::*;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;
/// How long a waiter that should be woken may wait at most.
const WAKE_MS: u64 = 3000;
/// How long a woken waiter has to report back.
const JOIN: Duration = Duration::from_secs(5);
/// How long a waiter that should stay blocked is watched.
const QUIET: Duration = Duration::from_millis(60);

/// One documented rule and the tests that check it. A rule that no test in this binary can
/// check says why in its text, after "untestable:".
struct Rule {
    id: &'static str,
    rule: &'static str,
    tests: &'static [&'static str],
}

const fn rule(id: &'static str, rule: &'static str, tests: &'static [&'static str]) -> Rule {
    Rule { id, rule, tests }
}

/// The rules of `Documentation/userspace-api/ntsync.rst`, section by section.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    // Synchronization primitives.
    rule("sem.state", "semaphore: count <= max fixed at creation; signaled while count != 0; acquiring decrements by one",
         &["create_sem_rules", "wait_any_acquires", "wait_all_acquires"]),
    rule("mutex.state", "mutex: owner 0 = unowned, count is 0 exactly when owner is",
         &["create_mutex_rules", "mutex_unlock_rules"]),
    rule("mutex.signaled", "mutex signaled for o iff unowned or owned by o, and count < UINT32_MAX (even for its owner)",
         &["mutex_wait_owner", "mutex_recursion_limit"]),
    rule("mutex.acquire", "acquiring a mutex sets owner to o and increments the count",
         &["mutex_wait_owner", "wait_all_acquires"]),
    rule("mutex.abandoned", "MUTEX_KILL leaves the mutex unowned, count 0, abandoned; the next acquiring wait gets EOWNERDEAD and clears the flag",
         &["mutex_kill_rules", "mutex_abandoned_wait", "wake_mutex_kill"]),
    rule("mutex.owner-ids", "owner ids are not interpreted apart from 0 meaning nobody",
         &["mutex_wait_owner"]),
    rule("event.state", "event: manual or auto fixed at creation; acquiring an auto event unsignals it, a manual one stays signaled",
         &["create_event_rules", "event_wait_consumption"]),
    rule("atomic", "every operation on an object is atomic and totally ordered with the others on it",
         &["stress_mutual_exclusion", "wait_any_one_of_concurrent", "pulse_never_visible", "wake_sem_release"]),
    rule("fd.kind", "an object is an anon_inode:ntsync file, opened O_RDWR with O_CLOEXEC, returned by its creating ioctl",
         &["object_fds"]),
    rule("fd.lifetime", "an object lives while any descriptor (dup, fork, SCM_RIGHTS) refers to it, and while a wait uses it",
         &["object_lifetime_dup_fork", "object_passed_scm_rights", "close_while_waiting"]),
    // Char device.
    rule("dev.node", "misc device ntsync at /dev/ntsync, mode 0666",
         &["device_node"]),
    rule("dev.instance", "every open(2) is an independent instance; its objects in a wait on another instance give EINVAL",
         &["wait_validation", "objects_outlive_device"]),
    rule("dev.alive", "objects keep their instance alive after the device fd is closed",
         &["objects_outlive_device"]),
    rule("dev.module", "one module called ntsync_rs (ours) or ntsync (upstream) serves the name; only one loads",
         &["one_module_loaded"]),
    // ioctl reference: general rules.
    rule("ioc.abi", "the structures and command numbers of the uapi header",
         &["abi_layout"]),
    rule("ioc.enotty", "a command the file does not know, including a valid one sent to the wrong kind of file, fails with ENOTTY",
         &["unknown_ioctls"]),
    rule("ioc.order", "errors are reported in the documented order",
         &["sem_release_rules", "mutex_unlock_rules", "mutex_kill_rules", "mutex_read_rules", "kind_mismatch", "wait_check_order"]),
    rule("ioc.no-change", "a failing command changes nothing unless said otherwise",
         &["sem_release_rules", "mutex_unlock_rules", "mutex_kill_rules", "kind_mismatch", "wait_validation", "wait_check_order"]),
    rule("ioc.outputs-full", "every documented output is written in full, whatever its value, and nothing around the argument",
         &["outputs_fully_written"]),
    rule("ioc.outputs", "fields not documented as outputs are never written",
         &["create_sem_rules", "create_mutex_rules", "create_event_rules", "sem_release_rules", "mutex_unlock_rules", "mutex_kill_rules", "event_set_reset", "kind_mismatch", "wait_outputs_only"]),
    // Device commands.
    rule("create.sem", "CREATE_SEM: fd of a semaphore with count and max; EFAULT; EINVAL if count > max",
         &["create_sem_rules"]),
    rule("create.mutex", "CREATE_MUTEX: fd of a mutex with owner and count (both 0: unowned); EFAULT; EINVAL if exactly one is 0",
         &["create_mutex_rules"]),
    rule("create.event", "CREATE_EVENT: nonzero manual = manual-reset, nonzero signaled = signaled; EFAULT",
         &["create_event_rules"]),
    rule("create.emfile", "creation fails with EMFILE when no descriptor is available",
         &["create_emfile"]),
    rule("create.enomem", "ENOMEM and ENFILE (untestable: needs the kernel out of memory or files)", &[]),
    // Object commands.
    rule("sem.release", "SEM_RELEASE adds to the count and writes back the previous count",
         &["sem_release_rules"]),
    rule("sem.release.wake", "a release wakes waiters, which acquire in the same atomic step",
         &["wake_sem_release", "wake_one_of_two", "wake_fifo_order"]),
    rule("sem.release.errors", "SEM_RELEASE: EFAULT (read), EINVAL (not a semaphore), EOVERFLOW (past max or 32 bits; untouched), EFAULT (write, after the release and wake-ups)",
         &["sem_release_rules", "kind_mismatch", "wake_release_fault"]),
    rule("mutex.unlock", "MUTEX_UNLOCK decrements; at zero the mutex is unowned and waiters are woken; the previous count goes to `count` only",
         &["mutex_unlock_rules", "wake_mutex_unlock"]),
    rule("mutex.unlock.errors", "MUTEX_UNLOCK: EFAULT, EINVAL (owner 0), EINVAL (not a mutex), EPERM (not the owner, or unowned), EFAULT (write, after the unlock)",
         &["mutex_unlock_rules", "kind_mismatch"]),
    rule("mutex.kill", "MUTEX_KILL (input only): the owner's mutex becomes unowned, count 0, abandoned whatever the count; waiters woken, the acquirer gets EOWNERDEAD",
         &["mutex_kill_rules", "wake_mutex_kill", "wake_all_mutex_kill"]),
    rule("mutex.kill.errors", "MUTEX_KILL: EFAULT, EINVAL (owner 0), EINVAL (not a mutex), EPERM (not the owner)",
         &["mutex_kill_rules", "kind_mismatch"]),
    rule("event.set", "EVENT_SET signals and wakes; an auto event goes to at most one waiter; the previous state (0/1) is written",
         &["event_set_reset", "wake_event_set"]),
    rule("event.reset", "EVENT_RESET unsignals and writes the previous state; it wakes nobody",
         &["event_set_reset", "wake_event_set"]),
    rule("event.pulse", "EVENT_PULSE: auto satisfies at most one waiter, manual all; unsignaled afterwards, never observed signaled",
         &["event_pulse_rules", "wake_event_pulse", "pulse_never_visible"]),
    rule("event.errors", "SET/RESET/PULSE: EINVAL (not an event), EFAULT (write, after the change)",
         &["event_set_reset", "event_pulse_rules", "kind_mismatch"]),
    rule("read.sem", "SEM_READ fills count and max; EINVAL; EFAULT",
         &["sem_read_state", "kind_mismatch"]),
    rule("read.mutex", "MUTEX_READ fills owner and count; EINVAL; EFAULT; else EOWNERDEAD when abandoned, with owner and count 0 filled in",
         &["mutex_read_rules", "mutex_kill_rules", "kind_mismatch"]),
    rule("read.event", "EVENT_READ fills signaled and manual as 0/1; EINVAL; EFAULT",
         &["create_event_rules", "event_set_reset", "kind_mismatch"]),
    // Waiting: the arguments.
    rule("wait.timeout", "timeout: absolute CLOCK_MONOTONIC deadline; a passed one returns at once after acquiring what it can",
         &["wait_any_timeout", "wait_all_partial"]),
    rule("wait.timens", "the monotonic deadline is read in the caller's time namespace",
         &["wait_timens"]),
    rule("wait.realtime", "NTSYNC_WAIT_REALTIME measures the deadline on CLOCK_REALTIME",
         &["wait_realtime"]),
    rule("wait.infinite", "U64_MAX means no deadline",
         &["wait_infinite"]),
    rule("wait.count", "count at most 64", &["wait_any_max_count", "wait_validation"]),
    rule("wait.alert", "alert: 0 for none, or any object of the instance, acquired by the usual rules",
         &["wait_any_alert", "wait_all_alert"]),
    rule("wait.checks", "checks in order: EFAULT args, EINVAL pad/flags, EINVAL owner 0, EINVAL count > 64, EFAULT objs, EINVAL bad fd then alert, EINVAL wait-all duplicates; nothing touched on failure",
         &["wait_validation", "wait_check_order", "wait_all_duplicates"]),
    rule("wait.enomem", "ENOMEM when memory for the wait cannot be allocated (untestable: needs the kernel out of memory)", &[]),
    // Wait for any.
    rule("any.order", "objects are tried in array order, then the alert: the lowest signaled index wins, objects before the alert",
         &["wait_any_lowest_index", "wait_any_alert"]),
    rule("any.sleep", "with nothing signaled the caller sleeps until one is signaled and acquired, the deadline, or a signal",
         &["wake_sem_release", "wake_mutex_unlock", "wake_event_set", "wake_alert_any", "wake_many_objects", "signal_eintr"]),
    rule("any.one", "only one object is ever acquired",
         &["wait_any_lowest_index", "wait_any_duplicates", "wait_any_one_of_concurrent"]),
    rule("any.duplicates", "an object may appear several times, also as the alert; index reports its lowest position",
         &["wait_any_duplicates"]),
    rule("any.compete", "waiters competing for one semaphore unit, mutex or auto event: exactly one gets it",
         &["wake_one_of_two", "wake_mutex_unlock", "wake_event_set", "wake_event_pulse"]),
    // Wait for all.
    rule("all.atomic", "wait-all succeeds only when every object is signaled at once and acquires all in one step",
         &["wait_all_acquires", "wait_all_partial", "wake_all_sem_event", "stress_mutual_exclusion"]),
    rule("all.sleep", "objects may be taken by others while a wait-all sleeps; nothing is acquired until the whole set is available",
         &["wake_all_sem_event", "wake_many_objects"]),
    rule("all.alert", "the alert ends a wait-all; if both the set and the alert are signaled at the start, the objects win",
         &["wait_all_alert", "wake_all_alert"]),
    rule("all.empty", "count 0 and no alert: success at once", &["wait_all_alert"]),
    rule("all.timeout", "on timeout nothing has been acquired", &["wait_all_partial"]),
    // Results.
    rule("res.index", "only index is written, and only when something was acquired: the position (wait-any), 0 (wait-all), count (alert)",
         &["wait_outputs_only", "wait_any_lowest_index", "wait_any_alert", "wait_all_alert", "signal_eintr"]),
    rule("res.ownerdead", "EOWNERDEAD when an acquired mutex was abandoned: now owned by owner with count 1, not abandoned; index written",
         &["mutex_abandoned_wait", "wait_all_abandoned", "wake_mutex_kill", "wake_all_mutex_kill"]),
    rule("res.efault", "EFAULT if index cannot be written; the objects are acquired anyway",
         &["wait_index_fault"]),
    rule("res.timedout", "ETIMEDOUT once the deadline passed with nothing acquired",
         &["wait_any_timeout", "wait_all_partial", "close_while_waiting"]),
    rule("res.eintr", "a signal ends a wait with EINTR, or restarts it (SA_RESTART) with the same deadline; nothing changes",
         &["signal_eintr", "signal_restart"]),
    rule("res.no-lost", "an object acquired before the signal ends the wait is reported as success",
         &["signal_race"]),
    // How this driver works: what user space can observe.
    rule("impl.fast-path", "a wait first takes what is already signaled, in array order (wait-all: the set, then the alert), and queues only if it must sleep",
         &["wait_any_lowest_index", "wait_any_alert", "wait_all_alert"]),
    rule("impl.fifo", "waiters are offered an object oldest first", &["wake_fifo_order"]),
    rule("impl.all-first", "a change is offered to the object's wait-all waiters before its wait-any waiters",
         &["wake_all_before_any"]),
    rule("impl.dequeue", "a waiter leaves every queue on every return path: nothing is acquired for it afterwards",
         &["wait_any_timeout", "signal_eintr", "wake_all_alert"]),
    rule("impl.close", "closing a descriptor while a wait uses its object (or the device fd it was issued on) is safe; the object lives until the wait returns",
         &["close_while_waiting"]),
    // Security and resource bounds.
    rule("sec.device-passed", "a device descriptor passed with SCM_RIGHTS is the same instance: its waits take the instance's objects, a new open's refuse them",
         &["object_passed_scm_rights"]),
    rule("sec.reach", "a process reaches only objects it holds a descriptor for (created, inherited, or passed with SCM_RIGHTS); other instances' objects give EINVAL",
         &["object_passed_scm_rights", "object_lifetime_dup_fork", "wait_validation"]),
    rule("sec.owner", "owner ids are not credentials: any holder of the descriptor may unlock or kill by naming the owner",
         &["object_passed_scm_rights", "mutex_wait_owner"]),
    rule("sec.bounds", "objects are files, bounded by RLIMIT_NOFILE; a wait names at most 64 objects plus an alert",
         &["create_emfile", "wait_any_max_count"]),
    rule("sec.time", "operations hold at most one spinlock for bounded steps (untestable: internal locking, beyond the atomicity tests)", &[]),
    // Compatibility with the C driver.
    rule("compat.abi", "the uapi header is upstream's: same sizes, offsets and command numbers",
         &["abi_layout"]),
    rule("compat.same", "every ioctl returns upstream's errno, checks in the same order, writes the same fields (this binary runs on both drivers)",
         &["rule_table"]),
    rule("compat.seek", "not an ioctl, but as upstream: /dev/ntsync is not seekable, lseek(2), pread(2) and pwrite(2) fail with ESPIPE",
         &["device_seek"]),
    rule("compat.enomem", "a sleeping wait may fail with ENOMEM where upstream cannot, never losing an acquisition (untestable: needs the kernel out of memory)", &[]),
];

fn signaled(event: &impl AsRawFd) -> Result<bool, String> {
    event_signaled(event).ok_or_else(|| "EVENT_READ failed".to_string())
}

/// `ioctl(obj, cmd, arg)` with a raw argument: the errno, or `None` on success.
fn raw(obj: &impl AsRawFd, cmd: u32, arg: usize) -> Option<Errno> {
    ioctl_raw(obj.as_raw_fd(), cmd, arg).err()
}

const fn ev(manual: u32, signaled: u32) -> EventArgs {
    EventArgs { manual, signaled }
}

const fn sa(count: u32, max: u32) -> SemArgs {
    SemArgs { count, max }
}

/// `MUTEX_READ`: the result, owner and count.
fn mread(mutex: &impl AsRawFd) -> (Result<(), Errno>, u32, u32) {
    let (ret, args) = mutex_read(mutex);
    (ret, args.owner, args.count)
}

fn fds(objs: &[&OwnedFd]) -> Vec<RawFd> {
    objs.iter().map(|o| o.as_raw_fd()).collect()
}

/// A pipe: two descriptors that are not ntsync objects.
fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut p = [0; 2];
    // SAFETY: `p` is a valid out-array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    // SAFETY: Fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) })
}

/// Waits for the child `pid`; its exit status, or an error if a signal killed it.
fn wait_child(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(format!("waitpid: errno {}", errno()));
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!("child died: status {status:#x}"))
    }
}

// ---------------------------------------------------------------------------------------
// The device and object files.

/// The device node exists, is a character device and is usable by everyone, as Wine needs.
fn device_node() -> TestResult {
    let meta = std::fs::metadata("/dev/ntsync").map_err(|e| e.to_string())?;
    check!(meta.file_type().is_char_device());
    check_eq!(meta.permissions().mode() & 0o777, 0o666);
    check!(
        std::path::Path::new("/sys/class/misc/ntsync").exists(),
        "no misc device ntsync"
    );
    dev()?;
    Ok(())
}

/// Exactly one of the two modules serves the device name.
fn one_module_loaded() -> TestResult {
    let modules = std::fs::read_to_string("/proc/modules").map_err(|e| e.to_string())?;
    let loaded: Vec<&str> = modules
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| *m == "ntsync" || *m == "ntsync_rs")
        .collect();
    check_eq!(loaded.len(), 1);
    Ok(())
}

/// The structures and command numbers are those of the documentation.
fn abi_layout() -> TestResult {
    check_eq!(size_of::<SemArgs>(), 8);
    check_eq!(size_of::<MutexArgs>(), 8);
    check_eq!(size_of::<EventArgs>(), 8);
    check_eq!(size_of::<WaitArgs>(), 40);
    check_eq!(std::mem::offset_of!(WaitArgs, objs), 8);
    check_eq!(std::mem::offset_of!(WaitArgs, count), 16);
    check_eq!(std::mem::offset_of!(WaitArgs, index), 20);
    check_eq!(std::mem::offset_of!(WaitArgs, flags), 24);
    check_eq!(std::mem::offset_of!(WaitArgs, owner), 28);
    check_eq!(std::mem::offset_of!(WaitArgs, alert), 32);
    check_eq!(std::mem::offset_of!(WaitArgs, pad), 36);
    let cmds = [
        (IOC_CREATE_SEM, 0x4008_4e80u32),
        (IOC_SEM_RELEASE, 0xc004_4e81),
        (IOC_WAIT_ANY, 0xc028_4e82),
        (IOC_WAIT_ALL, 0xc028_4e83),
        (IOC_CREATE_MUTEX, 0x4008_4e84),
        (IOC_MUTEX_UNLOCK, 0xc008_4e85),
        (IOC_MUTEX_KILL, 0x4004_4e86),
        (IOC_CREATE_EVENT, 0x4008_4e87),
        (IOC_EVENT_SET, 0x8004_4e88),
        (IOC_EVENT_RESET, 0x8004_4e89),
        (IOC_EVENT_PULSE, 0x8004_4e8a),
        (IOC_SEM_READ, 0x8008_4e8b),
        (IOC_MUTEX_READ, 0x8008_4e8c),
        (IOC_EVENT_READ, 0x8008_4e8d),
    ];
    for (got, want) in cmds {
        check_eq!(got, want);
    }
    check_eq!(WAIT_REALTIME, 1);
    check_eq!(MAX_WAIT_COUNT, 64);
    Ok(())
}

/// Object fds of every kind are close-on-exec, read-write anonymous-inode files.
fn object_fds() -> TestResult {
    let dev = dev()?;
    let objs = [
        sem(&dev, 0, 1)?,
        mutex(&dev, 0, 0)?,
        event(&dev, true, false)?,
    ];
    for obj in &objs {
        let fd = obj.as_raw_fd();
        // SAFETY: Querying the flags of an fd we own.
        let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        check!(
            fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC != 0,
            "fd flags {fd_flags:#x}"
        );
        // SAFETY: As above.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        check!(
            fl >= 0 && fl & libc::O_ACCMODE == libc::O_RDWR,
            "file flags {fl:#x}"
        );
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|e| e.to_string())?;
        check_eq!(link.to_string_lossy(), "anon_inode:ntsync");
    }
    Ok(())
}

/// The device is not seekable: lseek(2), pread(2) and pwrite(2) fail with ESPIPE, as upstream.
fn device_seek() -> TestResult {
    let dev = dev()?;
    let fd = dev.as_raw_fd();
    // SAFETY: Plain syscalls on an fd we own, with a valid buffer.
    unsafe {
        check_eq!(libc::lseek(fd, 0, libc::SEEK_SET), -1);
        check_eq!(errno(), ESPIPE);
        let mut buf = [0u8; 8];
        check_eq!(libc::pread(fd, buf.as_mut_ptr().cast(), 8, 0), -1);
        check_eq!(errno(), ESPIPE);
        check_eq!(libc::pwrite(fd, buf.as_ptr().cast(), 8, 0), -1);
        check_eq!(errno(), ESPIPE);
        // Plain read(2) and write(2) are not implemented.
        check_eq!(libc::read(fd, buf.as_mut_ptr().cast(), 8), -1);
        check_eq!(errno(), EINVAL);
    }
    Ok(())
}

/// Objects outlive the device fd that made them; a duplicate of the device fd is the same
/// instance.
fn objects_outlive_device() -> TestResult {
    let dev = dev()?;
    let same = dev.try_clone().map_err(|e| e.to_string())?;
    let s = sem(&dev, 1, 3)?;
    let m = mutex(&dev, 4, 1)?;
    let e = event(&dev, false, false)?;
    drop(dev);
    check_eq!(sem_release(&s, 1), Ok(1));
    check_eq!(sem_read(&s), Ok(sa(2, 3)));
    check_eq!(mutex_unlock(&m, 4), Ok(1));
    check_eq!(event_set(&e), Ok(0));
    // The duplicate still reaches the instance, and its objects are waitable through it.
    let objs = fds(&[&s, &m, &e]);
    check_eq!(Wait::new(&objs).all(&same), Ok(0));
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(signaled(&e)?, false);
    Ok(())
}

/// An object lives as long as any descriptor refers to it: a dup, or a copy inherited by a
/// child that outlives the parent's own descriptor.
fn object_lifetime_dup_fork() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 5)?;
    let d = s.try_clone().map_err(|e| e.to_string())?;
    drop(s);
    check_eq!(sem_release(&d, 1), Ok(0));
    check_eq!(sem_read(&d), Ok(sa(1, 5)));

    let (rd, wr) = pipe()?;
    let fd = d.as_raw_fd();
    // SAFETY: The child only makes raw syscalls, then _exit()s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut byte = 0u8;
        // SAFETY: Raw syscalls on inherited descriptors and local buffers.
        unsafe {
            if libc::read(rd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) != 1 {
                libc::_exit(100);
            }
            let mut n = 2u32;
            if ioctl(fd, IOC_SEM_RELEASE, &mut n).is_err() || n != 1 {
                libc::_exit(101);
            }
            let objs = [fd];
            if Wait::new(&objs).any(&dev) != Ok(0) {
                libc::_exit(102);
            }
            let mut args = SemArgs::default();
            if ioctl(fd, IOC_SEM_READ, &mut args).is_err() {
                libc::_exit(103);
            }
            libc::_exit(args.count as i32);
        }
    }
    check!(pid > 0, "fork: errno {}", errno());
    // The parent lets go of the semaphore before the child uses it.
    drop(d);
    // SAFETY: Writing one byte from a local.
    check_eq!(
        unsafe { libc::write(wr.as_raw_fd(), b"x".as_ptr().cast(), 1) },
        1
    );
    check_eq!(wait_child(pid)?, 2);
    Ok(())
}

/// Sends `fd` over `sock` with SCM_RIGHTS and receives it on `peer`: a new descriptor of the
/// same file.
fn pass_fd(sock: &OwnedFd, peer: &OwnedFd, fd: RawFd) -> Result<OwnedFd, String> {
    // SAFETY: Every pointer refers to a local buffer of the stated size; the control buffer
    // has room for one descriptor, as CMSG_SPACE computes.
    unsafe {
        let space = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize;
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut byte = [b'x'];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        libc::CMSG_DATA(cmsg).cast::<RawFd>().write_unaligned(fd);
        if libc::sendmsg(sock.as_raw_fd(), &msg, 0) != 1 {
            return Err(format!("sendmsg: errno {}", errno()));
        }
        control.fill(0);
        msg.msg_controllen = space as _;
        if libc::recvmsg(peer.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) != 1 {
            return Err(format!("recvmsg: errno {}", errno()));
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err("no descriptor received".into());
        }
        Ok(OwnedFd::from_raw_fd(
            libc::CMSG_DATA(cmsg).cast::<RawFd>().read_unaligned(),
        ))
    }
}

/// A descriptor passed with SCM_RIGHTS reaches the same object, which outlives the sender's
/// descriptor; owner ids are not credentials: whoever holds the mutex may unlock it by naming
/// its owner.
fn object_passed_scm_rights() -> TestResult {
    let dev = dev()?;
    let mut sv = [0; 2];
    // SAFETY: `sv` is a valid out-array.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    check!(ret == 0, "socketpair: errno {}", errno());
    // SAFETY: Fresh descriptors that nothing else owns.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    let m = mutex(&dev, 5, 1)?;
    let got = pass_fd(&a, &b, m.as_raw_fd())?;
    check!(got.as_raw_fd() != m.as_raw_fd());
    drop(m);
    let link = std::fs::read_link(format!("/proc/self/fd/{}", got.as_raw_fd()))
        .map_err(|e| e.to_string())?;
    check_eq!(link.to_string_lossy(), "anon_inode:ntsync");
    check_eq!(mread(&got), (Ok(()), 5, 1));
    check_eq!(mutex_unlock(&got, 5), Ok(1));
    let objs = [got.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(6).any(&dev), Ok(0));
    check_eq!(mutex_kill(&got, 6), Ok(()));
    check_eq!(mread(&got), (Err(EOWNERDEAD), 0, 0));

    // The device itself, as Wine's server hands it to its clients: the same instance.
    let s = sem(&dev, 1, 1)?;
    let passed = File::from(pass_fd(&a, &b, dev.as_raw_fd())?);
    drop(dev);
    let objs = [s.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&passed), Ok(0));
    let made = sem(&passed, 1, 1)?;
    check_eq!(Wait::new(&[made.as_raw_fd()]).any(&passed), Ok(0));
    check_eq!(Wait::new(&objs).any(&self::dev()?), Err(EINVAL));
    Ok(())
}

/// Creation fails with EMFILE when the process has no descriptor left.
fn create_emfile() -> TestResult {
    let dev = dev()?;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: Valid out-pointer.
    check_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    // The lowest free descriptor number: every one below it is taken.
    let probe = dev.try_clone().map_err(|e| e.to_string())?;
    let lowest = probe.as_raw_fd() as libc::rlim_t;
    drop(probe);
    let limited = libc::rlimit {
        rlim_cur: lowest,
        rlim_max: old.rlim_max,
    };
    let fds_before = fd_count();
    // SAFETY: Valid in-pointer.
    check_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limited) }, 0);
    // Refused over and over: whatever a refusal left behind would pile up (and show in the
    // debug kernel's kmemleak scan).
    let repeated = (0..300).all(|i| match i % 3 {
        0 => create_sem(&dev, 0, 1).err() == Some(EMFILE),
        1 => create_mutex(&dev, 1, 1).err() == Some(EMFILE),
        _ => create_event(&dev, true, true).err() == Some(EMFILE),
    });
    let results = [
        create_sem(&dev, 0, 1).err(),
        create_mutex(&dev, 0, 0).err(),
        create_event(&dev, false, false).err(),
        // The argument checks come first.
        create_sem(&dev, 3, 2).err(),
        create_mutex(&dev, 0, 1).err(),
        raw(&dev, IOC_CREATE_EVENT, 8),
    ];
    // SAFETY: Valid in-pointer.
    check_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    let want = [EMFILE, EMFILE, EMFILE, EINVAL, EINVAL, EFAULT];
    check_eq!(results, want.map(Some));
    check!(repeated, "a repeated creation did not fail with EMFILE");
    check_eq!(fd_count(), fds_before);
    check!(create_sem(&dev, 0, 1).is_ok());
    Ok(())
}

/// The number of open descriptors.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Every output, pre-filled with 0xaa bytes, is written in full, whatever its value (zero,
/// one, all ones, or bytes that differ from the input's), and the bytes around the argument
/// are not: reads, previous counts and states, and the wait index.
fn outputs_fully_written() -> TestResult {
    const AT: usize = 8;
    /// Runs `cmd` on `fd` with `input` at offset `AT` of a buffer of 0xaa bytes, and checks
    /// that the result is `ret` and the buffer holds `output` there, 0xaa around it.
    fn run(
        fd: RawFd,
        cmd: u32,
        input: &[u8],
        ret: Result<i32, Errno>,
        output: &[u8],
    ) -> TestResult {
        let mut buf = [0xaau8; 64];
        buf[AT..AT + input.len()].copy_from_slice(input);
        let got = ioctl_raw(fd, cmd, buf.as_mut_ptr() as usize + AT);
        check!(got == ret, "cmd {cmd:#x}: {got:?}, expected {ret:?}");
        let mut want = [0xaau8; 64];
        want[AT..AT + output.len()].copy_from_slice(output);
        check!(
            buf == want,
            "cmd {cmd:#x}: wrote {:02x?}, expected {:02x?}",
            &buf[..AT + 16],
            &want[..AT + 16]
        );
        Ok(())
    }
    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }
    let fill = u32::from_ne_bytes([0xaa; 4]);
    let dev = dev()?;
    for (count, max) in [(0, 0), (1, 2), (u32::MAX, u32::MAX)] {
        let s = sem(&dev, count, max)?;
        run(
            s.as_raw_fd(),
            IOC_SEM_READ,
            &[],
            Ok(0),
            &words(&[count, max]),
        )?;
    }
    // Every byte of the previous count differs from the amount's.
    let s = sem(&dev, 0x0101_0101, u32::MAX)?;
    run(
        s.as_raw_fd(),
        IOC_SEM_RELEASE,
        &words(&[0x0202_0202]),
        Ok(0),
        &words(&[0x0101_0101]),
    )?;
    let z = sem(&dev, 0, 1)?;
    run(
        z.as_raw_fd(),
        IOC_SEM_RELEASE,
        &words(&[1]),
        Ok(0),
        &words(&[0]),
    )?;

    let m = mutex(&dev, 0, 0)?;
    run(m.as_raw_fd(), IOC_MUTEX_READ, &[], Ok(0), &words(&[0, 0]))?;
    let m = mutex(&dev, u32::MAX, 3)?;
    run(
        m.as_raw_fd(),
        IOC_MUTEX_READ,
        &[],
        Ok(0),
        &words(&[u32::MAX, 3]),
    )?;
    // The count is written, the owner (input only) is left as it was.
    run(
        m.as_raw_fd(),
        IOC_MUTEX_UNLOCK,
        &words(&[u32::MAX, fill]),
        Ok(0),
        &words(&[u32::MAX, 3]),
    )?;
    let one = mutex(&dev, 7, 1)?;
    run(
        one.as_raw_fd(),
        IOC_MUTEX_UNLOCK,
        &words(&[7, fill]),
        Ok(0),
        &words(&[7, 1]),
    )?;
    check_eq!(mutex_kill(&m, u32::MAX), Ok(()));
    run(
        m.as_raw_fd(),
        IOC_MUTEX_READ,
        &[],
        Err(EOWNERDEAD),
        &words(&[0, 0]),
    )?;

    for manual in [0, 1] {
        let e = event(&dev, manual == 1, false)?;
        run(
            e.as_raw_fd(),
            IOC_EVENT_READ,
            &[],
            Ok(0),
            &words(&[manual, 0]),
        )?;
        run(e.as_raw_fd(), IOC_EVENT_SET, &[], Ok(0), &words(&[0]))?;
        run(
            e.as_raw_fd(),
            IOC_EVENT_READ,
            &[],
            Ok(0),
            &words(&[manual, 1]),
        )?;
        run(e.as_raw_fd(), IOC_EVENT_SET, &[], Ok(0), &words(&[1]))?;
        run(e.as_raw_fd(), IOC_EVENT_PULSE, &[], Ok(0), &words(&[1]))?;
        run(e.as_raw_fd(), IOC_EVENT_PULSE, &[], Ok(0), &words(&[0]))?;
        run(e.as_raw_fd(), IOC_EVENT_RESET, &[], Ok(0), &words(&[0]))?;
    }

    // The wait index: 0, a later position, the alert's (count), and wait-all's 0.
    let empty = sem(&dev, 0, 1)?;
    let full = sem(&dev, 3, 3)?;
    let alert = event(&dev, true, true)?;
    for (objs, cmd, index) in [
        (vec![full.as_raw_fd()], IOC_WAIT_ANY, 0u32),
        (vec![empty.as_raw_fd(), full.as_raw_fd()], IOC_WAIT_ANY, 1),
        (vec![empty.as_raw_fd(), empty.as_raw_fd()], IOC_WAIT_ANY, 2),
        (vec![empty.as_raw_fd()], IOC_WAIT_ALL, 1),
        (vec![full.as_raw_fd()], IOC_WAIT_ALL, 0),
    ] {
        let args = Wait::new(&objs).alert(&alert).args();
        let mut input = words(&[
            args.timeout as u32,
            (args.timeout >> 32) as u32,
            args.objs as u32,
            (args.objs >> 32) as u32,
            args.count,
            fill,
            args.flags,
            args.owner,
            args.alert,
            args.pad,
        ]);
        let mut output = input.clone();
        output[20..24].copy_from_slice(&index.to_ne_bytes());
        run(dev.as_raw_fd(), cmd, &input, Ok(0), &output)?;
        // With nothing to take, nothing is written.
        if index == 0 && objs.len() == 1 {
            let objs = [empty.as_raw_fd()];
            let args = Wait::new(&objs).args();
            input[8..16].copy_from_slice(&args.objs.to_ne_bytes());
            input[32..36].copy_from_slice(&0u32.to_ne_bytes());
            run(dev.as_raw_fd(), cmd, &input, Err(ETIMEDOUT), &input)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Semaphores.

fn create_sem_rules() -> TestResult {
    let dev = dev()?;
    check_eq!(create_sem(&dev, 3, 2).err(), Some(EINVAL));
    check_eq!(create_sem(&dev, u32::MAX, u32::MAX - 1).err(), Some(EINVAL));
    check_eq!(sem_read(&sem(&dev, 2, 2)?), Ok(sa(2, 2)));
    check_eq!(sem_read(&sem(&dev, 0, 0)?), Ok(sa(0, 0)));
    check_eq!(
        sem_read(&sem(&dev, u32::MAX, u32::MAX)?),
        Ok(sa(u32::MAX, u32::MAX))
    );
    check_eq!(raw(&dev, IOC_CREATE_SEM, 8), Some(EFAULT));
    // The argument is input only: a read-only one will do.
    let page = Pages::read_only(sa(1, 4));
    let fd = ioctl_raw(dev.as_raw_fd(), IOC_CREATE_SEM, page.addr())
        .map_err(|e| format!("CREATE_SEM from a read-only page: errno {e}"))?;
    // SAFETY: A new fd that nothing else owns.
    let s = unsafe { OwnedFd::from_raw_fd(fd) };
    check_eq!(sem_read(&s), Ok(sa(1, 4)));
    Ok(())
}

fn sem_read_state() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 7)?;
    check_eq!(sem_read(&s), Ok(sa(2, 7)));
    check_eq!(raw(&s, IOC_SEM_READ, 8), Some(EFAULT));
    // A read-only structure cannot be written either.
    let page = Pages::read_only(SemArgs::default());
    check_eq!(raw(&s, IOC_SEM_READ, page.addr()), Some(EFAULT));
    Ok(())
}

/// Release returns the previous count; overflow is refused and changes nothing; a failed
/// write-back comes after the release.
fn sem_release_rules() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 2)?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(sem_release(&s, 1), Ok(1));
    check_eq!(sem_release(&s, 1), Err(EOVERFLOW));
    check_eq!(sem_read(&s), Ok(sa(2, 2)));
    check_eq!(sem_release(&s, 0), Ok(2));

    let big = sem(&dev, 5, u32::MAX)?;
    check_eq!(sem_release(&big, u32::MAX), Err(EOVERFLOW));
    check_eq!(sem_release(&big, u32::MAX - 4), Err(EOVERFLOW));
    check_eq!(sem_read(&big), Ok(sa(5, u32::MAX)));
    check_eq!(sem_release(&big, u32::MAX - 5), Ok(5));
    check_eq!(count(&big)?, u32::MAX);

    // Unreadable argument: EFAULT, nothing released.
    check_eq!(raw(&s, IOC_SEM_RELEASE, 8), Some(EFAULT));
    check_eq!(count(&s)?, 2);

    // Readable but not writable: the release happens, then EFAULT.
    let t = sem(&dev, 1, 3)?;
    let page = Pages::read_only(2u32);
    check_eq!(raw(&t, IOC_SEM_RELEASE, page.addr()), Some(EFAULT));
    check_eq!(count(&t)?, 3);
    // EOVERFLOW comes before the write-back.
    check_eq!(raw(&t, IOC_SEM_RELEASE, page.addr()), Some(EOVERFLOW));
    check_eq!(count(&t)?, 3);

    // Only the 32-bit argument is written.
    let mut buf = [POISON, 1, POISON];
    check_eq!(
        ioctl(t.as_raw_fd(), IOC_SEM_RELEASE, &mut buf[1]),
        Err(EOVERFLOW)
    );
    check_eq!(buf, [POISON, 1, POISON]);
    let u = sem(&dev, 4, 9)?;
    check_eq!(ioctl(u.as_raw_fd(), IOC_SEM_RELEASE, &mut buf[1]), Ok(0));
    check_eq!(buf, [POISON, 4, POISON]);
    Ok(())
}

/// A wait takes one unit of a signaled semaphore and times out on an empty one.
fn wait_any_acquires() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 2)?;
    let objs = [s.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(count(&s)?, 1);
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(Wait::new(&objs).any(&dev), Err(ETIMEDOUT));
    check_eq!(count(&s)?, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Mutexes.

fn create_mutex_rules() -> TestResult {
    let dev = dev()?;
    check_eq!(create_mutex(&dev, 0, 1).err(), Some(EINVAL));
    check_eq!(create_mutex(&dev, 1, 0).err(), Some(EINVAL));
    check_eq!(create_mutex(&dev, 0, u32::MAX).err(), Some(EINVAL));
    check_eq!(mread(&mutex(&dev, 0, 0)?), (Ok(()), 0, 0));
    check_eq!(mread(&mutex(&dev, 5, 3)?), (Ok(()), 5, 3));
    check_eq!(
        mutex_state(&mutex(&dev, u32::MAX, u32::MAX)?),
        Ok((u32::MAX, u32::MAX))
    );
    check_eq!(raw(&dev, IOC_CREATE_MUTEX, 8), Some(EFAULT));
    let page = Pages::read_only(MutexArgs { owner: 7, count: 2 });
    let fd = ioctl_raw(dev.as_raw_fd(), IOC_CREATE_MUTEX, page.addr())
        .map_err(|e| format!("CREATE_MUTEX from a read-only page: errno {e}"))?;
    // SAFETY: A new fd that nothing else owns.
    let m = unsafe { OwnedFd::from_raw_fd(fd) };
    check_eq!(mutex_state(&m), Ok((7, 2)));
    Ok(())
}

/// MUTEX_UNLOCK: errors in order, the previous count in `count` only, and zero frees.
fn mutex_unlock_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 5, 2)?;
    let fd = m.as_raw_fd();

    let unlock = |owner: u32| {
        let mut args = MutexArgs {
            owner,
            count: POISON,
        };
        (ioctl(fd, IOC_MUTEX_UNLOCK, &mut args).map(|_| ()), args)
    };
    // Refusals write nothing and change nothing.
    check_eq!(
        unlock(0),
        (
            Err(EINVAL),
            MutexArgs {
                owner: 0,
                count: POISON
            }
        )
    );
    check_eq!(
        unlock(6),
        (
            Err(EPERM),
            MutexArgs {
                owner: 6,
                count: POISON
            }
        )
    );
    check_eq!(raw(&fd, IOC_MUTEX_UNLOCK, 8), Some(EFAULT));
    check_eq!(mutex_state(&m), Ok((5, 2)));

    check_eq!(unlock(5), (Ok(()), MutexArgs { owner: 5, count: 2 }));
    check_eq!(mutex_state(&m), Ok((5, 1)));
    // Unlocking to zero frees it; `owner` is still not written.
    check_eq!(unlock(5), (Ok(()), MutexArgs { owner: 5, count: 1 }));
    check_eq!(mutex_state(&m), Ok((0, 0)));
    // An unowned mutex is nobody's to unlock.
    check_eq!(
        unlock(5),
        (
            Err(EPERM),
            MutexArgs {
                owner: 5,
                count: POISON
            }
        )
    );
    check_eq!(mutex_state(&m), Ok((0, 0)));
    // And it is free for anyone now.
    let objs = [fd];
    check_eq!(Wait::new(&objs).by(9).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((9, 1)));

    // Readable but not writable: the unlock happens, then EFAULT.
    let n = mutex(&dev, 3, 2)?;
    let page = Pages::read_only(MutexArgs { owner: 3, count: 0 });
    check_eq!(raw(&n, IOC_MUTEX_UNLOCK, page.addr()), Some(EFAULT));
    check_eq!(mutex_state(&n), Ok((3, 1)));
    // EPERM comes before the write-back.
    let other = Pages::read_only(MutexArgs { owner: 4, count: 0 });
    check_eq!(raw(&n, IOC_MUTEX_UNLOCK, other.addr()), Some(EPERM));
    check_eq!(mutex_state(&n), Ok((3, 1)));
    Ok(())
}

/// MUTEX_KILL: errors in order, input only, abandons whatever the recursion count.
fn mutex_kill_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 5, 3)?;
    let fd = m.as_raw_fd();
    check_eq!(raw(&fd, IOC_MUTEX_KILL, 8), Some(EFAULT));
    check_eq!(mutex_kill(&m, 0), Err(EINVAL));
    check_eq!(mutex_kill(&m, 6), Err(EPERM));
    check_eq!(mread(&m), (Ok(()), 5, 3));

    // The argument is input only: a read-only one will do.
    let page = Pages::read_only(5u32);
    check_eq!(ioctl_raw(fd, IOC_MUTEX_KILL, page.addr()), Ok(0));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));
    // Abandoned means unowned: neither the dead owner nor anyone else may kill or unlock it.
    check_eq!(mutex_kill(&m, 5), Err(EPERM));
    check_eq!(mutex_unlock(&m, 5), Err(EPERM));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));

    // An unowned mutex cannot be killed.
    let free = mutex(&dev, 0, 0)?;
    check_eq!(mutex_kill(&free, 1), Err(EPERM));
    check_eq!(mread(&free), (Ok(()), 0, 0));
    Ok(())
}

/// MUTEX_READ: EINVAL before EFAULT before EOWNERDEAD.
fn mutex_read_rules() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 2, 1)?;
    check_eq!(raw(&m, IOC_MUTEX_READ, 8), Some(EFAULT));
    mutex_kill(&m, 2).map_err(|e| format!("MUTEX_KILL: errno {e}"))?;
    check_eq!(raw(&m, IOC_MUTEX_READ, 8), Some(EFAULT));
    let page = Pages::read_only(MutexArgs::default());
    check_eq!(raw(&m, IOC_MUTEX_READ, page.addr()), Some(EFAULT));
    check_eq!(mread(&m), (Err(EOWNERDEAD), 0, 0));
    // Reading does not clear the flag.
    check_eq!(mread(&m).0, Err(EOWNERDEAD));
    let s = sem(&dev, 0, 1)?;
    check_eq!(raw(&s, IOC_MUTEX_READ, 8), Some(EINVAL));
    Ok(())
}

/// A mutex is signaled for its owner and for nobody else; owner ids are opaque.
fn mutex_wait_owner() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 0, 0)?;
    let objs = [m.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(1).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(Wait::new(&objs).by(1).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, 2)));
    check_eq!(Wait::new(&objs).by(2).any(&dev), Err(ETIMEDOUT));
    check_eq!(Wait::new(&objs).by(2).all(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_state(&m), Ok((1, 2)));

    // Any nonzero 32-bit value is an owner, the "negative" ones included.
    let top = mutex(&dev, u32::MAX, 1)?;
    let objs = [top.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(u32::MAX).any(&dev), Ok(0));
    check_eq!(mutex_state(&top), Ok((u32::MAX, 2)));
    check_eq!(Wait::new(&objs).by(0x8000_0000).any(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_unlock(&top, 0x8000_0000), Err(EPERM));
    check_eq!(mutex_unlock(&top, u32::MAX), Ok(2));
    check_eq!(mutex_unlock(&top, u32::MAX), Ok(1));
    check_eq!(Wait::new(&objs).by(0x8000_0000).any(&dev), Ok(0));
    check_eq!(mutex_state(&top), Ok((0x8000_0000, 1)));
    check_eq!(mutex_kill(&top, 0x8000_0000), Ok(()));
    check_eq!(mread(&top).0, Err(EOWNERDEAD));
    Ok(())
}

/// A mutex whose count reached UINT32_MAX is unsignaled even for its owner.
fn mutex_recursion_limit() -> TestResult {
    let dev = dev()?;
    let m = mutex(&dev, 1, u32::MAX - 1)?;
    let objs = [m.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    check_eq!(Wait::new(&objs).any(&dev), Err(ETIMEDOUT));
    check_eq!(Wait::new(&objs).all(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    // Also while the caller sleeps: the wait ends at its deadline.
    check_eq!(Wait::new(&objs).until(in_ms(30)).any(&dev), Err(ETIMEDOUT));
    check_eq!(mutex_unlock(&m, 1), Ok(u32::MAX));
    check_eq!(Wait::new(&objs).any(&dev), Ok(0));
    check_eq!(mutex_state(&m), Ok((1, u32::MAX)));
    Ok(())
}

/// A wait that acquires an abandoned mutex reports EOWNERDEAD with its index, and the mutex
/// is then owned once and no longer abandoned.
fn mutex_abandoned_wait() -> TestResult {
    let dev = dev()?;
    let empty = sem(&dev, 0, 1)?;
    let m = mutex(&dev, 1, 4)?;
    check_eq!(mutex_kill(&m, 1), Ok(()));
    let objs = fds(&[&empty, &m]);
    check_eq!(
        Wait::new(&objs).by(2).outcome(&dev, IOC_WAIT_ANY),
        (Err(EOWNERDEAD), 1)
    );
    check_eq!(mread(&m), (Ok(()), 2, 1));
    // The flag is cleared: the next acquisition is a plain one.
    check_eq!(
        Wait::new(&objs).by(2).outcome(&dev, IOC_WAIT_ANY),
        (Ok(()), 1)
    );
    check_eq!(mutex_state(&m), Ok((2, 2)));
    // Abandoned again; a wait that does not include it leaves the flag alone.
    check_eq!(mutex_kill(&m, 2), Ok(()));
    check_eq!(mutex_unlock(&m, 2), Err(EPERM));
    check_eq!(Wait::new(&objs[..1]).by(3).any(&dev), Err(ETIMEDOUT));
    check_eq!(mread(&m).0, Err(EOWNERDEAD));
    check_eq!(
        Wait::new(&objs[1..]).by(3).outcome(&dev, IOC_WAIT_ANY),
        (Err(EOWNERDEAD), 0)
    );
    check_eq!(mread(&m), (Ok(()), 3, 1));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Events.

fn create_event_rules() -> TestResult {
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
fn event_set_reset() -> TestResult {
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
fn event_pulse_rules() -> TestResult {
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
fn event_wait_consumption() -> TestResult {
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
fn pulse_never_visible() -> TestResult {
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

// ---------------------------------------------------------------------------------------
// Which commands apply where.

/// Commands a file does not know fail with ENOTTY: device commands on objects, object
/// commands on the device, and numbers nobody defines.
fn unknown_ioctls() -> TestResult {
    let dev = dev()?;
    let objs = [
        sem(&dev, 0, 1)?,
        mutex(&dev, 0, 0)?,
        event(&dev, false, false)?,
    ];
    let mut buf = [0u8; 64];
    let ptr = buf.as_mut_ptr() as usize;
    let object_cmds = [
        IOC_SEM_RELEASE,
        IOC_SEM_READ,
        IOC_MUTEX_UNLOCK,
        IOC_MUTEX_KILL,
        IOC_MUTEX_READ,
        IOC_EVENT_SET,
        IOC_EVENT_RESET,
        IOC_EVENT_PULSE,
        IOC_EVENT_READ,
    ];
    let device_cmds = [
        IOC_CREATE_SEM,
        IOC_CREATE_MUTEX,
        IOC_CREATE_EVENT,
        IOC_WAIT_ANY,
        IOC_WAIT_ALL,
    ];
    // Unknown to both: other numbers, and known numbers with another size or direction.
    let foreign = [
        0u32,
        0x4e7f,
        0xc008_4e8e,
        0xc008_4e79,
        0xc004_4e80,
        0x8008_4e80,
        0xc008_4e81,
        0x4004_4e81,
        0xc030_4e82,
        0x8028_4e83,
        0x0000_4e8b,
        0xc008_4e8d,
        0x4008_4d80,
    ];
    for cmd in object_cmds.iter().chain(&foreign) {
        let got = ioctl_raw(dev.as_raw_fd(), *cmd, ptr).err();
        check!(got == Some(ENOTTY), "device, cmd {cmd:#x}: {got:?}");
    }
    for obj in &objs {
        for cmd in device_cmds.iter().chain(&foreign) {
            let got = ioctl_raw(obj.as_raw_fd(), *cmd, ptr).err();
            check!(got == Some(ENOTTY), "object, cmd {cmd:#x}: {got:?}");
        }
    }
    check!(buf.iter().all(|b| *b == 0), "something was written");
    check_eq!(count(&objs[0])?, 0);
    check_eq!(mutex_state(&objs[1]), Ok((0, 0)));
    check_eq!(signaled(&objs[2])?, false);
    Ok(())
}

/// An object command for another kind of object fails with EINVAL, writing and changing
/// nothing; commands that read an argument read it first (EFAULT wins), the others check
/// the kind first (EINVAL wins).
fn kind_mismatch() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 2)?;
    let m = mutex(&dev, 1, 1)?;
    let e = event(&dev, false, true)?;
    let reads_arg = [IOC_SEM_RELEASE, IOC_MUTEX_UNLOCK, IOC_MUTEX_KILL];
    let cmds: [(u32, usize); 9] = [
        (IOC_SEM_RELEASE, 0),
        (IOC_SEM_READ, 0),
        (IOC_MUTEX_UNLOCK, 1),
        (IOC_MUTEX_KILL, 1),
        (IOC_MUTEX_READ, 1),
        (IOC_EVENT_SET, 2),
        (IOC_EVENT_RESET, 2),
        (IOC_EVENT_PULSE, 2),
        (IOC_EVENT_READ, 2),
    ];
    let objs = [&s, &m, &e];
    for (cmd, kind) in cmds {
        for (i, obj) in objs.iter().enumerate() {
            if i == kind {
                continue;
            }
            // Owner 1 for unlock and kill, one unit for a release.
            let mut buf = [1u32, POISON, POISON];
            let got = ioctl(obj.as_raw_fd(), cmd, &mut buf).err();
            check!(
                got == Some(EINVAL),
                "cmd {cmd:#x} on object kind {i}: {got:?}"
            );
            check_eq!(buf, [1u32, POISON, POISON]);
            let want = if reads_arg.contains(&cmd) {
                EFAULT
            } else {
                EINVAL
            };
            let got = raw(*obj, cmd, 8);
            check!(
                got == Some(want),
                "cmd {cmd:#x} on kind {i}, bad pointer: {got:?}"
            );
        }
    }
    check_eq!(sem_read(&s), Ok(sa(1, 2)));
    check_eq!(mread(&m), (Ok(()), 1, 1));
    check_eq!(event_read(&e), Ok(ev(0, 1)));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Wait for any.

/// The lowest signaled index wins, and only that object is acquired.
fn wait_any_lowest_index() -> TestResult {
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
fn wait_any_duplicates() -> TestResult {
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
fn wait_any_alert() -> TestResult {
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
fn wait_any_max_count() -> TestResult {
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

/// An absolute deadline in the near future ends the wait with ETIMEDOUT, not before; one in
/// the past returns at once, after acquiring what it can.
fn wait_any_timeout() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let start = Instant::now();
        check_eq!(
            Wait::new(&objs).until(in_ms(50)).run(&dev, cmd),
            Err(ETIMEDOUT)
        );
        let waited = start.elapsed();
        check!(waited >= Duration::from_millis(50), "woke after {waited:?}");

        for timeout in [0, 1, now_ns(CLOCK_MONOTONIC) - 1000 * MS] {
            let start = Instant::now();
            check_eq!(
                Wait::new(&objs).until(timeout).run(&dev, cmd),
                Err(ETIMEDOUT)
            );
            let waited = start.elapsed();
            check!(waited < Duration::from_secs(1), "returned after {waited:?}");
            sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
            check_eq!(Wait::new(&objs).until(timeout).run(&dev, cmd), Ok(0));
            check_eq!(count(&s)?, 0);
        }
    }
    Ok(())
}

/// NTSYNC_WAIT_REALTIME measures the deadline on CLOCK_REALTIME.
fn wait_realtime() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let wait = |timeout| {
            Wait::new(&objs)
                .flags(WAIT_REALTIME)
                .until(timeout)
                .run(&dev, cmd)
        };
        // First, so that a driver ignoring the flag fails here rather than sleeping for
        // decades below: a monotonic-clock deadline 500 ms ahead is long past on the
        // realtime clock.
        let (mono, real) = (now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME));
        if real > mono + 1000 * 1000 * MS {
            let start = Instant::now();
            check_eq!(wait(mono + 500 * MS), Err(ETIMEDOUT));
            let waited = start.elapsed();
            check!(
                waited < Duration::from_millis(400),
                "returned after {waited:?}"
            );
        }
        let start = Instant::now();
        check_eq!(wait(now_ns(CLOCK_REALTIME) + 50 * MS), Err(ETIMEDOUT));
        let waited = start.elapsed();
        check!(waited >= Duration::from_millis(50), "woke after {waited:?}");
        let start = Instant::now();
        check_eq!(wait(now_ns(CLOCK_REALTIME) - 1000 * MS), Err(ETIMEDOUT));
        check!(start.elapsed() < Duration::from_secs(1));
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
        check_eq!(wait(now_ns(CLOCK_REALTIME) + 1000 * MS), Ok(0));
    }
    Ok(())
}

/// U64_MAX means no deadline, with either clock: the wait sleeps until woken.
fn wait_infinite() -> TestResult {
    let dev = dev()?;
    for (cmd, flags) in [
        (IOC_WAIT_ANY, 0),
        (IOC_WAIT_ANY, WAIT_REALTIME),
        (IOC_WAIT_ALL, 0),
    ] {
        let s = sem(&dev, 0, 1)?;
        let objs = [s.as_raw_fd()];
        let w = Waiter::spawn(&dev, cmd, &Wait::new(&objs).until(INFINITE).flags(flags));
        w.wait_blocked()?;
        w.still_blocked(QUIET)?;
        check_eq!(sem_release(&s, 1), Ok(0));
        check_eq!(w.join(JOIN)?, (Ok(()), 0));
        check_eq!(count(&s)?, 0);
    }
    Ok(())
}

/// The monotonic deadline is read in the caller's time namespace.
fn wait_timens() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let host_before = now_ns(CLOCK_MONOTONIC);
    // SAFETY: The children only make raw syscalls, then _exit().
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: As above.
        unsafe {
            if libc::unshare(libc::CLONE_NEWTIME) != 0 {
                libc::_exit(77);
            }
            // Children of this process see a monotonic clock 100 s ahead.
            let path = c"/proc/self/timens_offsets";
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            let line = b"1 100 0";
            if fd < 0 || libc::write(fd, line.as_ptr().cast(), line.len()) != line.len() as isize {
                libc::_exit(78);
            }
            libc::close(fd);
            let child = libc::fork();
            if child == 0 {
                // A driver that ignores the namespace sleeps 100 s: the alarm ends that.
                libc::alarm(5);
                let start = now_ns(CLOCK_MONOTONIC);
                if start < host_before + 99_000 * MS {
                    libc::_exit(79);
                }
                if Wait::new(&objs).until(start + 200 * MS).any(&dev) != Err(ETIMEDOUT) {
                    libc::_exit(80);
                }
                let waited = now_ns(CLOCK_MONOTONIC) - start;
                libc::_exit(if waited < 200 * MS { 81 } else { 0 });
            }
            let mut status = 0;
            if child < 0 || libc::waitpid(child, &mut status, 0) != child {
                libc::_exit(82);
            }
            libc::_exit(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                83
            });
        }
    }
    check!(pid > 0, "fork: errno {}", errno());
    match wait_child(pid)? {
        0 => Ok(()),
        77 => Err("unshare(CLONE_NEWTIME) failed: no time namespaces".into()),
        79 => Err("the time namespace offset did not apply".into()),
        80 => Err("the wait did not time out".into()),
        81 => Err("the wait returned before its deadline in namespace time".into()),
        83 => Err("the wait slept on the host clock (killed by its 5 s alarm)".into()),
        code => Err(format!("child failed with status {code}")),
    }
}

/// Malformed waits get the documented errno, write nothing and touch no object.
fn wait_validation() -> TestResult {
    let dev = dev()?;
    let other_dev = self::dev()?;
    let s = sem(&dev, 1, 1)?;
    let e = event(&dev, false, true)?;
    let m = mutex(&dev, 0, 0)?;
    let foreign = sem(&other_dev, 1, 1)?;
    let (pipe_rd, _pipe_wr) = pipe()?;
    let good = fds(&[&s, &e, &m]);
    let bad_fds: [(RawFd, &str); 6] = [
        (pipe_rd.as_raw_fd(), "a pipe"),
        (-1, "-1"),
        (0x7fff_0000, "a closed fd"),
        (dev.as_raw_fd(), "this device"),
        (other_dev.as_raw_fd(), "another /dev/ntsync open"),
        (foreign.as_raw_fd(), "an object of another instance"),
    ];
    type Edit = Box<dyn Fn(&mut WaitArgs)>;
    let mut cases: Vec<(String, Edit, i32)> = vec![
        ("pad".into(), Box::new(|a| a.pad = 1), EINVAL),
        (
            "pad high bit".into(),
            Box::new(|a| a.pad = 0x8000_0000),
            EINVAL,
        ),
        ("flags 2".into(), Box::new(|a| a.flags = 2), EINVAL),
        ("flags 3".into(), Box::new(|a| a.flags = 3), EINVAL),
        (
            "flags high bit".into(),
            Box::new(|a| a.flags = 0x8000_0000),
            EINVAL,
        ),
        ("owner 0".into(), Box::new(|a| a.owner = 0), EINVAL),
        ("count 65".into(), Box::new(|a| a.count = 65), EINVAL),
        ("count max".into(), Box::new(|a| a.count = u32::MAX), EINVAL),
        ("objs NULL".into(), Box::new(|a| a.objs = 0), EFAULT),
        ("objs 8".into(), Box::new(|a| a.objs = 8), EFAULT),
        (
            "objs kernel".into(),
            Box::new(|a| a.objs = 0xffff_ffff_ffff_f000),
            EFAULT,
        ),
    ];
    for (fd, what) in bad_fds {
        let mut with_bad = good.clone();
        with_bad.push(fd);
        let ptr = Box::leak(with_bad.into_boxed_slice()).as_ptr() as u64;
        cases.push((
            format!("objs ending with {what}"),
            Box::new(move |a| {
                a.objs = ptr;
                a.count = 4;
            }),
            EINVAL,
        ));
        cases.push((
            format!("alert {what}"),
            Box::new(move |a| a.alert = fd as u32),
            EINVAL,
        ));
    }
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        for (what, edit, want) in &cases {
            let mut args = Wait::new(&good).args();
            edit(&mut args);
            let sent = args;
            let got = ioctl(dev.as_raw_fd(), cmd, &mut args);
            check!(
                got == Err(*want),
                "cmd {cmd:#x}, {what}: {got:?}, expected {want}"
            );
            check!(
                args == sent,
                "cmd {cmd:#x}, {what}: the arguments were written"
            );
        }
        check_eq!(raw(&dev, cmd, 8), Some(EFAULT));
        check_eq!(raw(&dev, cmd, 0), Some(EFAULT));
        // An array that runs into an inaccessible page.
        let pages = Pages::new(2);
        pages.write(PAGE - 4, s.as_raw_fd());
        pages.protect(1, libc::PROT_NONE);
        let mut args = Wait::new(&good).args();
        args.objs = (pages.addr() + PAGE - 4) as u64;
        args.count = 2;
        check_eq!(ioctl(dev.as_raw_fd(), cmd, &mut args), Err(EFAULT));
        args.count = 1;
        check_eq!(ioctl(dev.as_raw_fd(), cmd, &mut args), Ok(0));
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    }
    // Nothing was acquired by any refused wait.
    check_eq!(count(&s)?, 1);
    check_eq!(signaled(&e)?, true);
    check_eq!(mread(&m), (Ok(()), 0, 0));
    check_eq!(count(&foreign)?, 1);
    // An empty array is never read, whatever its address.
    for objs in [0, 8] {
        let mut args = Wait::new(&[]).args();
        args.objs = objs;
        check_eq!(
            ioctl(dev.as_raw_fd(), IOC_WAIT_ANY, &mut args),
            Err(ETIMEDOUT)
        );
        check_eq!(ioctl(dev.as_raw_fd(), IOC_WAIT_ALL, &mut args), Ok(0));
        check_eq!(args.index, 0);
    }
    // The valid waits do take them.
    check_eq!(Wait::new(&good).all(&dev), Ok(0));
    check_eq!(Wait::new(&[]).alert(&foreign).any(&other_dev), Ok(0));
    Ok(())
}

/// The checks come in the documented order.
fn wait_check_order() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 2)?;
    let (pipe_rd, _pipe_wr) = pipe()?;
    let objs = [s.as_raw_fd()];
    let dup = [s.as_raw_fd(), s.as_raw_fd(), pipe_rd.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let try_args = |edit: &dyn Fn(&mut WaitArgs)| {
            let mut args = Wait::new(&objs).args();
            edit(&mut args);
            ioctl(dev.as_raw_fd(), cmd, &mut args).err()
        };
        // pad and flags, owner and count come before reading the array.
        check_eq!(
            try_args(&|a| {
                a.pad = 1;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.flags = 4;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.owner = 0;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| {
                a.count = 65;
                a.objs = 8
            }),
            Some(EINVAL)
        );
        // Reading the array comes before resolving its descriptors and the alert.
        check_eq!(
            try_args(&|a| {
                a.objs = 8;
                a.alert = pipe_rd.as_raw_fd() as u32
            }),
            Some(EFAULT)
        );
        // A signaled object before a bad one is not acquired.
        check_eq!(
            try_args(&|a| {
                a.objs = dup[1..].as_ptr() as u64;
                a.count = 2
            }),
            Some(EINVAL)
        );
        check_eq!(
            try_args(&|a| a.alert = pipe_rd.as_raw_fd() as u32),
            Some(EINVAL)
        );
        // A duplicate is only wrong for wait-all, and still EINVAL with a bad fd after it.
        check_eq!(
            try_args(&|a| {
                a.objs = dup.as_ptr() as u64;
                a.count = 3
            }),
            Some(EINVAL)
        );
    }
    check_eq!(count(&s)?, 1);
    Ok(())
}

/// Only `index` is written, and only when something was acquired.
fn wait_outputs_only() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 1)?;
    let alert = event(&dev, true, false)?;
    let objs = [s.as_raw_fd()];
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let wait = Wait::new(&objs).by(0x1234).alert(&alert);
        let sent = wait.args();
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Ok(()));
        check_eq!(args, WaitArgs { index: 0, ..sent });
        // Timeouts write nothing.
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Err(ETIMEDOUT));
        check_eq!(args, sent);
        let (ret, args) = Wait::new(&objs).until(in_ms(20)).call(&dev, cmd);
        check_eq!(ret, Err(ETIMEDOUT));
        check_eq!(args.index, POISON);
        // The alert: index == count.
        event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
        let (ret, args) = wait.call(&dev, cmd);
        check_eq!(ret, Ok(()));
        check_eq!(args, WaitArgs { index: 1, ..sent });
        event_reset(&alert).map_err(|e| format!("EVENT_RESET: errno {e}"))?;
        sem_release(&s, 1).map_err(|e| format!("SEM_RELEASE: errno {e}"))?;
    }
    Ok(())
}

/// When `index` cannot be written the wait fails with EFAULT, but has acquired its objects.
fn wait_index_fault() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 2, 2)?;
    let m = mutex(&dev, 0, 0)?;
    let alert = event(&dev, false, false)?;
    let objs = fds(&[&s, &m]);
    let run = |cmd, wait: Wait| {
        let page = Pages::read_only(wait.args());
        raw(&dev, cmd, page.addr())
    };
    check_eq!(run(IOC_WAIT_ANY, Wait::new(&objs)), Some(EFAULT));
    check_eq!(count(&s)?, 1);
    check_eq!(run(IOC_WAIT_ALL, Wait::new(&objs).by(2)), Some(EFAULT));
    check_eq!(count(&s)?, 0);
    check_eq!(mutex_state(&m), Ok((2, 1)));
    // Nothing acquired: nothing written, so no fault.
    check_eq!(run(IOC_WAIT_ALL, Wait::new(&objs).by(3)), Some(ETIMEDOUT));
    check_eq!(
        run(IOC_WAIT_ANY, Wait::new(&objs[..1]).until(in_ms(20))),
        Some(ETIMEDOUT)
    );
    // The alert.
    event_set(&alert).map_err(|e| format!("EVENT_SET: errno {e}"))?;
    check_eq!(
        run(IOC_WAIT_ANY, Wait::new(&objs[..1]).alert(&alert)),
        Some(EFAULT)
    );
    check_eq!(signaled(&alert)?, false);
    // EFAULT takes the place of EOWNERDEAD; the mutex is acquired and the flag cleared.
    check_eq!(mutex_kill(&m, 2), Ok(()));
    check_eq!(run(IOC_WAIT_ANY, Wait::new(&objs).by(3)), Some(EFAULT));
    check_eq!(mread(&m), (Ok(()), 3, 1));
    // A woken sleeper too.
    let s2 = sem(&dev, 0, 1)?;
    let one = [s2.as_raw_fd()];
    let wait = Wait::new(&one).until(in_ms(WAKE_MS));
    let page = Pages::read_only(wait.args());
    let addr = page.addr();
    let devc = dev.try_clone().map_err(|e| e.to_string())?;
    let sleeper = thread::spawn(move || raw(&devc, IOC_WAIT_ANY, addr));
    thread::sleep(Duration::from_millis(100));
    check_eq!(sem_release(&s2, 1), Ok(0));
    check_eq!(
        sleeper.join().map_err(|_| "sleeper panicked")?,
        Some(EFAULT)
    );
    check_eq!(count(&s2)?, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Wait for all.

/// All signaled: everything is acquired at once, index 0.
fn wait_all_acquires() -> TestResult {
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
fn wait_all_partial() -> TestResult {
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
fn wait_all_duplicates() -> TestResult {
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
fn wait_all_alert() -> TestResult {
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
fn wait_all_abandoned() -> TestResult {
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

// ---------------------------------------------------------------------------------------
// Waking sleepers.

/// A blocked waiter is woken by a release of its object, not of another one; the release
/// and the acquisition are one step.
fn wake_sem_release() -> TestResult {
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
fn wake_one_of_two() -> TestResult {
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
fn wake_fifo_order() -> TestResult {
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
fn wake_mutex_unlock() -> TestResult {
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
fn wake_mutex_kill() -> TestResult {
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
fn wake_event_set() -> TestResult {
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
fn wake_event_pulse() -> TestResult {
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
fn wake_alert_any() -> TestResult {
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
fn wake_all_sem_event() -> TestResult {
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
fn wake_all_alert() -> TestResult {
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
fn wake_many_objects() -> TestResult {
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
fn wake_all_mutex_kill() -> TestResult {
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
fn wake_all_before_any() -> TestResult {
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
fn wake_release_fault() -> TestResult {
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

/// A signal whose handler lacks SA_RESTART ends a sleeping wait with EINTR, writing and
/// acquiring nothing.
fn signal_eintr() -> TestResult {
    install_handler(SIGUSR1, false);
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let e = event(&dev, false, false)?;
    let objs = fds(&[&s, &e]);
    for cmd in [IOC_WAIT_ANY, IOC_WAIT_ALL] {
        let w = Waiter::spawn(&dev, cmd, &Wait::new(&objs).until(in_ms(WAKE_MS)));
        w.wait_blocked()?;
        w.signal(SIGUSR1);
        check_eq!(w.join(JOIN)?, (Err(EINTR), POISON));
        // Nobody is left waiting: a release and a set stay.
        check_eq!(sem_release(&s, 1), Ok(0));
        check_eq!(event_set(&e), Ok(0));
        check_eq!(count(&s)?, 1);
        check_eq!(signaled(&e)?, true);
        check_eq!(Wait::new(&objs).all(&dev), Ok(0));
    }
    Ok(())
}

/// With SA_RESTART the wait is restarted transparently: still woken by its object, and
/// timing out at its original deadline.
fn signal_restart() -> TestResult {
    install_handler(SIGUSR2, true);
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let objs = [s.as_raw_fd()];
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
    w.signal(SIGUSR2);
    w.still_blocked(QUIET)?;
    w.wait_blocked()?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));

    let start = Instant::now();
    let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(300)))?;
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(50));
        w.signal(SIGUSR2);
    }
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));
    let waited = start.elapsed();
    check!(
        waited >= Duration::from_millis(300),
        "returned after {waited:?}"
    );
    check_eq!(count(&s)?, 0);
    Ok(())
}

/// A signal racing with a release: either the wait acquired the unit and says so, or it was
/// interrupted and the unit is still there. Never both or neither.
fn signal_race() -> TestResult {
    install_handler(SIGUSR1, false);
    let dev = dev()?;
    for i in 0..12 {
        let s = sem(&dev, 0, 1)?;
        let objs = [s.as_raw_fd()];
        let w = Waiter::any(&dev, &Wait::new(&objs).until(in_ms(WAKE_MS)))?;
        if i % 2 == 0 {
            check_eq!(sem_release(&s, 1), Ok(0));
            w.signal(SIGUSR1);
        } else {
            w.signal(SIGUSR1);
            check_eq!(sem_release(&s, 1), Ok(0));
        }
        let outcome = w.join(JOIN)?;
        let left = count(&s)?;
        check!(
            outcome == (Ok(()), 0) && left == 0 || outcome == (Err(EINTR), POISON) && left == 1,
            "round {i}: wait {outcome:?}, {left} unit(s) left"
        );
    }
    Ok(())
}

/// Closing an object's fd while another thread waits on it is safe: the wait still ends at
/// its deadline, or is woken through another descriptor of the object.
fn close_while_waiting() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let w = Waiter::any(&dev, &Wait::new(&[s.as_raw_fd()]).until(in_ms(200)))?;
    drop(s);
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));

    let s = sem(&dev, 0, 1)?;
    let e = event(&dev, false, false)?;
    let dup = s.try_clone().map_err(|e| e.to_string())?;
    let edup = e.try_clone().map_err(|e| e.to_string())?;
    let w = Waiter::any(&dev, &Wait::new(&fds(&[&s, &e])).until(in_ms(WAKE_MS)))?;
    drop(s);
    drop(e);
    w.still_blocked(QUIET)?;
    check_eq!(sem_release(&dup, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&dup)?, 0);
    // Closing the device fd that the wait was issued on is safe too.
    let other = self::dev()?;
    let s = sem(&other, 0, 1)?;
    let w = Waiter::spawn_on(
        other.as_raw_fd(),
        IOC_WAIT_ANY,
        &Wait::new(&[s.as_raw_fd()]).until(in_ms(WAKE_MS)),
    );
    w.wait_blocked()?;
    drop(other);
    w.still_blocked(QUIET)?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&s)?, 0);

    // A wait-all whose semaphore lost its last descriptor: never complete, but harmless.
    let w = Waiter::all(&dev, &Wait::new(&fds(&[&dup, &edup])).until(in_ms(300)))?;
    drop(dup);
    check_eq!(event_set(&edup), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));
    check_eq!(signaled(&edup)?, true);
    Ok(())
}

/// Two objects of one wait-any signaled at the same moment: exactly one is acquired.
fn wait_any_one_of_concurrent() -> TestResult {
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

/// Threads serialised by one mutex, through wait-any and wait-all, never overlap.
fn stress_mutual_exclusion() -> TestResult {
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

/// The rule table names only tests that exist, and every test checks some rule.
fn rule_table() -> TestResult {
    for r in RULES {
        check!(
            !r.tests.is_empty() || r.rule.contains("untestable:"),
            "rule {} has no test",
            r.id
        );
        for t in r.tests {
            check!(
                TESTS.iter().any(|(name, _)| name == t),
                "rule {}: no test {t}",
                r.id
            );
        }
    }
    for (name, _) in TESTS {
        check!(
            RULES.iter().any(|r| r.tests.contains(name)),
            "test {name} checks no rule"
        );
    }
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    check_eq!(ids.len(), RULES.len());
    Ok(())
}

type Test = (&'static str, fn() -> TestResult);

const TESTS: &[Test] = &[
    ("device_node", device_node),
    ("one_module_loaded", one_module_loaded),
    ("abi_layout", abi_layout),
    ("object_fds", object_fds),
    ("device_seek", device_seek),
    ("objects_outlive_device", objects_outlive_device),
    ("object_lifetime_dup_fork", object_lifetime_dup_fork),
    ("object_passed_scm_rights", object_passed_scm_rights),
    ("create_emfile", create_emfile),
    ("outputs_fully_written", outputs_fully_written),
    ("create_sem_rules", create_sem_rules),
    ("sem_read_state", sem_read_state),
    ("sem_release_rules", sem_release_rules),
    ("wait_any_acquires", wait_any_acquires),
    ("create_mutex_rules", create_mutex_rules),
    ("mutex_unlock_rules", mutex_unlock_rules),
    ("mutex_kill_rules", mutex_kill_rules),
    ("mutex_read_rules", mutex_read_rules),
    ("mutex_wait_owner", mutex_wait_owner),
    ("mutex_recursion_limit", mutex_recursion_limit),
    ("mutex_abandoned_wait", mutex_abandoned_wait),
    ("create_event_rules", create_event_rules),
    ("event_set_reset", event_set_reset),
    ("event_pulse_rules", event_pulse_rules),
    ("event_wait_consumption", event_wait_consumption),
    ("pulse_never_visible", pulse_never_visible),
    ("unknown_ioctls", unknown_ioctls),
    ("kind_mismatch", kind_mismatch),
    ("wait_any_lowest_index", wait_any_lowest_index),
    ("wait_any_duplicates", wait_any_duplicates),
    ("wait_any_alert", wait_any_alert),
    ("wait_any_max_count", wait_any_max_count),
    ("wait_any_timeout", wait_any_timeout),
    ("wait_realtime", wait_realtime),
    ("wait_infinite", wait_infinite),
    ("wait_timens", wait_timens),
    ("wait_validation", wait_validation),
    ("wait_check_order", wait_check_order),
    ("wait_outputs_only", wait_outputs_only),
    ("wait_index_fault", wait_index_fault),
    ("wait_all_acquires", wait_all_acquires),
    ("wait_all_partial", wait_all_partial),
    ("wait_all_duplicates", wait_all_duplicates),
    ("wait_all_alert", wait_all_alert),
    ("wait_all_abandoned", wait_all_abandoned),
    ("wake_sem_release", wake_sem_release),
    ("wake_one_of_two", wake_one_of_two),
    ("wake_fifo_order", wake_fifo_order),
    ("wake_mutex_unlock", wake_mutex_unlock),
    ("wake_mutex_kill", wake_mutex_kill),
    ("wake_event_set", wake_event_set),
    ("wake_event_pulse", wake_event_pulse),
    ("wake_alert_any", wake_alert_any),
    ("wake_all_sem_event", wake_all_sem_event),
    ("wake_all_alert", wake_all_alert),
    ("wake_many_objects", wake_many_objects),
    ("wake_all_mutex_kill", wake_all_mutex_kill),
    ("wake_all_before_any", wake_all_before_any),
    ("wake_release_fault", wake_release_fault),
    ("signal_eintr", signal_eintr),
    ("signal_restart", signal_restart),
    ("signal_race", signal_race),
    ("close_while_waiting", close_while_waiting),
    ("wait_any_one_of_concurrent", wait_any_one_of_concurrent),
    ("stress_mutual_exclusion", stress_mutual_exclusion),
    ("rule_table", rule_table),
];

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let failed = tap::run(TESTS, &filter);
    std::process::exit(failed.min(100) as i32);
}
