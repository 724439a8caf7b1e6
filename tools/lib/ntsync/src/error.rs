// SPDX-License-Identifier: GPL-2.0

//! The errors of the uAPI, one variant per errno the driver (or opening it) can return.

use std::fmt;
use std::io;

/// A failed ntsync call: the errno, named after what it means for this uAPI.
///
/// Every errno that the driver documents has its own variant; anything else is kept as
/// [`Error::Other`]. [`Error::raw_os_error`] gives the errno back, and an `Error` converts
/// into an [`io::Error`] for `?` in functions that return `io::Result`.
///
/// Two outcomes that the kernel reports as errors are not errors here: a wait that acquires
/// an abandoned mutex succeeds with [`Acquired::abandoned`](crate::Acquired::abandoned) set,
/// and reading an abandoned mutex gives a [`MutexState`](crate::MutexState) with `abandoned`
/// set.
///
/// ```
/// use linux_ntsync::Error;
///
/// let e = Error::from_raw_os_error(libc::EOVERFLOW);
/// assert_eq!(e, Error::Overflow);
/// assert_eq!(e.raw_os_error(), libc::EOVERFLOW);
/// assert_eq!(e.to_string(), "the semaphore's count would exceed its maximum (EOVERFLOW)");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.raw_os_error(), Some(libc::EOVERFLOW));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// `EINVAL`: an argument is out of range (a semaphore count above its maximum, an owner
    /// of zero, more than 64 objects), a wait names a descriptor that is not an ntsync
    /// object of this device, a wait-all names an object twice, or an object command was
    /// sent to an object of another kind.
    InvalidArgument,
    /// `EFAULT`: the driver could not read or write an argument. The safe API never passes
    /// bad memory, so this means a bug in this crate or the driver.
    Fault,
    /// `EOVERFLOW`: releasing a semaphore would take its count above its maximum.
    Overflow,
    /// `EPERM`: unlocking or killing a mutex on behalf of an owner that does not own it.
    NotOwner,
    /// `EOWNERDEAD`: only where the kernel's "acquired an abandoned mutex" cannot be turned
    /// into a success, i.e. from raw errno values; the typed calls never return it.
    OwnerDead,
    /// `ETIMEDOUT`: the wait's deadline passed with nothing acquired.
    Timeout,
    /// `EINTR`: a signal ended the wait (a handler without `SA_RESTART`) with nothing
    /// acquired. The deadline is absolute, so the same wait can simply be run again.
    Interrupted,
    /// `ENOMEM`: the kernel could not allocate memory.
    OutOfMemory,
    /// `EMFILE` (this process's limit) or `ENFILE` (the system's): no file descriptor or
    /// file is left for a new object or for opening the device.
    TooManyFiles {
        /// `true` for `ENFILE`, `false` for `EMFILE`.
        system_wide: bool,
    },
    /// `ENOENT` (there is no device node, the usual sign that no ntsync driver is loaded) or
    /// `ENODEV` (a node with no driver behind it).
    NoDriver {
        /// `true` for `ENOENT`, `false` for `ENODEV`.
        no_node: bool,
    },
    /// `EACCES`: the device node's permissions do not allow opening it.
    PermissionDenied,
    /// `ENOTTY`: the descriptor is not an ntsync file that knows this command, for example
    /// an object descriptor used as the device.
    NotNtsync,
    /// Any other errno.
    Other(i32),
}

impl Error {
    /// The error for `errno`.
    ///
    /// ```
    /// use linux_ntsync::Error;
    ///
    /// assert_eq!(Error::from_raw_os_error(libc::ETIMEDOUT), Error::Timeout);
    /// assert_eq!(
    ///     Error::from_raw_os_error(libc::ENOENT),
    ///     Error::NoDriver { no_node: true }
    /// );
    /// assert_eq!(Error::from_raw_os_error(libc::EBADF), Error::Other(libc::EBADF));
    /// ```
    pub const fn from_raw_os_error(errno: i32) -> Error {
        match errno {
            libc::EINVAL => Error::InvalidArgument,
            libc::EFAULT => Error::Fault,
            libc::EOVERFLOW => Error::Overflow,
            libc::EPERM => Error::NotOwner,
            libc::EOWNERDEAD => Error::OwnerDead,
            libc::ETIMEDOUT => Error::Timeout,
            libc::EINTR => Error::Interrupted,
            libc::ENOMEM => Error::OutOfMemory,
            libc::EMFILE => Error::TooManyFiles { system_wide: false },
            libc::ENFILE => Error::TooManyFiles { system_wide: true },
            libc::ENOENT => Error::NoDriver { no_node: true },
            libc::ENODEV => Error::NoDriver { no_node: false },
            libc::EACCES => Error::PermissionDenied,
            libc::ENOTTY => Error::NotNtsync,
            other => Error::Other(other),
        }
    }

    /// The errno this error stands for.
    ///
    /// ```
    /// use linux_ntsync::Error;
    ///
    /// assert_eq!(Error::NotOwner.raw_os_error(), libc::EPERM);
    /// assert_eq!(Error::Other(libc::EBADF).raw_os_error(), libc::EBADF);
    /// ```
    pub const fn raw_os_error(&self) -> i32 {
        match *self {
            Error::InvalidArgument => libc::EINVAL,
            Error::Fault => libc::EFAULT,
            Error::Overflow => libc::EOVERFLOW,
            Error::NotOwner => libc::EPERM,
            Error::OwnerDead => libc::EOWNERDEAD,
            Error::Timeout => libc::ETIMEDOUT,
            Error::Interrupted => libc::EINTR,
            Error::OutOfMemory => libc::ENOMEM,
            Error::TooManyFiles { system_wide: false } => libc::EMFILE,
            Error::TooManyFiles { system_wide: true } => libc::ENFILE,
            Error::NoDriver { no_node: true } => libc::ENOENT,
            Error::NoDriver { no_node: false } => libc::ENODEV,
            Error::PermissionDenied => libc::EACCES,
            Error::NotNtsync => libc::ENOTTY,
            Error::Other(errno) => errno,
        }
    }

    /// The symbolic name of the errno (`"EINVAL"`), if it is one of those above.
    ///
    /// ```
    /// use linux_ntsync::Error;
    ///
    /// assert_eq!(Error::Timeout.errno_name(), Some("ETIMEDOUT"));
    /// assert_eq!(Error::Other(libc::EBADF).errno_name(), None);
    /// ```
    pub const fn errno_name(&self) -> Option<&'static str> {
        Some(match *self {
            Error::InvalidArgument => "EINVAL",
            Error::Fault => "EFAULT",
            Error::Overflow => "EOVERFLOW",
            Error::NotOwner => "EPERM",
            Error::OwnerDead => "EOWNERDEAD",
            Error::Timeout => "ETIMEDOUT",
            Error::Interrupted => "EINTR",
            Error::OutOfMemory => "ENOMEM",
            Error::TooManyFiles { system_wide: false } => "EMFILE",
            Error::TooManyFiles { system_wide: true } => "ENFILE",
            Error::NoDriver { no_node: true } => "ENOENT",
            Error::NoDriver { no_node: false } => "ENODEV",
            Error::PermissionDenied => "EACCES",
            Error::NotNtsync => "ENOTTY",
            Error::Other(_) => return None,
        })
    }

    /// The error for an [`io::Error`] from opening the device. One without an errno (such as
    /// a path containing a NUL byte) becomes [`Error::InvalidArgument`].
    pub(crate) fn from_io(e: &io::Error) -> Error {
        Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EINVAL))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match *self {
            Error::InvalidArgument => "invalid argument",
            Error::Fault => "bad address",
            Error::Overflow => "the semaphore's count would exceed its maximum",
            Error::NotOwner => "the mutex is not owned by this owner",
            Error::OwnerDead => "the mutex was abandoned",
            Error::Timeout => "the wait timed out",
            Error::Interrupted => "interrupted by a signal",
            Error::OutOfMemory => "out of memory",
            Error::TooManyFiles { system_wide: false } => "too many open files in this process",
            Error::TooManyFiles { system_wide: true } => "too many open files in the system",
            Error::NoDriver { no_node: true } => {
                "no such device node; is the ntsync driver loaded?"
            }
            Error::NoDriver { no_node: false } => "no driver behind the device node",
            Error::PermissionDenied => "permission denied",
            Error::NotNtsync => "not an ntsync file that knows this command",
            Error::Other(errno) => {
                return write!(f, "{} (errno {errno})", io::Error::from_raw_os_error(errno))
            }
        };
        // Every variant but `Other` has a name.
        let name = self.errno_name().unwrap_or("?");
        write!(f, "{what} ({name})")
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTED: [i32; 15] = [
        libc::EINVAL,
        libc::EFAULT,
        libc::EOVERFLOW,
        libc::EPERM,
        libc::EOWNERDEAD,
        libc::ETIMEDOUT,
        libc::EINTR,
        libc::ENOMEM,
        libc::EMFILE,
        libc::ENFILE,
        libc::ENOENT,
        libc::ENODEV,
        libc::EACCES,
        libc::ENOTTY,
        // Not documented, but returned by any ioctl on a closed descriptor.
        libc::EBADF,
    ];

    #[test]
    fn every_errno_round_trips() {
        for errno in DOCUMENTED.into_iter().chain(1..200) {
            let e = Error::from_raw_os_error(errno);
            assert_eq!(e.raw_os_error(), errno, "{e:?}");
            assert_eq!(io::Error::from(e).raw_os_error(), Some(errno));
        }
    }

    #[test]
    fn each_documented_errno_has_its_own_variant() {
        let named: Vec<Error> = DOCUMENTED[..14]
            .iter()
            .map(|&e| Error::from_raw_os_error(e))
            .collect();
        for (i, e) in named.iter().enumerate() {
            assert!(!matches!(e, Error::Other(_)), "{e:?}");
            assert!(!named[..i].contains(e), "{e:?} twice");
        }
        assert_eq!(
            Error::from_raw_os_error(libc::EBADF),
            Error::Other(libc::EBADF)
        );
    }

    #[test]
    fn names_are_the_errno_names() {
        let names = [
            (libc::EINVAL, "EINVAL"),
            (libc::EFAULT, "EFAULT"),
            (libc::EOVERFLOW, "EOVERFLOW"),
            (libc::EPERM, "EPERM"),
            (libc::EOWNERDEAD, "EOWNERDEAD"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::EINTR, "EINTR"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENFILE, "ENFILE"),
            (libc::ENOENT, "ENOENT"),
            (libc::ENODEV, "ENODEV"),
            (libc::EACCES, "EACCES"),
            (libc::ENOTTY, "ENOTTY"),
        ];
        for (errno, name) in names {
            let e = Error::from_raw_os_error(errno);
            assert_eq!(e.errno_name(), Some(name));
            assert!(e.to_string().ends_with(&format!(" ({name})")), "{e}");
        }
    }

    #[test]
    fn other_errors_display_the_system_message() {
        let s = Error::Other(libc::EBADF).to_string();
        assert!(s.contains("errno 9"), "{s}");
        assert!(s.to_lowercase().contains("bad file"), "{s}");
    }

    #[test]
    fn io_errors_without_an_errno_are_invalid_arguments() {
        let e = io::Error::new(io::ErrorKind::InvalidInput, "nul byte");
        assert_eq!(Error::from_io(&e), Error::InvalidArgument);
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(Error::from_io(&e), Error::PermissionDenied);
    }

    #[test]
    fn converts_to_io_error_kinds() {
        assert_eq!(
            io::Error::from(Error::Timeout).kind(),
            io::ErrorKind::TimedOut
        );
        assert_eq!(
            io::Error::from(Error::NoDriver { no_node: true }).kind(),
            io::ErrorKind::NotFound
        );
    }
}
