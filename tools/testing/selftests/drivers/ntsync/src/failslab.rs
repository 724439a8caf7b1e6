// SPDX-License-Identifier: GPL-2.0

//! Failing chosen slab allocations of one thread, on a kernel with CONFIG_FAILSLAB and
//! CONFIG_FAULT_INJECTION_DEBUG_FS: writing n to `/proc/thread-self/fail-nth` fails the
//! thread's n-th allocation from then on.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const FAILSLAB: &str = "/sys/kernel/debug/failslab";
/// Allocations that may sleep count too (failslab skips them by default), and an injected
/// fault is not logged: its stack trace would read as a kernel report.
const SETTINGS: [(&str, &str); 2] = [("ignore-gfp-wait", "N"), ("verbose", "0")];

/// Faults injected by every [`FailNth`] of the process.
pub static INJECTED: AtomicU64 = AtomicU64::new(0);

/// failslab set up for [`FailNth`]; put back as it was when dropped.
pub struct Failslab {
    saved: Vec<(String, String)>,
}

impl Failslab {
    pub fn enable() -> Result<Failslab, String> {
        let mut saved = Vec::new();
        for (name, value) in SETTINGS {
            let path = format!("{FAILSLAB}/{name}");
            let old = std::fs::read_to_string(&path)
                .map_err(|e| format!("{path}: {e} (no CONFIG_FAILSLAB or debugfs?)"))?;
            std::fs::write(&path, value).map_err(|e| format!("{path}: {e}"))?;
            saved.push((path, old.trim().to_string()));
        }
        Ok(Failslab { saved })
    }
}

impl Drop for Failslab {
    fn drop(&mut self) {
        for (path, old) in &self.saved {
            let _ = std::fs::write(path, old);
        }
    }
}

/// `/proc/thread-self/fail-nth` of the thread that opened it.
pub struct FailNth(File);

impl FailNth {
    pub fn open() -> Result<FailNth, String> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/thread-self/fail-nth")
            .map(FailNth)
            .map_err(|e| format!("/proc/thread-self/fail-nth: {e} (no CONFIG_FAULT_INJECTION?)"))
    }

    /// Fails the k-th slab allocation of the thread from now on. Whatever the caller does
    /// before [`disarm`](Self::disarm) must not allocate, or fault in memory, itself.
    pub fn arm(&self, k: u32) {
        let s = k.to_string();
        // SAFETY: Writing a local buffer.
        let n = unsafe { libc::write(self.0.as_raw_fd(), s.as_ptr().cast(), s.len()) };
        assert_eq!(
            n,
            s.len() as isize,
            "fail-nth: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Stops injecting: whether the fault was injected. Allocation-free, so that nothing
    /// between the operation and this call can take the fault.
    pub fn disarm(&self) -> bool {
        let mut buf = [0u8; 16];
        // SAFETY: Reading into a local buffer.
        let n = unsafe { libc::pread(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), 16, 0) };
        let left = buf[..n.max(0) as usize]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |v, b| v * 10 + (b - b'0') as u64);
        // SAFETY: Writing a constant.
        unsafe { libc::write(self.0.as_raw_fd(), b"0".as_ptr().cast(), 1) };
        let fired = n > 0 && left == 0;
        if fired {
            INJECTED.fetch_add(1, Relaxed);
        }
        fired
    }
}
