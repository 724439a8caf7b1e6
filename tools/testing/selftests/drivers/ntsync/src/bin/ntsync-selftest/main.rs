// SPDX-License-Identifier: GPL-2.0

//! Selftest of `/dev/ntsync`, run in the test VM against either driver. TAP on stdout; the
//! exit status is the number of failed tests (capped at 100).
//!
//! Usage: `ntsync-selftest [NAME-SUBSTRING]...`
//!
//! Every rule of `Documentation/userspace-api/ntsync.rst` is listed in [`rules::RULES`] with
//! the tests that check it; the `rule_table` test checks that the table and [`TESTS`] agree.
//! Every blocking wait has a deadline, so that a driver bug fails a test instead of hanging
//! the run.
//!
//! One module per concept; [`TESTS`] keeps the order in which the tests have always run, so
//! that logs and coverage compare across versions.

mod abi;
mod commands;
mod common;
mod device;
mod events;
mod files;
mod mutexes;
mod rules;
mod semaphores;
mod signals;
mod stress;
mod timeouts;
mod wait_all;
mod wait_any;
mod wait_args;
mod wake;

use ntsync_selftests::tap::{self, Test};

const TESTS: &[Test] = &[
    ("device_node", device::device_node),
    ("one_module_loaded", device::one_module_loaded),
    ("abi_layout", abi::abi_layout),
    ("object_fds", files::object_fds),
    ("device_seek", device::device_seek),
    ("objects_outlive_device", files::objects_outlive_device),
    ("object_lifetime_dup_fork", files::object_lifetime_dup_fork),
    ("object_passed_scm_rights", files::object_passed_scm_rights),
    ("create_emfile", files::create_emfile),
    ("outputs_fully_written", abi::outputs_fully_written),
    ("create_sem_rules", semaphores::create_sem_rules),
    ("sem_read_state", semaphores::sem_read_state),
    ("sem_release_rules", semaphores::sem_release_rules),
    ("wait_any_acquires", semaphores::wait_any_acquires),
    ("create_mutex_rules", mutexes::create_mutex_rules),
    ("mutex_unlock_rules", mutexes::mutex_unlock_rules),
    ("mutex_kill_rules", mutexes::mutex_kill_rules),
    ("mutex_read_rules", mutexes::mutex_read_rules),
    ("mutex_wait_owner", mutexes::mutex_wait_owner),
    ("mutex_recursion_limit", mutexes::mutex_recursion_limit),
    ("mutex_abandoned_wait", mutexes::mutex_abandoned_wait),
    ("create_event_rules", events::create_event_rules),
    ("event_set_reset", events::event_set_reset),
    ("event_pulse_rules", events::event_pulse_rules),
    ("event_wait_consumption", events::event_wait_consumption),
    ("pulse_never_visible", events::pulse_never_visible),
    ("unknown_ioctls", commands::unknown_ioctls),
    ("kind_mismatch", commands::kind_mismatch),
    ("wait_any_lowest_index", wait_any::wait_any_lowest_index),
    ("wait_any_duplicates", wait_any::wait_any_duplicates),
    ("wait_any_alert", wait_any::wait_any_alert),
    ("wait_any_max_count", wait_any::wait_any_max_count),
    ("wait_any_timeout", timeouts::wait_any_timeout),
    ("wait_realtime", timeouts::wait_realtime),
    ("wait_infinite", timeouts::wait_infinite),
    ("wait_timens", timeouts::wait_timens),
    ("wait_validation", wait_args::wait_validation),
    ("wait_check_order", wait_args::wait_check_order),
    ("wait_outputs_only", wait_args::wait_outputs_only),
    ("wait_index_fault", wait_args::wait_index_fault),
    ("wait_all_acquires", wait_all::wait_all_acquires),
    ("wait_all_partial", wait_all::wait_all_partial),
    ("wait_all_duplicates", wait_all::wait_all_duplicates),
    ("wait_all_alert", wait_all::wait_all_alert),
    ("wait_all_abandoned", wait_all::wait_all_abandoned),
    ("wake_sem_release", wake::wake_sem_release),
    ("wake_one_of_two", wake::wake_one_of_two),
    ("wake_fifo_order", wake::wake_fifo_order),
    ("wake_mutex_unlock", wake::wake_mutex_unlock),
    ("wake_mutex_kill", wake::wake_mutex_kill),
    ("wake_event_set", wake::wake_event_set),
    ("wake_event_pulse", wake::wake_event_pulse),
    ("wake_alert_any", wake::wake_alert_any),
    ("wake_all_sem_event", wake::wake_all_sem_event),
    ("wake_all_alert", wake::wake_all_alert),
    ("wake_many_objects", wake::wake_many_objects),
    ("wake_all_mutex_kill", wake::wake_all_mutex_kill),
    ("wake_all_before_any", wake::wake_all_before_any),
    ("wake_release_fault", wake::wake_release_fault),
    ("signal_eintr", signals::signal_eintr),
    ("signal_restart", signals::signal_restart),
    ("signal_race", signals::signal_race),
    ("close_while_waiting", files::close_while_waiting),
    (
        "wait_any_one_of_concurrent",
        wait_any::wait_any_one_of_concurrent,
    ),
    ("stress_mutual_exclusion", stress::stress_mutual_exclusion),
    ("rule_table", rules::rule_table),
];

fn main() {
    tap::main(TESTS)
}
