// SPDX-License-Identifier: GPL-2.0

//! An end-to-end test of `/dev/ntsync` used the way an NT emulator's server and its client
//! processes use it, for either driver.
//!
//! Usage: `ntsync-wine [--clients N] [--threads N] [--objects N] [--generations N]
//! [--pingpong N] [--pulses N] [--rounds N] [--guard SECONDS]`
//!
//! One server process opens the device once and creates every object: a private set of
//! events, mutexes and semaphores per client thread slot, objects shared between the clients,
//! and a manual-reset "alert" event for each client thread when it starts. The clients are
//! forked before the device is opened, so they inherit no object: they get the device
//! descriptor over a unix socket with `SCM_RIGHTS`, then each object's descriptor on first use
//! of its handle, and cache it per handle; a duplicated handle gets a descriptor of its own for
//! the same object. The server hands out thread ids (multiples of 4 from 0x20, the one asked
//! for if it is free, else the lowest free one, so that ids are reused) and, when a thread
//! exits, kills every mutex it has on behalf of that id, ignoring the result.
//!
//! Each client runs four phases, each with `--threads` threads at once (defaults: 4 clients
//! of 64 threads, at least 4,096 objects):
//!
//! 1. thread slots: `--generations` threads in turn per slot run a fixed sequence on the
//!    slot's private objects (timeouts of every kind, indices, wait-all atomicity, limits,
//!    recursion, duplicated handles, alerts), every even one exiting with a mutex held, which
//!    the next one, under the same thread id, must find abandoned;
//! 2. ping-pong: two threads in different clients signal and wait `--pingpong` times through
//!    two auto events or two semaphores;
//! 3. fake pulse: a thread sets an event and resets it at once while 1 (auto) or 3 (manual)
//!    waiters sleep on it, `--pulses` times, then the server alerts each waiter;
//! 4. contended: `--rounds` rounds of two semaphore units in and out through wait-all and
//!    wait-any over 16 shared semaphores, and a recursive acquisition of one of 8 shared
//!    mutexes, some threads exiting with it held.
//!
//! Client threads wait as an NT runtime does: owner = thread id, alert = the thread's own
//! event, at most 64 objects, wait-all only for several objects, deadlines infinite, absolute
//! monotonic, absolute realtime or "now", and a wait interrupted by a signal is run again
//! unchanged while a storm of signals (a handler without `SA_RESTART`) hits the client
//! threads. Every result is checked against the NT status it would become, exactly where the
//! outcome is determined, and through invariants where scheduling decides (semaphore units
//! conserved, mutual exclusion, every abandonment seen exactly once, every waiter woken).
//!
//! Prints TAP, one test point per scenario, and exits nonzero on any failure.

use ntsync_selftests::rng::Rng;
use ntsync_selftests::tap;
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::task::{gettid, thread_in_ioctl};
use ntsync_selftests::unix::{recv_with_fd, send_with_fd, socketpair};
use ntsync_selftests::{
    errname, errno, event_read, event_reset, event_set, install_handler, ioctl, mutex_read,
    mutex_unlock, now_ns, sem_read, sem_release, Errno, WaitArgs, INFINITE, IOC_CREATE_EVENT,
    IOC_CREATE_MUTEX, IOC_CREATE_SEM, IOC_MUTEX_KILL, IOC_WAIT_ALL, IOC_WAIT_ANY, MAX_WAIT_COUNT,
    POISON, WAIT_REALTIME,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::exit;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The scale and the hang guard, from the command line.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    /// Client processes.
    clients: usize,
    /// Thread slots per client; each scenario runs this many threads per client at once.
    threads: usize,
    /// Objects the server creates up front, at least.
    objects: usize,
    /// How many threads in turn run in each slot (each exits before the next starts).
    generations: usize,
    /// Round trips of each signal-and-wait pair.
    pingpong: usize,
    /// Fake pulses per pulse group.
    pulses: usize,
    /// Rounds of the contended scenario per thread.
    rounds: usize,
    /// Seconds after which the run counts as hung.
    guard: u64,
}

const USAGE: &str = "usage: ntsync-wine [--clients N] [--threads N] [--objects N] \
[--generations N] [--pingpong N] [--pulses N] [--rounds N] [--guard SECONDS]";

impl Cfg {
    fn parse() -> Cfg {
        let mut cfg = Cfg {
            clients: 4,
            threads: 64,
            objects: 4096,
            generations: 2,
            pingpong: 10_000,
            pulses: 4,
            rounds: 8,
            guard: 600,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bad = || -> ! {
            eprintln!("{USAGE}");
            exit(2);
        };
        let mut it = args.iter();
        while let Some(opt) = it.next() {
            let value: u64 = it
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| bad());
            let v = value as usize;
            match opt.as_str() {
                "--clients" => cfg.clients = v,
                "--threads" => cfg.threads = v,
                "--objects" => cfg.objects = v,
                "--generations" => cfg.generations = v,
                "--pingpong" => cfg.pingpong = v,
                "--pulses" => cfg.pulses = v,
                "--rounds" => cfg.rounds = v,
                "--guard" => cfg.guard = value,
                _ => bad(),
            }
        }
        // Cross-process pairs need two clients, and a pulse group four threads.
        if !(2..=64).contains(&cfg.clients)
            || !(8..=1024).contains(&cfg.threads)
            || !cfg.threads.is_multiple_of(4)
            || cfg.generations == 0
        {
            bad();
        }
        cfg
    }
}

/// Objects per thread slot: four each of manual events, auto events, mutexes and semaphores
/// (count 0, maximum 2), interleaved in that order.
const PRIVATE: usize = 16;
/// Shared semaphores and mutexes of the contended scenario.
const CSEMS: usize = 16;
const CMUTEXES: usize = 8;
/// Manual events that are never signaled, at least enough to fill a 64-object wait.
const MIN_NEVER: usize = MAX_WAIT_COUNT - 1;

/// Where each static object's handle is. The server creates them in this order, so that the
/// handle of an object is its index, known to every client without asking.
#[derive(Clone, Copy, Debug)]
struct Layout {
    cfg: Cfg,
    pingpong: usize,
    pulse: usize,
    csem: usize,
    cmutex: usize,
    never: usize,
    nevers: usize,
    total: usize,
}

impl Layout {
    fn new(cfg: Cfg) -> Layout {
        let private = cfg.clients * cfg.threads * PRIVATE;
        let pingpong = private;
        let pulse = pingpong + 2 * cfg.clients;
        let csem = pulse + cfg.clients * (cfg.threads / 4);
        let cmutex = csem + CSEMS;
        let never = cmutex + CMUTEXES;
        let nevers = MIN_NEVER.max(cfg.objects.saturating_sub(never));
        Layout {
            cfg,
            pingpong,
            pulse,
            csem,
            cmutex,
            never,
            nevers,
            total: never + nevers,
        }
    }

    /// The first private handle of slot `slot` of client `client`.
    fn private(&self, client: usize, slot: usize) -> u32 {
        ((client * self.cfg.threads + slot) * PRIVATE) as u32
    }

    /// Pair `pair`'s two objects: auto events for even pairs, semaphores (0, 1) for odd.
    fn pair(&self, pair: usize) -> [u32; 2] {
        let h = (self.pingpong + 2 * pair) as u32;
        [h, h + 1]
    }

    /// The event of pulse group `group` of client `client`: auto for even groups, manual for
    /// odd.
    fn pulse_event(&self, client: usize, group: usize) -> u32 {
        (self.pulse + client * (self.cfg.threads / 4) + group) as u32
    }

    fn csem(&self, i: usize) -> u32 {
        (self.csem + i) as u32
    }

    fn cmutex(&self, i: usize) -> u32 {
        (self.cmutex + i) as u32
    }

    fn never(&self, i: usize) -> u32 {
        (self.never + i % self.nevers) as u32
    }

    /// What the server creates at handle `h`.
    fn kind(&self, h: usize) -> Kind {
        if h < self.pingpong {
            match h % 4 {
                0 => Kind::Event { manual: true },
                1 => Kind::Event { manual: false },
                2 => Kind::Mutex,
                _ => Kind::Sem { max: 2 },
            }
        } else if h < self.pulse {
            if ((h - self.pingpong) / 2).is_multiple_of(2) {
                Kind::Event { manual: false }
            } else {
                Kind::Sem { max: 1 }
            }
        } else if h < self.csem {
            Kind::Event {
                manual: (h - self.pulse) % (self.cfg.threads / 4) % 2 == 1,
            }
        } else if h < self.cmutex {
            Kind::Sem { max: 1_000_000 }
        } else if h < self.never {
            Kind::Mutex
        } else {
            Kind::Event { manual: true }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Event { manual: bool },
    Mutex,
    Sem { max: u32 },
}

/// The test points, in plan order; client failures name one.
const POINTS: [&str; 9] = [
    "server creates every object and passes the device to every client",
    "object descriptors passed lazily per handle; a duplicated handle's descriptor is the same object",
    "NT results of waits, releases and unlocks (index, alerted, timeouts of every kind, EOVERFLOW, EPERM, recursion)",
    "thread exit kills every mutex (EPERM or success only); the next acquirer sees EOWNERDEAD, also with a reused thread id",
    "signal-and-wait ping-pong across processes (auto events and semaphores)",
    "fake pulse (set then reset) wakes blocked waiters of auto and manual events; alert while blocked",
    "contended waits across processes: semaphore units conserved, mutual exclusion, every abandonment seen once",
    "waits interrupted by signals (EINTR) are retried unchanged and happen",
    "every thread finished and exited: nothing left blocked, every alert event closed",
];
const P_OBJECTS: u32 = 0;
const P_FDS: u32 = 1;
const P_RESULTS: u32 = 2;
const P_ABANDON: u32 = 3;
const P_PINGPONG: u32 = 4;
const P_PULSE: u32 = 5;
const P_CONTENDED: u32 = 6;
const P_EINTR: u32 = 7;
const P_FINISHED: u32 = 8;

/// Requests from a client thread to the server; each gets one reply.
const OP_GET_FD: u32 = 1;
const OP_DUP: u32 = 2;
const OP_CLOSE: u32 = 3;
const OP_THREAD_START: u32 = 4;
const OP_THREAD_EXIT: u32 = 5;
const OP_ALERT: u32 = 6;
const OP_UNALERT: u32 = 7;
const OP_PHASE: u32 = 8;
const OP_FAIL: u32 = 9;
const OP_DONE: u32 = 10;

const PHASES: [&str; 5] = [
    "start",
    "thread slots",
    "ping-pong",
    "fake pulse",
    "contended",
];

/// Tallies that several processes add to, in a shared mapping made before the fork.
#[repr(C)]
#[derive(Default)]
struct Shm {
    calls: AtomicU64,
    waits: AtomicU64,
    eintr: AtomicU64,
    timeouts: AtomicU64,
    abandoned: AtomicU64,
    alerted: AtomicU64,
    slot_runs: AtomicU64,
    same_tid: AtomicU64,
    pingpong_done: AtomicU64,
    pulses_done: AtomicU64,
    contended_done: AtomicU64,
    wait_all_taken: AtomicU64,
    released: [AtomicU64; CSEMS],
    acquired: [AtomicU64; CSEMS],
    inside: [AtomicU32; CMUTEXES],
    made: [AtomicU64; CMUTEXES],
    seen: [AtomicU64; CMUTEXES],
}

fn shm() -> &'static Shm {
    static SHM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let addr = *SHM.get_or_init(|| {
        // SAFETY: A fresh shared anonymous mapping, never unmapped.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size_of::<Shm>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(addr != libc::MAP_FAILED, "mmap");
        // SAFETY: Zeroed memory is a valid `Shm` (atomics of zero); it is written once here.
        unsafe { addr.cast::<Shm>().write(Shm::default()) };
        addr as usize
    });
    // SAFETY: The mapping lives for the whole process and holds a `Shm`.
    unsafe { &*(addr as *const Shm) }
}

// ---------------------------------------------------------------------------------------
// Messages over the unix sockets.

/// Sends `words` and `text`, with `fd` attached if given; retried on EINTR.
fn send_msg(sock: RawFd, words: [u32; 4], text: &[u8], fd: Option<RawFd>) -> Result<(), String> {
    let mut buf = Vec::with_capacity(16 + text.len());
    for w in words {
        buf.extend_from_slice(&w.to_ne_bytes());
    }
    buf.extend_from_slice(text);
    loop {
        match send_with_fd(sock, &buf, fd, libc::MSG_NOSIGNAL) {
            Ok(n) if n == buf.len() => return Ok(()),
            Ok(n) => return Err(format!("sendmsg: sent {n} of {} bytes", buf.len())),
            Err(libc::EINTR) => continue,
            Err(e) => return Err(format!("sendmsg: {}", errname(e))),
        }
    }
}

/// One message: its words, its text and the descriptor that came with it. `Ok(None)` when
/// the peer has closed the socket.
type Msg = ([u32; 4], Vec<u8>, Option<OwnedFd>);

fn recv_msg(sock: RawFd) -> Result<Option<Msg>, String> {
    let mut buf = vec![0u8; 1024];
    let (n, fd) = loop {
        match recv_with_fd(sock, &mut buf) {
            Ok(got) => break got,
            Err(libc::EINTR) => continue,
            Err(e) => return Err(format!("recvmsg: {}", errname(e))),
        }
    };
    if n == 0 {
        return Ok(None);
    }
    if n < 16 {
        return Err(format!("short message of {n} bytes"));
    }
    let mut words = [0u32; 4];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u32::from_ne_bytes(buf[4 * i..4 * i + 4].try_into().unwrap());
    }
    Ok(Some((words, buf[16..n].to_vec(), fd)))
}

// ---------------------------------------------------------------------------------------
// Client side.

/// A wait's deadline as the NT runtime turns a timeout into one.
#[derive(Clone, Copy, Debug)]
enum To {
    Infinite,
    /// A zero timeout: poll.
    Now,
    /// A relative timeout: an absolute monotonic deadline this many ns from now.
    Rel(u64),
    /// An absolute timeout: a realtime deadline this many ns from now, with the flag.
    Real(u64),
}

const MS: u64 = 1_000_000;
/// A deadline that must not pass: the hang guard ends the run long before.
const FAR: u64 = 3_600_000 * MS;

/// What the NT runtime makes of a wait's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nt {
    /// STATUS_WAIT_0 + index.
    Ok(u32),
    /// STATUS_ABANDONED + index.
    Abandoned(u32),
    /// STATUS_USER_APC / STATUS_ALERTED: the alert ended the wait.
    Alerted,
    /// STATUS_TIMEOUT.
    Timeout,
    /// Anything else: a failure of the test.
    Errno(Errno),
}

/// One client process: its sockets, its device, its descriptor cache.
struct Client {
    idx: usize,
    lay: Layout,
    sock: Mutex<OwnedFd>,
    dev: OwnedFd,
    fds: Mutex<HashMap<u32, OwnedFd>>,
    /// The client threads that the signal storm may hit.
    storm: Mutex<Vec<libc::pthread_t>>,
    failed: AtomicBool,
}

/// A client thread as the server knows it.
struct Nthread {
    c: Arc<Client>,
    tid: u32,
    alert: RawFd,
}

impl Client {
    /// One request and its reply; the socket is held in between, so the threads' requests do
    /// not mix.
    fn request(&self, op: u32, a: u32, text: &[u8]) -> ([u32; 4], Option<OwnedFd>) {
        let sock = self.sock.lock().unwrap();
        let reply = send_msg(sock.as_raw_fd(), [op, a, 0, 0], text, None)
            .and_then(|_| recv_msg(sock.as_raw_fd()));
        match reply {
            Ok(Some((words, _, fd))) => (words, fd),
            Ok(None) => {
                eprintln!("client {}: the server went away", self.idx);
                // SAFETY: Ends the process at once, as the server is gone.
                unsafe { libc::_exit(3) }
            }
            Err(e) => {
                eprintln!("client {}: request {op}: {e}", self.idx);
                // SAFETY: As above.
                unsafe { libc::_exit(3) }
            }
        }
    }

    /// Reports a failure under test point `point`.
    fn fail(&self, point: u32, msg: String) {
        self.failed.store(true, SeqCst);
        let text = format!("client {}: {msg}", self.idx);
        self.request(OP_FAIL, point, &text.as_bytes()[..text.len().min(900)]);
    }

    /// The descriptor of handle `h`, asked of the server the first time only.
    fn fd(&self, h: u32) -> RawFd {
        let mut fds = self.fds.lock().unwrap();
        if let Some(fd) = fds.get(&h) {
            return fd.as_raw_fd();
        }
        let (reply, fd) = self.request(OP_GET_FD, h, &[]);
        let Some(fd) = fd.filter(|_| reply[0] == 0) else {
            drop(fds);
            self.fail(
                P_FDS,
                format!("no descriptor for handle {h}: {}", errname(reply[0] as i32)),
            );
            return -1;
        };
        let raw = fd.as_raw_fd();
        fds.insert(h, fd);
        raw
    }

    /// Closes handle `h`: the cached descriptor, then the server's.
    fn close(&self, h: u32) {
        self.fds.lock().unwrap().remove(&h);
        self.request(OP_CLOSE, h, &[]);
    }

    fn phase(&self, p: u32) {
        self.request(OP_PHASE, p, &[]);
    }

    /// Runs `f` in a new client thread registered with the server, which it leaves (and its
    /// mutexes are killed) when `f` returns. `storm` lets the signal storm hit it.
    fn spawn<F>(self: &Arc<Client>, storm: bool, f: F) -> thread::JoinHandle<()>
    where
        F: FnOnce(&Nthread) + Send + 'static,
    {
        self.spawn_as(storm, 0, f)
    }

    /// As `spawn`, asking for thread id `want` if it is free, so that a mutex its previous
    /// holder abandoned is next acquired under the same id.
    fn spawn_as<F>(self: &Arc<Client>, storm: bool, want: u32, f: F) -> thread::JoinHandle<()>
    where
        F: FnOnce(&Nthread) + Send + 'static,
    {
        let c = self.clone();
        thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let (reply, _) = c.request(OP_THREAD_START, want, &[]);
                let (tid, alert_handle) = (reply[1], reply[2]);
                let alert = c.fd(alert_handle);
                let t = Nthread {
                    c: c.clone(),
                    tid,
                    alert,
                };
                // SAFETY: pthread_self has no preconditions.
                let me = unsafe { libc::pthread_self() };
                if storm {
                    c.storm.lock().unwrap().push(me);
                }
                f(&t);
                if storm {
                    // Under the lock, so that the storm never signals a thread that has gone.
                    c.storm.lock().unwrap().retain(|&p| p != me);
                }
                c.close(alert_handle);
                c.request(OP_THREAD_EXIT, tid, &[]);
            })
            .expect("spawn a client thread")
    }

    /// Joins `threads`; a thread that panicked is a failure.
    fn join(&self, threads: Vec<thread::JoinHandle<()>>, point: u32) {
        for t in threads {
            if t.join().is_err() {
                self.fail(point, "a client thread panicked".into());
            }
        }
    }
}

impl Nthread {
    fn fd(&self, h: u32) -> RawFd {
        self.c.fd(h)
    }

    /// Fails `point` with `msg` unless `ok`; returns `ok`.
    fn check(&self, point: u32, ok: bool, msg: impl FnOnce() -> String) -> bool {
        if !ok {
            self.c
                .fail(point, format!("tid {:#x}: {}", self.tid, msg()));
        }
        ok
    }

    /// A wait as the NT runtime makes it, retried unchanged on EINTR.
    fn wait(&self, objs: &[RawFd], all: bool, to: To, alert: bool) -> Nt {
        // Wait-all is only for several objects; one object is always a wait-any.
        assert!(!all || objs.len() > 1, "wait-all of one object");
        assert!(objs.len() <= MAX_WAIT_COUNT);
        let (timeout, flags) = match to {
            To::Infinite => (INFINITE, 0),
            To::Now => (0, 0),
            To::Rel(ns) => (now_ns(libc::CLOCK_MONOTONIC) + ns, 0),
            To::Real(ns) => (now_ns(libc::CLOCK_REALTIME) + ns, WAIT_REALTIME),
        };
        let mut args = WaitArgs {
            timeout,
            objs: objs.as_ptr() as u64,
            count: objs.len() as u32,
            index: POISON,
            flags,
            owner: self.tid,
            alert: if alert { self.alert as u32 } else { 0 },
            pad: 0,
        };
        let cmd = if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY };
        let s = shm();
        s.waits.fetch_add(1, SeqCst);
        loop {
            s.calls.fetch_add(1, SeqCst);
            let ret = ioctl(self.c.dev.as_raw_fd(), cmd, &mut args);
            let index = args.index;
            return match ret {
                Ok(_) if index == objs.len() as u32 && alert => {
                    s.alerted.fetch_add(1, SeqCst);
                    Nt::Alerted
                }
                Ok(_) => Nt::Ok(index),
                Err(libc::EOWNERDEAD) => {
                    s.abandoned.fetch_add(1, SeqCst);
                    Nt::Abandoned(index)
                }
                Err(libc::ETIMEDOUT) => {
                    s.timeouts.fetch_add(1, SeqCst);
                    self.check(P_RESULTS, index == POISON, || {
                        format!("ETIMEDOUT wrote index {index}")
                    });
                    Nt::Timeout
                }
                Err(libc::EINTR) => {
                    s.eintr.fetch_add(1, SeqCst);
                    self.check(P_EINTR, index == POISON, || {
                        format!("EINTR wrote index {index}")
                    });
                    continue;
                }
                Err(e) => Nt::Errno(e),
            };
        }
    }

    fn expect(&self, point: u32, what: &str, got: Nt, want: Nt) -> bool {
        self.check(point, got == want, || {
            format!("{what}: got {got:?}, expected {want:?}")
        })
    }

    /// Checks a call's result (counted as a call).
    fn expect_ret<T: PartialEq + std::fmt::Debug>(
        &self,
        point: u32,
        what: &str,
        got: Result<T, Errno>,
        want: Result<T, Errno>,
    ) -> bool {
        shm().calls.fetch_add(1, SeqCst);
        self.check(point, got == want, || {
            let show = |r: &Result<T, Errno>| match r {
                Ok(v) => format!("{v:?}"),
                Err(e) => errname(*e),
            };
            format!("{what}: got {}, expected {}", show(&got), show(&want))
        })
    }

    fn mutex_state(&self, fd: RawFd) -> Result<(u32, u32), Errno> {
        let (ret, args) = mutex_read(&fd);
        ret.map(|_| (args.owner, args.count))
    }

    fn sem_count(&self, fd: RawFd) -> Result<u32, Errno> {
        sem_read(&fd).map(|a| a.count)
    }

    fn event_state(&self, fd: RawFd) -> Result<u32, Errno> {
        event_read(&fd).map(|a| a.signaled)
    }
}

/// One thread of a slot, generation `gen`: a fixed sequence on the slot's private objects
/// whose every result is known.
fn slot_run(t: &Nthread, slot: usize, gen: usize) {
    let lay = t.c.lay;
    let base = lay.private(t.c.idx, slot);
    let me = |i: u32| t.fd(base + 4 * i);
    let ae = |i: u32| t.fd(base + 4 * i + 1);
    let mx = |i: u32| t.fd(base + 4 * i + 2);
    let sm = |i: u32| t.fd(base + 4 * i + 3);
    let tid = t.tid;
    let r = P_RESULTS;
    let a = P_ABANDON;

    // The previous generation exited holding mx0 (twice) when it was even.
    let abandoned_before = gen > 0 && (gen - 1).is_multiple_of(2);
    let got = t.wait(&[sm(0), mx(0)], false, To::Infinite, true);
    let want = if abandoned_before {
        Nt::Abandoned(1)
    } else {
        Nt::Ok(1)
    };
    t.expect(a, "acquire mx0 after the previous thread", got, want);
    t.expect_ret(a, "MUTEX_READ mx0", t.mutex_state(mx(0)), Ok((tid, 1)));
    t.expect_ret(a, "unlock mx0", mutex_unlock(&mx(0), tid), Ok(1));
    t.expect_ret(
        a,
        "unlock mx0 again",
        mutex_unlock(&mx(0), tid),
        Err(libc::EPERM),
    );

    // Nothing signaled: every kind of timeout.
    let unsig: Vec<RawFd> = (0..4).flat_map(|i| [me(i), ae(i), sm(i)]).collect();
    t.expect(
        r,
        "poll of 12",
        t.wait(&unsig, false, To::Now, true),
        Nt::Timeout,
    );
    t.expect(
        r,
        "relative 2 ms",
        t.wait(&unsig, false, To::Rel(2 * MS), true),
        Nt::Timeout,
    );
    t.expect(
        r,
        "realtime 2 ms",
        t.wait(&unsig, false, To::Real(2 * MS), false),
        Nt::Timeout,
    );
    t.expect(
        r,
        "wait-all poll of 12",
        t.wait(&unsig, true, To::Now, true),
        Nt::Timeout,
    );

    // Semaphores: the index of the signaled one, the limit, wait-all atomicity.
    t.expect_ret(r, "release sm2", sem_release(&sm(2), 1), Ok(0));
    t.expect(
        r,
        "wait-any finds sm2",
        t.wait(&unsig, false, To::Infinite, true),
        Nt::Ok(8),
    );
    t.expect_ret(r, "release sm2 by 2", sem_release(&sm(2), 2), Ok(0));
    t.expect_ret(
        r,
        "release sm2 past max",
        sem_release(&sm(2), 1),
        Err(libc::EOVERFLOW),
    );
    t.expect_ret(r, "sm2 count", t.sem_count(sm(2)), Ok(2));
    let got = t.wait(&[sm(2), me(1)], true, To::Now, true);
    t.expect(r, "wait-all with me1 unset", got, Nt::Timeout);
    t.expect_ret(
        r,
        "sm2 untouched by the failed wait-all",
        t.sem_count(sm(2)),
        Ok(2),
    );
    t.expect_ret(r, "set me1", event_set(&me(1)), Ok(0));
    let got = t.wait(&[sm(2), me(1), mx(1)], true, To::Rel(FAR), true);
    t.expect(r, "wait-all of 3", got, Nt::Ok(0));
    t.expect_ret(r, "sm2 after wait-all", t.sem_count(sm(2)), Ok(1));
    t.expect_ret(r, "me1 after wait-all", t.event_state(me(1)), Ok(1));
    t.expect_ret(r, "mx1 after wait-all", t.mutex_state(mx(1)), Ok((tid, 1)));
    t.expect(
        r,
        "recursive mx1",
        t.wait(&[mx(1)], false, To::Now, true),
        Nt::Ok(0),
    );
    t.expect(
        r,
        "recursive mx1",
        t.wait(&[mx(1)], false, To::Real(FAR), true),
        Nt::Ok(0),
    );
    t.expect_ret(r, "mx1 recursion", t.mutex_state(mx(1)), Ok((tid, 3)));
    t.expect_ret(
        r,
        "unlock by another owner",
        mutex_unlock(&mx(1), tid + 1),
        Err(libc::EPERM),
    );
    for prev in (1..=3).rev() {
        t.expect_ret(r, "unlock mx1", mutex_unlock(&mx(1), tid), Ok(prev));
    }
    t.expect_ret(
        r,
        "unlock unowned mx1",
        mutex_unlock(&mx(1), tid),
        Err(libc::EPERM),
    );
    t.expect_ret(r, "reset me1", event_reset(&me(1)), Ok(1));
    t.expect(
        r,
        "take sm2",
        t.wait(&[sm(2)], false, To::Real(FAR), true),
        Nt::Ok(0),
    );
    t.expect_ret(r, "sm2 empty", t.sem_count(sm(2)), Ok(0));

    // An auto event is consumed by the wait that takes it.
    t.expect_ret(r, "set ae3", event_set(&ae(3)), Ok(0));
    let autos = [ae(0), ae(1), ae(2), ae(3)];
    t.expect(
        r,
        "wait-any finds ae3",
        t.wait(&autos, false, To::Now, true),
        Nt::Ok(3),
    );
    t.expect_ret(r, "ae3 consumed", t.event_state(ae(3)), Ok(0));
    t.expect_ret(r, "set ae3 again", event_set(&ae(3)), Ok(0));
    t.expect_ret(r, "reset ae3", event_reset(&ae(3)), Ok(1));

    // Duplicated handles: a second descriptor, the same object.
    let f = P_FDS;
    let (reply, _) = t.c.request(OP_DUP, base + 8, &[]);
    let dup = reply[1];
    let (one, two) = (me(2), t.fd(dup));
    t.check(f, one != two && two >= 0, || {
        format!("dup of me2: descriptors {one} and {two}")
    });
    t.expect_ret(f, "set me2", event_set(&one), Ok(0));
    t.expect_ret(f, "me2 through the dup", t.event_state(two), Ok(1));
    t.expect(
        f,
        "wait on the dup",
        t.wait(&[two], false, To::Now, true),
        Nt::Ok(0),
    );
    let got = t.wait(&[one, two], true, To::Now, true);
    t.expect(
        f,
        "wait-all of one object twice",
        got,
        Nt::Errno(libc::EINVAL),
    );
    t.expect_ret(f, "reset through the dup", event_reset(&two), Ok(1));
    t.expect_ret(f, "me2 reset", t.event_state(one), Ok(0));
    t.c.close(dup);
    let (reply, _) = t.c.request(OP_DUP, base + 15, &[]);
    let dup = reply[1];
    let (one, two) = (sm(3), t.fd(dup));
    t.expect_ret(f, "release the dup of sm3", sem_release(&two, 1), Ok(0));
    t.expect(
        f,
        "take sm3",
        t.wait(&[one], false, To::Now, false),
        Nt::Ok(0),
    );
    t.expect_ret(f, "sm3 through the dup", t.sem_count(two), Ok(0));
    t.c.close(dup);

    // The alert: the server sets the thread's own event.
    let mut objs64 = vec![sm(0)];
    objs64.extend((0..MIN_NEVER).map(|j| t.fd(lay.never(slot * 7 + j))));
    t.c.request(OP_ALERT, tid, &[]);
    t.expect(
        r,
        "alerted wait-any of 64",
        t.wait(&objs64, false, To::Infinite, true),
        Nt::Alerted,
    );
    let got = t.wait(&[sm(0), me(0)], true, To::Rel(FAR), true);
    t.expect(r, "alerted wait-all", got, Nt::Alerted);
    t.c.request(OP_UNALERT, tid, &[]);
    t.expect(
        r,
        "after the alert is reset",
        t.wait(&objs64, false, To::Now, true),
        Nt::Timeout,
    );

    // Even generations exit holding mx0, which the server's kill abandons.
    if gen.is_multiple_of(2) {
        t.expect(
            a,
            "take mx0",
            t.wait(&[mx(0)], false, To::Now, true),
            Nt::Ok(0),
        );
        t.expect(
            a,
            "take mx0 again",
            t.wait(&[mx(0)], false, To::Now, true),
            Nt::Ok(0),
        );
        t.expect_ret(a, "mx0 held twice", t.mutex_state(mx(0)), Ok((tid, 2)));
    }
    shm().slot_runs.fetch_add(1, SeqCst);
}

/// One side of ping-pong pair `pair`: the pinger signals A and waits for B, the ponger waits
/// for A and signals B. Each signal finds its object unsignaled, since the other side
/// consumed the previous one before answering.
fn pingpong(t: &Nthread, pair: usize, ping: bool, iters: usize) {
    let [a, b] = t.c.lay.pair(pair).map(|h| t.fd(h));
    let events = pair.is_multiple_of(2);
    let (mine, theirs) = if ping { (a, b) } else { (b, a) };
    let p = P_PINGPONG;
    let signal = |i: usize| {
        let got = if events {
            event_set(&mine)
        } else {
            sem_release(&mine, 1)
        };
        t.expect_ret(p, &format!("signal {i}"), got, Ok(0))
    };
    for i in 0..iters {
        if ping && !signal(i) {
            return;
        }
        let to = match i % 3 {
            0 => To::Infinite,
            1 => To::Rel(FAR),
            _ => To::Real(FAR),
        };
        if !t.expect(
            p,
            &format!("wait {i}"),
            t.wait(&[theirs], false, to, true),
            Nt::Ok(0),
        ) {
            return;
        }
        if !ping && !signal(i) {
            return;
        }
        shm().pingpong_done.fetch_add(1, SeqCst);
    }
}

/// A pulse group's shared state: the waiters' kernel thread and NT ids and round counters.
struct Group {
    ktids: Vec<AtomicU32>,
    tids: Vec<AtomicU32>,
    entered: Vec<AtomicU32>,
    woken: Vec<AtomicU32>,
    /// The last round whose event the setter has set and reset.
    released: AtomicU32,
}

/// Polls `cond` until it holds; false if it does not within the guard time.
fn until(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(120) {
            return false;
        }
        thread::sleep(Duration::from_micros(200));
    }
    true
}

/// The setter of a pulse group: once every waiter sleeps on the event, sets it and at once
/// resets it from the same thread, then expects every waiter to have woken. Last, alerts each
/// waiter (through the server) while it sleeps.
fn pulse_setter(t: &Nthread, g: &Group, event: u32, manual: bool, rounds: usize) {
    let p = P_PULSE;
    let e = t.fd(event);
    let all_asleep = |r: u32| {
        until(|| {
            (0..g.entered.len()).all(|i| {
                g.entered[i].load(SeqCst) == r
                    && thread_in_ioctl(g.ktids[i].load(SeqCst) as i32) != Some(false)
            })
        })
    };
    for r in 1..=rounds as u32 {
        if !t.check(p, all_asleep(r), || {
            format!("round {r}: the waiters never slept")
        }) {
            return;
        }
        t.expect_ret(p, "set", event_set(&e), Ok(0));
        // An auto event was handed to the sleeping waiter by the set itself.
        t.expect_ret(p, "reset", event_reset(&e), Ok(u32::from(manual)));
        g.released.store(r, SeqCst);
        let woke = until(|| g.woken.iter().all(|w| w.load(SeqCst) == r));
        if !t.check(p, woke, || format!("round {r}: a waiter missed the pulse")) {
            return;
        }
        shm().pulses_done.fetch_add(1, SeqCst);
    }
    let r = rounds as u32 + 1;
    if !t.check(p, all_asleep(r), || {
        "the waiters never slept for the alert".into()
    }) {
        return;
    }
    for tid in &g.tids {
        t.c.request(OP_ALERT, tid.load(SeqCst), &[]);
    }
    let woke = until(|| g.woken.iter().all(|w| w.load(SeqCst) == r));
    t.check(p, woke, || "a waiter missed its alert".into());
}

fn pulse_waiter(t: &Nthread, g: &Group, i: usize, event: u32, rounds: usize) {
    let p = P_PULSE;
    let e = t.fd(event);
    g.ktids[i].store(gettid() as u32, SeqCst);
    g.tids[i].store(t.tid, SeqCst);
    for r in 1..=rounds as u32 + 1 {
        // A waiter of a manual event woken by the set must not wait again before the reset.
        if !t.check(p, until(|| g.released.load(SeqCst) == r - 1), || {
            format!("round {r}: the setter never reset the event")
        }) {
            return;
        }
        g.entered[i].store(r, SeqCst);
        let got = t.wait(&[e], false, To::Infinite, true);
        let want = if r as usize > rounds {
            Nt::Alerted
        } else {
            Nt::Ok(0)
        };
        t.expect(p, &format!("waiter round {r}"), got, want);
        g.woken[i].store(r, SeqCst);
    }
    t.c.request(OP_UNALERT, t.tid, &[]);
    t.expect_ret(
        p,
        "alert reset by the server",
        t.event_state(t.alert),
        Ok(0),
    );
}

/// One thread of the contended scenario: each round releases two shared semaphore units and
/// takes two back, and takes one of the shared mutexes recursively. Some threads exit holding
/// their last mutex.
fn contended(t: &Nthread, rounds: usize) {
    let lay = t.c.lay;
    let s = shm();
    let c = P_CONTENDED;
    let sems: Vec<RawFd> = (0..CSEMS).map(|i| t.fd(lay.csem(i))).collect();
    let mutexes: Vec<RawFd> = (0..CMUTEXES).map(|i| t.fd(lay.cmutex(i))).collect();
    let who = t.tid as usize / 4 + t.c.idx;
    let mut rng = Rng(((who as u64) << 20) | t.c.idx as u64);
    for r in 0..rounds {
        // Two units in, two units out: first both at once if they are still there, else
        // one at a time from any semaphore, which cannot starve since every waiter has put
        // its units in before waiting.
        let a = (who + r) % CSEMS;
        let b = (a + 1 + rng.index(CSEMS - 1)) % CSEMS;
        for z in [a, b] {
            s.released[z].fetch_add(1, SeqCst);
            s.calls.fetch_add(1, SeqCst);
            if let Err(e) = sem_release(&sems[z], 1) {
                t.c.fail(c, format!("release: {}", errname(e)));
                return;
            }
        }
        // Every other round, the pair is one that other threads fill and empty.
        let (x, y) = if r % 2 == 0 {
            (a, b)
        } else {
            let x = rng.index(CSEMS);
            (x, (x + 1 + rng.index(CSEMS - 1)) % CSEMS)
        };
        let needed = match t.wait(&[sems[x], sems[y]], true, To::Rel(MS), true) {
            Nt::Ok(0) => {
                s.wait_all_taken.fetch_add(1, SeqCst);
                s.acquired[x].fetch_add(1, SeqCst);
                s.acquired[y].fetch_add(1, SeqCst);
                0
            }
            Nt::Timeout => 2,
            other => {
                t.c.fail(c, format!("wait-all of two semaphores: {other:?}"));
                return;
            }
        };
        for k in 0..needed {
            let rot = rng.index(CSEMS);
            let objs: Vec<RawFd> = (0..CSEMS).map(|j| sems[(j + rot) % CSEMS]).collect();
            let to = if k == 0 { To::Infinite } else { To::Rel(FAR) };
            match t.wait(&objs, false, to, true) {
                Nt::Ok(i) if (i as usize) < CSEMS => {
                    s.acquired[(i as usize + rot) % CSEMS].fetch_add(1, SeqCst);
                }
                other => {
                    t.c.fail(c, format!("wait-any of the semaphores: {other:?}"));
                    return;
                }
            }
        }

        let rot = rng.index(CMUTEXES);
        let objs: Vec<RawFd> = (0..CMUTEXES)
            .map(|j| mutexes[(j + rot) % CMUTEXES])
            .collect();
        let (m, abandoned) = match t.wait(&objs, false, To::Infinite, true) {
            Nt::Ok(i) if (i as usize) < CMUTEXES => ((i as usize + rot) % CMUTEXES, false),
            Nt::Abandoned(i) if (i as usize) < CMUTEXES => ((i as usize + rot) % CMUTEXES, true),
            other => {
                t.c.fail(c, format!("wait-any of the mutexes: {other:?}"));
                return;
            }
        };
        let before = s.inside[m].swap(t.tid, SeqCst);
        if abandoned {
            s.seen[m].fetch_add(1, SeqCst);
        } else {
            t.check(c, before == 0, || {
                format!("mutex {m} acquired while {before:#x} is inside")
            });
        }
        t.expect_ret(c, "MUTEX_READ", t.mutex_state(mutexes[m]), Ok((t.tid, 1)));
        t.expect(
            c,
            "recursive",
            t.wait(&[mutexes[m]], false, To::Now, true),
            Nt::Ok(0),
        );
        t.expect_ret(
            c,
            "unlock by another",
            mutex_unlock(&mutexes[m], t.tid + 1),
            Err(libc::EPERM),
        );
        t.expect_ret(
            c,
            "unlock recursion",
            mutex_unlock(&mutexes[m], t.tid),
            Ok(2),
        );
        if r + 1 == rounds && who.is_multiple_of(8) {
            // Exit holding it: the server's kill abandons it.
            s.made[m].fetch_add(1, SeqCst);
        } else {
            let was = s.inside[m].swap(0, SeqCst);
            t.check(c, was == t.tid, || {
                format!("mutex {m}: {was:#x} was inside with me")
            });
            t.expect_ret(c, "unlock", mutex_unlock(&mutexes[m], t.tid), Ok(1));
        }
        s.contended_done.fetch_add(1, SeqCst);
    }
}

fn client_main(idx: usize, cfg: Cfg, sock: OwnedFd) -> i32 {
    let dev = match recv_msg(sock.as_raw_fd()) {
        Ok(Some((_, _, Some(fd)))) => fd,
        other => {
            eprintln!(
                "client {idx}: no device descriptor: {:?}",
                other.map(|m| m.map(|m| m.0))
            );
            return 3;
        }
    };
    install_handler(libc::SIGUSR1, false);
    let c = Arc::new(Client {
        idx,
        lay: Layout::new(cfg),
        sock: Mutex::new(sock),
        dev,
        fds: Mutex::new(HashMap::new()),
        storm: Mutex::new(Vec::new()),
        failed: AtomicBool::new(false),
    });

    // The signal storm: a harmless signal to a random client thread every few hundred µs.
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let (c, stop) = (c.clone(), stop.clone());
        thread::spawn(move || {
            let mut rng = Rng(idx as u64 + 1);
            while !stop.load(SeqCst) {
                {
                    let list = c.storm.lock().unwrap();
                    if !list.is_empty() {
                        // SAFETY: A listed thread removes itself under this lock before
                        // it exits, so its handle is valid here.
                        unsafe { libc::pthread_kill(list[rng.index(list.len())], libc::SIGUSR1) };
                    }
                }
                thread::sleep(Duration::from_micros(300));
            }
        })
    };

    c.phase(1);
    let mut last_tid = vec![0u32; cfg.threads];
    for gen in 0..cfg.generations {
        let tids: Vec<Arc<AtomicU32>> = (0..cfg.threads).map(|_| Arc::default()).collect();
        let threads = (0..cfg.threads)
            .map(|slot| {
                let tid = tids[slot].clone();
                c.spawn_as(true, last_tid[slot], move |t| {
                    tid.store(t.tid, SeqCst);
                    slot_run(t, slot, gen)
                })
            })
            .collect();
        c.join(threads, P_RESULTS);
        for (slot, tid) in tids.iter().enumerate() {
            let tid = tid.load(SeqCst);
            if tid == last_tid[slot] {
                shm().same_tid.fetch_add(1, SeqCst);
            }
            last_tid[slot] = tid;
        }
    }

    c.phase(2);
    let n = cfg.clients;
    let iters = cfg.pingpong;
    let threads = vec![
        c.spawn(true, move |t| pingpong(t, idx, true, iters)),
        c.spawn(true, move |t| pingpong(t, (idx + n - 1) % n, false, iters)),
    ];
    c.join(threads, P_PINGPONG);

    // Pulse waiters are kept out of the storm: a waiter between two retries of its wait
    // would miss a pulse for a reason that is not the driver's.
    c.phase(3);
    let mut threads = Vec::new();
    for group in 0..cfg.threads / 4 {
        let manual = group % 2 == 1;
        let waiters = if manual { 3 } else { 1 };
        let g = Arc::new(Group {
            ktids: (0..waiters).map(|_| AtomicU32::new(0)).collect(),
            tids: (0..waiters).map(|_| AtomicU32::new(0)).collect(),
            entered: (0..waiters).map(|_| AtomicU32::new(0)).collect(),
            woken: (0..waiters).map(|_| AtomicU32::new(0)).collect(),
            released: AtomicU32::new(0),
        });
        let event = c.lay.pulse_event(idx, group);
        let rounds = cfg.pulses;
        for i in 0..waiters {
            let g = g.clone();
            threads.push(c.spawn(false, move |t| pulse_waiter(t, &g, i, event, rounds)));
        }
        threads.push(c.spawn(true, move |t| pulse_setter(t, &g, event, manual, rounds)));
    }
    c.join(threads, P_PULSE);

    c.phase(4);
    let rounds = cfg.rounds;
    let threads = (0..cfg.threads)
        .map(|_| c.spawn(true, move |t| contended(t, rounds)))
        .collect();
    c.join(threads, P_CONTENDED);

    stop.store(true, SeqCst);
    let _ = storm.join();
    c.request(OP_DONE, 0, &[]);
    i32::from(c.failed.load(SeqCst))
}

// ---------------------------------------------------------------------------------------
// Server side.

struct Server {
    cfg: Cfg,
    lay: Layout,
    dev: File,
    /// The handle table: a handle is an index; duplicated handles share the descriptor.
    handles: Vec<Option<Rc<OwnedFd>>>,
    free_handles: BTreeSet<u32>,
    mutexes: Vec<Rc<OwnedFd>>,
    free_tids: BTreeSet<u32>,
    next_tid: u32,
    /// Live threads: id to alert handle.
    live: HashMap<u32, u32>,
    /// The server's descriptor of each live thread's alert event.
    alert_fds: HashMap<u32, Rc<OwnedFd>>,
    ever_used: HashSet<u32>,
    threads: u64,
    tid_reuses: u64,
    kills_ok: u64,
    kills_eperm: u64,
    fds_passed: u64,
    /// Handles each client asked a descriptor for.
    asked: Vec<HashSet<u32>>,
    phase: Vec<u32>,
    /// When the first client entered each phase, and when the last one finished.
    phase_start: [Option<Instant>; PHASES.len() + 1],
    failures: Vec<Vec<String>>,
}

impl Server {
    fn fail(&mut self, point: u32, msg: String) {
        let f = &mut self.failures[point as usize];
        if f.len() < 20 {
            f.push(msg);
        } else if f.len() == 20 {
            f.push("(more failures left out)".into());
        }
    }

    fn create(&self, kind: Kind) -> Result<OwnedFd, Errno> {
        let (cmd, mut args) = match kind {
            Kind::Event { manual } => (IOC_CREATE_EVENT, [u32::from(manual), 0]),
            Kind::Mutex => (IOC_CREATE_MUTEX, [0, 0]),
            Kind::Sem { max } => (IOC_CREATE_SEM, [0, max]),
        };
        let fd = ioctl(self.dev.as_raw_fd(), cmd, &mut args)?;
        // SAFETY: The driver returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A new handle for `fd`, the lowest free one.
    fn add_handle(&mut self, fd: Rc<OwnedFd>) -> u32 {
        if let Some(h) = self.free_handles.pop_first() {
            self.handles[h as usize] = Some(fd);
            h
        } else {
            self.handles.push(Some(fd));
            self.handles.len() as u32 - 1
        }
    }

    fn close_handle(&mut self, h: u32) -> u32 {
        match self.handles.get_mut(h as usize) {
            Some(slot @ Some(_)) if h as usize >= self.lay.total => {
                *slot = None;
                self.free_handles.insert(h);
                0
            }
            _ => libc::EBADF as u32,
        }
    }

    /// Handles one request of client `ci`: the reply's words and descriptor.
    fn handle(&mut self, ci: usize, words: [u32; 4], text: &[u8]) -> ([u32; 4], Option<RawFd>) {
        let [op, a, _, _] = words;
        match op {
            OP_GET_FD => match self.handles.get(a as usize) {
                Some(Some(fd)) => {
                    let fd = fd.as_raw_fd();
                    if !self.asked[ci].insert(a) {
                        self.fail(P_FDS, format!("client {ci} asked for handle {a} twice"));
                    }
                    self.fds_passed += 1;
                    ([0; 4], Some(fd))
                }
                _ => ([libc::EBADF as u32, 0, 0, 0], None),
            },
            OP_DUP => match self.handles.get(a as usize) {
                Some(Some(fd)) => {
                    let fd = fd.clone();
                    let h = self.add_handle(fd);
                    ([0, h, 0, 0], None)
                }
                _ => ([libc::EBADF as u32, 0, 0, 0], None),
            },
            OP_CLOSE => {
                self.asked[ci].remove(&a);
                ([self.close_handle(a), 0, 0, 0], None)
            }
            OP_THREAD_START => {
                let tid = if a != 0 && self.free_tids.remove(&a) {
                    a
                } else {
                    self.free_tids.pop_first().unwrap_or_else(|| {
                        self.next_tid += 4;
                        self.next_tid - 4
                    })
                };
                if !self.ever_used.insert(tid) {
                    self.tid_reuses += 1;
                }
                self.threads += 1;
                let alert = match self.create(Kind::Event { manual: true }) {
                    Ok(fd) => {
                        let fd = Rc::new(fd);
                        self.alert_fds.insert(tid, fd.clone());
                        self.add_handle(fd)
                    }
                    Err(e) => {
                        self.fail(
                            P_OBJECTS,
                            format!("creating an alert event: {}", errname(e)),
                        );
                        u32::MAX
                    }
                };
                self.live.insert(tid, alert);
                ([0, tid, alert, 0], None)
            }
            OP_THREAD_EXIT => {
                // Every mutex, whoever holds it; only the dead thread's may succeed.
                let mut other = Vec::new();
                for m in &self.mutexes {
                    let mut owner = a;
                    match ioctl(m.as_raw_fd(), IOC_MUTEX_KILL, &mut owner) {
                        Ok(_) => self.kills_ok += 1,
                        Err(libc::EPERM) => self.kills_eperm += 1,
                        Err(e) => other.push(e),
                    }
                }
                if let Some(e) = other.first() {
                    let msg = format!(
                        "MUTEX_KILL({a:#x}): {} ({} times)",
                        errname(*e),
                        other.len()
                    );
                    self.fail(P_ABANDON, msg);
                }
                match self.live.remove(&a) {
                    Some(alert) => {
                        // The client closed its handle of the alert event already; the number
                        // may name another object by now.
                        let slot = self.handles.get(alert as usize).cloned().flatten();
                        if slot.is_some_and(|fd| Rc::ptr_eq(&fd, &self.alert_fds[&a])) {
                            self.fail(P_FINISHED, format!("thread {a:#x} left its alert open"));
                            self.close_handle(alert);
                        }
                        self.alert_fds.remove(&a);
                        self.free_tids.insert(a);
                    }
                    None => self.fail(P_FINISHED, format!("exit of unknown thread {a:#x}")),
                }
                ([0; 4], None)
            }
            OP_ALERT | OP_UNALERT => match self
                .live
                .get(&a)
                .and_then(|&h| self.handles.get(h as usize).cloned().flatten())
            {
                Some(fd) => {
                    let ret = if op == OP_ALERT {
                        event_set(&fd.as_raw_fd())
                    } else {
                        event_reset(&fd.as_raw_fd())
                    };
                    if let Err(e) = ret {
                        self.fail(
                            P_RESULTS,
                            format!("setting the alert of {a:#x}: {}", errname(e)),
                        );
                    }
                    ([0; 4], None)
                }
                None => {
                    self.fail(P_RESULTS, format!("alert of unknown thread {a:#x}"));
                    ([libc::ESRCH as u32, 0, 0, 0], None)
                }
            },
            OP_PHASE => {
                self.phase[ci] = a;
                self.phase_start[a as usize].get_or_insert_with(Instant::now);
                ([0; 4], None)
            }
            OP_FAIL => {
                let point = (a as usize).min(POINTS.len() - 1) as u32;
                self.fail(point, String::from_utf8_lossy(text).into_owned());
                ([0; 4], None)
            }
            OP_DONE => {
                self.phase[ci] = PHASES.len() as u32;
                if self.phase.iter().all(|&p| p == PHASES.len() as u32) {
                    self.phase_start[PHASES.len()] = Some(Instant::now());
                }
                ([0; 4], None)
            }
            _ => {
                self.fail(P_FINISHED, format!("client {ci}: unknown request {op}"));
                ([libc::EINVAL as u32, 0, 0, 0], None)
            }
        }
    }

    /// Reads back every static object and checks the state the scenarios must leave.
    fn final_checks(&mut self) {
        let lay = self.lay;
        let cfg = self.cfg;
        let fd = |s: &Server, h: u32| s.handles[h as usize].as_ref().unwrap().as_raw_fd();
        // The private objects: all empty; mx0 abandoned if the last generation left it so.
        let last_abandons = (cfg.generations - 1).is_multiple_of(2);
        for c in 0..cfg.clients {
            for slot in 0..cfg.threads {
                let base = lay.private(c, slot);
                for k in 0..PRIVATE as u32 {
                    let h = fd(self, base + k);
                    let (point, bad) = match lay.kind((base + k) as usize) {
                        Kind::Event { .. } => {
                            (P_RESULTS, event_read(&h).map(|a| a.signaled) != Ok(0))
                        }
                        Kind::Sem { .. } => (P_RESULTS, sem_read(&h).map(|a| a.count) != Ok(0)),
                        Kind::Mutex if k == 2 && last_abandons => {
                            (P_ABANDON, mutex_read(&h).0 != Err(libc::EOWNERDEAD))
                        }
                        Kind::Mutex => (P_RESULTS, mutex_read(&h) != (Ok(()), Default::default())),
                    };
                    if bad {
                        self.fail(
                            point,
                            format!("client {c} slot {slot} object {k} left in the wrong state"),
                        );
                    }
                }
            }
        }
        let s = shm();
        let runs = s.slot_runs.load(SeqCst);
        let want = (cfg.clients * cfg.threads * cfg.generations) as u64;
        if runs != want {
            self.fail(
                P_RESULTS,
                format!("{runs} slot threads ran to the end, expected {want}"),
            );
        }
        for pair in 0..cfg.clients {
            for h in lay.pair(pair) {
                let h = fd(self, h);
                let left = sem_read(&h)
                    .map(|a| a.count)
                    .or_else(|_| event_read(&h).map(|a| a.signaled));
                if left != Ok(0) {
                    self.fail(
                        P_PINGPONG,
                        format!("pair {pair}: an object left signaled: {left:?}"),
                    );
                }
            }
        }
        let done = s.pingpong_done.load(SeqCst);
        let want = (2 * cfg.clients * cfg.pingpong) as u64;
        if done != want {
            self.fail(
                P_PINGPONG,
                format!("{done} half round trips, expected {want}"),
            );
        }
        for c in 0..cfg.clients {
            for g in 0..cfg.threads / 4 {
                if event_read(&fd(self, lay.pulse_event(c, g))).map(|a| a.signaled) != Ok(0) {
                    self.fail(
                        P_PULSE,
                        format!("client {c} group {g}: event left signaled"),
                    );
                }
            }
        }
        let done = s.pulses_done.load(SeqCst);
        let want = (cfg.clients * cfg.threads / 4 * cfg.pulses) as u64;
        if done != want {
            self.fail(
                P_PULSE,
                format!("{done} pulses reached every waiter, expected {want}"),
            );
        }
        // Conservation: what is left of each semaphore is what was released and not taken.
        for i in 0..CSEMS {
            let (rel, acq) = (s.released[i].load(SeqCst), s.acquired[i].load(SeqCst));
            let count = sem_read(&fd(self, lay.csem(i))).map(|a| u64::from(a.count));
            if count != Ok(rel - acq.min(rel)) || acq > rel {
                self.fail(
                    P_CONTENDED,
                    format!("semaphore {i}: released {rel}, acquired {acq}, count {count:?}"),
                );
            }
            if count != Ok(0) {
                self.fail(
                    P_CONTENDED,
                    format!("semaphore {i}: {count:?} units left, expected 0"),
                );
            }
        }
        for m in 0..CMUTEXES {
            let (made, seen) = (s.made[m].load(SeqCst), s.seen[m].load(SeqCst));
            let (ret, args) = mutex_read(&fd(self, lay.cmutex(m)));
            let left = u64::from(ret == Err(libc::EOWNERDEAD));
            if ret.is_ok() && (args.owner, args.count) != (0, 0) {
                self.fail(P_CONTENDED, format!("mutex {m} left owned: {args:?}"));
            }
            if made != seen + left {
                self.fail(
                    P_CONTENDED,
                    format!(
                        "mutex {m}: abandoned {made} times, seen {seen}, still abandoned {left}"
                    ),
                );
            }
        }
        let done = s.contended_done.load(SeqCst);
        let want = (cfg.clients * cfg.threads * cfg.rounds) as u64;
        if done != want {
            self.fail(
                P_CONTENDED,
                format!("{done} contended rounds finished, expected {want}"),
            );
        }
        if s.eintr.load(SeqCst) == 0 {
            self.fail(
                P_EINTR,
                "no wait was interrupted by the signal storm".into(),
            );
        }
        if !self.live.is_empty() {
            self.fail(
                P_FINISHED,
                format!("{} threads never exited", self.live.len()),
            );
        }
        let open = self.handles[lay.total..]
            .iter()
            .filter(|h| h.is_some())
            .count();
        if open != 0 {
            self.fail(
                P_FINISHED,
                format!("{open} alert or duplicated handles left open"),
            );
        }
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let cfg = Cfg::parse();
    let lay = Layout::new(cfg);
    let start = Instant::now();
    tap::plan(&POINTS);

    // Every process holds thousands of descriptors.
    let want = (lay.total + 4 * cfg.clients * cfg.threads + 1024) as libc::rlim_t;
    let lim = libc::rlimit {
        rlim_cur: want,
        rlim_max: want,
    };
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        println!(
            "Bail out! setrlimit(RLIMIT_NOFILE, {want}): {}",
            errname(errno())
        );
        exit(1);
    }
    let _ = shm();

    // The clients are forked first, so that they inherit no object and no thread.
    let mut socks = Vec::new();
    let mut pids = Vec::new();
    for idx in 0..cfg.clients {
        let (ours, theirs) = socketpair(libc::SOCK_SEQPACKET).unwrap_or_else(|e| {
            println!("Bail out! socketpair: {}", errname(e));
            exit(1);
        });
        // SAFETY: The process is single-threaded here; the child only runs `client_main`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            println!("Bail out! fork: {}", errname(errno()));
            exit(1);
        }
        if pid == 0 {
            drop(ours);
            drop(std::mem::take(&mut socks));
            let code = client_main(idx, cfg, theirs);
            // SAFETY: Ends the client without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        drop(theirs);
        socks.push(ours);
        pids.push(pid);
    }

    let dev = match ntsync_selftests::open_device() {
        Ok(dev) => dev,
        Err(e) => {
            println!("Bail out! open /dev/ntsync: {e}");
            exit(1);
        }
    };
    let mut srv = Server {
        cfg,
        lay,
        dev,
        handles: Vec::with_capacity(lay.total * 2),
        free_handles: BTreeSet::new(),
        mutexes: Vec::new(),
        free_tids: BTreeSet::new(),
        next_tid: 0x20,
        live: HashMap::new(),
        alert_fds: HashMap::new(),
        ever_used: HashSet::new(),
        threads: 0,
        tid_reuses: 0,
        kills_ok: 0,
        kills_eperm: 0,
        fds_passed: 0,
        asked: vec![HashSet::new(); cfg.clients],
        phase: vec![0; cfg.clients],
        phase_start: [None; PHASES.len() + 1],
        failures: vec![Vec::new(); POINTS.len()],
    };
    for h in 0..lay.total {
        let kind = lay.kind(h);
        match srv.create(kind) {
            Ok(fd) => {
                let fd = Rc::new(fd);
                if kind == Kind::Mutex {
                    srv.mutexes.push(fd.clone());
                }
                srv.handles.push(Some(fd));
            }
            Err(e) => {
                println!("Bail out! creating object {h} ({kind:?}): {}", errname(e));
                exit(1);
            }
        }
    }
    let held = open_fds();
    if held < lay.total {
        srv.fail(
            P_OBJECTS,
            format!(
                "the server holds {held} descriptors for {} objects",
                lay.total
            ),
        );
    }
    for (i, s) in socks.iter().enumerate() {
        if let Err(e) = send_msg(s.as_raw_fd(), [0; 4], &[], Some(srv.dev.as_raw_fd())) {
            srv.fail(P_OBJECTS, format!("passing the device to client {i}: {e}"));
        }
    }

    // The server loop: one request at a time, from whichever client has one.
    let guard = Duration::from_secs(cfg.guard);
    let mut open: Vec<bool> = vec![true; cfg.clients];
    let mut hung = false;
    while open.iter().any(|&o| o) {
        if start.elapsed() > guard {
            hung = true;
            break;
        }
        let mut pfds: Vec<libc::pollfd> = socks
            .iter()
            .zip(&open)
            .filter(|(_, &o)| o)
            .map(|(s, _)| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `pfds` is a valid array of its length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, 1000) };
        if n <= 0 {
            continue;
        }
        for p in pfds.iter().filter(|p| p.revents != 0) {
            let ci = socks.iter().position(|s| s.as_raw_fd() == p.fd).unwrap();
            match recv_msg(p.fd) {
                Ok(Some((words, text, _))) => {
                    let (reply, fd) = srv.handle(ci, words, &text);
                    if let Err(e) = send_msg(p.fd, reply, &[], fd) {
                        srv.fail(P_FINISHED, format!("replying to client {ci}: {e}"));
                    }
                }
                Ok(None) => open[ci] = false,
                Err(e) => {
                    srv.fail(P_FINISHED, format!("client {ci}: {e}"));
                    open[ci] = false;
                }
            }
        }
    }
    if hung {
        // How far each scenario got tells a slow run from a stuck one.
        let s = shm();
        srv.fail(
            P_FINISHED,
            format!(
                "progress: slot threads {}, half round trips {}, pulses {}, contended rounds {}",
                s.slot_runs.load(SeqCst),
                s.pingpong_done.load(SeqCst),
                s.pulses_done.load(SeqCst),
                s.contended_done.load(SeqCst)
            ),
        );
        for (ci, &pid) in pids.iter().enumerate() {
            let phase = PHASES[(srv.phase[ci] as usize).min(PHASES.len() - 1)];
            if open[ci] {
                srv.fail(
                    P_FINISHED,
                    format!(
                        "hang: client {ci} still in phase \"{phase}\" after {} s",
                        cfg.guard
                    ),
                );
            }
            // SAFETY: Our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for (ci, &pid) in pids.iter().enumerate() {
        let mut status = 0;
        // SAFETY: Our own child; `status` is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if !ok && !hung {
            srv.fail(
                P_FINISHED,
                format!("client {ci} ended with status {status:#x}"),
            );
        }
    }
    if !hung {
        srv.final_checks();
    }

    let s = shm();
    let results: Vec<(&str, TestResult)> = POINTS
        .iter()
        .zip(&srv.failures)
        .map(|(name, f)| {
            (
                *name,
                if f.is_empty() {
                    Ok(())
                } else {
                    Err(f.join("\n"))
                },
            )
        })
        .collect();
    println!(
        "# objects {} (held by the server at once: {held} descriptors), fds passed {}, client threads {} \
         over {} processes ({} at once per process, thread ids reused {} times, a slot's next thread under the same id {} times)",
        lay.total,
        srv.fds_passed,
        srv.threads,
        cfg.clients,
        cfg.threads,
        srv.tid_reuses,
        s.same_tid.load(SeqCst),
    );
    println!(
        "# calls {} (waits {}: timeouts {}, abandoned {}, alerted {}, wait-all taken {}), EINTR retries {}, \
         kills {} (EPERM {}, success {}), {:.1} s",
        s.calls.load(SeqCst) + srv.kills_ok + srv.kills_eperm,
        s.waits.load(SeqCst),
        s.timeouts.load(SeqCst),
        s.abandoned.load(SeqCst),
        s.alerted.load(SeqCst),
        s.wait_all_taken.load(SeqCst),
        s.eintr.load(SeqCst),
        srv.kills_ok + srv.kills_eperm,
        srv.kills_eperm,
        srv.kills_ok,
        start.elapsed().as_secs_f64(),
    );
    let times: Vec<String> = (1..PHASES.len())
        .filter_map(|p| {
            let (a, b) = (srv.phase_start[p]?, srv.phase_start[p + 1]?);
            Some(format!("{} {:.1} s", PHASES[p], (b - a).as_secs_f64()))
        })
        .collect();
    println!(
        "# phases (first start to next phase's first start): {}",
        times.join(", ")
    );
    let failed = tap::report(&results);
    exit(i32::from(failed > 0));
}
