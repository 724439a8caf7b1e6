// SPDX-License-Identifier: GPL-2.0

//! The three kinds of object, each an owned descriptor of the anonymous file the driver
//! created for it.

use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

use crate::uapi;
use crate::uapi::EventArgs;
use crate::uapi::MutexArgs;
use crate::uapi::SemArgs;
use crate::Error;
use crate::Result;

/// An ntsync object that a wait can name: a [`Semaphore`], a [`Mutex`] or an [`Event`].
///
/// Waits take their objects as `&[&dyn AsObject]`, so one wait can mix kinds. Implement it
/// for a type of your own that holds an object to let waits name that type directly.
///
/// ```no_run
/// use linux_ntsync::AsObject;
/// use linux_ntsync::Device;
///
/// let dev = Device::open()?;
/// let sem = dev.create_semaphore(0, 1)?;
/// let event = dev.create_event(false, true)?;
/// let objs: [&dyn AsObject; 2] = [&sem, &event];
/// assert_eq!(dev.wait_any(&objs, 1).run()?.index, 1);
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
pub trait AsObject {
    /// The object's descriptor, which the wait passes to the driver.
    fn as_object_fd(&self) -> BorrowedFd<'_>;
}

impl<T: AsObject + ?Sized> AsObject for &T {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        (**self).as_object_fd()
    }
}

impl<T: AsObject + ?Sized> AsObject for Box<T> {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        (**self).as_object_fd()
    }
}

impl<T: AsObject + ?Sized> AsObject for Rc<T> {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        (**self).as_object_fd()
    }
}

impl<T: AsObject + ?Sized> AsObject for Arc<T> {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        (**self).as_object_fd()
    }
}

/// The descriptor traits that let an object (or the device) be passed on with fork(2) or
/// `SCM_RIGHTS` and rebuilt on the other side: `AsFd`, `AsRawFd`, `IntoRawFd`, `FromRawFd`,
/// `From<OwnedFd>` and `From<T> for OwnedFd`, plus `try_clone`.
macro_rules! owned_fd_type {
    ($t:ident, $what:literal) => {
        impl $t {
            #[doc = concat!("A second descriptor for the same ", $what, " (dup(2)), with `O_CLOEXEC`.")]
            ///
            /// # Errors
            ///
            /// [`Error::TooManyFiles`](crate::Error::TooManyFiles) if no descriptor is left.
            #[inline]
            pub fn try_clone(&self) -> $crate::Result<$t> {
                self.fd
                    .try_clone()
                    .map(|fd| $t { fd })
                    .map_err(|e| $crate::Error::from_io(&e))
            }
        }

        impl ::std::os::fd::AsFd for $t {
            #[inline]
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl ::std::os::fd::AsRawFd for $t {
            #[inline]
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.fd.as_raw_fd()
            }
        }

        impl ::std::os::fd::IntoRawFd for $t {
            #[inline]
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                self.fd.into_raw_fd()
            }
        }

        impl ::std::os::fd::FromRawFd for $t {
            /// # Safety
            ///
            /// `fd` must be an open descriptor that nothing else owns, as for
            /// [`OwnedFd::from_raw_fd`](std::os::fd::OwnedFd).
            #[inline]
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $t {
                // SAFETY: The caller guarantees what `OwnedFd::from_raw_fd` requires.
                let fd = unsafe { ::std::os::fd::OwnedFd::from_raw_fd(fd) };
                $t { fd }
            }
        }

        impl From<::std::os::fd::OwnedFd> for $t {
            /// Takes a descriptor received from elsewhere (fork(2), `SCM_RIGHTS`). Nothing
            /// is checked: if it is not of this kind, every call fails with
            /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) or
            /// [`Error::NotNtsync`](crate::Error::NotNtsync).
            #[inline]
            fn from(fd: ::std::os::fd::OwnedFd) -> $t {
                $t { fd }
            }
        }

        impl From<$t> for ::std::os::fd::OwnedFd {
            #[inline]
            fn from(t: $t) -> ::std::os::fd::OwnedFd {
                t.fd
            }
        }
    };
}

pub(crate) use owned_fd_type;

/// A semaphore: a count, signaled while nonzero, and a maximum, both fixed at creation
/// subject to `count <= max`. Each acquisition takes one unit.
///
/// Created by [`Device::create_semaphore`](crate::Device::create_semaphore).
///
/// ```no_run
/// let dev = linux_ntsync::Device::open()?;
/// let sem = dev.create_semaphore(0, 2)?;
/// assert_eq!(sem.release(2)?, 0);
/// assert_eq!(dev.wait_any(&[&sem], 1).run()?.index, 0);
/// assert_eq!(sem.read()?, linux_ntsync::SemaphoreState { count: 1, max: 2 });
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    pub(crate) fd: OwnedFd,
}

owned_fd_type!(Semaphore, "semaphore");

/// A semaphore's state, as [`Semaphore::read`] returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SemaphoreState {
    /// The current count.
    pub count: u32,
    /// The maximum count.
    pub max: u32,
}

impl Semaphore {
    /// Adds `n` to the count (`NTSYNC_IOC_SEM_RELEASE`), waking waiters that this
    /// satisfies, and returns the previous count.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if the count would exceed the maximum; the semaphore is left
    /// unchanged.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let sem = dev.create_semaphore(1, 2)?;
    /// assert_eq!(sem.release(1)?, 1);
    /// assert_eq!(sem.release(1), Err(linux_ntsync::Error::Overflow));
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn release(&self, n: u32) -> Result<u32> {
        let mut arg = n;
        uapi::ioctl(self.fd.as_fd(), uapi::SEM_RELEASE, &mut arg)?;
        Ok(arg)
    }

    /// The current count and maximum (`NTSYNC_IOC_SEM_READ`).
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let sem = dev.create_semaphore(1, 5)?;
    /// let state = sem.read()?;
    /// assert_eq!((state.count, state.max), (1, 5));
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn read(&self) -> Result<SemaphoreState> {
        let mut args = SemArgs::default();
        uapi::ioctl(self.fd.as_fd(), uapi::SEM_READ, &mut args)?;
        Ok(SemaphoreState {
            count: args.count,
            max: args.max,
        })
    }
}

impl AsObject for Semaphore {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A recursive mutex: an owner (zero when unowned) and a recursion count. It is signaled
/// for an owner that holds it or when unowned; acquiring it makes the waiter's owner the
/// owner and adds one to the count.
///
/// Owners are numbers that the caller chooses (Wine uses thread ids); zero means nobody.
/// The driver does not watch threads: [`Mutex::kill`] reports that an owner died, which
/// leaves the mutex unowned and *abandoned*, and the next wait that acquires it learns so
/// through [`Acquired::abandoned`](crate::Acquired::abandoned).
///
/// Created by [`Device::create_mutex`](crate::Device::create_mutex).
///
/// ```no_run
/// let dev = linux_ntsync::Device::open()?;
/// let mutex = dev.create_mutex(0, 0)?;
/// dev.wait_any(&[&mutex], 7).run()?;
/// dev.wait_any(&[&mutex], 7).run()?;
/// assert_eq!(mutex.unlock(7)?, 2);
/// mutex.kill(7)?;
/// let got = dev.wait_any(&[&mutex], 8).run()?;
/// assert!(got.abandoned);
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
#[derive(Debug)]
pub struct Mutex {
    pub(crate) fd: OwnedFd,
}

owned_fd_type!(Mutex, "mutex");

/// A mutex's state, as [`Mutex::read`] returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MutexState {
    /// The owner, or zero if the mutex is unowned.
    pub owner: u32,
    /// The recursion count, zero exactly when unowned.
    pub count: u32,
    /// Whether the last owner was killed while holding it (then owner and count are zero),
    /// and no wait has acquired it since.
    pub abandoned: bool,
}

impl Mutex {
    /// Releases one level of the mutex on behalf of `owner` (`NTSYNC_IOC_MUTEX_UNLOCK`) and
    /// returns the previous recursion count. At zero the mutex becomes unowned and wakes
    /// its waiters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `owner` is zero; [`Error::NotOwner`] if `owner` does
    /// not hold the mutex.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let mutex = dev.create_mutex(3, 1)?;
    /// assert_eq!(mutex.unlock(4), Err(linux_ntsync::Error::NotOwner));
    /// assert_eq!(mutex.unlock(3)?, 1);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn unlock(&self, owner: u32) -> Result<u32> {
        let mut args = MutexArgs { owner, count: 0 };
        uapi::ioctl(self.fd.as_fd(), uapi::MUTEX_UNLOCK, &mut args)?;
        Ok(args.count)
    }

    /// Reports that `owner` died (`NTSYNC_IOC_MUTEX_KILL`): if it holds the mutex, the
    /// mutex becomes unowned and abandoned, whatever its recursion count, and wakes its
    /// waiters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `owner` is zero; [`Error::NotOwner`] if `owner` does
    /// not hold the mutex.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let mutex = dev.create_mutex(3, 5)?;
    /// mutex.kill(3)?;
    /// let state = mutex.read()?;
    /// assert!(state.abandoned && state.owner == 0 && state.count == 0);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn kill(&self, owner: u32) -> Result<()> {
        let mut arg = owner;
        uapi::ioctl(self.fd.as_fd(), uapi::MUTEX_KILL, &mut arg)?;
        Ok(())
    }

    /// The owner, recursion count and abandoned flag (`NTSYNC_IOC_MUTEX_READ`). Reading
    /// does not clear the flag; only a wait that acquires the mutex does.
    ///
    /// The driver reports an abandoned mutex as the error `EOWNERDEAD` with the state
    /// filled in; here that is a success with [`MutexState::abandoned`] set.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let mutex = dev.create_mutex(3, 2)?;
    /// let state = mutex.read()?;
    /// assert_eq!(state, linux_ntsync::MutexState { owner: 3, count: 2, abandoned: false });
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn read(&self) -> Result<MutexState> {
        let mut args = MutexArgs::default();
        let abandoned = match uapi::ioctl(self.fd.as_fd(), uapi::MUTEX_READ, &mut args) {
            Ok(_) => false,
            Err(Error::OwnerDead) => true,
            Err(e) => return Err(e),
        };
        Ok(MutexState {
            owner: args.owner,
            count: args.count,
            abandoned,
        })
    }
}

impl AsObject for Mutex {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An event: a signaled flag and a type fixed at creation. Acquiring an auto-reset event
/// unsignals it, so each [`Event::set`] lets one waiter through; a manual-reset event stays
/// signaled until [`Event::reset`].
///
/// Created by [`Device::create_event`](crate::Device::create_event).
///
/// ```no_run
/// let dev = linux_ntsync::Device::open()?;
/// let event = dev.create_event(false, false)?;
/// assert!(!event.set()?);
/// dev.wait_any(&[&event], 1).run()?;
/// assert!(!event.read()?.signaled);
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
#[derive(Debug)]
pub struct Event {
    pub(crate) fd: OwnedFd,
}

owned_fd_type!(Event, "event");

/// An event's state, as [`Event::read`] returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventState {
    /// `true` for a manual-reset event, `false` for an auto-reset one.
    pub manual: bool,
    /// Whether the event is signaled.
    pub signaled: bool,
}

impl Event {
    #[inline]
    fn op(&self, cmd: u32) -> Result<bool> {
        let mut prev = 0u32;
        uapi::ioctl(self.fd.as_fd(), cmd, &mut prev)?;
        Ok(prev != 0)
    }

    /// Signals the event (`NTSYNC_IOC_EVENT_SET`) and wakes the waiters that this
    /// satisfies; returns whether it was signaled before.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(true, false)?;
    /// assert!(!event.set()?);
    /// assert!(event.set()?);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn set(&self) -> Result<bool> {
        self.op(uapi::EVENT_SET)
    }

    /// Unsignals the event (`NTSYNC_IOC_EVENT_RESET`); returns whether it was signaled
    /// before.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(true, true)?;
    /// assert!(event.reset()?);
    /// assert!(!event.read()?.signaled);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn reset(&self) -> Result<bool> {
        self.op(uapi::EVENT_RESET)
    }

    /// Signals the event, wakes the waiters this satisfies (all current waiters of a manual
    /// event, at most one of an auto event) and unsignals it, as one atomic step
    /// (`NTSYNC_IOC_EVENT_PULSE`); returns whether it was signaled before.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(true, false)?;
    /// assert!(!event.pulse()?);
    /// assert!(!event.read()?.signaled);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn pulse(&self) -> Result<bool> {
        self.op(uapi::EVENT_PULSE)
    }

    /// The type and state of the event (`NTSYNC_IOC_EVENT_READ`).
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(true, false)?;
    /// assert_eq!(event.read()?, linux_ntsync::EventState { manual: true, signaled: false });
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn read(&self) -> Result<EventState> {
        let mut args = EventArgs::default();
        uapi::ioctl(self.fd.as_fd(), uapi::EVENT_READ, &mut args)?;
        Ok(EventState {
            manual: args.manual != 0,
            signaled: args.signaled != 0,
        })
    }
}

impl AsObject for Event {
    #[inline]
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
