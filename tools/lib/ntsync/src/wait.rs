// SPDX-License-Identifier: GPL-2.0

//! Waits: the builder that [`Device::wait_any`](crate::Device::wait_any) and
//! [`Device::wait_all`](crate::Device::wait_all) return, deadlines and results.

use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;
use std::os::fd::RawFd;
use std::time::Duration;
use std::time::SystemTime;

use crate::uapi;
use crate::uapi::WaitArgs;
use crate::uapi::MAX_WAIT_COUNT;
use crate::AsObject;
use crate::Error;
use crate::Result;

/// When a wait gives up: an absolute time on `CLOCK_MONOTONIC` or `CLOCK_REALTIME`, in
/// nanoseconds, or never.
///
/// A deadline that has already passed makes the wait acquire whatever it can without
/// sleeping, and fail with [`Error::Timeout`] if that is nothing; `Monotonic(0)` is the
/// cheapest way to ask for that. `u64::MAX` on either clock also means no deadline, as
/// the driver defines it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use linux_ntsync::Deadline;
///
/// assert_eq!(Deadline::default(), Deadline::Infinite);
/// let epoch_plus_5s = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
/// assert_eq!(Deadline::at(epoch_plus_5s), Deadline::Realtime(5_000_000_000));
/// let Deadline::Monotonic(soon) = Deadline::after(Duration::from_millis(10)) else {
///     unreachable!()
/// };
/// assert!(soon > 10_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Deadline {
    /// Wait until something is acquired or a signal interrupts the wait.
    #[default]
    Infinite,
    /// Give up at this `CLOCK_MONOTONIC` time (of the caller's time namespace).
    Monotonic(u64),
    /// Give up at this `CLOCK_REALTIME` time, which follows changes of the system clock.
    Realtime(u64),
}

/// `clock_gettime(clock)` in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids we pass always exist.
    let ret = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(ret, 0);
    // CLOCK_MONOTONIC is never negative, and CLOCK_REALTIME only before 1970.
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds as the driver's `u64`, saturating: `u64::MAX` is no deadline, which is
/// what a deadline more than 584 years away amounts to.
fn saturating_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Deadline {
    /// The `CLOCK_MONOTONIC` deadline `d` from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use linux_ntsync::Deadline;
    ///
    /// let a = Deadline::after(Duration::ZERO);
    /// let b = Deadline::after(Duration::from_secs(1));
    /// match (a, b) {
    ///     (Deadline::Monotonic(a), Deadline::Monotonic(b)) => assert!(b >= a + 1_000_000_000),
    ///     _ => unreachable!(),
    /// }
    /// ```
    pub fn after(d: Duration) -> Deadline {
        Deadline::Monotonic(clock_ns(libc::CLOCK_MONOTONIC).saturating_add(saturating_ns(d)))
    }

    /// The `CLOCK_REALTIME` deadline at wall-clock time `t` (times before 1970 have
    /// already passed).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use linux_ntsync::Deadline;
    ///
    /// let in_a_second = SystemTime::now() + Duration::from_secs(1);
    /// assert!(matches!(Deadline::at(in_a_second), Deadline::Realtime(_)));
    /// assert_eq!(Deadline::at(SystemTime::UNIX_EPOCH), Deadline::Realtime(0));
    /// ```
    pub fn at(t: SystemTime) -> Deadline {
        let since_epoch = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Deadline::Realtime(saturating_ns(since_epoch))
    }

    /// The `timeout` and `flags` fields of `struct ntsync_wait_args`.
    #[inline]
    pub(crate) fn to_raw(self) -> (u64, u32) {
        match self {
            Deadline::Infinite => (u64::MAX, 0),
            Deadline::Monotonic(ns) => (ns, 0),
            Deadline::Realtime(ns) => (ns, uapi::WAIT_REALTIME),
        }
    }
}

/// A successful wait: what was acquired.
///
/// ```
/// let got = linux_ntsync::Acquired { index: 2, abandoned: false, alerted: false };
/// assert_eq!(got.index, 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Acquired {
    /// For a wait-any, the position of the acquired object in the list (its first
    /// position, if it occurs more than once); 0 for a wait-all; the number of objects if
    /// the alert was acquired.
    pub index: usize,
    /// An acquired mutex had been abandoned (the driver's `EOWNERDEAD`). It is now owned
    /// by the waiter with a recursion count of 1 and no longer abandoned. A wait-all does
    /// not tell which of its mutexes it was.
    pub abandoned: bool,
    /// The alert, not the objects, ended the wait (then `index` is the number of objects).
    pub alerted: bool,
}

/// The deadline of a [`Wait`]: fixed, or relative to each run.
#[derive(Clone, Copy, Debug)]
enum When {
    At(Deadline),
    After(Duration),
}

/// A wait, ready to run: made by [`Device::wait_any`](crate::Device::wait_any) or
/// [`Device::wait_all`](crate::Device::wait_all), given an alert or a deadline by the
/// methods below, and run with [`Wait::run`], which makes one ioctl. A `Wait` can be run
/// any number of times.
///
/// ```no_run
/// use std::time::Duration;
/// use linux_ntsync::{Acquired, Deadline, Device, Error};
///
/// let dev = Device::open()?;
/// let work = dev.create_semaphore(0, 100)?;
/// let quit = dev.create_event(true, false)?;
/// let next = dev.wait_any(&[&work], 1).alert(&quit).timeout(Duration::from_secs(1));
/// work.release(1)?;
/// assert_eq!(next.run(), Ok(Acquired { index: 0, abandoned: false, alerted: false }));
/// quit.set()?;
/// assert!(next.run()?.alerted);
/// let stale = dev.wait_any(&[&work], 1).deadline(Deadline::Monotonic(0));
/// assert_eq!(stale.run(), Err(Error::Timeout));
/// # Ok::<(), linux_ntsync::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a wait does nothing until it is run"]
pub struct Wait<'a> {
    device: BorrowedFd<'a>,
    cmd: u32,
    fds: [RawFd; MAX_WAIT_COUNT],
    /// The number of objects, which may exceed `MAX_WAIT_COUNT` (then `run` fails).
    count: usize,
    owner: u32,
    /// The alert's descriptor, or 0 for none, as the driver encodes it.
    alert: u32,
    when: When,
    /// The objects must stay open while their descriptors are in `fds`.
    objects: PhantomData<&'a ()>,
}

impl<'a> Wait<'a> {
    #[inline]
    pub(crate) fn new(
        device: BorrowedFd<'a>,
        cmd: u32,
        objs: &[&'a dyn AsObject],
        owner: u32,
    ) -> Wait<'a> {
        let mut fds = [0; MAX_WAIT_COUNT];
        for (fd, obj) in fds.iter_mut().zip(objs) {
            *fd = obj.as_object_fd().as_raw_fd();
        }
        Wait {
            device,
            cmd,
            fds,
            count: objs.len(),
            owner,
            alert: 0,
            when: When::At(Deadline::Infinite),
            objects: PhantomData,
        }
    }

    /// Also ends the wait when `alert` (normally an event) can be acquired; the objects
    /// take precedence when both can. The result then has `alerted` set.
    ///
    /// The driver encodes "no alert" as descriptor 0, so an object that is open as
    /// descriptor 0 cannot be an alert: with it the wait has none.
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let sem = dev.create_semaphore(0, 1)?;
    /// let alert = dev.create_event(false, true)?;
    /// let got = dev.wait_any(&[&sem], 1).alert(&alert).run()?;
    /// assert_eq!((got.index, got.alerted), (1, true));
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn alert(mut self, alert: &'a (impl AsObject + ?Sized)) -> Wait<'a> {
        self.alert = alert.as_object_fd().as_raw_fd() as u32;
        self
    }

    /// Gives up at `deadline` (by default, never).
    ///
    /// ```no_run
    /// use std::time::{Duration, SystemTime};
    /// use linux_ntsync::{Deadline, Error};
    ///
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(false, false)?;
    /// let at = Deadline::at(SystemTime::now() + Duration::from_millis(5));
    /// assert_eq!(dev.wait_any(&[&event], 1).deadline(at).run(), Err(Error::Timeout));
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn deadline(mut self, deadline: Deadline) -> Wait<'a> {
        self.when = When::At(deadline);
        self
    }

    /// Gives up `timeout` after each [`Wait::run`] starts, on `CLOCK_MONOTONIC`. A zero
    /// timeout polls: the wait acquires what it can without sleeping.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let dev = linux_ntsync::Device::open()?;
    /// let event = dev.create_event(false, false)?;
    /// let poll = dev.wait_any(&[&event], 1).timeout(Duration::ZERO);
    /// assert_eq!(poll.run(), Err(linux_ntsync::Error::Timeout));
    /// event.set()?;
    /// assert_eq!(poll.run()?.index, 0);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn timeout(mut self, timeout: Duration) -> Wait<'a> {
        self.when = if timeout.is_zero() {
            When::At(Deadline::Monotonic(0))
        } else {
            When::After(timeout)
        };
        self
    }

    /// The argument structure of a run starting now.
    #[inline]
    fn args(&self) -> Result<WaitArgs> {
        let Some(fds) = self.fds.get(..self.count) else {
            // The driver refuses more than 64 objects with EINVAL before it reads any.
            return Err(Error::InvalidArgument);
        };
        let deadline = match self.when {
            When::At(deadline) => deadline,
            When::After(timeout) => Deadline::after(timeout),
        };
        let (timeout, flags) = deadline.to_raw();
        Ok(WaitArgs {
            timeout,
            objs: fds.as_ptr() as u64,
            count: fds.len() as u32,
            index: 0,
            flags,
            owner: self.owner,
            alert: self.alert,
            pad: 0,
        })
    }

    /// Runs the wait (one `NTSYNC_IOC_WAIT_ANY` or `NTSYNC_IOC_WAIT_ALL`): sleeps until it
    /// acquires, the deadline passes or a signal arrives.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the deadline passed with nothing acquired;
    /// [`Error::Interrupted`] when a signal handler without `SA_RESTART` ran first (with
    /// `SA_RESTART`, the kernel restarts the wait with the same absolute deadline);
    /// [`Error::InvalidArgument`] if the owner is zero, there are more than 64 objects, an
    /// object is not an ntsync object of this device, or a wait-all names one twice;
    /// [`Error::OutOfMemory`].
    ///
    /// ```no_run
    /// let dev = linux_ntsync::Device::open()?;
    /// let mutex = dev.create_mutex(0, 0)?;
    /// assert_eq!(dev.wait_any(&[&mutex], 0).run(), Err(linux_ntsync::Error::InvalidArgument));
    /// assert_eq!(dev.wait_any(&[&mutex], 9).run()?.index, 0);
    /// # Ok::<(), linux_ntsync::Error>(())
    /// ```
    #[inline]
    pub fn run(&self) -> Result<Acquired> {
        let mut args = self.args()?;
        let abandoned = match uapi::ioctl(self.device, self.cmd, &mut args) {
            Ok(_) => false,
            // The driver returns EOWNERDEAD only for an acquisition, with its index written.
            Err(Error::OwnerDead) => true,
            Err(e) => return Err(e),
        };
        Ok(Acquired {
            index: args.index as usize,
            abandoned,
            alerted: self.alert != 0 && args.index == args.count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;
    use crate::Event;
    use crate::Semaphore;
    use std::fs::File;
    use std::os::fd::OwnedFd;

    fn fd_of(path: &str) -> OwnedFd {
        File::open(path).unwrap().into()
    }

    /// A device and objects backed by /dev/null: enough to build waits on the host.
    fn fixture() -> (Device, Semaphore, Semaphore, Event) {
        (
            Device::from(fd_of("/dev/null")),
            Semaphore::from(fd_of("/dev/null")),
            Semaphore::from(fd_of("/dev/null")),
            Event::from(fd_of("/dev/null")),
        )
    }

    #[test]
    fn deadlines_encode_as_the_driver_defines() {
        assert_eq!(Deadline::Infinite.to_raw(), (u64::MAX, 0));
        assert_eq!(Deadline::Monotonic(0).to_raw(), (0, 0));
        assert_eq!(Deadline::Monotonic(123).to_raw(), (123, 0));
        assert_eq!(Deadline::Realtime(456).to_raw(), (456, 1));
        assert_eq!(Deadline::default(), Deadline::Infinite);
    }

    #[test]
    fn relative_deadlines_are_on_the_monotonic_clock() {
        let before = clock_ns(libc::CLOCK_MONOTONIC);
        let Deadline::Monotonic(at) = Deadline::after(Duration::from_millis(250)) else {
            panic!("not monotonic");
        };
        let after = clock_ns(libc::CLOCK_MONOTONIC);
        assert!(at >= before + 250_000_000 && at <= after + 250_000_000);
    }

    #[test]
    fn far_deadlines_saturate_to_infinite() {
        assert_eq!(
            Deadline::after(Duration::MAX),
            Deadline::Monotonic(u64::MAX)
        );
        assert_eq!(Deadline::Monotonic(u64::MAX).to_raw().0, u64::MAX);
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
        assert_eq!(Deadline::at(far), Deadline::Realtime(u64::MAX));
    }

    #[test]
    fn wall_clock_deadlines_are_on_the_realtime_clock() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(
            Deadline::at(t),
            Deadline::Realtime(1_700_000_000_000_000_005)
        );
        let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Deadline::at(before_epoch), Deadline::Realtime(0));
        let now = clock_ns(libc::CLOCK_REALTIME);
        let Deadline::Realtime(at) = Deadline::at(SystemTime::now()) else {
            panic!("not realtime");
        };
        assert!(at.abs_diff(now) < 1_000_000_000);
    }

    #[test]
    fn wait_arguments_carry_objects_owner_alert_and_deadline() {
        let (dev, a, b, alert) = fixture();
        let wait = dev
            .wait_all(&[&a, &b], 77)
            .alert(&alert)
            .deadline(Deadline::Realtime(99));
        let args = wait.args().unwrap();
        assert_eq!(wait.cmd, uapi::WAIT_ALL);
        assert_eq!(args.count, 2);
        assert_eq!(
            &wait.fds[..2],
            &[a.as_object_fd().as_raw_fd(), b.as_object_fd().as_raw_fd()]
        );
        assert_eq!(args.objs, wait.fds.as_ptr() as u64);
        assert_eq!(args.owner, 77);
        assert_eq!(args.alert, alert.as_object_fd().as_raw_fd() as u32);
        assert_eq!((args.timeout, args.flags, args.pad), (99, 1, 0));

        let any = dev.wait_any(&[&b], 1);
        let args = any.args().unwrap();
        assert_eq!(any.cmd, uapi::WAIT_ANY);
        assert_eq!((args.count, args.alert), (1, 0));
        assert_eq!((args.timeout, args.flags), (u64::MAX, 0));
    }

    #[test]
    fn timeouts_are_taken_when_the_wait_runs() {
        let (dev, a, _, _) = fixture();
        let wait = dev.wait_any(&[&a], 1).timeout(Duration::from_secs(10));
        let first = wait.args().unwrap().timeout;
        std::thread::sleep(Duration::from_millis(20));
        let second = wait.args().unwrap().timeout;
        assert!(second >= first + 20_000_000, "{first} {second}");
        let now = clock_ns(libc::CLOCK_MONOTONIC);
        assert!(second > now && second <= now + 10_000_000_000);
        let poll = dev.wait_any(&[&a], 1).timeout(Duration::ZERO);
        assert_eq!(poll.args().unwrap().timeout, 0);
    }

    #[test]
    fn more_than_64_objects_fail_before_the_call() {
        let (dev, a, _, _) = fixture();
        let objs: Vec<&dyn AsObject> = vec![&a; MAX_WAIT_COUNT + 1];
        assert_eq!(dev.wait_any(&objs, 1).run(), Err(Error::InvalidArgument));
        let objs = &objs[..MAX_WAIT_COUNT];
        assert_eq!(dev.wait_all(objs, 1).args().unwrap().count, 64);
        // The full list reaches the file, which is not ntsync.
        assert_eq!(dev.wait_all(objs, 1).run(), Err(Error::NotNtsync));
    }

    #[test]
    fn calls_on_a_file_that_is_not_ntsync_fail_with_enotty() {
        let (dev, sem, _, event) = fixture();
        let mutex = crate::Mutex::from(fd_of("/dev/null"));
        assert_eq!(dev.create_semaphore(1, 1).unwrap_err(), Error::NotNtsync);
        assert_eq!(dev.create_mutex(0, 0).unwrap_err(), Error::NotNtsync);
        assert_eq!(dev.create_event(true, true).unwrap_err(), Error::NotNtsync);
        assert_eq!(sem.release(1), Err(Error::NotNtsync));
        assert_eq!(sem.read(), Err(Error::NotNtsync));
        assert_eq!(mutex.unlock(1), Err(Error::NotNtsync));
        assert_eq!(mutex.kill(1), Err(Error::NotNtsync));
        assert_eq!(mutex.read(), Err(Error::NotNtsync));
        assert_eq!(event.set(), Err(Error::NotNtsync));
        assert_eq!(event.reset(), Err(Error::NotNtsync));
        assert_eq!(event.pulse(), Err(Error::NotNtsync));
        assert_eq!(event.read(), Err(Error::NotNtsync));
        assert_eq!(dev.wait_any(&[&sem], 1).run(), Err(Error::NotNtsync));
    }
}
