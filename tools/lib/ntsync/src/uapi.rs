// SPDX-License-Identifier: GPL-2.0

//! The ABI of `include/uapi/linux/ntsync.h`, mirrored field for field, and the one place
//! that calls ioctl(2).
//!
//! The structures' sizes and offsets are checked at compile time below; the unit tests also
//! read the header itself and compare every structure and command number with this file.

use core::mem::offset_of;
use core::mem::size_of;
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;

use crate::Error;
use crate::Result;

/// `struct ntsync_sem_args`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SemArgs {
    pub(crate) count: u32,
    pub(crate) max: u32,
}

/// `struct ntsync_mutex_args`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MutexArgs {
    pub(crate) owner: u32,
    pub(crate) count: u32,
}

/// `struct ntsync_event_args`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventArgs {
    pub(crate) manual: u32,
    pub(crate) signaled: u32,
}

/// `struct ntsync_wait_args`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitArgs {
    pub(crate) timeout: u64,
    pub(crate) objs: u64,
    pub(crate) count: u32,
    pub(crate) index: u32,
    pub(crate) flags: u32,
    pub(crate) owner: u32,
    pub(crate) alert: u32,
    pub(crate) pad: u32,
}

const _: () = {
    assert!(size_of::<SemArgs>() == 8);
    assert!(offset_of!(SemArgs, count) == 0);
    assert!(offset_of!(SemArgs, max) == 4);
    assert!(size_of::<MutexArgs>() == 8);
    assert!(offset_of!(MutexArgs, owner) == 0);
    assert!(offset_of!(MutexArgs, count) == 4);
    assert!(size_of::<EventArgs>() == 8);
    assert!(offset_of!(EventArgs, manual) == 0);
    assert!(offset_of!(EventArgs, signaled) == 4);
    assert!(size_of::<WaitArgs>() == 40);
    assert!(offset_of!(WaitArgs, timeout) == 0);
    assert!(offset_of!(WaitArgs, objs) == 8);
    assert!(offset_of!(WaitArgs, count) == 16);
    assert!(offset_of!(WaitArgs, index) == 20);
    assert!(offset_of!(WaitArgs, flags) == 24);
    assert!(offset_of!(WaitArgs, owner) == 28);
    assert!(offset_of!(WaitArgs, alert) == 32);
    assert!(offset_of!(WaitArgs, pad) == 36);
};

/// `NTSYNC_WAIT_REALTIME`.
pub(crate) const WAIT_REALTIME: u32 = 0x1;

/// The most objects one wait can name, besides its alert (`NTSYNC_MAX_WAIT_COUNT`).
pub const MAX_WAIT_COUNT: usize = 64;

// The encoding below is asm-generic/ioctl.h's; these architectures define their own.
#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
compile_error!("ntsync: the ioctl encoding of this architecture is not implemented");

/// `_IOC(dir, 'N', nr, size)` of asm-generic/ioctl.h.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'N' as u32) << 8) | nr
}

const W: u32 = 1;
const R: u32 = 2;
const RW: u32 = W | R;

pub(crate) const CREATE_SEM: u32 = ioc(W, 0x80, size_of::<SemArgs>());
pub(crate) const SEM_RELEASE: u32 = ioc(RW, 0x81, size_of::<u32>());
pub(crate) const WAIT_ANY: u32 = ioc(RW, 0x82, size_of::<WaitArgs>());
pub(crate) const WAIT_ALL: u32 = ioc(RW, 0x83, size_of::<WaitArgs>());
pub(crate) const CREATE_MUTEX: u32 = ioc(W, 0x84, size_of::<MutexArgs>());
pub(crate) const MUTEX_UNLOCK: u32 = ioc(RW, 0x85, size_of::<MutexArgs>());
pub(crate) const MUTEX_KILL: u32 = ioc(W, 0x86, size_of::<u32>());
pub(crate) const CREATE_EVENT: u32 = ioc(W, 0x87, size_of::<EventArgs>());
pub(crate) const EVENT_SET: u32 = ioc(R, 0x88, size_of::<u32>());
pub(crate) const EVENT_RESET: u32 = ioc(R, 0x89, size_of::<u32>());
pub(crate) const EVENT_PULSE: u32 = ioc(R, 0x8a, size_of::<u32>());
pub(crate) const SEM_READ: u32 = ioc(R, 0x8b, size_of::<SemArgs>());
pub(crate) const MUTEX_READ: u32 = ioc(R, 0x8c, size_of::<MutexArgs>());
pub(crate) const EVENT_READ: u32 = ioc(R, 0x8d, size_of::<EventArgs>());

/// The argument types of the commands: `#[repr(C)]` plain data of the header's layout.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` structures (or integers) made of integer fields only,
/// so that the driver may read and write them as the bytes the header describes.
pub(crate) unsafe trait IoctlArg {}

// SAFETY: Each is a `#[repr(C)]` mirror of a header structure with `u32`/`u64` fields only,
// whose size and offsets are checked above.
unsafe impl IoctlArg for SemArgs {}
// SAFETY: As above.
unsafe impl IoctlArg for MutexArgs {}
// SAFETY: As above.
unsafe impl IoctlArg for EventArgs {}
// SAFETY: As above.
unsafe impl IoctlArg for WaitArgs {}
// SAFETY: The commands that take a `__u32 *` read and write exactly four bytes.
unsafe impl IoctlArg for u32 {}

/// `ioctl(fd, cmd, arg)`: the nonnegative return value, or the errno as an [`Error`].
#[inline]
pub(crate) fn ioctl<T: IoctlArg>(fd: BorrowedFd<'_>, cmd: u32, arg: &mut T) -> Result<i32> {
    // SAFETY: `arg` is valid for reads and writes of `size_of::<T>()` bytes, the size that
    // `cmd` encodes, and we hold it exclusively for the call. Every bit pattern is a valid
    // `T` (`IoctlArg`), so whatever the kernel writes there leaves it valid. The kernel
    // reaches any other memory (a wait's descriptor array) only through user copies, which
    // fail with EFAULT rather than touch memory that is not mapped.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as libc::Ioctl, arg as *mut T) };
    if ret < 0 {
        Err(last_error())
    } else {
        Ok(ret)
    }
}

/// The errno of the failed call just made, as an [`Error`].
#[inline]
pub(crate) fn last_error() -> Error {
    Error::from_io(&io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    // A link to include/uapi/linux/ntsync.h in the source tree; the published crate carries
    // a copy of the header it was published with.
    const HEADER: &str = include_str!("../ntsync.h");

    /// Each `struct NAME { ... };` of the header: its fields as (type, name).
    fn header_structs() -> HashMap<String, Vec<(String, String)>> {
        let mut structs = HashMap::new();
        let mut rest = HEADER;
        while let Some(start) = rest.find("struct ") {
            rest = &rest[start + "struct ".len()..];
            let Some(open) = rest.find('{') else { break };
            let name = rest[..open].trim();
            let close = rest.find("};").expect("unterminated struct");
            if name.contains(char::is_whitespace) || close < open {
                // `struct x` used as a macro argument, not a definition.
                continue;
            }
            let fields = rest[open + 1..close]
                .split(';')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(|f| {
                    let (ty, name) = f.rsplit_once(char::is_whitespace).unwrap();
                    (ty.trim().to_string(), name.to_string())
                })
                .collect();
            structs.insert(name.to_string(), fields);
            rest = &rest[close..];
        }
        structs
    }

    /// Size and (field name, offset) list of a header structure, by the C layout rules.
    fn c_layout(fields: &[(String, String)]) -> (usize, Vec<(String, usize)>) {
        let mut off: usize = 0;
        let mut align: usize = 1;
        let mut out = Vec::new();
        for (ty, name) in fields {
            let size = match ty.as_str() {
                "__u32" => 4,
                "__u64" => 8,
                other => panic!("unexpected field type {other}"),
            };
            off = off.next_multiple_of(size);
            align = align.max(size);
            out.push((name.clone(), off));
            off += size;
        }
        (off.next_multiple_of(align), out)
    }

    #[test]
    fn structures_match_the_header() {
        let structs = header_structs();
        // (name, size, [(field, offset)]) of each of our mirrors.
        type Layout = (&'static str, usize, Vec<(&'static str, usize)>);
        let ours: [Layout; 4] = [
            (
                "ntsync_sem_args",
                size_of::<SemArgs>(),
                vec![
                    ("count", offset_of!(SemArgs, count)),
                    ("max", offset_of!(SemArgs, max)),
                ],
            ),
            (
                "ntsync_mutex_args",
                size_of::<MutexArgs>(),
                vec![
                    ("owner", offset_of!(MutexArgs, owner)),
                    ("count", offset_of!(MutexArgs, count)),
                ],
            ),
            (
                "ntsync_event_args",
                size_of::<EventArgs>(),
                vec![
                    ("manual", offset_of!(EventArgs, manual)),
                    ("signaled", offset_of!(EventArgs, signaled)),
                ],
            ),
            (
                "ntsync_wait_args",
                size_of::<WaitArgs>(),
                vec![
                    ("timeout", offset_of!(WaitArgs, timeout)),
                    ("objs", offset_of!(WaitArgs, objs)),
                    ("count", offset_of!(WaitArgs, count)),
                    ("index", offset_of!(WaitArgs, index)),
                    ("flags", offset_of!(WaitArgs, flags)),
                    ("owner", offset_of!(WaitArgs, owner)),
                    ("alert", offset_of!(WaitArgs, alert)),
                    ("pad", offset_of!(WaitArgs, pad)),
                ],
            ),
        ];
        assert_eq!(structs.len(), ours.len(), "header structs: {structs:?}");
        for (name, size, fields) in ours {
            let (c_size, c_fields) = c_layout(&structs[name]);
            assert_eq!(size, c_size, "size of {name}");
            let c_fields: Vec<_> = c_fields.iter().map(|(n, o)| (n.as_str(), *o)).collect();
            assert_eq!(fields, c_fields, "fields of {name}");
        }
    }

    /// The value of `#define NAME VALUE` in the header.
    fn define(name: &str) -> &'static str {
        HEADER
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix("#define ")?.trim_start();
                let rest = rest.strip_prefix(name)?;
                rest.starts_with(char::is_whitespace).then(|| rest.trim())
            })
            .unwrap_or_else(|| panic!("{name} is not defined in the header"))
    }

    /// Evaluates `_IOW ('N', 0x80, struct ntsync_sem_args)` and the like.
    fn eval_ioc(expr: &str) -> u32 {
        let (mac, args) = expr.split_once('(').unwrap();
        let args = args.strip_suffix(')').unwrap();
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        let dir = match mac.trim() {
            "_IOW" => W,
            "_IOR" => R,
            "_IOWR" => RW,
            other => panic!("unexpected macro {other}"),
        };
        assert_eq!(args[0], "'N'");
        let nr = u32::from_str_radix(args[1].strip_prefix("0x").unwrap(), 16).unwrap();
        let size = match args[2] {
            "__u32" => 4,
            ty => {
                let name = ty.strip_prefix("struct ").unwrap();
                c_layout(&header_structs()[name]).0
            }
        };
        ioc(dir, nr, size)
    }

    #[test]
    fn commands_match_the_header() {
        let ours = [
            ("NTSYNC_IOC_CREATE_SEM", CREATE_SEM),
            ("NTSYNC_IOC_SEM_RELEASE", SEM_RELEASE),
            ("NTSYNC_IOC_WAIT_ANY", WAIT_ANY),
            ("NTSYNC_IOC_WAIT_ALL", WAIT_ALL),
            ("NTSYNC_IOC_CREATE_MUTEX", CREATE_MUTEX),
            ("NTSYNC_IOC_MUTEX_UNLOCK", MUTEX_UNLOCK),
            ("NTSYNC_IOC_MUTEX_KILL", MUTEX_KILL),
            ("NTSYNC_IOC_CREATE_EVENT", CREATE_EVENT),
            ("NTSYNC_IOC_EVENT_SET", EVENT_SET),
            ("NTSYNC_IOC_EVENT_RESET", EVENT_RESET),
            ("NTSYNC_IOC_EVENT_PULSE", EVENT_PULSE),
            ("NTSYNC_IOC_SEM_READ", SEM_READ),
            ("NTSYNC_IOC_MUTEX_READ", MUTEX_READ),
            ("NTSYNC_IOC_EVENT_READ", EVENT_READ),
        ];
        let in_header = HEADER.matches("#define NTSYNC_IOC_").count();
        assert_eq!(in_header, ours.len(), "commands in the header");
        for (name, value) in ours {
            assert_eq!(value, eval_ioc(define(name)), "{name}");
        }
        // One known value, so that a shared mistake in `ioc` and `eval_ioc` shows.
        assert_eq!(CREATE_SEM, 0x4008_4e80);
        assert_eq!(WAIT_ANY, 0xc028_4e82);
    }

    #[test]
    fn constants_match_the_header() {
        assert_eq!(
            define("NTSYNC_WAIT_REALTIME"),
            format!("{WAIT_REALTIME:#x}")
        );
        assert_eq!(define("NTSYNC_MAX_WAIT_COUNT"), MAX_WAIT_COUNT.to_string());
    }
}
