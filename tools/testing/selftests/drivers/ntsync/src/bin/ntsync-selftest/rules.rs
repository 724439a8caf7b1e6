// SPDX-License-Identifier: GPL-2.0

//! The rules of `Documentation/userspace-api/ntsync.rst` and the tests that check each one.

use crate::TESTS;
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;

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

/// The rule table names only tests that exist, and every test checks some rule.
pub(crate) fn rule_table() -> TestResult {
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
