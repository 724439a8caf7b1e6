// SPDX-License-Identifier: GPL-2.0

//! Host build of the pure NT state core of the ntsync driver.
//!
//! The four files below are the very files the kernel module compiles as modules of its
//! crate; they are included unchanged, at the same module paths, so that their
//! `crate::sem`, `crate::mutex` and `crate::event` references resolve here too. Nothing in
//! this crate is public: it exists for its tests (`cargo test`), which check every NT rule on
//! its own (`unit`) and drive random operation sequences through the core and through an
//! independent reference model (`model`, `prop`).
//!
//! `make check` runs it with its target directory under `build/`. `NTSYNC_CORE_SEQS=N` scales
//! the number of random sequences and `NTSYNC_CORE_SEED=0x...` replays the one sequence a
//! failure names.

// The kernel shell uses items (e.g. `Event::is_manual`) that only some test builds reach, and
// the plain library build uses none: silence dead-code warnings here, never in the core files.
#[allow(dead_code)]
#[path = "../../../../drivers/misc/ntsync/event.rs"]
mod event;
#[allow(dead_code)]
#[path = "../../../../drivers/misc/ntsync/mutex.rs"]
mod mutex;
#[allow(dead_code)]
#[path = "../../../../drivers/misc/ntsync/sem.rs"]
mod sem;
#[allow(dead_code)]
#[path = "../../../../drivers/misc/ntsync/state.rs"]
mod state;

#[cfg(test)]
mod model;
#[cfg(test)]
mod prop;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod unit;
