// SPDX-License-Identifier: GPL-2.0

//! Robustness fuzzer of `/dev/ntsync`, for either driver.
//!
//! Usage: `ntsync-fuzz [-v] [--failslab] SEED SECONDS` (`-v` prints every step).
//!
//! Each iteration is one ioctl or one concurrent scenario, chosen by a PRNG seeded with SEED,
//! so that a seed always runs the same steps apart from their timing.
//!
//! The single ioctls are valid ntsync commands, their neighbours (another size, direction or
//! number) and garbage, sent to the device, to objects of every kind, to a second instance, to a
//! pipe and to closed descriptors, with random arguments at valid, misaligned, read-only,
//! unmapped (a munmap'ed page), null, kernel and non-canonical addresses. A model of every
//! object predicts each result, every byte the call writes (the argument's surroundings are
//! filled with 0xaa first, so that an output must be written in full and nothing else may be)
//! and the state read back afterwards. No such wait sleeps for long: its deadline has passed
//! or is a few milliseconds away, or the model says that it succeeds at once.
//!
//! The scenarios, each on objects of its own: descriptors (of an object, or of the device the
//! wait was issued on) closed by another thread during a wait, or closed and replaced (dup2)
//! while another thread's waits look them up; `fork` with inherited objects that the child
//! uses; a child process whose threads wait, killed by SIGKILL; `exec` while other threads
//! wait; storms of signals, with and without SA_RESTART, during a wait; EMFILE. After each,
//! the objects must be in the state that the scenario determines, and usable.
//!
//! With `--failslab` (a kernel with CONFIG_FAILSLAB: the debug kernel), a quarter of the
//! single calls run with one of the first few slab allocations of the call failed
//! (`/proc/thread-self/fail-nth`): a device command may then fail with ENOMEM, having changed
//! nothing and left no descriptor; any other result must be the model's.
//!
//! One TAP line per check: `calls` (results and written bytes as modelled), `errnos` (every
//! errno in the allowed set), `states` (read back as modelled; semaphore count <= max, mutex
//! owner zero exactly when its count is), one line per scenario, `no_hang` (a watchdog fails
//! the run when an iteration makes no progress for two minutes) and `fd_table` (as many
//! descriptors at the end as at the start). The plan comes first, so a run that dies midway
//! counts every check it did not report as failed.

use libc::{
    EBADF, EFAULT, EINTR, EINVAL, EMFILE, ENFILE, ENOMEM, ENOTTY, EOVERFLOW, EOWNERDEAD, EPERM,
    ETIMEDOUT, SIGKILL, SIGUSR1, SIGUSR2,
};
use ntsync_selftests::failslab::{FailNth, Failslab, INJECTED};
use ntsync_selftests::rng::Rng;
use ntsync_selftests::setup::{count, event, mutex, sem, signaled};
use ntsync_selftests::tap::{self, TestResult};
use ntsync_selftests::task::{fd_count, in_ioctl};
use ntsync_selftests::*;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What any of these calls may fail with: the documented errors, EBADF and ENOTTY from the
/// VFS for what is not an ntsync file or command, and EINTR in the signal scenarios.
const ALLOWED: &[i32] = &[
    EINVAL, EFAULT, EOVERFLOW, EPERM, EOWNERDEAD, ETIMEDOUT, EINTR, ENOMEM, EBADF, ENOTTY, EMFILE,
    ENFILE,
];

const CALLS: usize = 0;
const ERRNOS: usize = 1;
const STATES: usize = 2;
const CLOSE: usize = 3;
const FORK: usize = 4;
const KILL: usize = 5;
const EXEC: usize = 6;
const STORM: usize = 7;
const EMFILE_CHECK: usize = 8;
const NO_HANG: usize = 9;
const FD_TABLE: usize = 10;
const CHECKS: [&str; 11] = [
    "calls",
    "errnos",
    "states",
    "close_during_wait",
    "fork_inherit",
    "kill_during_wait",
    "exec_during_wait",
    "signal_storm",
    "emfile",
    "no_hang",
    "fd_table",
];
/// The scenarios, in the order of the first iterations, which run each of them once.
const SCENARIOS: [usize; 7] = [CLOSE, CLOSE_RACE, FORK, KILL, EXEC, STORM, EMFILE_CHECK];
/// The close scenario's variant that races the close with waits; counted as
/// `close_during_wait`.
const CLOSE_RACE: usize = 100;
/// The check of `--failslab`, after the others: that faults were injected.
const ALLOC: usize = CHECKS.len();

/// At most this many objects in the pool of the single calls.
const POOL_MAX: usize = 16;
/// An fd number that is never open (checked at the start).
const CLOSED_FD: RawFd = 900;
/// The fill around arguments, and of out-arguments before a call.
const FILL: u8 = 0xaa;
const FILL32: u32 = 0xaaaa_aaaa;
/// Where arguments go in the scratch page, and the span around them checked after a call.
const ARG_AT: usize = 64;
const SPAN: usize = 512;
/// Where wait fd arrays go in the scratch page and in the read-only page.
const ARR_AT: usize = 1024;
const RO_ARR_AT: usize = 2048;
/// How long a thread or process that should be blocked has to get there, and how long a wait
/// that should end has to return. Generous: the debug kernel under TCG is slow.
const BOUND: Duration = Duration::from_secs(20);
/// An iteration that takes longer than this is a hang.
const STALL: Duration = Duration::from_secs(120);

/// The iteration in progress and what it does, for the watchdog.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
static ACTION: AtomicU64 = AtomicU64::new(0);
const ACTIONS: [&str; 9] = [
    "single call",
    "close_during_wait",
    "fork_inherit",
    "kill_during_wait",
    "exec_during_wait",
    "signal_storm",
    "emfile",
    "final check",
    "close_race",
];

/// ioctl types that the VFS or pipes handle themselves (FIOCLEX, FIFREEZE, FS_IOC_*,
/// FICLONE, FIGETBSZ, the watch queue...): garbage commands avoid them, since they would do
/// something else than fail.
const VFS_TYPES: [u32; 7] = [0x00, 0x15, 0x54, 0x57, 0x58, 0x66, 0x94];

// ---------------------------------------------------------------------------------------
// Memory for arguments.

/// Where an argument pointer points. Offsets and addresses are kept for the failure report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ptr {
    /// The scratch page, at `ARG_AT` plus this many bytes.
    Ok(usize),
    /// A read-only page holding the input.
    ReadOnly,
    /// A page that was mapped and then unmapped, at this offset.
    Hole(usize),
    Null,
    /// This kernel address, or non-canonical one, or one in the never-mapped first page.
    Kernel(u64),
    NonCanonical(u64),
    Low(u64),
}

impl Ptr {
    fn readable(self) -> bool {
        matches!(self, Ptr::Ok(_) | Ptr::ReadOnly)
    }

    fn writable(self) -> bool {
        matches!(self, Ptr::Ok(_))
    }

    /// Valid, sometimes misaligned, or with `bad` percent something else.
    fn random(rng: &mut Rng, bad: u64) -> Ptr {
        if !rng.pct(bad) {
            return Ptr::Ok(if rng.pct(90) {
                0
            } else {
                1 + rng.below(7) as usize
            });
        }
        match rng.below(6) {
            0 => Ptr::ReadOnly,
            1 => Ptr::Hole(rng.below(PAGE as u64) as usize),
            2 => Ptr::Null,
            3 => Ptr::Kernel(0xffff_ffff_8000_0000 + rng.below(1 << 24)),
            4 => Ptr::NonCanonical(0x8000_0000_0000_0000 | rng.below(1 << 46)),
            _ => Ptr::Low(rng.below(PAGE as u64)),
        }
    }
}

fn mmap(len: usize, prot: i32, flags: i32, fd: RawFd) -> *mut u8 {
    // SAFETY: A fresh mapping that nothing else refers to.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
    assert!(p != libc::MAP_FAILED, "mmap: errno {}", errno());
    p.cast()
}

/// The scratch page, a page mapped twice (writable, to put input there, and read-only), and
/// an unmapped page.
struct Mem {
    scratch: *mut u8,
    ro_input: *mut u8,
    ro: usize,
    hole: usize,
}

impl Mem {
    fn new() -> Mem {
        // SAFETY: A NUL-terminated name.
        let memfd = unsafe { libc::memfd_create(c"ntsync-fuzz".as_ptr(), libc::MFD_CLOEXEC) };
        // SAFETY: Sizing the memfd we just made.
        assert!(
            memfd >= 0 && unsafe { libc::ftruncate(memfd, PAGE as libc::off_t) } == 0,
            "memfd: errno {}",
            errno()
        );
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let ro_input = mmap(PAGE, rw, libc::MAP_SHARED, memfd);
        let ro = mmap(PAGE, libc::PROT_READ, libc::MAP_SHARED, memfd) as usize;
        // SAFETY: Our own descriptor, no longer needed once mapped.
        unsafe { libc::close(memfd) };
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        Mem {
            scratch: mmap(PAGE, rw, anon, -1),
            ro_input,
            ro,
            hole: Self::new_hole(),
        }
    }

    /// A page between two mapped ones, unmapped.
    fn new_hole() -> usize {
        let p = mmap(
            3 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        ) as usize;
        // SAFETY: The middle page of our own mapping.
        unsafe { libc::munmap((p + PAGE) as *mut libc::c_void, PAGE) };
        p + PAGE
    }

    /// The unmapped page. A later mapping (a thread stack, say) may have reused it: then a
    /// new one is made, since the kernel would write into whatever is there now.
    fn hole(&mut self) -> usize {
        let mut vec = 0u8;
        // SAFETY: `vec` has room for the one page asked about.
        if unsafe { libc::mincore(self.hole as *mut libc::c_void, PAGE, &mut vec) } == 0 {
            self.hole = Self::new_hole();
        }
        self.hole
    }

    fn scratch(&mut self) -> &mut [u8] {
        // SAFETY: Our own writable page, which only this object hands out.
        unsafe { std::slice::from_raw_parts_mut(self.scratch, PAGE) }
    }

    fn ro_input(&mut self) -> &mut [u8] {
        // SAFETY: As above.
        unsafe { std::slice::from_raw_parts_mut(self.ro_input, PAGE) }
    }

    /// The address of a bad `ptr`, as wide as the `__u64` of a wait's `objs`: a 32-bit
    /// process can put a kernel or non-canonical address there too.
    fn bad_addr(&mut self, ptr: Ptr) -> u64 {
        match ptr {
            Ptr::Hole(off) => (self.hole() + off) as u64,
            Ptr::Null => 0,
            Ptr::Kernel(a) | Ptr::NonCanonical(a) | Ptr::Low(a) => a,
            Ptr::Ok(_) | Ptr::ReadOnly => unreachable!(),
        }
    }

    /// Puts `input` where `ptr` says, with the fill around it; its address.
    fn place(&mut self, ptr: Ptr, input: &[u8]) -> u64 {
        match ptr {
            Ptr::Ok(off) => {
                let at = ARG_AT + off;
                let s = self.scratch();
                s[..SPAN].fill(FILL);
                s[at..at + input.len()].copy_from_slice(input);
                (self.scratch as usize + at) as u64
            }
            Ptr::ReadOnly => {
                let s = self.ro_input();
                s[..SPAN].fill(FILL);
                s[..input.len()].copy_from_slice(input);
                self.ro as u64
            }
            _ => self.bad_addr(ptr),
        }
    }

    /// Puts a wait's fd array where `ptr` says; its address.
    fn place_fds(&mut self, ptr: Ptr, fds: &[RawFd]) -> u64 {
        let bytes: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
        match ptr {
            Ptr::Ok(off) => {
                let at = ARR_AT + off;
                self.scratch()[at..at + bytes.len()].copy_from_slice(&bytes);
                (self.scratch as usize + at) as u64
            }
            Ptr::ReadOnly => {
                self.ro_input()[RO_ARR_AT..RO_ARR_AT + bytes.len()].copy_from_slice(&bytes);
                (self.ro + RO_ARR_AT) as u64
            }
            _ => self.bad_addr(ptr),
        }
    }
}

/// The top of a 32-bit process's address space, above the compat `TASK_SIZE` (0xffffe000),
/// where nothing is ever mapped.
const TOP_32: usize = 0xffff_e000;

/// `addr` as the ioctl argument, an `unsigned long`. The kernel zero-extends a 32-bit
/// process's argument, so that process cannot name a kernel or non-canonical address; it
/// passes an address in the top pages of its 4 GiB instead, which faults just the same.
fn ioctl_arg(addr: u64) -> usize {
    usize::try_from(addr).unwrap_or(TOP_32 | (addr as usize & 0x1fff))
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Sem { count: u32, max: u32 },
    Mutex { owner: u32, count: u32, dead: bool },
    Event { manual: bool, signaled: bool },
}

impl State {
    fn signaled_for(&self, o: u32) -> bool {
        match *self {
            State::Sem { count, .. } => count > 0,
            State::Mutex { owner, count, .. } => (owner == 0 || owner == o) && count < u32::MAX,
            State::Event { signaled, .. } => signaled,
        }
    }

    /// Acquires it for `o`: whether it was an abandoned mutex.
    fn acquire(&mut self, o: u32) -> bool {
        match self {
            State::Sem { count, .. } => {
                *count -= 1;
                false
            }
            State::Mutex { owner, count, dead } => {
                *owner = o;
                *count += 1;
                std::mem::replace(dead, false)
            }
            State::Event { manual, signaled } => {
                if !*manual {
                    *signaled = false;
                }
                false
            }
        }
    }

    fn read_cmd(&self) -> u32 {
        match self {
            State::Sem { .. } => IOC_SEM_READ,
            State::Mutex { .. } => IOC_MUTEX_READ,
            State::Event { .. } => IOC_EVENT_READ,
        }
    }
}

/// Reads an object's state, checking what always holds.
fn read_state(fd: RawFd, kind: &State) -> Result<State, String> {
    let mut w = [FILL32; 3];
    let ret = ioctl(fd, kind.read_cmd(), &mut w[0]);
    if w[2] != FILL32 {
        return Err(format!("read wrote past its structure: {w:x?}"));
    }
    let st = match (kind, ret) {
        (State::Sem { .. }, Ok(0)) => State::Sem {
            count: w[0],
            max: w[1],
        },
        (State::Mutex { .. }, Ok(0) | Err(EOWNERDEAD)) => State::Mutex {
            owner: w[0],
            count: w[1],
            dead: ret.is_err(),
        },
        (State::Event { .. }, Ok(0)) if w[0] <= 1 && w[1] <= 1 => State::Event {
            manual: w[0] != 0,
            signaled: w[1] != 0,
        },
        _ => return Err(format!("read: {ret:?}, {w:x?}")),
    };
    match st {
        State::Sem { count, max } if count > max => Err(format!("semaphore {count}/{max}")),
        State::Mutex { owner, count, dead }
            if (owner == 0) != (count == 0) || dead && owner != 0 =>
        {
            Err(format!(
                "mutex owner {owner} count {count} abandoned {dead}"
            ))
        }
        _ => Ok(st),
    }
}

/// What the model says a call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ret {
    Zero,
    /// A new descriptor.
    Fd,
}

#[derive(Debug)]
struct Expect {
    ret: Result<Ret, i32>,
    /// Words the call writes at these offsets of its argument, if it can.
    writes: Vec<(usize, u32)>,
    /// New states of pool objects.
    changes: Vec<(usize, State)>,
    /// The object a creation makes.
    created: Option<State>,
    /// Pool objects whose state the call may read or change.
    touched: Vec<usize>,
}

impl Expect {
    fn err(e: i32) -> Expect {
        Expect {
            ret: Err(e),
            writes: vec![],
            changes: vec![],
            created: None,
            touched: vec![],
        }
    }

    fn ok() -> Expect {
        Expect {
            ret: Ok(Ret::Zero),
            ..Expect::err(0)
        }
    }

    /// The call writes `writes`, or fails with EFAULT (having done the rest) if it cannot.
    fn writing(mut self, ptr: Ptr, writes: Vec<(usize, u32)>) -> Expect {
        if ptr.writable() {
            self.writes = writes;
        } else {
            self.ret = Err(EFAULT);
        }
        self
    }
}

/// The target of a single call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Dev,
    Other,
    Obj(usize),
    Pipe,
    Closed,
    Minus1,
}

struct Entry {
    fd: OwnedFd,
    /// The instance (device open) it belongs to.
    inst: u32,
    st: State,
}

/// One single call, as generated.
#[derive(Debug)]
struct Call {
    target: Target,
    fd: RawFd,
    cmd: u32,
    words: [u32; 10],
    ptr: Ptr,
    /// A wait's fd array and where it goes.
    fds: Vec<RawFd>,
    fds_ptr: Ptr,
}

fn words_bytes(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn size_of_cmd(cmd: u32) -> usize {
    ((cmd >> 16) & 0x3fff) as usize
}

// ---------------------------------------------------------------------------------------
// The fuzzer.

#[derive(Default)]
struct Check {
    runs: u64,
    failures: u64,
    first: Vec<String>,
}

struct Fuzz {
    rng: Rng,
    seed: u64,
    iteration: u64,
    verbose: bool,
    mem: Mem,
    dev: File,
    inst: u32,
    other: File,
    other_inst: u32,
    next_inst: u32,
    pool: Vec<Entry>,
    pipe: (OwnedFd, OwnedFd),
    checks: Vec<Check>,
    errnos: BTreeMap<i32, u64>,
    fds_at_start: usize,
    /// With `--failslab`: the main thread's fail-nth, and failslab set up until the end.
    nth: Option<(FailNth, Failslab)>,
    /// Device commands that failed with ENOMEM under an injected fault.
    enomem: u64,
}

fn open_dev() -> File {
    open_device().expect("open /dev/ntsync")
}

fn dup(fd: &impl AsRawFd) -> Result<OwnedFd, String> {
    // SAFETY: Duplicating a descriptor we hold.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(format!("dup: {}", errname(errno())));
    }
    // SAFETY: A fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// How many threads of process `pid` sleep in ioctl(2).
fn ioctl_sleepers(pid: libc::pid_t) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter(|t| in_ioctl(&t.path().to_string_lossy()) == Some(true))
        .count()
}

/// Whether process `pid` has ended (or is not ours to see).
fn gone(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// Waits for child `pid`, killing it if it does not end within `limit`: its wait status.
fn reap(pid: libc::pid_t, limit: Duration) -> Result<i32, String> {
    let mut status = 0;
    let done = wait_until(limit, || {
        // SAFETY: `status` is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
    });
    if !done {
        // SAFETY: Our own child.
        unsafe {
            libc::kill(pid, SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        return Err(format!("child {pid} did not end within {limit:?}"));
    }
    Ok(status)
}

fn exited(status: i32) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

fn fork() -> Result<libc::pid_t, String> {
    // SAFETY: The children only use what the parent set up and end with _exit, or exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errname(errno())));
    }
    if pid == 0 {
        // SAFETY: No preconditions; a child must not outlive a fuzzer that died.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, SIGKILL) };
    }
    Ok(pid)
}

fn child_exit(code: i32) -> ! {
    // SAFETY: Ends the child at once, without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("line {}: {}", line!(), format!($($fmt)+)));
        }
    };
}

/// Waits until `w` sleeps in its wait: true then; false if the wait timed out at its
/// deadline first, which a stalled VM makes possible for the short deadlines; any other end
/// of the wait is a failure.
fn asleep_before(w: &Waiter, deadline: u64) -> Result<bool, String> {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if let Some(outcome) = w.poll(Duration::from_millis(1)) {
            let late = now_ns(libc::CLOCK_MONOTONIC) >= deadline;
            ensure!(
                late && outcome == (Err(ETIMEDOUT), POISON),
                "the wait returned {outcome:?} instead of sleeping"
            );
            return Ok(false);
        }
        if w.sleeping() {
            return Ok(true);
        }
    }
    Err(format!("the waiter did not sleep within {BOUND:?}"))
}

/// The objects a kill or exec scenario gives its child: a semaphore, an auto-reset event and a
/// mutex owned by 7, nothing signaled for the child's owners.
struct Blockers {
    s: OwnedFd,
    e: OwnedFd,
    m: OwnedFd,
}

impl Blockers {
    fn new(dev: &File) -> Result<Blockers, String> {
        Ok(Blockers {
            s: sem(dev, 0, 2)?,
            e: event(dev, false, false)?,
            m: mutex(dev, 7, 1)?,
        })
    }

    /// Starts `kinds.len()` threads, each blocked in a wait (`kinds` picks which) that only
    /// the end of the process can end.
    fn start_waiters(&self, dev: &File, kinds: &[u64]) {
        let (s, e, m) = (self.s.as_raw_fd(), self.e.as_raw_fd(), self.m.as_raw_fd());
        for (j, &kind) in kinds.iter().enumerate() {
            let dev = dev.as_raw_fd();
            thread::spawn(move || {
                let owner = 100 + j as u32;
                let deadline = in_ms(60_000);
                let _ = match kind {
                    0 => Wait::new(&[s, e]).by(owner).until(deadline).any(&dev),
                    1 => Wait::new(&[s, e]).by(owner).until(deadline).all(&dev),
                    _ => Wait::new(&[m, e]).by(owner).until(deadline).any(&dev),
                };
            });
        }
    }

    /// After the child is gone: nothing was taken by its waiters (beyond `taken` units of
    /// the semaphore, which it may have got before its end), and nothing it left behind takes
    /// what is released now.
    fn check_after(&self, dev: &File, racy: bool) -> TestResult {
        let left = count(&self.s)?;
        ensure!(
            left == 0 || racy && left == 1,
            "semaphore count {left} after the child's end"
        );
        ensure!(!signaled(&self.e)?, "the event became signaled");
        ensure!(
            mutex_state(&self.m) == Ok((7, 1)),
            "mutex {:?}",
            mutex_state(&self.m)
        );
        ensure!(sem_release(&self.s, 1) == Ok(left), "release");
        ensure!(event_set(&self.e) == Ok(0), "set");
        ensure!(mutex_unlock(&self.m, 7) == Ok(1), "unlock");
        // A waiter of the dead child would have taken these at once.
        ensure!(
            count(&self.s)? == left + 1,
            "a dead waiter took the semaphore"
        );
        ensure!(signaled(&self.e)?, "a dead waiter took the event");
        ensure!(
            mutex_state(&self.m) == Ok((0, 0)),
            "a dead waiter took the mutex"
        );
        let objs = [self.s.as_raw_fd(), self.e.as_raw_fd(), self.m.as_raw_fd()];
        let got = Wait::new(&objs).by(5).all(dev);
        ensure!(got == Ok(0), "wait-all afterwards: {got:?}");
        ensure!(mutex_state(&self.m) == Ok((5, 1)), "mutex after the wait");
        Ok(())
    }
}

impl Fuzz {
    fn new(seed: u64, verbose: bool, nth: Option<(FailNth, Failslab)>) -> Fuzz {
        let fds_at_start = fd_count();
        let dev = open_dev();
        let other = open_dev();
        Fuzz {
            rng: Rng(seed ^ 0x6e74_7379_6e63_0001),
            seed,
            iteration: 0,
            verbose,
            mem: Mem::new(),
            dev,
            inst: 1,
            other,
            other_inst: 2,
            next_inst: 3,
            pool: Vec::new(),
            pipe: pipe().expect("pipe"),
            checks: (0..CHECKS.len() + nth.is_some() as usize)
                .map(|_| Check::default())
                .collect(),
            errnos: BTreeMap::new(),
            fds_at_start,
            nth,
            enomem: 0,
        }
    }

    fn fail(&mut self, check: usize, msg: String) {
        let c = &mut self.checks[check];
        c.failures += 1;
        if c.first.len() < 5 {
            c.first.push(format!(
                "seed {} iteration {}: {msg}",
                self.seed, self.iteration
            ));
        }
    }

    fn trace(&self, msg: impl FnOnce() -> String) {
        if self.verbose {
            println!("# {} {}", self.iteration, msg());
        }
    }

    fn note_errno(&mut self, e: i32, what: impl FnOnce() -> String) {
        *self.errnos.entry(e).or_default() += 1;
        if !ALLOWED.contains(&e) {
            let msg = format!("{} from {}", errname(e), what());
            self.fail(ERRNOS, msg);
        }
    }

    fn target_fd(&self, t: Target) -> RawFd {
        match t {
            Target::Dev => self.dev.as_raw_fd(),
            Target::Other => self.other.as_raw_fd(),
            Target::Obj(i) => self.pool[i].fd.as_raw_fd(),
            Target::Pipe => self.pipe.0.as_raw_fd(),
            Target::Closed => CLOSED_FD,
            Target::Minus1 => -1,
        }
    }

    fn find(&self, fd: RawFd) -> Option<usize> {
        self.pool.iter().position(|e| e.fd.as_raw_fd() == fd)
    }

    // -----------------------------------------------------------------------------------
    // Single calls.

    fn pick_target(&mut self) -> Target {
        match self.rng.below(100) {
            0..=29 => Target::Dev,
            30..=33 => Target::Other,
            34..=89 if !self.pool.is_empty() => {
                Target::Obj(self.rng.below(self.pool.len() as u64) as usize)
            }
            34..=89 => Target::Dev,
            90..=94 => Target::Pipe,
            95..=97 => Target::Closed,
            _ => Target::Minus1,
        }
    }

    /// A command: mostly one the target knows, else any ntsync command, a neighbour of one,
    /// or garbage.
    fn pick_cmd(&mut self, t: Target) -> u32 {
        let r = self.rng.below(100);
        let valid = match (t, r) {
            (Target::Obj(i), 0..=64) => {
                let kind = self.pool[i].st.read_cmd();
                let mine: Vec<u32> = OBJECT_CMDS
                    .iter()
                    .copied()
                    .filter(|&c| self.kind_of_cmd(c) == Some(kind))
                    .collect();
                if self.rng.pct(80) {
                    self.rng.pick(&mine)
                } else {
                    self.rng.pick(&OBJECT_CMDS)
                }
            }
            (Target::Dev | Target::Other, 0..=64) => self.rng.pick(&DEVICE_CMDS),
            _ => {
                let all: Vec<u32> = DEVICE_CMDS.iter().chain(&OBJECT_CMDS).copied().collect();
                self.rng.pick(&all)
            }
        };
        match r {
            0..=79 => valid,
            80..=89 => match self.rng.below(4) {
                // Another direction.
                0 => (valid & !(3 << 30)) | ((self.rng.below(4) as u32) << 30),
                // Another size.
                1 => {
                    (valid & !(0x3fff << 16))
                        | ((self.rng.pick(&[0u32, 4, 8, 12, 40, 48, 0x3fff])) << 16)
                }
                // The next or previous number.
                2 => {
                    (valid & !0xff)
                        | ((valid & 0xff) as u8).wrapping_add(self.rng.pick(&[1u8, 255, 14, 242]))
                            as u32
                }
                // Another type.
                _ => (valid & !0xff00) | (self.rng.pick(b"MOn") as u32) << 8,
            },
            _ => loop {
                let mut cmd = self.rng.next() as u32;
                if self.rng.pct(60) {
                    cmd = (cmd & !0xff00) | (b'N' as u32) << 8;
                }
                if !VFS_TYPES.contains(&((cmd >> 8) & 0xff)) {
                    break cmd;
                }
            },
        }
    }

    /// The read command of the kind that `cmd` applies to.
    fn kind_of_cmd(&self, cmd: u32) -> Option<u32> {
        match cmd {
            IOC_SEM_RELEASE | IOC_SEM_READ => Some(IOC_SEM_READ),
            IOC_MUTEX_UNLOCK | IOC_MUTEX_KILL | IOC_MUTEX_READ => Some(IOC_MUTEX_READ),
            IOC_EVENT_SET | IOC_EVENT_RESET | IOC_EVENT_PULSE | IOC_EVENT_READ => {
                Some(IOC_EVENT_READ)
            }
            _ => None,
        }
    }

    /// An owner: a usual one, one that owns a mutex of the pool, or zero now and then.
    fn owner(&mut self) -> u32 {
        let owners: Vec<u32> = self
            .pool
            .iter()
            .filter_map(|e| match e.st {
                State::Mutex { owner, .. } if owner != 0 => Some(owner),
                _ => None,
            })
            .collect();
        match self.rng.below(20) {
            0 => 0,
            1..=8 if !owners.is_empty() => self.rng.pick(&owners),
            _ => self.rng.pick(&[1, 2, 3, 7, u32::MAX, 0x8000_0000]),
        }
    }

    /// The input words of a call.
    fn gen_words(&mut self, cmd: u32) -> [u32; 10] {
        let mut w = [FILL32; 10];
        match cmd {
            IOC_CREATE_SEM => {
                let max = self.rng.edgy();
                w[0] = if self.rng.pct(85) {
                    self.rng.below(max as u64 + 1) as u32
                } else {
                    self.rng.edgy()
                };
                w[1] = max;
            }
            IOC_CREATE_MUTEX => {
                let owned = self.rng.pct(50);
                w[0] = if owned { self.owner().max(1) } else { 0 };
                w[1] = if owned {
                    self.rng.pick(&[1, 2, u32::MAX - 1, u32::MAX])
                } else {
                    0
                };
                if self.rng.pct(10) {
                    w[self.rng.below(2) as usize] = self.rng.edgy();
                }
            }
            IOC_CREATE_EVENT => {
                w[0] = self.rng.pick(&[0, 1, 2, 0x8000_0000]);
                w[1] = self.rng.pick(&[0, 1, 0x100]);
            }
            IOC_SEM_RELEASE if self.rng.pct(85) => w[0] = self.rng.pick(&[0, 1, 1, 2, 3]),
            IOC_SEM_RELEASE => w[0] = self.rng.edgy(),
            IOC_MUTEX_UNLOCK => w[0] = self.owner(),
            IOC_MUTEX_KILL => w[0] = self.owner(),
            _ => {
                if !OBJECT_CMDS.contains(&cmd) && !DEVICE_CMDS.contains(&cmd) {
                    for x in &mut w {
                        *x = self.rng.edgy();
                    }
                }
            }
        }
        w
    }

    /// A wait's fds: mostly objects of instance `inst`, sometimes other descriptors.
    fn gen_fds(&mut self, inst: u32, n: usize) -> Vec<RawFd> {
        let mine: Vec<RawFd> = self
            .pool
            .iter()
            .filter(|e| e.inst == inst)
            .map(|e| e.fd.as_raw_fd())
            .collect();
        let any: Vec<RawFd> = self.pool.iter().map(|e| e.fd.as_raw_fd()).collect();
        let mut fds = Vec::with_capacity(n);
        for _ in 0..n {
            let r = self.rng.below(100);
            let fd = match r {
                0..=84 if !mine.is_empty() => self.rng.pick(&mine),
                85..=89 if !fds.is_empty() => self.rng.pick(&fds),
                90..=93 if !any.is_empty() => self.rng.pick(&any),
                _ => self.rng.pick(&[
                    self.pipe.0.as_raw_fd(),
                    CLOSED_FD,
                    -1,
                    self.dev.as_raw_fd(),
                    self.other.as_raw_fd(),
                    0,
                ]),
            };
            fds.push(fd);
        }
        fds
    }

    /// A wait call's arguments (the timeout is chosen once the result is known).
    fn gen_wait(&mut self, inst: u32, w: &mut [u32; 10]) -> (Vec<RawFd>, Ptr) {
        let n = match self.rng.below(100) {
            0..=9 => 0,
            10..=96 => 1 + self.rng.below(5) as usize,
            _ => 64,
        };
        let fds = self.gen_fds(inst, n);
        w[4] = n as u32;
        if self.rng.pct(3) {
            w[4] = self.rng.pick(&[65, 66, 0x8000_0000, u32::MAX]);
        }
        w[5] = FILL32;
        w[6] = match self.rng.below(100) {
            0..=89 => 0,
            90..=96 => WAIT_REALTIME,
            _ => self.rng.pick(&[2, 3, 0x8000_0000]),
        };
        w[7] = self.owner();
        w[8] = if self.rng.pct(70) {
            0
        } else {
            self.gen_fds(inst, 1)[0] as u32
        };
        w[9] = if self.rng.pct(97) { 0 } else { self.rng.edgy() };
        let fds_ptr = Ptr::random(&mut self.rng, 6);
        (fds, fds_ptr)
    }

    fn expect(&self, c: &Call) -> Expect {
        match c.target {
            Target::Closed | Target::Minus1 => Expect::err(EBADF),
            Target::Pipe => Expect::err(ENOTTY),
            Target::Dev | Target::Other if DEVICE_CMDS.contains(&c.cmd) => {
                let inst = if c.target == Target::Dev {
                    self.inst
                } else {
                    self.other_inst
                };
                self.expect_dev(inst, c)
            }
            Target::Obj(i) if OBJECT_CMDS.contains(&c.cmd) => self.expect_obj(i, c),
            _ => Expect::err(ENOTTY),
        }
    }

    fn expect_dev(&self, inst: u32, c: &Call) -> Expect {
        let w = &c.words;
        if !c.ptr.readable() {
            return Expect::err(EFAULT);
        }
        let created = match c.cmd {
            IOC_CREATE_SEM if w[0] > w[1] => return Expect::err(EINVAL),
            IOC_CREATE_SEM => State::Sem {
                count: w[0],
                max: w[1],
            },
            IOC_CREATE_MUTEX if (w[0] == 0) != (w[1] == 0) => return Expect::err(EINVAL),
            IOC_CREATE_MUTEX => State::Mutex {
                owner: w[0],
                count: w[1],
                dead: false,
            },
            IOC_CREATE_EVENT => State::Event {
                manual: w[0] != 0,
                signaled: w[1] != 0,
            },
            _ => return self.expect_wait(inst, c),
        };
        Expect {
            ret: Ok(Ret::Fd),
            created: Some(created),
            ..Expect::ok()
        }
    }

    fn expect_wait(&self, inst: u32, c: &Call) -> Expect {
        let w = &c.words;
        let (count, flags, owner, alert, pad) = (w[4], w[6], w[7], w[8], w[9]);
        if pad != 0 || flags & !WAIT_REALTIME != 0 || owner == 0 || count > 64 {
            return Expect::err(EINVAL);
        }
        if count > 0 && !c.fds_ptr.readable() {
            return Expect::err(EFAULT);
        }
        let mut idx = Vec::new();
        let alert_fd = (alert != 0).then_some(alert as RawFd);
        for &fd in c.fds.iter().chain(alert_fd.as_slice()) {
            match self.find(fd) {
                Some(i) if self.pool[i].inst == inst => idx.push(i),
                _ => return Expect::err(EINVAL),
            }
        }
        let all = c.cmd == IOC_WAIT_ALL;
        let n = count as usize;
        if all && (1..idx.len()).any(|k| idx[..k].contains(&idx[k])) {
            return Expect::err(EINVAL);
        }
        let signaled = |k: usize| self.pool[idx[k]].st.signaled_for(owner);
        // The positions acquired (wait-all: the whole set, which may be empty, else the
        // alert), and the index; none when the wait times out.
        let hit: Option<(Vec<usize>, u32)> = if all && (0..n).all(signaled) {
            Some(((0..n).collect(), 0))
        } else if all {
            (n < idx.len() && signaled(n)).then(|| (vec![n], n as u32))
        } else {
            (0..idx.len())
                .find(|&k| signaled(k))
                .map(|k| (vec![k], k as u32))
        };
        let mut e = Expect::err(ETIMEDOUT);
        if let Some((acquired, index)) = hit {
            let mut dead = false;
            for &k in &acquired {
                let mut st = self.pool[idx[k]].st;
                dead |= st.acquire(owner);
                e.changes.push((idx[k], st));
            }
            e.ret = if dead { Err(EOWNERDEAD) } else { Ok(Ret::Zero) };
            e = e.writing(c.ptr, vec![(20, index)]);
        }
        e.touched = idx;
        e
    }

    fn expect_obj(&self, i: usize, c: &Call) -> Expect {
        let st = self.pool[i].st;
        let w0 = c.words[0];
        let reads = matches!(c.cmd, IOC_SEM_RELEASE | IOC_MUTEX_UNLOCK | IOC_MUTEX_KILL);
        if reads && !c.ptr.readable() {
            return Expect::err(EFAULT);
        }
        if matches!(c.cmd, IOC_MUTEX_UNLOCK | IOC_MUTEX_KILL) && w0 == 0 {
            return Expect::err(EINVAL);
        }
        if self.kind_of_cmd(c.cmd) != Some(st.read_cmd()) {
            return Expect::err(EINVAL);
        }
        let mut e = Expect::ok();
        e.touched = vec![i];
        let mut new = st;
        let writes = match (c.cmd, &mut new) {
            (IOC_SEM_RELEASE, State::Sem { count, max }) => {
                match count.checked_add(w0).filter(|n| *n <= *max) {
                    None => return Expect::err(EOVERFLOW),
                    Some(n) => {
                        let prev = *count;
                        *count = n;
                        vec![(0, prev)]
                    }
                }
            }
            (IOC_SEM_READ, State::Sem { count, max }) => vec![(0, *count), (4, *max)],
            (IOC_MUTEX_UNLOCK, State::Mutex { owner, count, .. }) => {
                if *owner != w0 {
                    return Expect::err(EPERM);
                }
                let prev = *count;
                *count -= 1;
                if *count == 0 {
                    *owner = 0;
                }
                vec![(4, prev)]
            }
            (IOC_MUTEX_KILL, State::Mutex { owner, count, dead }) => {
                if *owner != w0 {
                    return Expect::err(EPERM);
                }
                (*owner, *count, *dead) = (0, 0, true);
                vec![]
            }
            (IOC_MUTEX_READ, State::Mutex { owner, count, dead }) => {
                if *dead {
                    e.ret = Err(EOWNERDEAD);
                }
                vec![(0, *owner), (4, *count)]
            }
            (IOC_EVENT_READ, State::Event { manual, signaled }) => {
                vec![(0, *manual as u32), (4, *signaled as u32)]
            }
            (cmd, State::Event { signaled, .. }) => {
                let prev = *signaled;
                *signaled = cmd == IOC_EVENT_SET;
                vec![(0, prev as u32)]
            }
            _ => unreachable!(),
        };
        e.changes = vec![(i, new)];
        if c.cmd == IOC_MUTEX_KILL {
            return e;
        }
        e.writing(c.ptr, writes)
    }

    /// One random single call, checked against the model.
    fn single(&mut self) {
        if self.pool.len() >= POOL_MAX || self.pool.len() > 4 && self.rng.pct(4) {
            let i = self.rng.below(self.pool.len() as u64) as usize;
            self.trace(|| format!("close {}", self.pool[i].fd.as_raw_fd()));
            self.pool.swap_remove(i);
        }
        if self.rng.pct(1) {
            // The old instance lives on in its objects, which now belong to another.
            self.dev = open_dev();
            self.inst = self.next_inst;
            self.next_inst += 1;
            self.trace(|| "reopen the device".into());
        }
        let target = self.pick_target();
        let cmd = self.pick_cmd(target);
        let mut words = self.gen_words(cmd);
        let ptr = Ptr::random(&mut self.rng, 12);
        let mut fds = Vec::new();
        let mut fds_ptr = Ptr::Ok(0);
        if cmd == IOC_WAIT_ANY || cmd == IOC_WAIT_ALL {
            let inst = if target == Target::Other {
                self.other_inst
            } else {
                self.inst
            };
            (fds, fds_ptr) = self.gen_wait(inst, &mut words);
        }
        let mut c = Call {
            target,
            fd: self.target_fd(target),
            cmd,
            words,
            ptr,
            fds,
            fds_ptr,
        };
        let e = self.expect(&c);
        if cmd == IOC_WAIT_ANY || cmd == IOC_WAIT_ALL {
            let clock = if c.words[6] & WAIT_REALTIME != 0 {
                libc::CLOCK_REALTIME
            } else {
                libc::CLOCK_MONOTONIC
            };
            // A wait that may sleep gets a deadline a few milliseconds away at most; one that
            // the model says will not sleep may have none, so that a wrong model hangs here.
            let timeout = match (e.ret, self.rng.below(10)) {
                (Err(ETIMEDOUT), 0..=1) => now_ns(clock) + (1 + self.rng.below(3)) * 1_000_000,
                (Err(ETIMEDOUT), _) => 0,
                (_, 0) => u64::MAX,
                _ => self.rng.pick(&[0, now_ns(clock)]),
            };
            (c.words[0], c.words[1]) = (timeout as u32, (timeout >> 32) as u32);
        }
        self.run_call(&c, e);
    }

    fn run_call(&mut self, c: &Call, e: Expect) {
        let size = if DEVICE_CMDS.contains(&c.cmd) || OBJECT_CMDS.contains(&c.cmd) {
            size_of_cmd(c.cmd)
        } else {
            40
        };
        let mut input = words_bytes(&c.words);
        input.truncate(size.max(4));
        let mut fds_addr = 0;
        if !c.fds.is_empty() {
            fds_addr = self.mem.place_fds(c.fds_ptr, &c.fds);
        }
        if c.cmd == IOC_WAIT_ANY || c.cmd == IOC_WAIT_ALL {
            input[8..16].copy_from_slice(&fds_addr.to_ne_bytes());
        }
        let addr = self.mem.place(c.ptr, &input);
        let arm = match self.nth {
            Some(_) if self.rng.pct(25) => Some(1 + self.rng.below(6) as u32),
            _ => None,
        };
        self.trace(|| format!("{c:x?} expect {:?}, fail allocation {arm:?}", e.ret));
        if let (Some(k), Some((nth, _))) = (arm, &self.nth) {
            nth.arm(k);
        }
        let got = ioctl_raw(c.fd, c.cmd, ioctl_arg(addr));
        let fired = arm.is_some() && self.nth.as_ref().is_some_and(|(nth, _)| nth.disarm());
        self.checks[CALLS].runs += 1;
        let device_cmd =
            matches!(c.target, Target::Dev | Target::Other) && DEVICE_CMDS.contains(&c.cmd);
        if arm.is_some() {
            self.checks[ALLOC].runs += 1;
        }
        let e = if fired && got == Err(ENOMEM) && device_cmd {
            // Failed cleanly: nothing made, nothing acquired, nothing written.
            self.enomem += 1;
            Expect {
                touched: e.touched,
                ..Expect::err(ENOMEM)
            }
        } else {
            e
        };
        if let Err(err) = got {
            self.note_errno(err, || format!("{c:x?}"));
        }
        let matches = match (got, e.ret) {
            (Ok(0), Ok(Ret::Zero)) => true,
            (Ok(fd), Ok(Ret::Fd)) => fd >= 0,
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if !matches {
            self.fail(
                CALLS,
                format!("{c:x?}: got {got:?}, the model says {:?}", e.ret),
            );
        }
        let creates = matches!(c.target, Target::Dev | Target::Other)
            && matches!(c.cmd, IOC_CREATE_SEM | IOC_CREATE_MUTEX | IOC_CREATE_EVENT);
        if let (Ok(fd), true) = (got, creates) {
            // SAFETY: A new descriptor that nothing else owns; closed at once if the model
            // did not expect it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            match e.created {
                Some(st) => {
                    let inst = if c.target == Target::Other {
                        self.other_inst
                    } else {
                        self.inst
                    };
                    self.pool.push(Entry { fd, inst, st });
                    self.verify(self.pool.len() - 1);
                }
                None => drop(fd),
            }
        }
        if let Ptr::Ok(off) = c.ptr {
            self.check_written(c, &input, off, &e, matches);
        }
        if matches {
            for &(i, st) in &e.changes {
                self.pool[i].st = st;
            }
        }
        let mut touched = e.touched.clone();
        if let Target::Obj(i) = c.target {
            touched.push(i);
        }
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            self.verify(i);
        }
    }

    /// The span around an argument after a call: the model's writes and nothing else.
    fn check_written(&mut self, c: &Call, input: &[u8], off: usize, e: &Expect, matches: bool) {
        let at = ARG_AT + off;
        let mut want = vec![FILL; SPAN];
        want[at..at + input.len()].copy_from_slice(input);
        if matches {
            for &(o, v) in &e.writes {
                want[at + o..at + o + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
        let got = self.mem.scratch()[..SPAN].to_vec();
        if got != want && matches {
            let diff: Vec<String> = (0..SPAN)
                .filter(|&k| got[k] != want[k])
                .take(12)
                .map(|k| {
                    format!(
                        "@{}: {:02x} (expected {:02x})",
                        k as isize - at as isize,
                        got[k],
                        want[k]
                    )
                })
                .collect();
            self.fail(CALLS, format!("{c:x?}: bytes written: {}", diff.join(", ")));
        }
    }

    /// Reads pool object `i` back: the model's state, and one that makes sense.
    fn verify(&mut self, i: usize) {
        self.checks[STATES].runs += 1;
        let e = &self.pool[i];
        let fd = e.fd.as_raw_fd();
        match read_state(fd, &e.st) {
            Ok(st) if st == e.st => {}
            Ok(st) => {
                let want = e.st;
                self.fail(STATES, format!("fd {fd}: {st:?}, the model says {want:?}"));
                self.pool[i].st = st;
            }
            Err(msg) => self.fail(STATES, format!("fd {fd}: {msg}")),
        }
    }

    fn verify_all(&mut self) {
        for i in 0..self.pool.len() {
            self.verify(i);
        }
    }

    /// The descriptors the fuzzer holds between iterations: none leaked.
    fn check_fds(&mut self, what: &str) {
        // The device, the other device and the pipe, besides the pool.
        let want = self.fds_at_start + 4 + self.pool.len();
        let got = fd_count();
        if got != want {
            self.fail(
                FD_TABLE,
                format!("after {what}: {got} descriptors, expected {want}"),
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // Scenarios.

    fn scenario(&mut self, which: usize) {
        ACTION.store(
            match which {
                CLOSE => 1,
                CLOSE_RACE => 8,
                FORK => 2,
                KILL => 3,
                EXEC => 4,
                STORM => 5,
                _ => 6,
            },
            Relaxed,
        );
        let check = if which == CLOSE_RACE { CLOSE } else { which };
        self.checks[check].runs += 1;
        let result = match which {
            CLOSE_RACE => self.close_race(),
            CLOSE => self.close_during_wait(),
            FORK => self.fork_inherit(),
            KILL => self.kill_during_wait(false),
            EXEC => self.kill_during_wait(true),
            STORM => self.signal_storm(),
            _ => self.emfile(),
        };
        if let Err(msg) = result {
            self.fail(check, msg);
        }
        self.check_fds(CHECKS[check]);
        ACTION.store(0, Relaxed);
    }

    /// Descriptors closed by another thread while a wait uses them: the object's (while a
    /// duplicate lives on) and the device's that the wait was issued on.
    fn close_during_wait(&mut self) -> TestResult {
        let all = self.rng.pct(40);
        let wake = self.rng.below(3);
        let close_sem = self.rng.pct(70);
        let close_dev = self.rng.pct(50);
        self.trace(|| {
            format!("close_during_wait all {all} wake {wake} sem {close_sem} dev {close_dev}")
        });
        let s = sem(&self.dev, 0, 1)?;
        let e = event(&self.dev, false, false)?;
        let s2 = dup(&s)?;
        let dev2 = dup(&self.dev)?;
        let objs = [s.as_raw_fd(), e.as_raw_fd()];
        // Woken: the deadline is far; else it is what ends the wait.
        let woken = wake == 0 || wake == 1 && !all;
        let deadline = in_ms(if woken {
            10_000
        } else {
            50 + self.rng.below(100)
        });
        let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
        let w = Waiter::spawn_on(
            dev2.as_raw_fd(),
            cmd,
            &Wait::new(&objs).by(3).until(deadline),
        );
        if !asleep_before(&w, deadline)? {
            ensure!(!woken, "a wait with a far deadline timed out");
            ensure!(
                count(&s2)? == 0 && !signaled(&e)?,
                "the early timeout took something"
            );
            return Ok(());
        }
        let mut s = Some(s);
        let mut dev2 = Some(dev2);
        if close_sem {
            drop(s.take());
        }
        if close_dev {
            drop(dev2.take());
        }
        match wake {
            0 => {
                ensure!(sem_release(&s2, 1) == Ok(0), "release");
                if all {
                    ensure!(event_set(&e) == Ok(0), "set");
                }
            }
            1 => ensure!(event_set(&e) == Ok(0), "set"),
            _ => {}
        }
        let got = w.join(BOUND)?;
        let want = match (woken, wake) {
            (true, 0) => (Ok(()), 0),
            (true, _) => (Ok(()), 1),
            _ => (Err(ETIMEDOUT), POISON),
        };
        ensure!(got == want, "wait: {got:?}, expected {want:?}");
        ensure!(count(&s2)? == 0, "semaphore {}", count(&s2)?);
        // An auto-reset event is consumed only by the wait that acquired it.
        let set_left = wake == 1 && all;
        ensure!(signaled(&e)? == set_left, "event {}", signaled(&e)?);
        drop(s);
        drop(dev2);
        Ok(())
    }

    /// Waits by another thread on one descriptor number while this one closes it, or
    /// replaces (dup2) its file by another object, a pipe or the original: each wait takes what
    /// the number refers to at that moment, or fails with EINVAL, or times out.
    fn close_race(&mut self) -> TestResult {
        let rounds = 20 + self.rng.below(60);
        let ops: Vec<u64> = (0..rounds).map(|_| self.rng.below(5)).collect();
        let all = self.rng.pct(30);
        self.trace(|| format!("close_race all {all} ops {ops:?}"));
        let s = sem(&self.dev, 0, u32::MAX)?;
        let e = event(&self.dev, true, true)?;
        let m = mutex(&self.dev, 0, 0)?;
        let (pipe_rd, _pipe_wr) = pipe().expect("pipe");
        let slot = dup(&s)?;
        let fd = slot.as_raw_fd();
        let dev = dup(&self.dev)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
        let waiter = thread::spawn(move || {
            let mut odd = Vec::new();
            let mut waits = 0u64;
            while !stopped.load(Relaxed) || waits == 0 {
                waits += 1;
                let got = Wait::new(&[fd]).by(2).outcome(&dev, cmd);
                if !matches!(got, (Ok(()), 0) | (Err(ETIMEDOUT | EINVAL), POISON)) {
                    odd.push(got);
                }
            }
            (waits, odd)
        });
        for op in ops {
            let src = match op {
                0 => s.as_raw_fd(),
                1 => e.as_raw_fd(),
                2 => m.as_raw_fd(),
                3 => pipe_rd.as_raw_fd(),
                _ => -1,
            };
            // SAFETY: `fd` is ours (`slot`) and stays open under that number, or is closed
            // here and made again by the next dup2; nothing else opens descriptors meanwhile.
            unsafe {
                if src < 0 {
                    libc::close(fd);
                } else {
                    libc::dup2(src, fd);
                }
            }
            if op == 0 {
                ensure!(sem_release(&s, 1).is_ok(), "release");
            }
            thread::sleep(Duration::from_micros(self.rng.below(300)));
        }
        stop.store(true, Relaxed);
        let (waits, odd) = waiter.join().map_err(|_| "the waiting thread panicked")?;
        // SAFETY: As above: `fd` is open again before `slot` closes it.
        unsafe { libc::dup2(s.as_raw_fd(), fd) };
        drop(slot);
        ensure!(odd.is_empty(), "{waits} waits, unexpected results: {odd:?}");
        ensure!(signaled(&e)?, "the manual event was consumed");
        let (owner, count) = mutex_state(&m).map_err(|e| format!("MUTEX_READ: {}", errname(e)))?;
        ensure!(owner == 0 || owner == 2, "mutex owner {owner}");
        for _ in 0..count {
            ensure!(mutex_unlock(&m, 2).is_ok(), "unlock");
        }
        ensure!(mutex_state(&m) == Ok((0, 0)), "mutex after unlocking");
        Ok(())
    }

    /// A child inherits the device and objects, uses them, and sleeps in a wait that the
    /// parent ends; the parent may have closed its own copies first.
    fn fork_inherit(&mut self) -> TestResult {
        let parent_drops = self.rng.pct(30);
        self.trace(|| format!("fork_inherit drops {parent_drops}"));
        let s = sem(&self.dev, 0, 5)?;
        let m = mutex(&self.dev, 9, 1)?;
        let e = event(&self.dev, true, false)?;
        let gate = sem(&self.dev, 0, 1)?;
        let (rd, wr) = pipe().expect("pipe");
        let pid = fork()?;
        if pid == 0 {
            drop(wr);
            let code = fork_child(&self.dev, &rd, [&s, &m, &e, &gate]);
            child_exit(code);
        }
        drop(rd);
        let mut kept = Some((s, m, e));
        if parent_drops {
            drop(kept.take());
        }
        // SAFETY: One byte from a local.
        let go = unsafe { libc::write(wr.as_raw_fd(), b"g".as_ptr().cast(), 1) };
        let asleep = go == 1 && wait_until(BOUND, || ioctl_sleepers(pid) == 1 || gone(pid));
        let asleep = asleep && !gone(pid);
        let released = sem_release(&gate, 1);
        let status = reap(pid, BOUND)?;
        ensure!(asleep, "the child did not sleep in its wait");
        ensure!(released == Ok(0), "release: {released:?}");
        ensure!(exited(status) == Some(0), "child status {status:#x}");
        ensure!(count(&gate)? == 0, "the child did not take the semaphore");
        if let Some((s, m, e)) = kept {
            ensure!(count(&s)? == 1, "semaphore {}", count(&s)?);
            ensure!(
                mutex_read(&m) == (Err(EOWNERDEAD), MutexArgs::default()),
                "mutex {:?}",
                mutex_read(&m)
            );
            ensure!(signaled(&e)?, "event");
            let got = Wait::new(&[m.as_raw_fd()])
                .by(9)
                .outcome(&self.dev, IOC_WAIT_ANY);
            ensure!(
                got == (Err(EOWNERDEAD), 0),
                "wait on the abandoned mutex: {got:?}"
            );
        }
        Ok(())
    }

    /// A child with threads blocked in waits is killed, or execs: the waits end with the
    /// threads, and leave the objects as they were and usable.
    fn kill_during_wait(&mut self, exec: bool) -> TestResult {
        let threads = 1 + self.rng.below(4) as usize;
        let kinds: Vec<u64> = (0..threads).map(|_| self.rng.below(3)).collect();
        // A release just before the kill: one of the child's waiters may get it first.
        let racy = !exec && self.rng.pct(30);
        self.trace(|| format!("kill_during_wait exec {exec} kinds {kinds:?} racy {racy}"));
        let b = Blockers::new(&self.dev)?;
        let pid = fork()?;
        if pid == 0 {
            b.start_waiters(&self.dev, &kinds);
            if exec {
                let ok = wait_until(BOUND, || {
                    ioctl_sleepers(std::process::id() as i32) == threads
                });
                if !ok {
                    child_exit(2);
                }
                exec_check(&[
                    self.dev.as_raw_fd(),
                    b.s.as_raw_fd(),
                    b.e.as_raw_fd(),
                    b.m.as_raw_fd(),
                ]);
            }
            loop {
                // SAFETY: No preconditions.
                unsafe { libc::pause() };
            }
        }
        if exec {
            let status = reap(pid, BOUND)?;
            ensure!(exited(status) == Some(0), "exec'd child status {status:#x}");
        } else {
            let asleep = wait_until(BOUND, || ioctl_sleepers(pid) == threads || gone(pid));
            let asleep = asleep && !gone(pid);
            if racy {
                ensure!(sem_release(&b.s, 1) == Ok(0), "release");
            }
            // SAFETY: Our own child.
            unsafe { libc::kill(pid, SIGKILL) };
            let status = reap(pid, BOUND)?;
            ensure!(asleep, "the child's threads did not block");
            ensure!(
                libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == SIGKILL,
                "child status {status:#x}"
            );
        }
        b.check_after(&self.dev, racy)
    }

    /// Signals sent to a sleeping waiter: with SA_RESTART the wait goes on (keeping its
    /// deadline), without it ends with EINTR; an acquisition is never lost.
    fn signal_storm(&mut self) -> TestResult {
        let restart = self.rng.pct(50);
        let sig = if restart { SIGUSR2 } else { SIGUSR1 };
        let all = self.rng.pct(40);
        let release = self.rng.pct(60);
        let signals = 3 + self.rng.below(30);
        let release_at = self.rng.below(signals + 1);
        let to_process = self.rng.pct(20);
        let gaps: Vec<u64> = (0..signals).map(|_| self.rng.below(200)).collect();
        self.trace(|| {
            format!("signal_storm restart {restart} all {all} release {release}@{release_at} signals {signals} process {to_process}")
        });
        let s = sem(&self.dev, 0, 1)?;
        let e = event(&self.dev, true, true)?;
        let objs = if all {
            vec![s.as_raw_fd(), e.as_raw_fd()]
        } else {
            vec![s.as_raw_fd()]
        };
        // Far when something must end the wait first.
        let far = release || !restart && !to_process;
        let deadline = in_ms(if far {
            10_000
        } else {
            100 + self.rng.below(100)
        });
        let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
        let w = Waiter::spawn(&self.dev, cmd, &Wait::new(&objs).by(4).until(deadline));
        if !asleep_before(&w, deadline)? {
            ensure!(!far, "a wait with a far deadline timed out");
            ensure!(
                count(&s)? == 0 && signaled(&e)?,
                "the early timeout took something"
            );
            return Ok(());
        }
        for (n, gap) in gaps.iter().enumerate() {
            if release && n as u64 == release_at {
                ensure!(sem_release(&s, 1) == Ok(0), "release");
            }
            if to_process {
                // SAFETY: Signalling ourselves; every thread has a handler.
                unsafe { libc::kill(libc::getpid(), sig) };
            } else {
                w.signal(sig);
            }
            thread::sleep(Duration::from_micros(*gap));
        }
        if release && release_at == signals {
            ensure!(sem_release(&s, 1) == Ok(0), "release");
        }
        let got = w.join(BOUND)?;
        let now = now_ns(libc::CLOCK_MONOTONIC);
        let left = count(&s)?;
        let ok = match got {
            (Ok(()), 0) => release && left == 0,
            (Err(EINTR), POISON) => !restart && left == release as u32,
            (Err(ETIMEDOUT), POISON) => !far && left == 0 && now >= deadline,
            _ => false,
        };
        ensure!(ok, "wait: {got:?} with {left} unit(s) left");
        ensure!(signaled(&e)?, "the manual event was consumed");
        Ok(())
    }

    /// Creation with no descriptor left fails with EMFILE (after the argument checks), and
    /// leaves the descriptor table as it was.
    fn emfile(&mut self) -> TestResult {
        let which = self.rng.below(4);
        self.trace(|| format!("emfile {which}"));
        let before = fd_count();
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: Valid out-pointer.
        ensure!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } == 0,
            "getrlimit"
        );
        let lowest = dup(&self.dev)?.as_raw_fd();
        let limited = libc::rlimit {
            rlim_cur: lowest as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        // SAFETY: Valid in-pointer.
        ensure!(
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limited) } == 0,
            "setrlimit"
        );
        let got = match which {
            0 => create_sem(&self.dev, 0, 1).err(),
            1 => create_mutex(&self.dev, 3, 1).err(),
            2 => create_event(&self.dev, true, false).err(),
            _ => create_sem(&self.dev, 2, 1).err(),
        };
        // SAFETY: Valid in-pointer.
        ensure!(
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) } == 0,
            "setrlimit"
        );
        let want = if which == 3 { EINVAL } else { EMFILE };
        ensure!(
            got == Some(want),
            "creation: {got:?}, expected {}",
            errname(want)
        );
        ensure!(
            fd_count() == before,
            "descriptors {before} -> {}",
            fd_count()
        );
        sem(&self.dev, 0, 1)?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------

    fn run(&mut self, until: Instant) {
        let start = Instant::now();
        // SAFETY: Querying whether an fd is open.
        assert!(
            unsafe { libc::fcntl(CLOSED_FD, libc::F_GETFD) } < 0,
            "fd {CLOSED_FD} is open"
        );
        install_handler(SIGUSR1, false);
        install_handler(SIGUSR2, true);
        let mut scenarios = 0;
        while (self.iteration as usize) < SCENARIOS.len() || Instant::now() < until {
            PROGRESS.store(self.iteration, Relaxed);
            let first = SCENARIOS.get(self.iteration as usize).copied();
            let which = first.or_else(|| match self.rng.below(1000) {
                0..=3 => Some(CLOSE),
                4..=5 => Some(CLOSE_RACE),
                6..=8 => Some(FORK),
                9..=10 => Some(KILL),
                11..=12 => Some(EXEC),
                13..=18 => Some(STORM),
                19..=20 => Some(EMFILE_CHECK),
                _ => None,
            });
            match which {
                Some(s) => {
                    scenarios += 1;
                    self.scenario(s);
                }
                None => self.single(),
            }
            if self.iteration.is_multiple_of(256) {
                self.verify_all();
                self.check_fds("a round of single calls");
            }
            self.iteration += 1;
        }
        ACTION.store(7, Relaxed);
        self.verify_all();
        self.check_fds("the last iteration");
        println!(
            "# seed {}: {} iterations in {:.1} s ({} single calls, {} scenarios)",
            self.seed,
            self.iteration,
            start.elapsed().as_secs_f64(),
            self.checks[CALLS].runs,
            scenarios
        );
    }

    fn report(mut self) -> usize {
        let pool = std::mem::take(&mut self.pool);
        drop(pool);
        let Fuzz {
            dev,
            other,
            pipe,
            checks,
            errnos,
            fds_at_start,
            nth,
            enomem,
            ..
        } = self;
        drop((dev, other, pipe));
        let fds_at_end = fd_count();
        // failslab put back, and its descriptor (counted at the start) closed.
        drop(nth);
        let counts: Vec<String> = errnos
            .iter()
            .map(|(e, n)| format!("{} {n}", errname(*e)))
            .collect();
        let mut results: Vec<(String, TestResult)> = Vec::new();
        for (k, c) in checks.iter().enumerate() {
            let name = CHECKS.get(k).copied().unwrap_or("allocation_failures");
            let what = match k {
                CALLS => format!("{name}: {} calls as modelled", c.runs),
                ERRNOS => format!("{name}: all allowed ({})", counts.join(", ")),
                STATES => format!("{name}: {} read back as modelled", c.runs),
                NO_HANG => format!("{name}: no iteration stalled for {STALL:?}"),
                FD_TABLE => {
                    format!("{name}: {fds_at_start} descriptors at the start and at the end")
                }
                ALLOC => format!(
                    "{name}: {} faults injected in {} calls, {enomem} of them failed with ENOMEM",
                    INJECTED.load(Relaxed),
                    c.runs
                ),
                _ => format!("{name}: {} runs", c.runs),
            };
            let mut result = if c.failures == 0 {
                Ok(())
            } else {
                Err(format!("{} failures\n{}", c.failures, c.first.join("\n")))
            };
            if SCENARIOS.contains(&k) && c.runs == 0 {
                result = Err("never ran".into());
            }
            if k == ALLOC && INJECTED.load(Relaxed) == 0 {
                result = Err("no fault was injected".into());
            }
            if k == FD_TABLE && result.is_ok() && fds_at_end != fds_at_start {
                result = Err(format!(
                    "{fds_at_start} descriptors at the start, {fds_at_end} at the end"
                ));
            }
            results.push((what, result));
        }
        tap::report(&results)
    }
}

/// The steps of the child of `fork_inherit`, with raw calls only: its exit code, 0 when all
/// went as expected, else the number of the failed step.
fn fork_child(dev: &File, go: &OwnedFd, [s, m, e, gate]: [&OwnedFd; 4]) -> i32 {
    let mut byte = 0u8;
    // SAFETY: One byte into a local.
    if unsafe { libc::read(go.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) } != 1 {
        return 1;
    }
    let steps: [&dyn Fn() -> bool; 8] = [
        &|| sem_release(s, 2) == Ok(0),
        &|| Wait::new(&[s.as_raw_fd()]).by(50).any(dev) == Ok(0),
        &|| mutex_unlock(m, 9) == Ok(1),
        &|| Wait::new(&[m.as_raw_fd()]).by(50).any(dev) == Ok(0),
        &|| mutex_kill(m, 50) == Ok(()),
        &|| event_set(e) == Ok(0),
        &|| create_sem(dev, 1, 1).is_ok(),
        // Sleeps until the parent releases it.
        &|| {
            Wait::new(&[gate.as_raw_fd()])
                .by(50)
                .until(in_ms(30_000))
                .any(dev)
                == Ok(0)
        },
    ];
    for (k, step) in steps.iter().enumerate() {
        if !step() {
            return 10 + k as i32;
        }
    }
    0
}

/// Replaces this process (whose other threads wait) by `ntsync-fuzz --exec-check FD...`.
fn exec_check(fds: &[RawFd]) -> ! {
    let mut args = vec![c"ntsync-fuzz".to_owned(), c"--exec-check".to_owned()];
    for fd in fds {
        args.push(std::ffi::CString::new(fd.to_string()).unwrap());
    }
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: A NUL-terminated path and a NULL-terminated array of C strings that outlive
    // the call.
    unsafe { libc::execv(c"/proc/self/exe".as_ptr(), argv.as_ptr()) };
    child_exit(4)
}

/// After an exec: no ntsync descriptor came along (they are all close-on-exec).
fn exec_checked(fds: &[String]) -> ! {
    for fd in fds {
        let fd: RawFd = fd.parse().unwrap_or(-1);
        // SAFETY: Querying whether an fd is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            child_exit(5);
        }
    }
    let leaked = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten().any(|f| {
                std::fs::read_link(f.path()).is_ok_and(|l| {
                    let l = l.to_string_lossy();
                    l == "anon_inode:ntsync" || l == "/dev/ntsync"
                })
            })
        })
        .unwrap_or(true);
    child_exit(if leaked { 6 } else { 0 })
}

/// Fails the run if an iteration makes no progress for `STALL`.
fn watchdog() {
    thread::spawn(|| {
        let mut last = u64::MAX;
        let mut since = Instant::now();
        loop {
            thread::sleep(Duration::from_secs(1));
            let now = PROGRESS.load(Relaxed);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= STALL {
                let action = ACTIONS[ACTION.load(Relaxed) as usize];
                println!(
                    "not ok {} - no_hang: iteration {now} ({action}) made no progress for {STALL:?}",
                    NO_HANG + 1
                );
                std::process::exit(1);
            }
        }
    });
}

fn usage() -> ! {
    eprintln!("usage: ntsync-fuzz [-v] [--failslab] SEED SECONDS");
    std::process::exit(2)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--exec-check") {
        exec_checked(&args[1..]);
    }
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let verbose = flag("-v");
    let failslab = flag("--failslab");
    let [seed, secs] = args.as_slice() else {
        usage()
    };
    let (Ok(seed), Ok(secs)) = (seed.parse::<u64>(), secs.parse::<f64>()) else {
        usage()
    };
    let mut names = CHECKS.to_vec();
    if failslab {
        names.push("allocation_failures");
    }
    tap::plan(&names);
    let nth = failslab.then(|| {
        let setup = Failslab::enable().and_then(|f| Ok((FailNth::open()?, f)));
        setup.unwrap_or_else(|e| {
            println!("not ok {} - allocation_failures: {e}", names.len());
            std::process::exit(1)
        })
    });
    watchdog();
    let mut fuzz = Fuzz::new(seed, verbose, nth);
    fuzz.run(Instant::now() + Duration::from_secs_f64(secs));
    let failed = fuzz.report();
    std::process::exit(failed.min(100) as i32);
}
