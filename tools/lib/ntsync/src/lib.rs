// SPDX-License-Identifier: GPL-2.0

//! Safe, thin bindings to `/dev/ntsync`, the Linux driver that gives NT emulators such as
//! Wine the Windows synchronization primitives: semaphores, mutexes (recursive, with
//! owners, and abandoned when their owner dies) and auto- and manual-reset events, with
//! wait-for-any and atomic wait-for-all, alerts and absolute deadlines.
//!
//! Every call is one ioctl(2) on a `#[repr(C)]` mirror of the structures in
//! `include/uapi/linux/ntsync.h`; the semantics and errors are those of
//! `Documentation/userspace-api/ntsync.rst`.
//!
//! ```no_run
//! use std::time::Duration;
//! use linux_ntsync::{Device, Error};
//!
//! let dev = Device::open()?;
//! let items = dev.create_semaphore(0, 10)?;
//! let lock = dev.create_mutex(0, 0)?;
//! let shutdown = dev.create_event(true, false)?;
//!
//! items.release(1)?;
//! // Take an item and the lock together, on behalf of owner 1 (a thread id, say).
//! let got = dev
//!     .wait_all(&[&items, &lock], 1)
//!     .alert(&shutdown)
//!     .timeout(Duration::from_secs(1))
//!     .run()?;
//! assert!(!got.alerted);
//! assert_eq!(lock.unlock(1)?, 1);
//! match dev.wait_any(&[&items], 1).timeout(Duration::ZERO).run() {
//!     Err(Error::Timeout) => println!("no more items"),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Error>(())
//! ```
//!
//! Objects are files: each [`Semaphore`], [`Mutex`] and [`Event`] owns the descriptor the
//! driver returned for it, closes it when dropped, and converts to and from [`OwnedFd`]
//! so it can be passed to another process with fork(2) or `SCM_RIGHTS`:
//!
//! ```
//! use std::os::fd::OwnedFd;
//! use linux_ntsync::Semaphore;
//!
//! fn send(sem: Semaphore) -> OwnedFd {
//!     sem.into()
//! }
//! fn receive(fd: OwnedFd) -> Semaphore {
//!     Semaphore::from(fd)
//! }
//! # let null: OwnedFd = std::fs::File::open("/dev/null")?.into();
//! # let _ = send(receive(null));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`OwnedFd`]: std::os::fd::OwnedFd

#![warn(missing_docs)]

mod device;
mod error;
mod object;
mod uapi;
mod wait;

pub use device::Device;
pub use error::Error;
pub use object::AsObject;
pub use object::Event;
pub use object::EventState;
pub use object::Mutex;
pub use object::MutexState;
pub use object::Semaphore;
pub use object::SemaphoreState;
pub use uapi::MAX_WAIT_COUNT;
pub use wait::Acquired;
pub use wait::Deadline;
pub use wait::Wait;

/// The result of an ntsync call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// The README's example is compiled with the doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
