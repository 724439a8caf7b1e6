// SPDX-License-Identifier: GPL-2.0

//! Differential tester of `/dev/ntsync`: for each seed, a deterministic PRNG drives a
//! single-threaded random sequence of ioctls, valid and invalid, over a small pool of
//! objects, and after every step reads back the state of every live object. Each step is
//! one text line holding the inputs, the result (return value or errno, every out-argument)
//! and all states; file descriptors appear only as pool names, never as numbers. The output
//! is the same for two drivers exactly when they behave the same, so the VM scripts run this
//! under both drivers in one boot and compare.
//!
//! Usage:
//!
//! - `ntsync-difftest SEED_START SEED_COUNT STEPS`: every step of every seed.
//! - `ntsync-difftest --hash SEED_START SEED_COUNT STEPS`: one line per seed,
//!   `seed <n> <hash> <steps>`, the hash covering exactly the lines the full output prints.
//! - `ntsync-difftest --trace SEED STEPS`: every step of one seed, to find the first
//!   difference behind a differing hash.
//!
//! Argument pointers are valid, null, unmapped, read-only, or straddle a page boundary: into
//! an inaccessible page (`edge`) or, readable throughout, into a read-only page (`split`). By
//! default such a boundary cuts the out-argument field (a `__u32` written back, the count of
//! `MUTEX_UNLOCK`, the index of a wait) in two, which tells `put_user()` (writes nothing)
//! from `copy_to_user()` (writes the bytes before the boundary). With `--no-partial` as the
//! first argument, boundaries fall between fields, to look for other differences.
//!
//! Nothing blocks: every wait has a deadline that has already passed. Should a driver block
//! anyway, a watchdog interrupts the wait after 10 s (it then shows up as `EINTR`).
//!
//! Line format: `<step> <op> <inputs> -> <result> <outputs> | <pool states> ; <foreign states>`.
//! A state is `S<count>/<max>`, `M<owner>x<count>` or `E<a|m><signaled>`, followed by
//! `!<ERRNO>` when the read failed (an abandoned mutex reads `!EOWNERDEAD`); `-` is an empty
//! slot. Out-argument words that were not written show as `~`; for an argument at a page
//! boundary, `b=kept` means that the bytes before it were not written, `b=@<offset>:<hex>`
//! shows them from the first one written.

use ntsync_selftests::rng::Rng;
use ntsync_selftests::{
    errname, ioctl_raw, now_ns, read_words, Kind, IOC_CREATE_EVENT, IOC_CREATE_MUTEX,
    IOC_CREATE_SEM, IOC_EVENT_PULSE, IOC_EVENT_READ, IOC_EVENT_RESET, IOC_EVENT_SET,
    IOC_MUTEX_KILL, IOC_MUTEX_READ, IOC_MUTEX_UNLOCK, IOC_SEM_READ, IOC_SEM_RELEASE, IOC_WAIT_ALL,
    IOC_WAIT_ANY, WAIT_REALTIME,
};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Pool slots `s0`..`s7`.
const SLOTS: usize = 8;
/// Objects made from a second `/dev/ntsync` instance at the start of each seed: `f0`..`f2`.
const FOREIGN: usize = 3;
/// An fd number that is never open.
const CLOSED_FD: RawFd = 1000;
/// Fill of out-argument words, shown as `~` when still there after the call.
const SENT: u32 = 0xaaaa_aaaa;
const PAGE: usize = 4096;
/// `FIGETBSZ`, `_IO(0x00, 2)`, which the libc crate lacks.
const FIGETBSZ: libc::Ioctl = 2;

// ---------------------------------------------------------------------------------------
// Deterministic randomness and hashing.

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// A fast 64-bit hash of the output lines.
struct Hasher(u64);

impl Hasher {
    fn line(&mut self, line: &str) {
        let mut h = self.0;
        let mut chunks = line.as_bytes().chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = mix64(h ^ line.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers.

fn close(fd: RawFd) {
    // SAFETY: The caller owns `fd` and forgets it.
    unsafe { libc::close(fd) };
}

/// Opens the device with `open64`: the kernel gives a 64-bit process's open O_LARGEFILE, and
/// a 32-bit process's only through `open64`, so that F_GETFL reads the same from both.
fn open_dev() -> RawFd {
    // SAFETY: A NUL-terminated path.
    let fd = unsafe { libc::open64(c"/dev/ntsync".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        eprintln!(
            "ntsync-difftest: open /dev/ntsync: {}",
            io::Error::last_os_error()
        );
        exit(2);
    }
    fd
}

fn mmap(len: usize, prot: i32, flags: i32, fd: RawFd, off: usize) -> *mut u8 {
    // SAFETY: A fresh mapping that nothing else refers to.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            flags,
            fd,
            off as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        eprintln!("ntsync-difftest: mmap: {}", io::Error::last_os_error());
        exit(2);
    }
    p.cast()
}

/// Words of an ioctl argument, aligned for `struct ntsync_wait_args`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Words([u32; 10]);

/// Where an ioctl's argument pointer points.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ptr {
    /// A writable buffer.
    Ok,
    Null,
    /// Address 8, never mapped.
    Unmapped,
    /// A read-only page holding the input (an alias of a writable page).
    ReadOnly,
    /// Straddles the end of a writable page followed by an inaccessible one.
    Edge,
    /// Readable, but straddles the end of a writable page followed by a read-only one.
    Split,
}

impl Ptr {
    fn name(self) -> &'static str {
        match self {
            Ptr::Ok => "ok",
            Ptr::Null => "null",
            Ptr::Unmapped => "unm",
            Ptr::ReadOnly => "ro",
            Ptr::Edge => "edge",
            Ptr::Split => "split",
        }
    }

    /// Mostly valid, each bad kind with `bad` percent.
    fn random(rng: &mut Rng, bad: u32) -> Ptr {
        match rng.weighted(&[100 - 5 * bad, bad, bad, bad, bad, bad]) {
            0 => Ptr::Ok,
            1 => Ptr::Null,
            2 => Ptr::Unmapped,
            3 => Ptr::ReadOnly,
            4 => Ptr::Edge,
            _ => Ptr::Split,
        }
    }
}

/// The special memory, all in one memfd mapped twice: its first page writable at `rw` and
/// read-only at `ro`; its next two pages at `split`, a writable page then a read-only one; and
/// a writable page whose end `edge` is followed by an inaccessible page.
struct Mem {
    rw: *mut u8,
    ro: *const u8,
    split: *mut u8,
    edge: *mut u8,
    /// Whether a page boundary may cut an out-argument field in two (see `cut`).
    partial: bool,
}

/// Offset in the read-only page of wait fd arrays (argument structures are at 0).
const RO_OBJS: usize = 2048;

impl Mem {
    fn new(partial: bool) -> Mem {
        // SAFETY: A NUL-terminated name.
        let memfd = unsafe { libc::memfd_create(c"ntsync-difftest".as_ptr(), libc::MFD_CLOEXEC) };
        // SAFETY: Sizing the memfd we just made.
        if memfd < 0 || unsafe { libc::ftruncate(memfd, 3 * PAGE as libc::off_t) } < 0 {
            eprintln!("ntsync-difftest: memfd: {}", io::Error::last_os_error());
            exit(2);
        }
        let rw = mmap(
            3 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd,
            0,
        );
        let ro = mmap(PAGE, libc::PROT_READ, libc::MAP_SHARED, memfd, 0);
        let split = mmap(
            2 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd,
            PAGE,
        );
        close(memfd);
        let guard = mmap(
            2 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        // SAFETY: The second pages of our own mappings.
        unsafe {
            libc::mprotect(split.add(PAGE).cast(), PAGE, libc::PROT_READ);
            libc::mprotect(guard.add(PAGE).cast(), PAGE, libc::PROT_NONE);
        }
        Mem {
            rw,
            ro,
            split,
            // SAFETY: One past the first page, inside the mapping.
            edge: unsafe { guard.add(PAGE) },
            partial,
        }
    }

    /// How many bytes of an `n`-word argument passed with `mode` lie before the page
    /// boundary. With `partial`, the boundary cuts the out-argument field (the count of
    /// `MUTEX_UNLOCK`, the index of a wait) in its middle, else it falls between fields.
    fn cut(&self, mode: Ptr, n: usize) -> usize {
        let half = if self.partial { 2 } else { 0 };
        match (mode, n) {
            (_, 1) => half,
            (Ptr::Edge, 2) => 4,
            (_, 2) => 4 + half,
            (Ptr::Edge, _) => 16,
            _ => 20 + half,
        }
    }

    /// The page boundary of `mode`, and the same address in the `rw` mapping.
    fn boundary(&self, mode: Ptr) -> (*mut u8, *mut u8) {
        // SAFETY: Both are inside our mappings.
        unsafe {
            match mode {
                Ptr::Split => (self.split.add(PAGE), self.rw.add(2 * PAGE)),
                _ => (self.edge, self.edge),
            }
        }
    }

    /// The address to pass for the first `n` words of `w` with `mode`, copying the input
    /// where it has to be.
    fn place(&self, mode: Ptr, w: &mut Words, n: usize) -> usize {
        let src = w.0.as_ptr().cast::<u8>();
        match mode {
            Ptr::Ok => w.0.as_mut_ptr() as usize,
            Ptr::Null => 0,
            Ptr::Unmapped => 8,
            Ptr::ReadOnly => {
                // SAFETY: `rw` is a page of ours and `n` words fit in it.
                unsafe { std::ptr::copy_nonoverlapping(src, self.rw, 4 * n) };
                self.ro as usize
            }
            Ptr::Edge | Ptr::Split => {
                let k = self.cut(mode, n);
                let (at, rw) = self.boundary(mode);
                // Past an edge nothing can be written; past a split, all of it.
                let len = if mode == Ptr::Edge { k } else { 4 * n };
                // SAFETY: The `len` bytes from `rw - k` are ours and writable.
                unsafe { std::ptr::copy_nonoverlapping(src, rw.sub(k), len) };
                at as usize - k
            }
        }
    }

    /// Appends the out-argument words after a call, or what was written before a page
    /// boundary (`b=kept` if nothing, else `b=@<offset>:<bytes from there on>`).
    fn render_out(&self, out: &mut String, mode: Ptr, w: &Words, n: usize) {
        match mode {
            Ptr::Ok => {
                for &x in &w.0[..n] {
                    word(out, x);
                }
            }
            Ptr::Edge | Ptr::Split => {
                let k = self.cut(mode, n);
                let (at, _) = self.boundary(mode);
                // SAFETY: The `k` bytes before the boundary are ours.
                let now = unsafe { std::slice::from_raw_parts(at.sub(k), k) };
                // SAFETY: `Words` is plain data, longer than `k` bytes.
                let input = unsafe { std::slice::from_raw_parts(w.0.as_ptr().cast::<u8>(), k) };
                match now.iter().zip(input).position(|(a, b)| a != b) {
                    None => out.push_str(" b=kept"),
                    Some(first) => {
                        let _ = write!(out, " b=@{first}:");
                        for b in &now[first..] {
                            let _ = write!(out, "{b:02x}");
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Places a wait's fd array, returning its address.
    fn place_objs(&self, mode: Ptr, fds: &mut [RawFd; 65], count: usize) -> usize {
        let n = count.min(65);
        let src = fds.as_ptr().cast::<u8>();
        match mode {
            Ptr::Ok => fds.as_mut_ptr() as usize,
            Ptr::Null => 0,
            Ptr::Unmapped => 8,
            Ptr::ReadOnly => {
                // SAFETY: At most 260 bytes from offset 2048 fit in the page.
                unsafe { std::ptr::copy_nonoverlapping(src, self.rw.add(RO_OBJS), 4 * n) };
                self.ro as usize + RO_OBJS
            }
            Ptr::Edge => {
                // All but the last fd fit before the edge.
                let k = 4 * n.saturating_sub(1);
                // SAFETY: The `k` bytes before `edge` are ours and writable.
                unsafe { std::ptr::copy_nonoverlapping(src, self.edge.sub(k), k) };
                self.edge as usize - k
            }
            Ptr::Split => {
                // Half before the boundary, half after: all readable.
                let k = 4 * (n / 2);
                let (at, rw) = self.boundary(mode);
                // SAFETY: The `4 * n` bytes from `rw - k` are ours and writable.
                unsafe { std::ptr::copy_nonoverlapping(src, rw.sub(k), 4 * n) };
                at as usize - k
            }
        }
    }
}

fn word(out: &mut String, x: u32) {
    if x == SENT {
        out.push_str(" ~");
    } else {
        let _ = write!(out, " {x}");
    }
}

fn result(out: &mut String, r: Result<i32, i32>) {
    match r {
        Ok(v) => {
            let _ = write!(out, " ={v}");
        }
        Err(e) => {
            out.push(' ');
            out.push_str(&errname(e));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The pool.

#[derive(Clone, Copy)]
struct Slot {
    fd: RawFd,
    kind: Kind,
    /// The instance that made it: the main device's generation (see `Pool::gen`), or
    /// `FOREIGN_INST`.
    inst: u32,
}

const FOREIGN_INST: u32 = u32::MAX;

/// Something to pass where an fd is expected.
#[derive(Clone, Copy)]
enum Tgt {
    Slot(usize),
    Foreign(usize),
    Dev,
    ForeignDev,
    Pipe,
    /// An fd that is not open.
    Closed,
    Neg,
    /// fd 0 (standard input, never an ntsync file).
    Zero,
}

/// Read-back state of one object.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ObjState {
    kind: Kind,
    a: u32,
    b: u32,
    err: i32,
}

struct Pool<'m> {
    mem: &'m Mem,
    dev: RawFd,
    fdev: RawFd,
    pipe: RawFd,
    /// How many times the main device was reopened.
    gen: u32,
    slots: [Option<Slot>; SLOTS],
    foreign: [Slot; FOREIGN],
    /// The states last read back, for choosing plausible inputs (a mutex's owner).
    states: [Option<ObjState>; SLOTS],
}

/// An object ioctl, with the argument size in words.
const OBJ_CMDS: [(u32, &str, usize); 9] = [
    (IOC_SEM_RELEASE, "rel", 1),
    (IOC_SEM_READ, "sread", 2),
    (IOC_MUTEX_UNLOCK, "unlock", 2),
    (IOC_MUTEX_KILL, "kill", 1),
    (IOC_MUTEX_READ, "mread", 2),
    (IOC_EVENT_SET, "set", 1),
    (IOC_EVENT_RESET, "reset", 1),
    (IOC_EVENT_PULSE, "pulse", 1),
    (IOC_EVENT_READ, "eread", 2),
];

const fn ioc(dir: u32, ty: u8, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | ((ty as u32) << 8) | nr
}

/// Commands no ntsync file knows.
const UNKNOWN_CMDS: [u32; 6] = [
    ioc(3, b'N', 0x81, 8),
    ioc(2, b'N', 0x8b, 16),
    ioc(3, b'N', 0x8e, 8),
    ioc(3, b'N', 0x7f, 8),
    ioc(1, b'M', 0x80, 8),
    0,
];

impl<'m> Pool<'m> {
    fn new(mem: &'m Mem, pipe: RawFd) -> Pool<'m> {
        let dev = open_dev();
        let fdev = open_dev();
        let mut foreign = [Slot {
            fd: -1,
            kind: Kind::Sem,
            inst: FOREIGN_INST,
        }; FOREIGN];
        let specs = [
            (IOC_CREATE_SEM, Kind::Sem, [1u32, 3]),
            (IOC_CREATE_MUTEX, Kind::Mutex, [1, 1]),
            (IOC_CREATE_EVENT, Kind::Event, [0, 1]),
        ];
        for (f, (cmd, kind, args)) in foreign.iter_mut().zip(specs) {
            let mut w = Words([0; 10]);
            w.0[..2].copy_from_slice(&args);
            match ioctl_raw(fdev, cmd, w.0.as_mut_ptr() as usize) {
                Ok(fd) => {
                    *f = Slot {
                        fd,
                        kind,
                        inst: FOREIGN_INST,
                    }
                }
                Err(e) => {
                    eprintln!(
                        "ntsync-difftest: creating a {kind:?} failed: {}",
                        errname(e)
                    );
                    exit(2);
                }
            }
        }
        Pool {
            mem,
            dev,
            fdev,
            pipe,
            gen: 0,
            slots: [None; SLOTS],
            foreign,
            states: [None; SLOTS],
        }
    }

    fn fd(&self, t: Tgt) -> RawFd {
        match t {
            Tgt::Slot(i) => self.slots[i].map_or(CLOSED_FD, |s| s.fd),
            Tgt::Foreign(i) => self.foreign[i].fd,
            Tgt::Dev => self.dev,
            Tgt::ForeignDev => self.fdev,
            Tgt::Pipe => self.pipe,
            Tgt::Closed => CLOSED_FD,
            Tgt::Neg => -1,
            Tgt::Zero => 0,
        }
    }

    fn name(out: &mut String, t: Tgt) {
        let _ = match t {
            Tgt::Slot(i) => write!(out, "s{i}"),
            Tgt::Foreign(i) => write!(out, "f{i}"),
            Tgt::Dev => write!(out, "dev"),
            Tgt::ForeignDev => write!(out, "fdev"),
            Tgt::Pipe => write!(out, "pipe"),
            Tgt::Closed => write!(out, "closed"),
            Tgt::Neg => write!(out, "neg"),
            Tgt::Zero => write!(out, "zero"),
        };
    }

    /// The live slots that hold objects of the main device.
    fn usable(&self) -> Vec<usize> {
        (0..SLOTS)
            .filter(|&i| self.slots[i].is_some_and(|s| s.inst == self.gen))
            .collect()
    }

    fn live(&self) -> Vec<usize> {
        (0..SLOTS).filter(|&i| self.slots[i].is_some()).collect()
    }

    fn empty(&self) -> Vec<usize> {
        (0..SLOTS).filter(|&i| self.slots[i].is_none()).collect()
    }

    /// A random live slot, or something else with probability `other` percent (always when
    /// the pool is empty).
    fn target(&self, rng: &mut Rng, other: u64) -> Tgt {
        let live = self.live();
        if !live.is_empty() && !rng.pct(other) {
            return Tgt::Slot(rng.pick(&live));
        }
        match rng.weighted(&[30, 10, 8, 14, 10, 10, 4]) {
            0 => Tgt::Foreign(rng.index(FOREIGN)),
            1 => Tgt::Dev,
            2 => Tgt::ForeignDev,
            3 => Tgt::Pipe,
            4 => Tgt::Closed,
            5 => Tgt::Neg,
            _ => Tgt::Zero,
        }
    }

    /// A target of the given kind when there is one, else any.
    fn target_of(&self, rng: &mut Rng, kind: Kind) -> Tgt {
        let of: Vec<usize> = (0..SLOTS)
            .filter(|&i| self.slots[i].is_some_and(|s| s.kind == kind))
            .collect();
        if !of.is_empty() && rng.pct(75) {
            return Tgt::Slot(rng.pick(&of));
        }
        self.target(rng, 12)
    }

    /// An owner id: mostly 1..=3, sometimes the current owner of a mutex target, sometimes
    /// odd values.
    fn owner(&self, rng: &mut Rng, t: Option<Tgt>) -> u32 {
        if let Some(Tgt::Slot(i)) = t {
            if let Some(st) = self.states[i] {
                if st.kind == Kind::Mutex && st.a != 0 && rng.pct(50) {
                    return st.a;
                }
            }
        }
        match rng.weighted(&[85, 5, 5, 5]) {
            0 => 1 + rng.index(3) as u32,
            1 => 0,
            2 => 4,
            _ => u32::MAX,
        }
    }

    fn read_state(&self, s: Slot) -> ObjState {
        let (ret, w) = read_words(&s.fd, s.kind.read_cmd(), SENT);
        let err = ret.err().unwrap_or(0);
        ObjState {
            kind: s.kind,
            a: w[0],
            b: w[1],
            err,
        }
    }

    fn render_state(out: &mut String, st: &ObjState) {
        out.push(' ');
        let _ = match st.kind {
            Kind::Sem => write!(out, "S{}/{}", st.a, st.b),
            Kind::Mutex => write!(out, "M{}x{}", st.a, st.b),
            Kind::Event => match (st.a, st.b) {
                (0, s @ 0..=1) => write!(out, "Ea{s}"),
                (1, s @ 0..=1) => write!(out, "Em{s}"),
                (m, s) => write!(out, "E?{m},{s}"),
            },
        };
        if st.err != 0 {
            out.push('!');
            out.push_str(&errname(st.err));
        }
    }

    /// Reads back every live object, appending the states.
    fn states(&mut self, out: &mut String) {
        out.push_str(" |");
        for i in 0..SLOTS {
            match self.slots[i] {
                Some(s) => {
                    let st = self.read_state(s);
                    Self::render_state(out, &st);
                    self.states[i] = Some(st);
                }
                None => {
                    out.push_str(" -");
                    self.states[i] = None;
                }
            }
        }
        out.push_str(" ;");
        for f in self.foreign {
            Self::render_state(out, &self.read_state(f));
        }
    }

    /// Closes everything of this seed.
    fn close_all(&mut self) {
        for s in self.slots.iter_mut() {
            if let Some(s) = s.take() {
                close(s.fd);
            }
        }
        for f in self.foreign {
            close(f.fd);
        }
        close(self.dev);
        close(self.fdev);
    }

    // -----------------------------------------------------------------------------------
    // Operations. Each appends its inputs and results to `out`.

    fn op_create(&mut self, rng: &mut Rng, out: &mut String) {
        let empty = self.empty();
        if empty.is_empty() {
            return self.op_close(rng, out);
        }
        let slot = rng.pick(&empty);
        let (cmd, kind, args) = match rng.index(3) {
            0 => {
                let (c, m) = match rng.weighted(&[70, 6, 4, 4, 4, 4, 4, 4]) {
                    0 => {
                        let c = rng.index(4) as u32;
                        (c, c + rng.index(4) as u32)
                    }
                    1 => (3, 2),
                    2 => (1, 0),
                    3 => (0, 0),
                    4 => (u32::MAX, u32::MAX),
                    5 => (u32::MAX - 1, u32::MAX),
                    6 => (0, u32::MAX),
                    _ => (u32::MAX, 0),
                };
                (IOC_CREATE_SEM, Kind::Sem, [c, m])
            }
            1 => {
                let o = 1 + rng.index(3) as u32;
                let args = match rng.weighted(&[40, 30, 6, 6, 6, 6, 6]) {
                    0 => [0, 0],
                    1 => [o, 1 + rng.index(3) as u32],
                    2 => [0, 1],
                    3 => [o, 0],
                    4 => [o, u32::MAX - 1],
                    5 => [o, u32::MAX],
                    _ => [u32::MAX, 1],
                };
                (IOC_CREATE_MUTEX, Kind::Mutex, args)
            }
            _ => {
                let m = rng.pick(&[0, 0, 1, 1, 2, u32::MAX]);
                let s = rng.pick(&[0, 0, 1, 1, 7]);
                (IOC_CREATE_EVENT, Kind::Event, [m, s])
            }
        };
        let on = match rng.weighted(&[88, 4, 2, 2, 2, 2]) {
            0 => Tgt::Dev,
            1 => Tgt::ForeignDev,
            2 => self.target(rng, 0),
            3 => Tgt::Pipe,
            4 => Tgt::Closed,
            _ => Tgt::Neg,
        };
        let mode = Ptr::random(rng, 2);
        let mut w = Words([SENT; 10]);
        w.0[..2].copy_from_slice(&args);
        let addr = self.mem.place(mode, &mut w, 2);
        let r = ioctl_raw(self.fd(on), cmd, addr);
        let _ = write!(
            out,
            "new{} ",
            match kind {
                Kind::Sem => "sem",
                Kind::Mutex => "mutex",
                Kind::Event => "event",
            }
        );
        Self::name(out, on);
        let _ = write!(out, " {} {} {} ->", args[0], args[1], mode.name());
        match r {
            Ok(fd) => {
                let inst = match on {
                    Tgt::Dev => self.gen,
                    _ => FOREIGN_INST,
                };
                self.slots[slot] = Some(Slot { fd, kind, inst });
                let _ = write!(out, " =s{slot}");
            }
            Err(e) => result(out, Err(e)),
        }
        self.mem.render_out(out, mode, &w, 2);
    }

    fn op_close(&mut self, rng: &mut Rng, out: &mut String) {
        let live = self.live();
        if live.is_empty() {
            out.push_str("close none");
            return;
        }
        let i = rng.pick(&live);
        if let Some(s) = self.slots[i].take() {
            close(s.fd);
        }
        let _ = write!(out, "close s{i}");
    }

    fn op_dup(&mut self, rng: &mut Rng, out: &mut String) {
        let (live, empty) = (self.live(), self.empty());
        if live.is_empty() || empty.is_empty() {
            return self.op_close(rng, out);
        }
        let (from, to) = (rng.pick(&live), rng.pick(&empty));
        let Some(s) = self.slots[from] else { return };
        // SAFETY: Duplicating an fd we own.
        let fd = unsafe { libc::fcntl(s.fd, libc::F_DUPFD_CLOEXEC, 3) };
        if fd < 0 {
            eprintln!("ntsync-difftest: dup: {}", io::Error::last_os_error());
            exit(2);
        }
        self.slots[to] = Some(Slot { fd, ..s });
        let _ = write!(out, "dup s{from} -> s{to}");
    }

    fn op_reopen(&mut self, out: &mut String) {
        close(self.dev);
        self.dev = open_dev();
        self.gen += 1;
        out.push_str("reopen dev");
    }

    /// An object ioctl: `which` indexes `OBJ_CMDS`.
    fn op_obj(&mut self, rng: &mut Rng, out: &mut String, which: usize) {
        let (cmd, name, n) = OBJ_CMDS[which];
        let kind = match cmd {
            IOC_SEM_RELEASE | IOC_SEM_READ => Kind::Sem,
            IOC_MUTEX_UNLOCK | IOC_MUTEX_KILL | IOC_MUTEX_READ => Kind::Mutex,
            _ => Kind::Event,
        };
        let t = self.target_of(rng, kind);
        let mut w = Words([SENT; 10]);
        match cmd {
            IOC_SEM_RELEASE => {
                w.0[0] = match rng.weighted(&[20, 40, 12, 8, 5, 5, 5, 5]) {
                    0 => 0,
                    1 => 1,
                    2 => 2,
                    3 => 3,
                    4 => u32::MAX,
                    5 => u32::MAX - 1,
                    6 => 1 << 31,
                    _ => 100,
                }
            }
            IOC_MUTEX_UNLOCK => {
                w.0[0] = self.owner(rng, Some(t));
                w.0[1] = rng.pick(&[0, 1, 77]);
            }
            IOC_MUTEX_KILL => w.0[0] = self.owner(rng, Some(t)),
            _ => {}
        }
        let mode = Ptr::random(rng, 2);
        out.push_str(name);
        out.push(' ');
        Self::name(out, t);
        match cmd {
            IOC_SEM_RELEASE | IOC_MUTEX_KILL => {
                let _ = write!(out, " {}", w.0[0]);
            }
            IOC_MUTEX_UNLOCK => {
                let _ = write!(out, " {} {}", w.0[0], w.0[1]);
            }
            _ => {}
        }
        let _ = write!(out, " {} ->", mode.name());
        let addr = self.mem.place(mode, &mut w, n);
        let r = ioctl_raw(self.fd(t), cmd, addr);
        result(out, r);
        self.mem.render_out(out, mode, &w, n);
    }

    /// A command that the target does not know: a device command on an object, an object
    /// command on a device, or a command no ntsync file knows.
    fn op_badcmd(&mut self, rng: &mut Rng, out: &mut String) {
        let t = self.target(rng, 30);
        let (cmd, name) = match (t, rng.index(3)) {
            (_, 0) => (rng.pick(&UNKNOWN_CMDS), "unknown"),
            (Tgt::Dev | Tgt::ForeignDev, _) => {
                let c = rng.pick(&OBJ_CMDS);
                (c.0, c.1)
            }
            _ => rng.pick(&[
                (IOC_CREATE_SEM, "newsem"),
                (IOC_CREATE_MUTEX, "newmutex"),
                (IOC_CREATE_EVENT, "newevent"),
                (IOC_WAIT_ANY, "wany"),
                (IOC_WAIT_ALL, "wall"),
            ]),
        };
        let mut w = Words([0; 10]);
        w.0[7] = 1;
        let r = ioctl_raw(self.fd(t), cmd, w.0.as_mut_ptr() as usize);
        let _ = write!(out, "cmd {cmd:#x}({name}) ");
        Self::name(out, t);
        out.push_str(" ->");
        match r {
            Ok(fd) if cmd == IOC_CREATE_SEM || cmd == IOC_CREATE_MUTEX => {
                // Not expected: an object fd does not create. Do not leak it.
                close(fd);
                out.push_str(" =fd");
            }
            r => result(out, r),
        }
        for x in w.0 {
            let _ = write!(out, " {x}");
        }
    }

    /// An element of a wait's fd array or its alert.
    fn wait_elem(&self, rng: &mut Rng) -> Tgt {
        let usable = self.usable();
        if !usable.is_empty() && rng.pct(90) {
            return Tgt::Slot(rng.pick(&usable));
        }
        self.target(rng, 30)
    }

    fn op_wait(&mut self, rng: &mut Rng, out: &mut String, all: bool) {
        let usable = self.usable();
        let count: u32 = match rng.weighted(&[5, 75, 8, 4, 3, 3, 2]) {
            0 => 0,
            1 => 1 + rng.index(4) as u32,
            2 => 5 + rng.index(4) as u32,
            3 => 64,
            4 => 65,
            5 => u32::MAX,
            _ => 1 << 31,
        };
        let mut tgts: Vec<Tgt> = Vec::new();
        let n = count.min(64) as usize;
        if all && rng.pct(70) && usable.len() >= n {
            // Distinct objects, so that the wait is valid.
            let mut l = usable.clone();
            for _ in 0..n {
                let j = rng.index(l.len());
                tgts.push(Tgt::Slot(l.swap_remove(j)));
            }
        } else {
            for _ in 0..n {
                tgts.push(self.wait_elem(rng));
            }
        }
        let alert = match rng.weighted(&[50, 35, 10, 5]) {
            0 => None,
            1 => Some(self.wait_elem(rng)),
            2 if !tgts.is_empty() => Some(rng.pick(&tgts)),
            _ => Some(self.target(rng, 100)),
        };
        let owner = self.owner(rng, None);
        let flags = match rng.weighted(&[88, 6, 2, 2, 2]) {
            0 => 0,
            1 => WAIT_REALTIME,
            2 => 2,
            3 => 1 << 31,
            _ => 3,
        };
        let pad = match rng.weighted(&[96, 2, 2]) {
            0 => 0,
            1 => 1,
            _ => u32::MAX,
        };
        // Only deadlines that have passed: a deadline of 2^63 or more is still a (far)
        // deadline, not a past one, and blocks.
        let (to_name, timeout) = match rng.weighted(&[40, 10, 20, 10, 10]) {
            0 => ("0", 0),
            1 => ("1", 1),
            2 => (
                "past",
                now_ns(if flags & WAIT_REALTIME != 0 {
                    libc::CLOCK_REALTIME
                } else {
                    libc::CLOCK_MONOTONIC
                })
                .saturating_sub(1_000_000),
            ),
            3 => ("boot", 1_000_000),
            _ => ("1s", 1_000_000_000),
        };
        let on = match rng.weighted(&[92, 4, 2, 1, 1]) {
            0 => Tgt::Dev,
            1 => Tgt::ForeignDev,
            2 => self.target(rng, 0),
            3 => Tgt::Pipe,
            _ => Tgt::Closed,
        };
        let amode = Ptr::random(rng, 1);
        let omode = match Ptr::random(rng, 2) {
            // Both cannot straddle the same boundary.
            Ptr::Split if amode == Ptr::Split => Ptr::ReadOnly,
            m => m,
        };

        let mut fds = [0 as RawFd; 65];
        for (fd, &t) in fds.iter_mut().zip(&tgts) {
            *fd = self.fd(t);
        }
        let objs = self.mem.place_objs(omode, &mut fds, n);
        let alert_fd = alert.map_or(0, |t| self.fd(t));
        let mut w = Words([
            timeout as u32,
            (timeout >> 32) as u32,
            objs as u32,
            (objs as u64 >> 32) as u32,
            count,
            SENT,
            flags,
            owner,
            alert_fd as u32,
            pad,
        ]);
        let before = w;
        let addr = self.mem.place(amode, &mut w, 10);
        let r = ioctl_raw(
            self.fd(on),
            if all { IOC_WAIT_ALL } else { IOC_WAIT_ANY },
            addr,
        );

        out.push_str(if all { "wall " } else { "wany " });
        Self::name(out, on);
        let _ = write!(out, " n={count} [");
        for (i, &t) in tgts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            Self::name(out, t);
        }
        out.push_str("] al=");
        match alert {
            Some(t) => Self::name(out, t),
            None => out.push('0'),
        }
        let _ = write!(
            out,
            " o={owner} fl={flags:#x} pad={pad} to={to_name} a={} objs={} ->",
            amode.name(),
            omode.name()
        );
        result(out, r);
        match amode {
            Ptr::Ok => {
                out.push_str(" i=");
                if w.0[5] == SENT {
                    out.push('~');
                } else {
                    let _ = write!(out, "{}", w.0[5]);
                }
                let mut other = w;
                other.0[5] = SENT;
                if other.0 != before.0 {
                    out.push_str(" CLOBBERED");
                    for x in w.0 {
                        let _ = write!(out, " {x:#x}");
                    }
                }
            }
            _ => self.mem.render_out(out, amode, &w, 10),
        }
    }

    /// A file operation other than an ntsync ioctl: what the VFS and the file operations of
    /// each kind of file do with read, write, lseek, poll, fcntl, fstat, mmap and the generic
    /// ioctls.
    fn op_file(&mut self, rng: &mut Rng, out: &mut String) {
        let t = match self.target(rng, 30) {
            // Standard input may be a terminal: leave it alone.
            Tgt::Zero => Tgt::Closed,
            t => t,
        };
        let fd = self.fd(t);
        let sys = |ret: i64| -> Result<i64, i32> {
            if ret < 0 {
                Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
            } else {
                Ok(ret)
            }
        };
        let show = |out: &mut String, r: Result<i64, i32>| match r {
            Ok(v) => {
                let _ = write!(out, " ={v}");
            }
            Err(e) => {
                out.push(' ');
                out.push_str(&errname(e));
            }
        };
        let sub = rng.index(14);
        let name = [
            "read", "write", "lseek", "poll", "getfl", "getfd", "fstat", "readlink", "mmap",
            "fionread", "figetbsz", "fionbio", "fioqsize", "fioclex",
        ][sub];
        out.push_str(name);
        out.push(' ');
        Self::name(out, t);
        out.push_str(" ->");
        match sub {
            0 => {
                let mut b = [0u8; 8];
                // SAFETY: `b` has room for 8 bytes.
                let r = sys(unsafe { libc::read(fd, b.as_mut_ptr().cast(), 8) } as i64);
                show(out, r);
            }
            1 => {
                // SAFETY: Writing 8 bytes from a static buffer.
                let r = sys(unsafe { libc::write(fd, b"ntsyncXY".as_ptr().cast(), 8) } as i64);
                show(out, r);
            }
            2 => {
                let (off, whence) = rng.pick(&[
                    (0, libc::SEEK_CUR),
                    (5, libc::SEEK_SET),
                    (0, libc::SEEK_END),
                ]);
                // SAFETY: No memory is involved.
                let r = sys(unsafe { libc::lseek64(fd, off, whence) });
                let _ = write!(out, " {off} {whence}");
                show(out, r);
            }
            3 => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN | libc::POLLOUT | libc::POLLPRI,
                    revents: 0,
                };
                // SAFETY: One valid pollfd.
                let r = sys(i64::from(unsafe { libc::poll(&mut p, 1, 0) }));
                show(out, r);
                let _ = write!(out, " {:#x}", p.revents);
            }
            4 | 5 => {
                let cmd = if sub == 4 {
                    libc::F_GETFL
                } else {
                    libc::F_GETFD
                };
                // SAFETY: No memory is involved.
                let r = sys(i64::from(unsafe { libc::fcntl(fd, cmd) }));
                match r {
                    Ok(v) => {
                        let _ = write!(out, " ={v:#x}");
                    }
                    r => show(out, r),
                }
            }
            6 => {
                // SAFETY: An all-zero `stat` is valid.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: `st` is a valid out-pointer.
                let r = sys(i64::from(unsafe { libc::fstat(fd, &mut st) }));
                show(out, r);
                if r.is_ok() {
                    let _ = write!(out, " {:o} {} {}", st.st_mode, st.st_size, st.st_blksize);
                }
            }
            7 => {
                let path = format!("/proc/self/fd/{fd}\0");
                let mut b = [0u8; 256];
                // SAFETY: A NUL-terminated path and a buffer of the given size.
                let r = sys(unsafe {
                    libc::readlink(path.as_ptr().cast(), b.as_mut_ptr().cast(), b.len())
                } as i64);
                if let Ok(n) = r {
                    // Without inode numbers (or the length), which differ between runs.
                    out.push_str(" =");
                    for &c in &b[..n as usize] {
                        if !c.is_ascii_digit() {
                            out.push(c as char);
                        }
                    }
                } else {
                    show(out, r);
                }
            }
            8 => {
                // SAFETY: A new mapping, unmapped again at once.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        PAGE,
                        libc::PROT_READ,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    show(out, sys(-1));
                } else {
                    // SAFETY: The mapping just made.
                    unsafe { libc::munmap(p, PAGE) };
                    out.push_str(" mapped");
                }
            }
            _ => {
                let (cmd, arg) = match sub {
                    9 => (libc::FIONREAD, SENT),
                    10 => (FIGETBSZ, SENT),
                    11 if matches!(t, Tgt::Pipe) => (libc::FIONBIO, 1),
                    11 => (libc::FIONBIO, rng.index(2) as u32),
                    12 => (libc::FIOQSIZE, SENT),
                    _ => (rng.pick(&[libc::FIOCLEX, libc::FIONCLEX]), SENT),
                };
                let mut w = [arg, SENT];
                // SAFETY: The argument has room for the 8 bytes of the largest of these.
                let r = sys(i64::from(unsafe {
                    libc::ioctl(fd, cmd as libc::Ioctl, w.as_mut_ptr())
                }));
                let _ = write!(out, " cmd={cmd:#x} arg={arg:#x}");
                show(out, r);
                word(out, w[0]);
                word(out, w[1]);
            }
        }
    }

    /// One random step.
    fn step(&mut self, rng: &mut Rng, out: &mut String) {
        // create, close, dup, reopen, objects (9), unknown command, wait-any, wait-all, file
        const W: [u32; 17] = [14, 5, 2, 1, 10, 2, 8, 5, 2, 5, 4, 4, 2, 3, 16, 12, 2];
        match rng.weighted(&W) {
            0 => self.op_create(rng, out),
            1 => self.op_close(rng, out),
            2 => self.op_dup(rng, out),
            3 => {
                if rng.pct(15) {
                    self.op_reopen(out)
                } else {
                    self.op_close(rng, out)
                }
            }
            k @ 4..=12 => self.op_obj(rng, out, k - 4),
            13 => self.op_badcmd(rng, out),
            14 => self.op_wait(rng, out, false),
            15 => self.op_wait(rng, out, true),
            _ => self.op_file(rng, out),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Watchdog: interrupts a wait that blocks although its deadline has passed.

static PROGRESS: AtomicU64 = AtomicU64::new(0);
static WHERE: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {}

fn start_watchdog() {
    // SAFETY: Installing a handler that does nothing, without SA_RESTART, so that a blocked
    // ioctl returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    // SAFETY: The calling thread's id.
    let main = unsafe { libc::pthread_self() };
    std::thread::spawn(move || {
        let (mut last, mut still) = (u64::MAX, 0);
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = PROGRESS.load(Ordering::Relaxed);
            if now != last {
                (last, still) = (now, 0);
                continue;
            }
            still += 1;
            if still >= 10 {
                let w = WHERE.load(Ordering::Relaxed);
                eprintln!(
                    "ntsync-difftest: seed {} step {} blocked for {still} s; interrupting it",
                    w >> 32,
                    w & 0xffff_ffff
                );
                // SAFETY: `main` is the thread running the steps, alive until exit.
                unsafe { libc::pthread_kill(main, libc::SIGUSR1) };
            }
        }
    });
}

// ---------------------------------------------------------------------------------------

enum Output<'a> {
    Lines(&'a mut BufWriter<io::StdoutLock<'static>>),
    Hash,
}

/// Runs one seed; returns the hash of its lines.
fn run_seed(mem: &Mem, pipe: RawFd, seed: u64, steps: u64, out: &mut Output) -> io::Result<u64> {
    let mut rng = Rng(seed);
    let mut hasher = Hasher(mix64(seed ^ 0x6e74_7379_6e63));
    let mut pool = Pool::new(mem, pipe);
    let mut line = String::with_capacity(512);
    let emit = |line: &str, hasher: &mut Hasher, out: &mut Output| -> io::Result<()> {
        hasher.line(line);
        if let Output::Lines(w) = out {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    line.push_str("0 setup");
    pool.states(&mut line);
    emit(&line, &mut hasher, out)?;
    for step in 1..=steps {
        WHERE.store(seed << 32 | step, Ordering::Relaxed);
        PROGRESS.fetch_add(1, Ordering::Relaxed);
        line.clear();
        let _ = write!(line, "{step} ");
        pool.step(&mut rng, &mut line);
        pool.states(&mut line);
        emit(&line, &mut hasher, out)?;
    }
    pool.close_all();
    Ok(hasher.0)
}

fn usage() -> ! {
    eprintln!(
        "usage: ntsync-difftest [--no-partial] SEED_START SEED_COUNT STEPS\n\
         \x20      ntsync-difftest [--no-partial] --hash SEED_START SEED_COUNT STEPS\n\
         \x20      ntsync-difftest [--no-partial] --trace SEED STEPS"
    );
    exit(2);
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| usage())
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let partial = args.first().map(String::as_str) != Some("--no-partial");
    if !partial {
        args.remove(0);
    }
    let (hash, start, count, steps) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..]
    {
        ["--hash", s, c, n] => (true, num(s), num(c), num(n)),
        ["--trace", s, n] => (false, num(s), 1, num(n)),
        [s, c, n] => (false, num(s), num(c), num(n)),
        _ => usage(),
    };
    if steps >= 1 << 32 || start.checked_add(count).is_none_or(|e| e > 1 << 32) {
        usage();
    }
    // Keep fds 0..2 open, so that no object ever gets fd 0 (an alert of 0 means none).
    loop {
        // SAFETY: Opening /dev/null with a NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd >= 3 {
            close(fd);
        }
        if !(0..3).contains(&fd) {
            break;
        }
    }
    let mem = Mem::new(partial);
    let mut pipefd = [0; 2];
    // SAFETY: `pipefd` has room for two fds.
    if unsafe { libc::pipe2(pipefd.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        eprintln!("ntsync-difftest: pipe: {}", io::Error::last_os_error());
        exit(2);
    }
    start_watchdog();
    // The `1s` deadline (one second after boot) must have passed.
    let up = now_ns(libc::CLOCK_MONOTONIC);
    if up < 2_000_000_000 {
        std::thread::sleep(Duration::from_nanos(2_000_000_000 - up));
    }

    let mut stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let res = (|| -> io::Result<()> {
        for seed in start..start + count {
            if hash {
                let h = run_seed(&mem, pipefd[0], seed, steps, &mut Output::Hash)?;
                writeln!(stdout, "seed {seed} {h:016x} {steps}")?;
            } else {
                writeln!(stdout, "# seed {seed} steps {steps}")?;
                let h = run_seed(
                    &mem,
                    pipefd[0],
                    seed,
                    steps,
                    &mut Output::Lines(&mut stdout),
                )?;
                writeln!(stdout, "# seed {seed} {h:016x} {steps}")?;
            }
        }
        stdout.flush()
    })();
    if let Err(e) = res {
        eprintln!("ntsync-difftest: writing the output: {e}");
        exit(2);
    }
}
