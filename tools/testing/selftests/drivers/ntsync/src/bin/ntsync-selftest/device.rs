// SPDX-License-Identifier: GPL-2.0

//! The device node: who serves it, who may open it, and that it does not seek.

use libc::{EINVAL, ESPIPE};
use ntsync_selftests::setup::dev;
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

/// The device node exists, is a character device and is usable by everyone, as Wine needs.
pub(crate) fn device_node() -> TestResult {
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
pub(crate) fn one_module_loaded() -> TestResult {
    let modules = std::fs::read_to_string("/proc/modules").map_err(|e| e.to_string())?;
    let loaded: Vec<&str> = modules
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| *m == "ntsync" || *m == "ntsync_rs")
        .collect();
    check_eq!(loaded.len(), 1);
    Ok(())
}

/// The device is not seekable: lseek(2), pread(2) and pwrite(2) fail with ESPIPE, as upstream.
pub(crate) fn device_seek() -> TestResult {
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
