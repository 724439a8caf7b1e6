// SPDX-License-Identifier: GPL-2.0

//! `/dev/ntsync`: creating objects and waiting on them.

use std::fs::OpenOptions;
use std::os::fd::AsFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::object::owned_fd_type;
use crate::uapi;
use crate::uapi::EventArgs;
use crate::uapi::MutexArgs;
use crate::uapi::SemArgs;
use crate::AsObject;
use crate::Error;
use crate::Event;
use crate::Mutex;
use crate::Result;
use crate::Semaphore;
use crate::Wait;

/// An open `/dev/ntsync`: one independent instance, the NT "machine" that its objects
/// belong to. Objects are created and waited on through it; a wait that names an object of
/// another instance fails with [`Error::InvalidArgument`].
///
/// Objects keep their instance alive, so they stay usable after the `Device` is dropped,
/// but creating objects and waiting need it.
///
/// ```no_run
/// use linux_ntsync::Device;
///
/// let dev = Device::open()?;
/// let sem = dev.create_semaphore(1, 1)?;
/// let mutex = dev.create_mutex(0, 0)?;
/// let got = dev.wait_all(&[&sem, &mutex], 42).run()?;
/// assert!(!got.abandoned);
/// assert_eq!(mutex.read()?.owner, 42);
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
}

owned_fd_type!(Device, "device instance");

impl Device {
    /// Where the driver's device node is.
    pub const PATH: &'static str = "/dev/ntsync";

    /// Opens [`Device::PATH`] (`O_RDONLY | O_CLOEXEC`), creating a new instance.
    ///
    /// # Errors
    ///
    /// [`Error::NoDriver`] if no ntsync driver is loaded; [`Error::PermissionDenied`];
    /// [`Error::TooManyFiles`].
    ///
    /// ```no_run
    /// match linux_ntsync::Device::open() {
    ///     Ok(_) => println!("ntsync is available"),
    ///     Err(linux_ntsync::Error::NoDriver { .. }) => println!("no ntsync driver"),
    ///     Err(e) => println!("cannot open /dev/ntsync: {e}"),
    /// }
    /// ```
    #[inline]
    pub fn open() -> Result<Device> {
        Device::open_path(Device::PATH)
    }

    /// Opens the device node at `path` (`O_RDONLY | O_CLOEXEC`), creating a new instance.
    ///
    /// Any file can be opened this way; if it is not an ntsync device, every call fails
    /// with [`Error::NotNtsync`]:
    ///
    /// ```
    /// let not_ntsync = linux_ntsync::Device::open_path("/dev/null")?;
    /// assert_eq!(
    ///     not_ntsync.create_event(false, false).unwrap_err(),
    ///     linux_ntsync::Error::NotNtsync
    /// );
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Device::open`]; [`Error::InvalidArgument`] if `path` contains a NUL byte.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Device> {
        // The standard library opens every file with O_CLOEXEC.
        let file = OpenOptions::new()
            .read(true)
            .open(path)
            .map_err(|e| Error::from_io(&e))?;
        Ok(Device { fd: file.into() })
    }

    /// Takes ownership of the descriptor that a create command returned.
    #[inline]
    fn adopt<T: From<OwnedFd>>(fd: i32) -> T {
        // SAFETY: A create command returns a new descriptor that nothing else owns.
        T::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Creates a semaphore with the given count and maximum (`NTSYNC_IOC_CREATE_SEM`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `count > max`; [`Error::OutOfMemory`];
    /// [`Error::TooManyFiles`].
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let sem = dev.create_semaphore(2, 10)?;
    /// assert_eq!(sem.read()?.count, 2);
    /// assert_eq!(dev.create_semaphore(3, 2).unwrap_err(), linux_ntsync::Error::InvalidArgument);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn create_semaphore(&self, count: u32, max: u32) -> Result<Semaphore> {
        let mut args = SemArgs { count, max };
        uapi::ioctl(self.fd.as_fd(), uapi::CREATE_SEM, &mut args).map(Device::adopt)
    }

    /// Creates a mutex owned by `owner` with recursion count `count`, or an unowned one if
    /// both are zero (`NTSYNC_IOC_CREATE_MUTEX`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if exactly one of `owner` and `count` is zero;
    /// [`Error::OutOfMemory`]; [`Error::TooManyFiles`].
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let unowned = dev.create_mutex(0, 0)?;
    /// let held = dev.create_mutex(5, 1)?;
    /// assert_eq!(held.read()?.owner, 5);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn create_mutex(&self, owner: u32, count: u32) -> Result<Mutex> {
        let mut args = MutexArgs { owner, count };
        uapi::ioctl(self.fd.as_fd(), uapi::CREATE_MUTEX, &mut args).map(Device::adopt)
    }

    /// Creates a manual-reset (`manual`) or auto-reset event, initially signaled or not
    /// (`NTSYNC_IOC_CREATE_EVENT`).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`]; [`Error::TooManyFiles`].
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(true, false)?;
    /// assert!(event.read()?.manual);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn create_event(&self, manual: bool, signaled: bool) -> Result<Event> {
        let mut args = EventArgs {
            manual: manual.into(),
            signaled: signaled.into(),
        };
        uapi::ioctl(self.fd.as_fd(), uapi::CREATE_EVENT, &mut args).map(Device::adopt)
    }

    /// A wait for any one of `objs` on behalf of `owner` (`NTSYNC_IOC_WAIT_ANY`): the
    /// first object in array order that is signaled for `owner` is acquired, sleeping until
    /// one is. Set an alert or a deadline on the returned [`Wait`], then [`Wait::run`] it
    /// (as often as you like).
    ///
    /// The descriptors are copied now; the objects stay borrowed while the `Wait` lives.
    /// At most [`MAX_WAIT_COUNT`](crate::MAX_WAIT_COUNT) objects: a longer list makes the
    /// wait fail with [`Error::InvalidArgument`] when run, as the driver would.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let dev = linux_ntsync::Device::open()?;
    /// let (a, b) = (dev.create_semaphore(0, 1)?, dev.create_semaphore(1, 1)?);
    /// let got = dev.wait_any(&[&a, &b], 1).timeout(Duration::from_millis(10)).run()?;
    /// assert_eq!(got.index, 1);
    /// let again = dev.wait_any(&[&a, &b], 1).timeout(Duration::ZERO).run();
    /// assert_eq!(again, Err(linux_ntsync::Error::Timeout));
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn wait_any<'a>(&'a self, objs: &[&'a dyn AsObject], owner: u32) -> Wait<'a> {
        Wait::new(self.fd.as_fd(), uapi::WAIT_ANY, objs, owner)
    }

    /// A wait for all of `objs` at once on behalf of `owner` (`NTSYNC_IOC_WAIT_ALL`):
    /// nothing is acquired until every object is signaled for `owner` at the same moment,
    /// and then all are acquired in one atomic step. An object may not occur twice.
    ///
    /// Otherwise as [`Device::wait_any`]; a successful wait-all reports index 0.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let sem = dev.create_semaphore(1, 1)?;
    /// let event = dev.create_event(true, false)?;
    /// let both = dev.wait_all(&[&sem, &event], 1).timeout(std::time::Duration::ZERO);
    /// assert_eq!(both.run(), Err(linux_ntsync::Error::Timeout));
    /// assert_eq!(sem.read()?.count, 1); // a failed wait-all acquires nothing
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn wait_all<'a>(&'a self, objs: &[&'a dyn AsObject], owner: u32) -> Wait<'a> {
        Wait::new(self.fd.as_fd(), uapi::WAIT_ALL, objs, owner)
    }
}
