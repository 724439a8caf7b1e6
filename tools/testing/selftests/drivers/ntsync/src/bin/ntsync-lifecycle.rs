// SPDX-License-Identifier: GPL-2.0

//! Module load/unload cycles with work in between, run as root in the test VM with no ntsync
//! module loaded.
//!
//! Usage: `ntsync-lifecycle CYCLES [MODULE.ko NAME]` (default: our module,
//! `/lib/modules/ntsync_rs.ko`, called `ntsync_rs`).
//!
//! Each cycle loads the module, checks that nothing holds it yet, works with `/dev/ntsync`
//! (open, create, wait, a wait woken by another thread, close), and checks that unloading is
//! refused while anything holds the module: the device's descriptor, an object's descriptor
//! after the device's was closed (the object then still works), or a thread sleeping in a
//! wait whose descriptors the main thread closed; and that it succeeds, removing
//! `/dev/ntsync`, as soon as everything is closed. TAP: one line per check, each counted over
//! all cycles.

use libc::{EAGAIN, ETIMEDOUT};
use ntsync_selftests::setup::{dev, sem};
use ntsync_selftests::tap::{self, TestResult};
use ntsync_selftests::*;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

const CHECKS: [&str; 8] = [
    "load",
    "idle_after_load",
    "work",
    "unload_refused_device_open",
    "objects_outlive_device",
    "unload_refused_object_open",
    "unload_refused_waiting",
    "unload_after_close",
];
const LOAD: usize = 0;
const IDLE: usize = 1;
const WORK: usize = 2;
const DEVICE_OPEN: usize = 3;
const OUTLIVE: usize = 4;
const OBJECT_OPEN: usize = 5;
const WAITING: usize = 6;
const UNLOAD: usize = 7;
/// How long a module reference left behind may take to go, for the diagnosis.
const LINGER: Duration = Duration::from_secs(5);

struct Module {
    path: String,
    name: CString,
}

impl Module {
    fn load(&self) -> Result<(), String> {
        let ko = File::open(&self.path).map_err(|e| format!("{}: {e}", self.path))?;
        // SAFETY: An open module file and an empty, NUL-terminated parameter string.
        let ret = unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
        if ret != 0 {
            return Err(format!("finit_module: errno {}", errno()));
        }
        if !std::path::Path::new("/dev/ntsync").exists() {
            return Err("no /dev/ntsync after loading".into());
        }
        Ok(())
    }

    /// rmmod: the errno if refused.
    fn unload(&self) -> Result<(), i32> {
        // SAFETY: A NUL-terminated module name; O_NONBLOCK fails at once if it is in use.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_delete_module,
                self.name.as_ptr(),
                libc::O_NONBLOCK,
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }

    fn refcnt(&self) -> Result<u64, String> {
        let path = format!("/sys/module/{}/refcnt", self.name.to_string_lossy());
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .trim()
            .parse()
            .map_err(|e| format!("{path}: {e}"))
    }

    /// How long the module's references take to go (up to `LINGER`), for a diagnosis.
    fn linger(&self) -> String {
        let start = std::time::Instant::now();
        while start.elapsed() < LINGER {
            if self.refcnt() == Ok(0) {
                return format!("gone {} ms later", start.elapsed().as_millis());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        format!("still there {LINGER:?} later")
    }

    /// Nothing holds the module just after it was loaded, before anything was opened.
    fn idle(&self) -> TestResult {
        match self.refcnt()? {
            0 => Ok(()),
            n => Err(format!(
                "refcnt {n} right after loading, with nothing open ({})",
                self.linger()
            )),
        }
    }

    /// An unload that must be refused because the module is in use: Linux answers
    /// EWOULDBLOCK (EAGAIN) then (kernel/module/main.c, try_stop_module). Also checks the
    /// module's reference count.
    fn refused(&self) -> TestResult {
        check!(self.refcnt()? != 0, "refcnt 0 while in use");
        match self.unload() {
            Err(EAGAIN) => Ok(()),
            Err(e) => Err(format!("rmmod while in use: errno {e}, expected EAGAIN")),
            Ok(()) => {
                // Loaded again so that the cycles go on; whatever holds the old one is now
                // a reference to unloaded code.
                let _ = self.load();
                Err("rmmod succeeded while the module was in use".into())
            }
        }
    }
}

/// Open, create, wait (at once, and woken by another thread), close.
fn work() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 1, 2)?;
    let m = create_mutex(&dev, 0, 0).map_err(|e| format!("CREATE_MUTEX: errno {e}"))?;
    let e = create_event(&dev, true, true).map_err(|e| format!("CREATE_EVENT: errno {e}"))?;
    let objs = [s.as_raw_fd(), m.as_raw_fd(), e.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(3).all(&dev), Ok(0));
    check_eq!(Wait::new(&objs[..1]).any(&dev), Err(ETIMEDOUT));
    let w = Waiter::any(&dev, &Wait::new(&objs[..1]).until(in_ms(20_000)))?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(w.join(Duration::from_secs(20))?, (Ok(()), 0));
    check_eq!(mutex_unlock(&m, 3), Ok(1));
    Ok(())
}

/// Unloading is refused while the device is open.
fn device_open(module: &Module) -> TestResult {
    let dev = dev()?;
    module.refused()?;
    drop(dev);
    Ok(())
}

/// Objects stay usable after their device's descriptor is closed, and keep the module in use.
fn outlive_and_object_open(module: &Module, checks: &mut [Check]) -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 3)?;
    let m = create_mutex(&dev, 4, 1).map_err(|e| format!("CREATE_MUTEX: errno {e}"))?;
    drop(dev);
    let outlive = (|| -> TestResult {
        check_eq!(sem_release(&s, 2), Ok(0));
        check_eq!(sem_read(&s), Ok(SemArgs { count: 2, max: 3 }));
        check_eq!(mutex_kill(&m, 4), Ok(()));
        check_eq!(mutex_read(&m).0, Err(libc::EOWNERDEAD));
        Ok(())
    })();
    checks[OUTLIVE].note(outlive);
    drop(m);
    // The semaphore alone, device descriptor long gone, still holds the module.
    module.refused()?;
    check_eq!(sem_release(&s, 1), Ok(2));
    Ok(())
}

/// A thread sleeping in a wait holds the module after the main thread closed the device and
/// the object it waits on; it is woken through a duplicate.
fn waiting(module: &Module) -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let dup = s.try_clone().map_err(|e| e.to_string())?;
    let w = Waiter::any(&dev, &Wait::new(&[s.as_raw_fd()]).until(in_ms(20_000)))?;
    drop(dev);
    drop(s);
    let refused = module.refused();
    check_eq!(sem_release(&dup, 1), Ok(0));
    check_eq!(w.join(Duration::from_secs(20))?, (Ok(()), 0));
    refused
}

#[derive(Default)]
struct Check {
    runs: u64,
    failures: u64,
    first: Vec<String>,
}

impl Check {
    fn note(&mut self, result: TestResult) {
        self.runs += 1;
        if let Err(msg) = result {
            self.failures += 1;
            if self.first.len() < 5 {
                self.first.push(format!("cycle {}: {msg}", self.runs));
            }
        }
    }
}

/// One cycle; false if the module could not be brought back to unloaded.
fn cycle(module: &Module, checks: &mut [Check]) -> bool {
    let loaded = module.load();
    let ok = loaded.is_ok();
    checks[LOAD].note(loaded);
    if !ok {
        return false;
    }
    // The rest of the cycle tests only its own references.
    checks[IDLE].note(module.idle());
    checks[WORK].note(work());
    let r = device_open(module);
    checks[DEVICE_OPEN].note(r);
    let r = outlive_and_object_open(module, checks);
    checks[OBJECT_OPEN].note(r);
    let r = waiting(module);
    checks[WAITING].note(r);
    // Everything is closed and every thread joined: nothing holds the module now.
    let unloaded = match module.unload() {
        Ok(()) => (|| {
            check!(
                !std::path::Path::new("/dev/ntsync").exists(),
                "/dev/ntsync still there"
            );
            check!(
                open_device().is_err(),
                "/dev/ntsync opens without the module"
            );
            Ok(())
        })(),
        Err(e) => {
            let refcnt = module.refcnt();
            let later = module.linger();
            // Unloaded late, if at all, so that the next cycles can run.
            let again = module.unload();
            Err(format!(
                "rmmod after closing everything: errno {e} with refcnt {refcnt:?}, {later}; \
                 rmmod then: {again:?}"
            ))
        }
    };
    checks[UNLOAD].note(unloaded);
    module.refcnt().is_err()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cycles, path, name) = match args.as_slice() {
        [n] => (n, "/lib/modules/ntsync_rs.ko", "ntsync_rs"),
        [n, path, name] => (n, path.as_str(), name.as_str()),
        _ => {
            eprintln!("usage: ntsync-lifecycle CYCLES [MODULE.ko NAME]");
            std::process::exit(2);
        }
    };
    let Ok(cycles) = cycles.parse::<u64>() else {
        eprintln!("ntsync-lifecycle: bad cycle count {cycles}");
        std::process::exit(2);
    };
    let module = Module {
        path: path.into(),
        name: CString::new(name).expect("module name"),
    };
    tap::plan(&CHECKS);
    let mut checks: Vec<Check> = CHECKS.iter().map(|_| Check::default()).collect();
    let mut done = 0;
    while done < cycles && cycle(&module, &mut checks) {
        done += 1;
    }
    println!("# {done} of {cycles} load/unload cycles of {name}");
    let results: Vec<(String, TestResult)> = checks
        .iter()
        .zip(CHECKS)
        .map(|(c, name)| {
            let result = if c.failures > 0 {
                Err(format!("{} failures\n{}", c.failures, c.first.join("\n")))
            } else if c.runs < cycles {
                Err(format!("ran {} of {cycles} times", c.runs))
            } else {
                Ok(())
            };
            (format!("{name}: {} cycles", c.runs), result)
        })
        .collect();
    let failed = tap::report(&results);
    std::process::exit(failed.min(100) as i32);
}
