// SPDX-License-Identifier: GPL-2.0

//! Thin, checked access to the `/dev/ntsync` uAPI and a tiny TAP harness, shared by the
//! selftest and benchmark binaries: creating, reading and changing objects, waits and
//! waiters, errno names; [`task`] for what `/proc` says of this process's threads and
//! descriptors, [`unix`] for passing descriptors over unix sockets.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub mod failslab;
pub mod rng;
pub mod tap;
pub mod task;
pub mod unix;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemArgs {
    pub count: u32,
    pub max: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MutexArgs {
    pub owner: u32,
    pub count: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventArgs {
    pub manual: u32,
    pub signaled: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitArgs {
    pub timeout: u64,
    pub objs: u64,
    pub count: u32,
    pub index: u32,
    pub flags: u32,
    pub owner: u32,
    pub alert: u32,
    pub pad: u32,
}

pub const WAIT_REALTIME: u32 = 0x1;
pub const MAX_WAIT_COUNT: usize = 64;
pub const INFINITE: u64 = u64::MAX;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'N' as u32) << 8) | nr
}
const W: u32 = 1;
const R: u32 = 2;
const RW: u32 = 3;

pub const IOC_CREATE_SEM: u32 = ioc(W, 0x80, 8);
pub const IOC_SEM_RELEASE: u32 = ioc(RW, 0x81, 4);
pub const IOC_WAIT_ANY: u32 = ioc(RW, 0x82, 40);
pub const IOC_WAIT_ALL: u32 = ioc(RW, 0x83, 40);
pub const IOC_CREATE_MUTEX: u32 = ioc(W, 0x84, 8);
pub const IOC_MUTEX_UNLOCK: u32 = ioc(RW, 0x85, 8);
pub const IOC_MUTEX_KILL: u32 = ioc(W, 0x86, 4);
pub const IOC_CREATE_EVENT: u32 = ioc(W, 0x87, 8);
pub const IOC_EVENT_SET: u32 = ioc(R, 0x88, 4);
pub const IOC_EVENT_RESET: u32 = ioc(R, 0x89, 4);
pub const IOC_EVENT_PULSE: u32 = ioc(R, 0x8a, 4);
pub const IOC_SEM_READ: u32 = ioc(R, 0x8b, 8);
pub const IOC_MUTEX_READ: u32 = ioc(R, 0x8c, 8);
pub const IOC_EVENT_READ: u32 = ioc(R, 0x8d, 8);

/// The device's commands, in the header's order.
pub const DEVICE_CMDS: [u32; 5] = [
    IOC_CREATE_SEM,
    IOC_CREATE_MUTEX,
    IOC_CREATE_EVENT,
    IOC_WAIT_ANY,
    IOC_WAIT_ALL,
];

/// The objects' commands, in the header's order.
pub const OBJECT_CMDS: [u32; 9] = [
    IOC_SEM_RELEASE,
    IOC_SEM_READ,
    IOC_MUTEX_UNLOCK,
    IOC_MUTEX_KILL,
    IOC_MUTEX_READ,
    IOC_EVENT_SET,
    IOC_EVENT_RESET,
    IOC_EVENT_PULSE,
    IOC_EVENT_READ,
];

/// The three kinds of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sem,
    Mutex,
    Event,
}

impl Kind {
    /// Every kind, in the header's order.
    pub const ALL: [Kind; 3] = [Kind::Sem, Kind::Mutex, Kind::Event];

    /// The command that reads one's state.
    pub fn read_cmd(self) -> u32 {
        match self {
            Kind::Sem => IOC_SEM_READ,
            Kind::Mutex => IOC_MUTEX_READ,
            Kind::Event => IOC_EVENT_READ,
        }
    }
}

/// The errno of a failed call.
pub type Errno = i32;

/// The calling thread's errno, after a libc call failed.
pub fn errno() -> Errno {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The name of `e`, for messages: the errnos the uAPI and these tests deal in by name.
pub fn errname(e: Errno) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EOWNERDEAD => "EOWNERDEAD",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// A test's setup: the device and the objects it needs, each failing with a message that
/// names the step and the errno, for `?` in a test.
pub mod setup {
    use super::*;

    pub fn dev() -> Result<File, String> {
        open_device().map_err(|e| format!("open /dev/ntsync: {e}"))
    }

    pub fn sem(dev: &File, count: u32, max: u32) -> Result<OwnedFd, String> {
        create_sem(dev, count, max)
            .map_err(|e| format!("CREATE_SEM({count}, {max}): {}", errname(e)))
    }

    pub fn mutex(dev: &File, owner: u32, count: u32) -> Result<OwnedFd, String> {
        create_mutex(dev, owner, count)
            .map_err(|e| format!("CREATE_MUTEX({owner}, {count}): {}", errname(e)))
    }

    pub fn event(dev: &File, manual: bool, signaled: bool) -> Result<OwnedFd, String> {
        create_event(dev, manual, signaled)
            .map_err(|e| format!("CREATE_EVENT({manual}, {signaled}): {}", errname(e)))
    }

    /// A semaphore's count.
    pub fn count(sem: &impl AsRawFd) -> Result<u32, String> {
        sem_read(sem)
            .map(|a| a.count)
            .map_err(|e| format!("SEM_READ: {}", errname(e)))
    }

    /// Whether an event is signaled.
    pub fn signaled(event: &impl AsRawFd) -> Result<bool, String> {
        event_signaled(event).ok_or_else(|| "EVENT_READ failed".to_string())
    }
}

/// `ioctl(fd, cmd, arg)`, returning the nonnegative result or the errno.
pub fn ioctl_raw(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, Errno> {
    // SAFETY: The driver validates every pointer it is given; a bad one yields EFAULT.
    let ret = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

/// `ioctl` with a pointer to `arg`, which the kernel may read and write.
pub fn ioctl<T>(fd: RawFd, cmd: u32, arg: &mut T) -> Result<i32, Errno> {
    ioctl_raw(fd, cmd, arg as *mut T as usize)
}

pub fn open_device() -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ntsync")
}

/// A pipe: two descriptors that are not ntsync objects.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut p = [0; 2];
    // SAFETY: `p` is a valid out-array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    // SAFETY: Fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) })
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: The driver returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub fn create_sem(dev: &File, count: u32, max: u32) -> Result<OwnedFd, Errno> {
    let mut args = SemArgs { count, max };
    ioctl(dev.as_raw_fd(), IOC_CREATE_SEM, &mut args).map(owned)
}

pub fn create_mutex(dev: &File, owner: u32, count: u32) -> Result<OwnedFd, Errno> {
    let mut args = MutexArgs { owner, count };
    ioctl(dev.as_raw_fd(), IOC_CREATE_MUTEX, &mut args).map(owned)
}

pub fn create_event(dev: &File, manual: bool, signaled: bool) -> Result<OwnedFd, Errno> {
    let mut args = EventArgs {
        manual: manual as u32,
        signaled: signaled as u32,
    };
    ioctl(dev.as_raw_fd(), IOC_CREATE_EVENT, &mut args).map(owned)
}

/// An object command whose argument is one `u32`, `arg`: the word as the driver left it.
pub fn ioctl_word(obj: &impl AsRawFd, cmd: u32, arg: u32) -> Result<u32, Errno> {
    let mut word = arg;
    ioctl(obj.as_raw_fd(), cmd, &mut word).map(|_| word)
}

/// A command that reads two words (`SEM_READ`, `MUTEX_READ`, `EVENT_READ`), with both
/// prefilled with `fill`: the result and the words as the driver left them, since
/// `EOWNERDEAD` fills them in too.
pub fn read_words(obj: &impl AsRawFd, cmd: u32, fill: u32) -> (Result<i32, Errno>, [u32; 2]) {
    let mut words = [fill; 2];
    let ret = ioctl(obj.as_raw_fd(), cmd, &mut words);
    (ret, words)
}

/// `SEM_RELEASE`: the previous count.
pub fn sem_release(sem: &impl AsRawFd, count: u32) -> Result<u32, Errno> {
    ioctl_word(sem, IOC_SEM_RELEASE, count)
}

pub fn sem_read(sem: &impl AsRawFd) -> Result<SemArgs, Errno> {
    let mut args = SemArgs::default();
    ioctl(sem.as_raw_fd(), IOC_SEM_READ, &mut args).map(|_| args)
}

/// `MUTEX_UNLOCK` by `owner`: the previous recursion count.
pub fn mutex_unlock(mutex: &impl AsRawFd, owner: u32) -> Result<u32, Errno> {
    let mut args = MutexArgs { owner, count: 0 };
    ioctl(mutex.as_raw_fd(), IOC_MUTEX_UNLOCK, &mut args).map(|_| args.count)
}

/// `MUTEX_KILL`: reports the death of `owner`.
pub fn mutex_kill(mutex: &impl AsRawFd, owner: u32) -> Result<(), Errno> {
    ioctl_word(mutex, IOC_MUTEX_KILL, owner).map(|_| ())
}

/// A value no driver writes by itself: it shows which fields a command left alone.
pub const POISON: u32 = 0xdead_beef;

/// `MUTEX_READ`: the result and the structure as the driver left it (prefilled with
/// [`POISON`]), since `EOWNERDEAD` fills it in too.
pub fn mutex_read(mutex: &impl AsRawFd) -> (Result<(), Errno>, MutexArgs) {
    let mut args = MutexArgs {
        owner: POISON,
        count: POISON,
    };
    let ret = ioctl(mutex.as_raw_fd(), IOC_MUTEX_READ, &mut args).map(|_| ());
    (ret, args)
}

/// `MUTEX_READ` of a mutex that is not abandoned: `(owner, count)`.
pub fn mutex_state(mutex: &impl AsRawFd) -> Result<(u32, u32), Errno> {
    let (ret, args) = mutex_read(mutex);
    ret.map(|_| (args.owner, args.count))
}

/// `EVENT_SET`: the previous state.
pub fn event_set(event: &impl AsRawFd) -> Result<u32, Errno> {
    ioctl_word(event, IOC_EVENT_SET, POISON)
}

/// `EVENT_RESET`: the previous state.
pub fn event_reset(event: &impl AsRawFd) -> Result<u32, Errno> {
    ioctl_word(event, IOC_EVENT_RESET, POISON)
}

/// `EVENT_PULSE`: the previous state.
pub fn event_pulse(event: &impl AsRawFd) -> Result<u32, Errno> {
    ioctl_word(event, IOC_EVENT_PULSE, POISON)
}

pub fn event_read(event: &impl AsRawFd) -> Result<EventArgs, Errno> {
    let mut args = EventArgs {
        manual: POISON,
        signaled: POISON,
    };
    ioctl(event.as_raw_fd(), IOC_EVENT_READ, &mut args).map(|_| args)
}

/// Whether an event is signaled, or `None` if it cannot be read.
pub fn event_signaled(event: &impl AsRawFd) -> Option<bool> {
    event_read(event).ok().map(|args| args.signaled != 0)
}

/// `CLOCK_MONOTONIC` (or another clock) now, in nanoseconds.
pub fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The absolute `CLOCK_MONOTONIC` deadline `ms` milliseconds from now.
pub fn in_ms(ms: u64) -> u64 {
    now_ns(libc::CLOCK_MONOTONIC) + ms * 1_000_000
}

/// Polls `cond` every millisecond until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A wait request over `objs`.
pub struct Wait<'a> {
    pub objs: &'a [RawFd],
    pub owner: u32,
    pub timeout: u64,
    pub flags: u32,
    pub alert: RawFd,
}

/// What a wait returned, and the `index` it left (still [`POISON`] if it wrote none).
pub type Outcome = (Result<(), Errno>, u32);

impl<'a> Wait<'a> {
    /// A wait over `objs` by owner 1 that gives up at once.
    pub fn new(objs: &'a [RawFd]) -> Self {
        Self {
            objs,
            owner: 1,
            timeout: 0,
            flags: 0,
            alert: 0,
        }
    }

    /// The same wait on behalf of `owner`.
    pub fn by(mut self, owner: u32) -> Self {
        self.owner = owner;
        self
    }

    /// The same wait with `alert` as its alert object.
    pub fn alert(mut self, alert: &impl AsRawFd) -> Self {
        self.alert = alert.as_raw_fd();
        self
    }

    /// The same wait with the absolute deadline `timeout`.
    pub fn until(mut self, timeout: u64) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same wait with `flags`.
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// The argument structure, with `index` set to [`POISON`].
    pub fn args(&self) -> WaitArgs {
        WaitArgs {
            timeout: self.timeout,
            objs: self.objs.as_ptr() as u64,
            count: self.objs.len() as u32,
            index: POISON,
            owner: self.owner,
            flags: self.flags,
            alert: self.alert as u32,
            pad: 0,
        }
    }

    /// Runs the wait with `cmd`; the result and the structure as the driver left it.
    pub fn call(&self, dev: &impl AsRawFd, cmd: u32) -> (Result<(), Errno>, WaitArgs) {
        let mut args = self.args();
        let ret = ioctl(dev.as_raw_fd(), cmd, &mut args).map(|_| ());
        (ret, args)
    }

    /// Runs the wait with `cmd`: the result and the index it reported.
    pub fn outcome(&self, dev: &impl AsRawFd, cmd: u32) -> Outcome {
        let (ret, args) = self.call(dev, cmd);
        (ret, args.index)
    }

    /// Runs the wait with `cmd` (`IOC_WAIT_ANY` or `IOC_WAIT_ALL`); on success, the index.
    pub fn run(&self, dev: &impl AsRawFd, cmd: u32) -> Result<u32, Errno> {
        let (ret, args) = self.call(dev, cmd);
        ret.map(|_| args.index)
    }

    pub fn any(&self, dev: &impl AsRawFd) -> Result<u32, Errno> {
        self.run(dev, IOC_WAIT_ANY)
    }

    pub fn all(&self, dev: &impl AsRawFd) -> Result<u32, Errno> {
        self.run(dev, IOC_WAIT_ALL)
    }
}

/// A thread blocked (or about to block) in one wait.
pub struct Waiter {
    tid: libc::pid_t,
    rx: mpsc::Receiver<Outcome>,
    handle: thread::JoinHandle<()>,
}

impl Waiter {
    /// Starts a thread that runs `wait` with `cmd` on a duplicate of `dev`.
    pub fn spawn(dev: &File, cmd: u32, wait: &Wait) -> Waiter {
        Self::spawn_on(dev.try_clone().expect("dup /dev/ntsync"), cmd, wait)
    }

    /// Starts a thread that runs `wait` with `cmd` on `dev`, which may be a bare fd that the
    /// caller closes meanwhile.
    pub fn spawn_on(dev: impl AsRawFd + Send + 'static, cmd: u32, wait: &Wait) -> Waiter {
        let objs = wait.objs.to_vec();
        let (owner, timeout, flags, alert) = (wait.owner, wait.timeout, wait.flags, wait.alert);
        let (tid_tx, tid_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        let handle = thread::spawn(move || {
            let _ = tid_tx.send(task::gettid());
            let wait = Wait {
                objs: &objs,
                owner,
                timeout,
                flags,
                alert,
            };
            let _ = tx.send(wait.outcome(&dev, cmd));
        });
        let tid = tid_rx.recv().expect("waiter thread id");
        Waiter { tid, rx, handle }
    }

    /// Spawns a wait-any and returns once it sleeps in the driver.
    pub fn any(dev: &File, wait: &Wait) -> Result<Waiter, String> {
        let waiter = Self::spawn(dev, IOC_WAIT_ANY, wait);
        waiter.wait_blocked()?;
        Ok(waiter)
    }

    /// Spawns a wait-all and returns once it sleeps in the driver.
    pub fn all(dev: &File, wait: &Wait) -> Result<Waiter, String> {
        let waiter = Self::spawn(dev, IOC_WAIT_ALL, wait);
        waiter.wait_blocked()?;
        Ok(waiter)
    }

    /// The waiting thread's id.
    pub fn tid(&self) -> libc::pid_t {
        self.tid
    }

    /// Whether the thread sleeps inside ioctl(2) now (or sleeps at all, where the kernel does
    /// not say in which syscall).
    pub fn sleeping(&self) -> bool {
        task::thread_in_ioctl(self.tid) != Some(false)
    }

    /// Returns once the thread sleeps in its wait; fails if the wait returned instead, or if
    /// it does not sleep within 5 s.
    pub fn wait_blocked(&self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(outcome) = self.rx.try_recv() {
                return Err(format!(
                    "the wait returned instead of blocking: {outcome:?}"
                ));
            }
            if self.sleeping() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(1));
        }
        Err("the waiter did not block within 5 s".into())
    }

    /// Fails if the wait returns within `d`.
    pub fn still_blocked(&self, d: Duration) -> Result<(), String> {
        match self.rx.recv_timeout(d) {
            Ok(outcome) => Err(format!("the wait returned: {outcome:?}")),
            Err(_) => Ok(()),
        }
    }

    /// The outcome, if the wait returns within `d`.
    pub fn poll(&self, d: Duration) -> Option<Outcome> {
        self.rx.recv_timeout(d).ok()
    }

    /// The outcome of the wait, which must return within `within`.
    pub fn join(self, within: Duration) -> Result<Outcome, String> {
        let outcome = self
            .rx
            .recv_timeout(within)
            .map_err(|_| format!("the wait did not return within {within:?}"))?;
        let _ = self.handle.join();
        Ok(outcome)
    }

    /// Sends `sig` to the waiting thread.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: The thread is not joined or detached while `self` lives, so its handle is
        // valid.
        unsafe { libc::pthread_kill(self.handle.as_pthread_t(), sig) };
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Installs a handler that does nothing for `sig`, with or without `SA_RESTART`.
pub fn install_handler(sig: libc::c_int, restart: bool) {
    // SAFETY: A zeroed sigaction is valid; the handler is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Anonymous pages, for arguments the driver can read but not write, or arrays that run
/// into an inaccessible page.
pub struct Pages {
    addr: *mut u8,
    len: usize,
}

pub const PAGE: usize = 4096;

impl Pages {
    /// `n` readable and writable zeroed pages.
    pub fn new(n: usize) -> Pages {
        let len = n * PAGE;
        // SAFETY: A fresh private anonymous mapping.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(addr != libc::MAP_FAILED, "mmap");
        Pages {
            addr: addr.cast(),
            len,
        }
    }

    /// One page holding `value` at its start, then made read-only.
    pub fn read_only<T: Copy>(value: T) -> Pages {
        let pages = Pages::new(1);
        pages.write(0, value);
        pages.protect(0, libc::PROT_READ);
        pages
    }

    pub fn addr(&self) -> usize {
        self.addr as usize
    }

    /// Writes `value` at byte offset `off`.
    pub fn write<T: Copy>(&self, off: usize, value: T) {
        assert!(off + size_of::<T>() <= self.len);
        // SAFETY: In bounds of our mapping, which is writable here.
        unsafe { self.addr.add(off).cast::<T>().write_unaligned(value) }
    }

    /// Reads a `T` at byte offset `off`.
    pub fn read<T: Copy>(&self, off: usize) -> T {
        assert!(off + size_of::<T>() <= self.len);
        // SAFETY: In bounds of our mapping, which stays readable.
        unsafe { self.addr.add(off).cast::<T>().read_unaligned() }
    }

    /// Sets the protection of page `page`.
    pub fn protect(&self, page: usize, prot: libc::c_int) {
        assert!((page + 1) * PAGE <= self.len);
        // SAFETY: A page of our own mapping.
        let ret = unsafe { libc::mprotect(self.addr.add(page * PAGE).cast(), PAGE, prot) };
        assert_eq!(ret, 0, "mprotect");
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: Our mapping, unmapped once.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}
