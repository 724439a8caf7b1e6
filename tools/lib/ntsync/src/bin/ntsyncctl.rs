// SPDX-License-Identifier: GPL-2.0

//! ntsyncctl: a line-oriented shell over `/dev/ntsync` that holds objects by name in one
//! process, so that a person (or a test script) can create objects, change them, block
//! waiters on them and watch what the driver does.
//!
//! Usage: `ntsyncctl [-x] [-d DEVICE] [-c 'CMD; CMD...' | SCRIPT]`; without `-c` or a
//! script it reads commands from stdin. `help` lists the commands.
//!
//! Results go to stdout, one line each, in a stable form (`sem a: count 1 max 2`); a
//! driver error is a result too (`release a: error: ... (EOVERFLOW)`). Mistakes in the
//! commands themselves go to stderr. The exit status is 0 if every command succeeded, 1
//! if any failed (a driver error, a timed-out wait or a bad command), 2 for bad options.
//!
//! `spawn wait` returns once its thread sleeps in the driver (`spawn 1: blocked`), and
//! every command returns only once the spawned waits it woke have printed their outcome
//! (`spawn 1: acquired e index 0`), so a script's output does not depend on timing unless
//! one command wakes several spawned waits at once or a spawned wait times out.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::io;
use std::io::BufRead;
use std::io::IsTerminal;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use linux_ntsync::Acquired;
use linux_ntsync::AsObject;
use linux_ntsync::Deadline;
use linux_ntsync::Device;
use linux_ntsync::Error;
use linux_ntsync::Event;
use linux_ntsync::Mutex;
use linux_ntsync::Semaphore;

const HELP: &str = "\
commands (separated by newlines or ';', '#' starts a comment):
  sem NAME COUNT MAX               create a semaphore
  mutex NAME OWNER COUNT           create a mutex (0 0: unowned)
  event NAME manual|auto set|unset create an event
  release NAME N                   add N to a semaphore's count
  unlock NAME OWNER                release one level of a mutex
  kill NAME OWNER                  report that OWNER died holding a mutex
  set|reset|pulse NAME             signal, unsignal or pulse an event
  read NAME                        print an object's state
  wait any|all NAME... [owner N] [timeout MS [realtime]] [alert NAME]
                                   wait (owner 1 and no timeout by default)
  spawn wait ...                   the same wait in a background thread, which
                                   prints its outcome when it returns
  join [N]                         wait until spawned wait N (or every one) returns
  close NAME                       close an object
  sleep MS                         pause
  list                             the objects held, and spawned waits still running
  show                             the driver's debugfs view (/sys/kernel/debug/ntsync)
  help                             this text
  quit                             stop (also at end of input)";

/// Words a wait reads as options, so they cannot name objects.
const KEYWORDS: [&str; 4] = ["owner", "timeout", "alert", "realtime"];

/// How long a command waits at most for spawned waits to sleep in the driver or return.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Command {
    Sem {
        name: String,
        count: u32,
        max: u32,
    },
    Mutex {
        name: String,
        owner: u32,
        count: u32,
    },
    Event {
        name: String,
        manual: bool,
        signaled: bool,
    },
    Release {
        name: String,
        n: u32,
    },
    Unlock {
        name: String,
        owner: u32,
    },
    Kill {
        name: String,
        owner: u32,
    },
    EventOp {
        op: EventOp,
        name: String,
    },
    Read {
        name: String,
    },
    Wait(WaitSpec),
    Spawn(WaitSpec),
    Join(Option<usize>),
    Close {
        name: String,
    },
    Sleep(u64),
    List,
    Show,
    Help,
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventOp {
    Set,
    Reset,
    Pulse,
}

impl EventOp {
    fn word(self) -> &'static str {
        match self {
            EventOp::Set => "set",
            EventOp::Reset => "reset",
            EventOp::Pulse => "pulse",
        }
    }
}

/// A `wait` command's arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct WaitSpec {
    all: bool,
    names: Vec<String>,
    owner: u32,
    /// Milliseconds, and whether on the realtime clock; `None` waits forever.
    timeout: Option<(u64, bool)>,
    alert: Option<String>,
}

impl WaitSpec {
    /// The deadline of a wait that starts now.
    fn deadline(&self) -> Deadline {
        match self.timeout {
            None => Deadline::Infinite,
            Some((0, false)) => Deadline::Monotonic(0),
            Some((ms, false)) => Deadline::after(Duration::from_millis(ms)),
            Some((ms, true)) => Deadline::at(SystemTime::now() + Duration::from_millis(ms)),
        }
    }

    /// The outcome line of a wait, after its `wait:` or `spawn N:` prefix.
    fn outcome(&self, result: linux_ntsync::Result<Acquired>) -> String {
        let got = match result {
            Ok(got) => got,
            Err(Error::Timeout) => return "timeout".into(),
            Err(e) => return format!("error: {e}"),
        };
        let abandoned = if got.abandoned { " abandoned" } else { "" };
        if got.alerted {
            let alert = self.alert.as_deref().unwrap_or("?");
            format!("alerted {alert} index {}{abandoned}", got.index)
        } else if self.all {
            format!("acquired all{abandoned}")
        } else {
            let name = self.names.get(got.index).map_or("?", String::as_str);
            format!("acquired {name} index {}{abandoned}", got.index)
        }
    }
}

fn parse_u32(word: Option<&str>, what: &str) -> Result<u32, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.map_err(|_| format!("{what}: expected a number from 0 to 4294967295, got '{word}'"))
}

fn parse_u64(word: Option<&str>, what: &str) -> Result<u64, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    word.parse()
        .map_err(|_| format!("{what}: expected a number, got '{word}'"))
}

fn parse_name(word: Option<&str>) -> Result<String, String> {
    let word = word.ok_or("missing NAME")?;
    if KEYWORDS.contains(&word) {
        return Err(format!("'{word}' cannot name an object"));
    }
    Ok(word.to_string())
}

fn parse_choice(word: Option<&str>, yes: &str, no: &str) -> Result<bool, String> {
    match word {
        Some(w) if w == yes => Ok(true),
        Some(w) if w == no => Ok(false),
        Some(w) => Err(format!("expected {yes} or {no}, got '{w}'")),
        None => Err(format!("missing {yes}|{no}")),
    }
}

fn parse_wait<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<WaitSpec, String> {
    let all = match words.next() {
        Some("any") => false,
        Some("all") => true,
        _ => return Err("expected: wait any|all NAME...".into()),
    };
    let mut spec = WaitSpec {
        all,
        owner: 1,
        ..WaitSpec::default()
    };
    let mut words = words.peekable();
    while let Some(word) = words.next() {
        match word {
            "owner" => spec.owner = parse_u32(words.next(), "owner")?,
            "timeout" => {
                let ms = parse_u64(words.next(), "timeout")?;
                let realtime = words.next_if_eq(&"realtime").is_some();
                spec.timeout = Some((ms, realtime));
            }
            "alert" => spec.alert = Some(parse_name(words.next())?),
            _ => spec.names.push(parse_name(Some(word))?),
        }
    }
    Ok(spec)
}

/// Parses one command (already split from its neighbours, comment removed); `None` for an
/// empty one.
fn parse(text: &str) -> Result<Option<Command>, String> {
    let mut words = text.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let command = match verb {
        "sem" => Command::Sem {
            name: parse_name(words.next())?,
            count: parse_u32(words.next(), "COUNT")?,
            max: parse_u32(words.next(), "MAX")?,
        },
        "mutex" => Command::Mutex {
            name: parse_name(words.next())?,
            owner: parse_u32(words.next(), "OWNER")?,
            count: parse_u32(words.next(), "COUNT")?,
        },
        "event" => Command::Event {
            name: parse_name(words.next())?,
            manual: parse_choice(words.next(), "manual", "auto")?,
            signaled: parse_choice(words.next(), "set", "unset")?,
        },
        "release" => Command::Release {
            name: parse_name(words.next())?,
            n: parse_u32(words.next(), "N")?,
        },
        "unlock" => Command::Unlock {
            name: parse_name(words.next())?,
            owner: parse_u32(words.next(), "OWNER")?,
        },
        "kill" => Command::Kill {
            name: parse_name(words.next())?,
            owner: parse_u32(words.next(), "OWNER")?,
        },
        "set" | "reset" | "pulse" => Command::EventOp {
            op: match verb {
                "set" => EventOp::Set,
                "reset" => EventOp::Reset,
                _ => EventOp::Pulse,
            },
            name: parse_name(words.next())?,
        },
        "read" => Command::Read {
            name: parse_name(words.next())?,
        },
        "wait" => return parse_wait(words).map(|spec| Some(Command::Wait(spec))),
        "spawn" => {
            if words.next() != Some("wait") {
                return Err("expected: spawn wait any|all NAME...".into());
            }
            return parse_wait(words).map(|spec| Some(Command::Spawn(spec)));
        }
        "join" => match words.next() {
            None => Command::Join(None),
            Some(n) => Command::Join(Some(parse_u64(Some(n), "N")? as usize)),
        },
        "close" => Command::Close {
            name: parse_name(words.next())?,
        },
        "sleep" => Command::Sleep(parse_u64(words.next(), "MS")?),
        "list" => Command::List,
        "show" => Command::Show,
        "help" => Command::Help,
        "quit" | "exit" => Command::Quit,
        other => return Err(format!("unknown command '{other}' (try 'help')")),
    };
    match words.next() {
        Some(extra) => Err(format!("unexpected '{extra}'")),
        None => Ok(Some(command)),
    }
}

/// The commands of one input line: split at ';', without the comment.
fn split_line(line: &str) -> impl Iterator<Item = &str> {
    let code = line.split_once('#').map_or(line, |(code, _)| code);
    code.split(';').map(str::trim).filter(|c| !c.is_empty())
}

/// An object held by name.
#[derive(Debug)]
enum Object {
    Sem(Semaphore),
    Mutex(Mutex),
    Event(Event),
}

impl AsObject for Object {
    fn as_object_fd(&self) -> BorrowedFd<'_> {
        match self {
            Object::Sem(o) => o.as_object_fd(),
            Object::Mutex(o) => o.as_object_fd(),
            Object::Event(o) => o.as_object_fd(),
        }
    }
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Sem(_) => "sem",
            Object::Mutex(_) => "mutex",
            Object::Event(_) => "event",
        }
    }

    /// `KIND NAME: STATE`, read from the driver; an `Err` line if the read failed.
    fn describe(&self, name: &str) -> Result<String, String> {
        let kind = self.kind();
        let state = match self {
            Object::Sem(sem) => sem
                .read()
                .map(|s| format!("count {} max {}", s.count, s.max)),
            Object::Mutex(mutex) => mutex.read().map(|s| {
                let abandoned = if s.abandoned { " abandoned" } else { "" };
                format!("owner {} count {}{abandoned}", s.owner, s.count)
            }),
            Object::Event(event) => event.read().map(|s| {
                let manual = if s.manual { "manual" } else { "auto" };
                format!("{manual} {}", signaled(s.signaled))
            }),
        };
        state
            .map(|state| format!("{kind} {name}: {state}"))
            .map_err(|e| format!("{kind} {name}: error: {e}"))
    }
}

fn signaled(yes: bool) -> &'static str {
    if yes {
        "signaled"
    } else {
        "unsignaled"
    }
}

/// A wait started by `spawn`.
struct Spawned {
    id: usize,
    text: String,
    tid: i32,
    /// Set once the thread has printed its outcome.
    printed: Arc<AtomicBool>,
    handle: thread::JoinHandle<()>,
}

/// Whether thread `tid` of this process sleeps in ioctl(2), where a wait sleeps; `None`
/// if /proc cannot tell (not mounted).
fn sleeping_in_ioctl(tid: i32) -> Option<bool> {
    let task = format!("/proc/self/task/{tid}");
    let stat = fs::read_to_string(format!("{task}/stat")).ok()?;
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    if !state.is_some_and(|s| s.starts_with('S')) {
        return Some(false);
    }
    // The first field is the number of the syscall the thread is in. Kernels without
    // this file get the benefit of the doubt.
    let Ok(syscall) = fs::read_to_string(format!("{task}/syscall")) else {
        return Some(true);
    };
    let ioctl = libc::SYS_ioctl.to_string();
    Some(syscall.split_whitespace().next() == Some(ioctl.as_str()))
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The shell's state: the device (opened on first use), the objects by name, and the
/// spawned waits.
struct Shell {
    device_path: PathBuf,
    device: Option<Arc<Device>>,
    objects: BTreeMap<String, Arc<Object>>,
    spawned: Vec<Spawned>,
    next_spawn: usize,
    echo: bool,
    /// Set by any failed command, including spawned waits.
    failed: Arc<AtomicBool>,
}

/// What running a command asks of the input loop.
enum Flow {
    Continue,
    Quit,
}

impl Shell {
    fn new(device_path: PathBuf, echo: bool) -> Shell {
        Shell {
            device_path,
            device: None,
            objects: BTreeMap::new(),
            spawned: Vec::new(),
            next_spawn: 1,
            echo,
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    fn device(&mut self) -> Result<Arc<Device>, String> {
        if let Some(dev) = &self.device {
            return Ok(dev.clone());
        }
        let dev = Device::open_path(&self.device_path)
            .map_err(|e| format!("{}: {e}", self.device_path.display()))?;
        let dev = Arc::new(dev);
        self.device = Some(dev.clone());
        Ok(dev)
    }

    fn object(&self, name: &str) -> Result<Arc<Object>, String> {
        self.objects
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no object named '{name}'"))
    }

    /// Runs one command text; reports a mistake in it on stderr.
    fn run_text(&mut self, text: &str, line: usize) -> Flow {
        if self.echo {
            println!("> {text}");
        }
        let result = parse(text).and_then(|command| match command {
            Some(command) => self.run(command),
            None => Ok(Flow::Continue),
        });
        let flow = match result {
            Ok(flow) => flow,
            Err(msg) => {
                self.fail();
                eprintln!("ntsyncctl: line {line}: {msg}");
                Flow::Continue
            }
        };
        self.settle();
        flow
    }

    /// Waits until every spawned wait sleeps in the driver or has printed its outcome, so
    /// that the waits a command wakes report before the next command runs. (A woken
    /// thread is runnable from the moment the waking ioctl wakes it, before that returns.)
    fn settle(&self) {
        let start = Instant::now();
        for s in &self.spawned {
            while !s.printed.load(Ordering::Acquire)
                && sleeping_in_ioctl(s.tid) == Some(false)
                && start.elapsed() < BLOCK_TIMEOUT
            {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Prints a driver call's result line, `CMD NAME: ...`. Callers hold stdout from
    /// before the call, so that a spawned wait that the call wakes prints after this line.
    fn result<T>(
        &self,
        out: &mut impl Write,
        what: &str,
        r: linux_ntsync::Result<T>,
        ok: impl Fn(T) -> String,
    ) {
        let line = match r {
            Ok(v) => ok(v),
            Err(e) => {
                self.fail();
                format!("error: {e}")
            }
        };
        let _ = writeln!(out, "{what}: {line}");
    }

    fn create(
        &mut self,
        name: String,
        make: impl FnOnce(&Device) -> linux_ntsync::Result<Object>,
        kind: &str,
    ) -> Result<(), String> {
        if self.objects.contains_key(&name) {
            return Err(format!("'{name}' exists already (close it first)"));
        }
        let dev = self.device()?;
        match make(&dev) {
            Ok(obj) => {
                let line = obj.describe(&name).unwrap_or_else(|line| {
                    self.fail();
                    line
                });
                println!("{line}");
                self.objects.insert(name, Arc::new(obj));
            }
            Err(e) => {
                self.fail();
                println!("{kind} {name}: error: {e}");
            }
        }
        Ok(())
    }

    fn run(&mut self, command: Command) -> Result<Flow, String> {
        match command {
            Command::Sem { name, count, max } => self.create(
                name,
                |dev| dev.create_semaphore(count, max).map(Object::Sem),
                "sem",
            )?,
            Command::Mutex { name, owner, count } => self.create(
                name,
                |dev| dev.create_mutex(owner, count).map(Object::Mutex),
                "mutex",
            )?,
            Command::Event {
                name,
                manual,
                signaled,
            } => self.create(
                name,
                |dev| dev.create_event(manual, signaled).map(Object::Event),
                "event",
            )?,
            Command::Release { name, n } => {
                let Object::Sem(sem) = &*self.object(&name)? else {
                    return Err(format!("'{name}' is not a semaphore"));
                };
                let mut out = io::stdout().lock();
                let r = sem.release(n);
                self.result(&mut out, &format!("release {name}"), r, |p| {
                    format!("prev {p}")
                });
            }
            Command::Unlock { name, owner } => {
                let Object::Mutex(mutex) = &*self.object(&name)? else {
                    return Err(format!("'{name}' is not a mutex"));
                };
                let mut out = io::stdout().lock();
                let r = mutex.unlock(owner);
                self.result(&mut out, &format!("unlock {name}"), r, |p| {
                    format!("prev {p}")
                });
            }
            Command::Kill { name, owner } => {
                let Object::Mutex(mutex) = &*self.object(&name)? else {
                    return Err(format!("'{name}' is not a mutex"));
                };
                let mut out = io::stdout().lock();
                let r = mutex.kill(owner);
                self.result(&mut out, &format!("kill {name}"), r, |()| "ok".into());
            }
            Command::EventOp { op, name } => {
                let Object::Event(event) = &*self.object(&name)? else {
                    return Err(format!("'{name}' is not an event"));
                };
                let mut out = io::stdout().lock();
                let r = match op {
                    EventOp::Set => event.set(),
                    EventOp::Reset => event.reset(),
                    EventOp::Pulse => event.pulse(),
                };
                let what = format!("{} {name}", op.word());
                self.result(&mut out, &what, r, |p| format!("prev {}", signaled(p)));
            }
            Command::Read { name } => {
                let line = self.object(&name)?.describe(&name).unwrap_or_else(|line| {
                    self.fail();
                    line
                });
                println!("{line}");
            }
            Command::Wait(spec) => self.wait(spec)?,
            Command::Spawn(spec) => self.spawn(spec)?,
            Command::Join(id) => self.join(id)?,
            Command::Close { name } => {
                self.objects
                    .remove(&name)
                    .ok_or_else(|| format!("no object named '{name}'"))?;
                println!("close {name}: ok");
            }
            Command::Sleep(ms) => thread::sleep(Duration::from_millis(ms)),
            Command::List => self.list(),
            Command::Show => show(),
            Command::Help => println!("{HELP}"),
            Command::Quit => return Ok(Flow::Quit),
        }
        Ok(Flow::Continue)
    }

    /// The objects and alert a wait names.
    fn targets(&self, spec: &WaitSpec) -> Result<Targets, String> {
        let objs = spec
            .names
            .iter()
            .map(|n| self.object(n))
            .collect::<Result<Vec<_>, _>>()?;
        let alert = spec.alert.as_deref().map(|n| self.object(n)).transpose()?;
        Ok(Targets { objs, alert })
    }

    fn wait(&mut self, spec: WaitSpec) -> Result<(), String> {
        let dev = self.device()?;
        let result = self.targets(&spec)?.wait(&dev, &spec);
        if result.is_err() {
            self.fail();
        }
        println!("wait: {}", spec.outcome(result));
        Ok(())
    }

    /// Starts the wait in a thread and returns once it sleeps in the driver (or has
    /// returned), so that the next command finds it blocked.
    fn spawn(&mut self, spec: WaitSpec) -> Result<(), String> {
        let dev = self.device()?;
        let targets = self.targets(&spec)?;
        let id = self.next_spawn;
        self.next_spawn += 1;
        let returned = Arc::new(AtomicBool::new(false));
        let printed = Arc::new(AtomicBool::new(false));
        let (tid_tx, tid_rx) = mpsc::channel();
        let text = describe_wait(&spec);
        // Held until we know the thread's state: its outcome line must follow ours.
        let mut out = io::stdout().lock();
        let handle = {
            let (returned, printed) = (returned.clone(), printed.clone());
            let failed = self.failed.clone();
            thread::spawn(move || {
                let _ = tid_tx.send(gettid());
                let result = targets.wait(&dev, &spec);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                returned.store(true, Ordering::Release);
                println!("spawn {id}: {}", spec.outcome(result));
                printed.store(true, Ordering::Release);
            })
        };
        let tid = tid_rx.recv().map_err(|_| "the waiting thread died")?;
        let start = Instant::now();
        loop {
            if returned.load(Ordering::Acquire) {
                break;
            }
            match sleeping_in_ioctl(tid) {
                Some(true) => {
                    let _ = writeln!(out, "spawn {id}: blocked");
                    break;
                }
                Some(false) if start.elapsed() <= BLOCK_TIMEOUT => {}
                _ => {
                    let _ = writeln!(out, "spawn {id}: started");
                    break;
                }
            }
            thread::sleep(Duration::from_millis(1));
        }
        self.spawned.push(Spawned {
            id,
            text,
            tid,
            printed,
            handle,
        });
        Ok(())
    }

    fn join(&mut self, id: Option<usize>) -> Result<(), String> {
        let joined: Vec<Spawned>;
        (joined, self.spawned) = match id {
            None => (std::mem::take(&mut self.spawned), Vec::new()),
            Some(id) => {
                if !self.spawned.iter().any(|s| s.id == id) {
                    return Err(format!("no running spawned wait {id}"));
                }
                std::mem::take(&mut self.spawned)
                    .into_iter()
                    .partition(|s| s.id == id)
            }
        };
        for s in joined {
            // The thread prints its outcome before it ends; a panic there is already
            // reported on stderr.
            if s.handle.join().is_err() {
                self.fail();
            }
        }
        Ok(())
    }

    fn list(&mut self) {
        let mut out = io::stdout().lock();
        for (name, obj) in &self.objects {
            let _ = writeln!(
                out,
                "{} {name}: fd {}",
                obj.kind(),
                obj.as_object_fd().as_raw_fd()
            );
        }
        // Finished threads are joined quietly: their outcome has been printed.
        let (done, running) = std::mem::take(&mut self.spawned)
            .into_iter()
            .partition::<Vec<_>, _>(|s| s.handle.is_finished());
        for s in done {
            let _ = s.handle.join();
        }
        for s in &running {
            let _ = writeln!(out, "spawn {}: waiting: {}", s.id, s.text);
        }
        self.spawned = running;
    }
}

/// The objects a wait names, held for as long as it runs.
struct Targets {
    objs: Vec<Arc<Object>>,
    alert: Option<Arc<Object>>,
}

impl Targets {
    /// Runs the wait `spec` on these objects now.
    fn wait(&self, dev: &Device, spec: &WaitSpec) -> linux_ntsync::Result<Acquired> {
        let refs: Vec<&dyn AsObject> = self.objs.iter().map(|o| &**o as &dyn AsObject).collect();
        let wait = if spec.all {
            dev.wait_all(&refs, spec.owner)
        } else {
            dev.wait_any(&refs, spec.owner)
        };
        let wait = match &self.alert {
            Some(alert) => wait.alert(&**alert),
            None => wait,
        };
        wait.deadline(spec.deadline()).run()
    }
}

/// The command that makes `spec`, as `list` shows it.
fn describe_wait(spec: &WaitSpec) -> String {
    let mut text = format!("wait {}", if spec.all { "all" } else { "any" });
    for name in &spec.names {
        text += &format!(" {name}");
    }
    text += &format!(" owner {}", spec.owner);
    if let Some((ms, realtime)) = spec.timeout {
        text += &format!(" timeout {ms}");
        if realtime {
            text += " realtime";
        }
    }
    if let Some(alert) = &spec.alert {
        text += &format!(" alert {alert}");
    }
    text
}

const DEBUGFS: &str = "/sys/kernel/debug";
const VIEW: &str = "/sys/kernel/debug/ntsync";
/// `DEBUGFS_MAGIC` of include/uapi/linux/magic.h.
const DEBUGFS_MAGIC: i64 = 0x6462_6720;

fn debugfs_mounted() -> bool {
    let path = c"/sys/kernel/debug";
    // SAFETY: A zeroed statfs is a valid buffer for statfs(2) to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a valid, writable buffer.
    let ret = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    ret == 0 && st.f_type as i64 == DEBUGFS_MAGIC
}

fn mount_debugfs() -> io::Result<()> {
    let fs: &CStr = c"debugfs";
    // SAFETY: All strings are NUL-terminated; debugfs takes no mount data.
    let ret = unsafe {
        libc::mount(
            fs.as_ptr(),
            c"/sys/kernel/debug".as_ptr(),
            fs.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every file under `dir`, sorted, descending into directories.
fn files_under(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// `show`: the driver's debugfs view, one `== FILE` header per file.
fn show() {
    let mut out = io::stdout().lock();
    if !debugfs_mounted() {
        if let Err(e) = mount_debugfs() {
            let _ = writeln!(
                out,
                "show: debugfs is not mounted on {DEBUGFS} and mounting it failed: {e}"
            );
            return;
        }
    }
    let mut files = Vec::new();
    match files_under(Path::new(VIEW), &mut files) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let _ = writeln!(
                out,
                "show: no {VIEW}: the loaded driver has no debugfs view"
            );
        }
        Err(e) => {
            let _ = writeln!(out, "show: {VIEW}: {e}");
        }
        Ok(()) if files.is_empty() => {
            let _ = writeln!(out, "show: {VIEW} is empty: no /dev/ntsync is open");
        }
        Ok(()) => {
            for file in files {
                let _ = writeln!(out, "== {}", file.display());
                match fs::read_to_string(&file) {
                    Ok(text) => {
                        let _ = write!(out, "{text}");
                        if !text.is_empty() && !text.ends_with('\n') {
                            let _ = writeln!(out);
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(out, "show: {}: {e}", file.display());
                    }
                }
            }
        }
    }
}

/// Where the commands come from.
enum Input {
    Commands(String),
    Script(PathBuf),
    Stdin,
}

fn usage() -> ! {
    eprintln!("usage: ntsyncctl [-x] [-d DEVICE] [-c 'CMD; CMD...' | SCRIPT]");
    eprintln!("  -x         echo each command, prefixed with '> ', before its output");
    eprintln!("  -d DEVICE  the device node (default {})", Device::PATH);
    eprintln!("  -c CMDS    run CMDS instead of reading commands");
    eprintln!("  SCRIPT     read commands from SCRIPT instead of stdin");
    std::process::exit(2)
}

fn main() {
    let mut echo = false;
    let mut device = PathBuf::from(Device::PATH);
    let mut input = Input::Stdin;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-x" => echo = true,
            "-d" => device = args.next().unwrap_or_else(|| usage()).into(),
            "-c" => input = Input::Commands(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => {
                println!("{HELP}");
                return;
            }
            a if a.starts_with('-') => usage(),
            _ if !matches!(input, Input::Stdin) => usage(),
            _ => input = Input::Script(arg.into()),
        }
    }

    let mut shell = Shell::new(device, echo);
    let prompt = matches!(input, Input::Stdin) && io::stdin().is_terminal();
    let lines: Box<dyn Iterator<Item = io::Result<String>>> = match input {
        Input::Commands(text) => Box::new(
            text.lines()
                .map(|l| Ok(l.to_string()))
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        Input::Script(path) => match fs::File::open(&path) {
            Ok(f) => Box::new(io::BufReader::new(f).lines()),
            Err(e) => {
                eprintln!("ntsyncctl: {}: {e}", path.display());
                std::process::exit(2);
            }
        },
        Input::Stdin => Box::new(io::stdin().lines()),
    };
    let mut lines = lines.enumerate();
    'input: loop {
        if prompt {
            print!("ntsync> ");
            let _ = io::stdout().flush();
        }
        let Some((i, line)) = lines.next() else { break };
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("ntsyncctl: reading input: {e}");
                shell.fail();
                break;
            }
        };
        for text in split_line(&line) {
            if let Flow::Quit = shell.run_text(text, i + 1) {
                break 'input;
            }
        }
    }
    // Lock stdout so that no spawned wait is left half-printed at exit.
    let _out = io::stdout().lock();
    std::process::exit(i32::from(shell.failed.load(Ordering::Relaxed)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(text: &str) -> WaitSpec {
        match parse(text) {
            Ok(Some(Command::Wait(spec) | Command::Spawn(spec))) => spec,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn lines_split_at_semicolons_and_lose_comments() {
        let parts: Vec<&str> = split_line(" sem a 1 2 ;read a;; # wait any a; read a").collect();
        assert_eq!(parts, ["sem a 1 2", "read a"]);
        assert_eq!(split_line("# only a comment").count(), 0);
        assert_eq!(parse("   "), Ok(None));
    }

    #[test]
    fn creation_commands_parse() {
        assert_eq!(
            parse("sem a 1 0xffffffff"),
            Ok(Some(Command::Sem {
                name: "a".into(),
                count: 1,
                max: u32::MAX
            }))
        );
        assert_eq!(
            parse("mutex m 0 0"),
            Ok(Some(Command::Mutex {
                name: "m".into(),
                owner: 0,
                count: 0
            }))
        );
        assert_eq!(
            parse("event e auto set"),
            Ok(Some(Command::Event {
                name: "e".into(),
                manual: false,
                signaled: true
            }))
        );
    }

    #[test]
    fn object_commands_parse() {
        assert_eq!(
            parse("release s 3"),
            Ok(Some(Command::Release {
                name: "s".into(),
                n: 3
            }))
        );
        assert_eq!(
            parse("kill m 7"),
            Ok(Some(Command::Kill {
                name: "m".into(),
                owner: 7
            }))
        );
        assert_eq!(
            parse("pulse e"),
            Ok(Some(Command::EventOp {
                op: EventOp::Pulse,
                name: "e".into()
            }))
        );
        assert_eq!(parse("join"), Ok(Some(Command::Join(None))));
        assert_eq!(parse("join 2"), Ok(Some(Command::Join(Some(2)))));
        assert_eq!(parse("sleep 10"), Ok(Some(Command::Sleep(10))));
    }

    #[test]
    fn bad_commands_are_refused() {
        for bad in [
            "sem a 1",
            "sem a 1 2 3",
            "sem a -1 2",
            "sem a 1 4294967296",
            "sem timeout 1 1",
            "event e manual maybe",
            "event e",
            "wait",
            "wait some a",
            "wait any a owner",
            "wait any a timeout x",
            "wait any a alert",
            "spawn any a",
            "frobnicate",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn waits_parse_with_options_in_any_order() {
        let spec = wait("wait all a b owner 5 timeout 20 realtime alert e c");
        assert_eq!(
            spec,
            WaitSpec {
                all: true,
                names: vec!["a".into(), "b".into(), "c".into()],
                owner: 5,
                timeout: Some((20, true)),
                alert: Some("e".into()),
            }
        );
        let spec = wait("spawn wait any a timeout 0");
        assert_eq!(
            (spec.all, spec.owner, spec.timeout),
            (false, 1, Some((0, false)))
        );
        assert_eq!(wait("wait all").names, Vec::<String>::new());
    }

    #[test]
    fn wait_deadlines() {
        assert_eq!(wait("wait any a").deadline(), Deadline::Infinite);
        assert_eq!(
            wait("wait any a timeout 0").deadline(),
            Deadline::Monotonic(0)
        );
        assert!(matches!(
            wait("wait any a timeout 5").deadline(),
            Deadline::Monotonic(t) if t > 5_000_000
        ));
        assert!(matches!(
            wait("wait any a timeout 5 realtime").deadline(),
            Deadline::Realtime(t) if t > 1_600_000_000_000_000_000
        ));
    }

    #[test]
    fn outcomes_name_what_was_acquired() {
        let any = wait("wait any a b alert e");
        let got = |index, abandoned, alerted| {
            Ok(Acquired {
                index,
                abandoned,
                alerted,
            })
        };
        assert_eq!(any.outcome(got(1, false, false)), "acquired b index 1");
        assert_eq!(
            any.outcome(got(0, true, false)),
            "acquired a index 0 abandoned"
        );
        assert_eq!(any.outcome(got(2, false, true)), "alerted e index 2");
        assert_eq!(any.outcome(Err(Error::Timeout)), "timeout");
        assert_eq!(
            any.outcome(Err(Error::InvalidArgument)),
            "error: invalid argument (EINVAL)"
        );
        let all = wait("wait all a b");
        assert_eq!(all.outcome(got(0, true, false)), "acquired all abandoned");
    }

    #[test]
    fn spawned_waits_list_as_the_command_that_makes_them() {
        for text in [
            "wait any a b owner 1",
            "wait all a owner 3 timeout 10 realtime alert e",
        ] {
            assert_eq!(describe_wait(&wait(text)), text);
        }
    }
}
