// SPDX-License-Identifier: GPL-2.0

//! Property tests: random operation sequences go through the core (as the kernel shell drives
//! it, via [`State`]) and through the reference model in [`crate::model`]; after every step
//! the results, the observable state and the signaled state for a set of waiters must agree.
//!
//! Everything derives from one seed per sequence. A mismatch panics with the seed, the step,
//! the operation and the operations before it; `NTSYNC_CORE_SEED=<seed> cargo test <test>`
//! replays just that sequence, and `NTSYNC_CORE_SEQS=<n>` changes how many run per test.

use crate::{
    event::Event,
    model::{Error, EventModel, MutexModel, ObjModel, SemModel},
    mutex::{self, Mutex},
    rng::{sequence_seed, Rng},
    sem::{self, Semaphore},
    state::State,
};
use std::{collections::BTreeMap, fmt::Debug};

const BASE_SEED: u64 = 0x6e74_7379_6e63_0001;
const DEFAULT_SEQUENCES: u64 = 5000;
const STEPS: usize = 256;
/// How many past operations a failure report shows.
const HISTORY: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sem,
    Mutex,
    Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    SemRelease(u32),
    MutexUnlock(u32),
    MutexKill(u32),
    EventSet,
    EventReset,
    EventPulse,
    /// A wait by this owner takes the object if it is signaled for it. Owner 0 only probes:
    /// the wait ioctls refuse owner 0 and the core's acquire requires a nonzero owner.
    Wait(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The count before a semaphore release or mutex unlock.
    Count(u64),
    /// A mutex kill succeeded.
    Killed,
    /// The event's state before a set, reset or pulse.
    Prev(bool),
    Acquired {
        abandoned: bool,
    },
    /// Owner 0 found the object signaled (and did not take it).
    Available,
    Busy,
    Failed(Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observed {
    Sem {
        count: u64,
        max: u64,
    },
    Mutex {
        owner: u32,
        count: u64,
        abandoned: bool,
    },
    Event {
        manual: bool,
        signaled: bool,
    },
}

/// Applies `op` to the core the way `wake.rs` and `waiter.rs` do.
fn apply_core(state: &mut State, op: Op) -> Outcome {
    match (op, state) {
        (Op::SemRelease(n), State::Sem(s)) => match s.release(n) {
            Ok(prev) => Outcome::Count(prev.into()),
            Err(sem::Overflow) => Outcome::Failed(Error::Overflow),
        },
        (Op::MutexUnlock(owner), State::Mutex(m)) => match m.unlock(owner) {
            Ok(prev) => Outcome::Count(prev.into()),
            Err(mutex::NotOwner) => Outcome::Failed(Error::NotOwner),
        },
        (Op::MutexKill(owner), State::Mutex(m)) => match m.kill(owner) {
            Ok(()) => Outcome::Killed,
            Err(mutex::NotOwner) => Outcome::Failed(Error::NotOwner),
        },
        (Op::EventSet, State::Event(e)) => Outcome::Prev(e.store(true)),
        (Op::EventReset, State::Event(e)) => Outcome::Prev(e.store(false)),
        (Op::EventPulse, State::Event(e)) => {
            let prev = e.store(true);
            e.store(false);
            Outcome::Prev(prev)
        }
        (Op::Wait(owner), state) => {
            if !state.is_signaled(owner) {
                Outcome::Busy
            } else if owner == 0 {
                Outcome::Available
            } else {
                Outcome::Acquired {
                    abandoned: state.acquire(owner),
                }
            }
        }
        _ => Outcome::Failed(Error::WrongKind),
    }
}

fn apply_model(obj: &mut ObjModel, op: Op) -> Outcome {
    match op {
        Op::Wait(owner) => {
            if !obj.signaled(owner) {
                return Outcome::Busy;
            }
            if owner == 0 {
                return Outcome::Available;
            }
            let abandoned = obj.acquire(owner);
            Outcome::Acquired { abandoned }
        }
        Op::SemRelease(n) => match obj {
            ObjModel::Sem(s) => s.release(n).map_or_else(Outcome::Failed, Outcome::Count),
            _ => Outcome::Failed(Error::WrongKind),
        },
        Op::MutexUnlock(owner) => match obj {
            ObjModel::Mutex(m) => m.unlock(owner).map_or_else(Outcome::Failed, Outcome::Count),
            _ => Outcome::Failed(Error::WrongKind),
        },
        Op::MutexKill(owner) => match obj {
            ObjModel::Mutex(m) => match m.kill(owner) {
                Ok(()) => Outcome::Killed,
                Err(e) => Outcome::Failed(e),
            },
            _ => Outcome::Failed(Error::WrongKind),
        },
        Op::EventSet | Op::EventReset | Op::EventPulse => match obj {
            ObjModel::Event(e) => Outcome::Prev(match op {
                Op::EventSet => e.put(true),
                Op::EventReset => e.put(false),
                _ => e.pulse(),
            }),
            _ => Outcome::Failed(Error::WrongKind),
        },
    }
}

fn observe_core(state: &State) -> Observed {
    match state {
        State::Sem(s) => Observed::Sem {
            count: s.count().into(),
            max: s.max().into(),
        },
        State::Mutex(m) => Observed::Mutex {
            owner: m.owner(),
            count: m.count().into(),
            abandoned: m.is_abandoned(),
        },
        State::Event(e) => Observed::Event {
            manual: e.is_manual(),
            signaled: e.is_signaled(),
        },
    }
}

fn observe_model(obj: &ObjModel) -> Observed {
    match obj {
        ObjModel::Sem(s) => Observed::Sem {
            count: s.count,
            max: s.max,
        },
        ObjModel::Mutex(m) => Observed::Mutex {
            owner: m.owner,
            count: m.count,
            abandoned: m.abandoned,
        },
        ObjModel::Event(e) => Observed::Event {
            manual: e.manual,
            signaled: e.signaled,
        },
    }
}

/// What a step exercised, for the coverage checks at the end of a run.
fn classify(before: &ObjModel, op: Op, outcome: Outcome) -> &'static str {
    match (before, op, outcome) {
        (_, _, Outcome::Failed(Error::WrongKind)) => "wrong kind",
        (_, Op::Wait(0), Outcome::Available) => "owner 0 probe: signaled",
        (_, Op::Wait(0), Outcome::Busy) => "owner 0 probe: busy",
        (ObjModel::Sem(s), Op::SemRelease(n), Outcome::Failed(_)) => {
            if s.count + u64::from(n) > u64::from(u32::MAX) {
                "sem release past u32::MAX refused"
            } else {
                "sem release past max refused"
            }
        }
        (ObjModel::Sem(_), Op::SemRelease(0), Outcome::Count(_)) => "sem release 0",
        (ObjModel::Sem(s), Op::SemRelease(n), Outcome::Count(_)) => {
            if s.count + u64::from(n) == s.max {
                "sem release to exactly max"
            } else {
                "sem release below max"
            }
        }
        (ObjModel::Sem(_), Op::Wait(_), Outcome::Busy) => "sem wait: empty",
        (ObjModel::Sem(_), Op::Wait(_), _) => "sem wait: acquired",
        (ObjModel::Mutex(m), Op::Wait(_), Outcome::Busy) => {
            if m.count == u64::from(u32::MAX) {
                "mutex wait: busy at u32::MAX"
            } else {
                "mutex wait: held by another"
            }
        }
        (ObjModel::Mutex(_), Op::Wait(_), Outcome::Acquired { abandoned: true }) => {
            "mutex wait: abandoned reported"
        }
        (ObjModel::Mutex(m), Op::Wait(_), _) => {
            if m.count == 0 {
                "mutex wait: acquired free"
            } else if m.count == u64::from(u32::MAX) - 1 {
                "mutex wait: recursion to u32::MAX"
            } else {
                "mutex wait: recursion"
            }
        }
        (ObjModel::Mutex(_), Op::MutexUnlock(0), _) => "mutex unlock by owner 0",
        (ObjModel::Mutex(_), Op::MutexUnlock(_), Outcome::Failed(_)) => "mutex unlock by non-owner",
        (ObjModel::Mutex(_), Op::MutexUnlock(_), Outcome::Count(1)) => "mutex unlock frees",
        (ObjModel::Mutex(_), Op::MutexUnlock(_), _) => "mutex unlock one level",
        (ObjModel::Mutex(_), Op::MutexKill(0), _) => "mutex kill by owner 0",
        (ObjModel::Mutex(_), Op::MutexKill(_), Outcome::Failed(_)) => "mutex kill by non-owner",
        (ObjModel::Mutex(_), Op::MutexKill(_), _) => "mutex kill",
        (ObjModel::Event(e), Op::Wait(_), Outcome::Acquired { .. }) => {
            if e.manual {
                "event wait: manual stays"
            } else {
                "event wait: auto resets"
            }
        }
        (ObjModel::Event(_), Op::Wait(_), _) => "event wait: unsignaled",
        (ObjModel::Event(_), Op::EventSet, _) => "event set",
        (ObjModel::Event(_), Op::EventReset, _) => "event reset",
        (ObjModel::Event(_), Op::EventPulse, _) => "event pulse",
        _ => "other",
    }
}

/// The random choices of one sequence.
struct Gen {
    rng: Rng,
    /// A few owners per sequence, so that the same ones meet often.
    owners: [u32; 3],
}

impl Gen {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let owners = [1, 2 + rng.below(3), rng.next_u32().max(1)];
        Self { rng, owners }
    }

    /// Any owner id, 0 and the extremes included.
    fn owner(&mut self) -> u32 {
        match self.rng.below(100) {
            0..=11 => 0,
            12..=81 => self.owners[self.rng.below(3) as usize],
            82..=87 => u32::MAX,
            88..=91 => u32::MAX - 1,
            _ => self.rng.next_u32(),
        }
    }

    /// Any `u32`, with the edges well represented.
    fn edgy(&mut self) -> u32 {
        match self.rng.below(10) {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => u32::MAX,
            4 => u32::MAX - 1,
            5 => u32::MAX - 2,
            6 | 7 => self.rng.below(8),
            8 => self.rng.next_u32() >> self.rng.below(32),
            _ => self.rng.next_u32(),
        }
    }

    /// A release amount for `sem`: edges, and the amounts around its headroom.
    fn release(&mut self, sem: &SemModel) -> u32 {
        let headroom = sem.max - sem.count;
        let near = |d: i64| u32::try_from(headroom as i64 + d).unwrap_or(u32::MAX);
        match self.rng.below(10) {
            0..=4 => self.edgy(),
            5 | 6 => near(0),
            7 => near(1),
            8 => near(-1),
            _ => self.rng.below(4),
        }
    }

    /// A new object of `kind`; every candidate creation is checked against the model, rejected
    /// ones included.
    fn create(&mut self, kind: Kind, run: &mut Run) -> (State, ObjModel) {
        for _ in 0..16 {
            let (core, model) = match kind {
                Kind::Sem => {
                    let max = self.edgy();
                    let count = match self.rng.below(6) {
                        0 => 0,
                        1 => max,
                        2 => max.saturating_sub(1),
                        3 => self.rng.next_u32() % (max.saturating_add(1)).max(1),
                        4 => max.saturating_add(1),
                        _ => self.edgy(),
                    };
                    (
                        Semaphore::new(count, max).map(State::Sem),
                        SemModel::create(count, max).map(ObjModel::Sem),
                    )
                }
                Kind::Mutex => {
                    let owner = self.owner();
                    let count = match self.rng.below(4) {
                        0 => 0,
                        1 => u32::from(owner != 0),
                        _ => self.edgy(),
                    };
                    (
                        Mutex::new(owner, count).map(State::Mutex),
                        MutexModel::create(owner, count).map(ObjModel::Mutex),
                    )
                }
                Kind::Event => {
                    let (manual, signaled) = (self.rng.bool(), self.rng.bool());
                    (
                        Some(State::Event(Event::new(manual, signaled))),
                        Ok(ObjModel::Event(EventModel::create(manual, signaled))),
                    )
                }
            };
            match (core, model) {
                (Some(core), Ok(model)) => {
                    run.same("created state", observe_core(&core), observe_model(&model));
                    run.cover("create accepted");
                    return (core, model);
                }
                (None, Err(Error::Invalid)) => run.cover("create rejected"),
                (core, model) => run.fail("create", core, model),
            }
        }
        (
            State::Event(Event::new(false, false)),
            ObjModel::Event(EventModel::create(false, false)),
        )
    }

    fn op(&mut self, model: &ObjModel) -> Op {
        let roll = self.rng.below(100);
        if roll >= 92 {
            // Now and then an operation for any kind, which may be the wrong one.
            return match self.rng.below(7) {
                0 => Op::SemRelease(self.edgy()),
                1 => Op::MutexUnlock(self.owner()),
                2 => Op::MutexKill(self.owner()),
                3 => Op::EventSet,
                4 => Op::EventReset,
                5 => Op::EventPulse,
                _ => Op::Wait(self.owner()),
            };
        }
        match model {
            ObjModel::Sem(s) => {
                if roll < 46 {
                    Op::Wait(self.owner())
                } else {
                    Op::SemRelease(self.release(s))
                }
            }
            ObjModel::Mutex(m) => {
                // Often the current owner, so that unlocks and kills succeed too.
                let who = if self.rng.chance(45) {
                    m.owner
                } else {
                    self.owner()
                };
                match roll {
                    0..=45 => Op::Wait(who),
                    46..=79 => Op::MutexUnlock(who),
                    _ => Op::MutexKill(who),
                }
            }
            ObjModel::Event(_) => match roll {
                0..=35 => Op::Wait(self.owner()),
                36..=55 => Op::EventSet,
                56..=77 => Op::EventReset,
                _ => Op::EventPulse,
            },
        }
    }
}

/// The bookkeeping of one test: the current sequence and step for failure reports, and what
/// the steps covered.
struct Run {
    test: &'static str,
    seed: u64,
    step: usize,
    history: Vec<Op>,
    coverage: BTreeMap<&'static str, u64>,
    steps: u64,
}

impl Run {
    fn cover(&mut self, what: &'static str) {
        *self.coverage.entry(what).or_default() += 1;
    }

    #[track_caller]
    fn fail(&self, what: &str, core: impl Debug, model: impl Debug) -> ! {
        panic!(
            "ntsync-core mismatch in {test}: seed {seed:#018x} step {step} ({what})\n  \
             core:  {core:?}\n  model: {model:?}\n  last operations, oldest first: {history:?}\n  \
             replay: NTSYNC_CORE_SEED={seed:#x} cargo test {test}",
            test = self.test,
            seed = self.seed,
            step = self.step,
            history = self.history,
        )
    }

    #[track_caller]
    fn same<T: Debug + PartialEq>(&self, what: &str, core: T, model: T) {
        if core != model {
            self.fail(what, core, model);
        }
    }

    fn record(&mut self, op: Op) {
        if self.history.len() == HISTORY {
            self.history.remove(0);
        }
        self.history.push(op);
    }
}

/// Checks the core's own invariants on what it shows.
fn check_invariants(run: &Run, seen: Observed) {
    let ok = match seen {
        Observed::Sem { count, max } => count <= max,
        Observed::Mutex { owner, count, .. } => (owner == 0) == (count == 0),
        Observed::Event { .. } => true,
    };
    if !ok {
        run.fail("core invariant", seen, "(invariant holds)");
    }
}

fn run_sequence(kind: Kind, seed: u64, run: &mut Run) {
    run.seed = seed;
    run.step = 0;
    run.history.clear();
    let mut gen = Gen::new(seed);
    let (mut core, mut model) = gen.create(kind, run);
    for step in 1..=STEPS {
        run.step = step;
        let op = gen.op(&model);
        run.record(op);
        let before = model.clone();
        let got = apply_core(&mut core, op);
        let want = apply_model(&mut model, op);
        run.same("result", got, want);
        let seen = observe_core(&core);
        check_invariants(run, seen);
        run.same("state", seen, observe_model(&model));
        let current = match &model {
            ObjModel::Mutex(m) => m.owner,
            _ => 1,
        };
        for who in [0, 1, current, gen.owner(), u32::MAX] {
            if core.is_signaled(who) != model.signaled(who) {
                run.fail(
                    &format!("is_signaled({who})"),
                    core.is_signaled(who),
                    model.signaled(who),
                );
            }
        }
        // Whether any waiter at all could acquire the object: a wake-up pass stops when none
        // could.
        let anyone = model.signaled(1) || model.signaled(current);
        if core.is_signaled_for_anyone() != anyone {
            run.fail(
                "is_signaled_for_anyone",
                core.is_signaled_for_anyone(),
                anyone,
            );
        }
        run.cover(classify(&before, op, got));
        run.steps += 1;
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number")))
}

/// Runs the sequences of one test and checks that they reached every case in `expected`.
fn run_kind(test: &'static str, kind: Kind, expected: &[&str]) {
    let mut run = Run {
        test,
        seed: 0,
        step: 0,
        history: Vec::with_capacity(HISTORY),
        coverage: BTreeMap::new(),
        steps: 0,
    };
    if let Some(seed) = env_u64("NTSYNC_CORE_SEED") {
        run_sequence(kind, seed, &mut run);
        println!("{test}: replayed seed {seed:#x}, {} steps", run.steps);
        return;
    }
    let sequences = env_u64("NTSYNC_CORE_SEQS").unwrap_or(DEFAULT_SEQUENCES);
    let base = BASE_SEED ^ (kind as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for index in 0..sequences {
        run_sequence(kind, sequence_seed(base, index), &mut run);
    }
    println!("{test}: {sequences} sequences, {} steps", run.steps);
    for (what, n) in &run.coverage {
        println!("  {n:>8}  {what}");
    }
    if sequences >= DEFAULT_SEQUENCES {
        let missing: Vec<_> = expected
            .iter()
            .filter(|what| !run.coverage.contains_key(**what))
            .collect();
        assert!(missing.is_empty(), "{test}: never exercised {missing:?}");
    }
}

#[test]
fn semaphore_matches_model() {
    run_kind(
        "semaphore_matches_model",
        Kind::Sem,
        &[
            "create accepted",
            "create rejected",
            "sem release past u32::MAX refused",
            "sem release past max refused",
            "sem release 0",
            "sem release to exactly max",
            "sem release below max",
            "sem wait: empty",
            "sem wait: acquired",
            "owner 0 probe: signaled",
            "owner 0 probe: busy",
            "wrong kind",
        ],
    );
}

#[test]
fn mutex_matches_model() {
    run_kind(
        "mutex_matches_model",
        Kind::Mutex,
        &[
            "create accepted",
            "create rejected",
            "mutex wait: busy at u32::MAX",
            "mutex wait: held by another",
            "mutex wait: abandoned reported",
            "mutex wait: acquired free",
            "mutex wait: recursion to u32::MAX",
            "mutex wait: recursion",
            "mutex unlock by owner 0",
            "mutex unlock by non-owner",
            "mutex unlock frees",
            "mutex unlock one level",
            "mutex kill by owner 0",
            "mutex kill by non-owner",
            "mutex kill",
            "owner 0 probe: signaled",
            "owner 0 probe: busy",
            "wrong kind",
        ],
    );
}

#[test]
fn event_matches_model() {
    run_kind(
        "event_matches_model",
        Kind::Event,
        &[
            "create accepted",
            "event wait: manual stays",
            "event wait: auto resets",
            "event wait: unsignaled",
            "event set",
            "event reset",
            "event pulse",
            "owner 0 probe: signaled",
            "owner 0 probe: busy",
            "wrong kind",
        ],
    );
}

/// The harness itself: a core and a model that differ must be reported, with the seed.
#[test]
#[should_panic(expected = "seed 0x00000000000000ab step 7 (state)")]
fn harness_reports_divergence() {
    let run = Run {
        test: "harness_reports_divergence",
        seed: 0xab,
        step: 7,
        history: vec![Op::SemRelease(1)],
        coverage: BTreeMap::new(),
        steps: 0,
    };
    let core = State::Sem(Semaphore::new(1, 5).unwrap());
    let model = ObjModel::Sem(SemModel::create(2, 5).unwrap());
    run.same("state", observe_core(&core), observe_model(&model));
}
