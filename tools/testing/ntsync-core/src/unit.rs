// SPDX-License-Identifier: GPL-2.0

//! One test per NT rule of the core, with the upstream C driver (drivers/misc/ntsync.c) as the
//! reference for what each ioctl must do.

const MAX: u32 = u32::MAX;

mod semaphore {
    use super::MAX;
    use crate::sem::{Overflow, Semaphore};

    fn sem(count: u32, max: u32) -> Semaphore {
        Semaphore::new(count, max).expect("valid semaphore")
    }

    #[test]
    fn new_accepts_count_up_to_max() {
        for (count, max) in [(0, 0), (0, 1), (1, 1), (0, MAX), (MAX - 1, MAX), (MAX, MAX)] {
            let s = Semaphore::new(count, max).expect("count <= max");
            assert_eq!((s.count(), s.max()), (count, max));
        }
    }

    #[test]
    fn new_rejects_count_above_max() {
        for (count, max) in [(1, 0), (2, 1), (MAX, 0), (MAX, MAX - 1)] {
            assert_eq!(Semaphore::new(count, max), None, "count {count} max {max}");
        }
    }

    #[test]
    fn signaled_exactly_when_count_nonzero() {
        assert!(!sem(0, 5).is_signaled());
        assert!(!sem(0, 0).is_signaled());
        assert!(sem(1, 5).is_signaled());
        assert!(sem(MAX, MAX).is_signaled());
    }

    #[test]
    fn release_returns_previous_count() {
        let mut s = sem(2, 10);
        assert_eq!(s.release(3), Ok(2));
        assert_eq!(s.count(), 5);
        assert_eq!(s.release(1), Ok(5));
        assert_eq!(s.count(), 6);
        assert_eq!(s.max(), 10);
    }

    #[test]
    fn release_zero_succeeds_and_changes_nothing() {
        for (count, max) in [(0, 0), (3, 3), (MAX, MAX), (1, 7)] {
            let mut s = sem(count, max);
            assert_eq!(s.release(0), Ok(count));
            assert_eq!(s, sem(count, max));
        }
    }

    #[test]
    fn release_up_to_max_exactly() {
        let mut s = sem(3, 10);
        assert_eq!(s.release(7), Ok(3));
        assert_eq!(s.count(), 10);

        let mut s = sem(0, MAX);
        assert_eq!(s.release(MAX), Ok(0));
        assert_eq!(s.count(), MAX);
    }

    #[test]
    fn release_past_max_is_refused_and_changes_nothing() {
        for (count, max, n) in [
            (3, 10, 8),
            (0, 0, 1),
            (10, 10, 1),
            (0, MAX - 1, MAX),
            (5, 6, MAX),
        ] {
            let mut s = sem(count, max);
            assert_eq!(s.release(n), Err(Overflow), "{count}/{max} + {n}");
            assert_eq!(s, sem(count, max));
        }
    }

    #[test]
    fn release_past_u32_max_is_refused_and_changes_nothing() {
        // The sum wraps in 32 bits: it must not be taken for a small count.
        for (count, n) in [(1, MAX), (MAX, 1), (MAX, MAX), (MAX - 1, 2), (2, MAX - 1)] {
            let mut s = sem(count, MAX);
            assert_eq!(s.release(n), Err(Overflow), "{count} + {n}");
            assert_eq!(s, sem(count, MAX));
        }
    }

    #[test]
    fn acquire_takes_one_unit() {
        let mut s = sem(2, 4);
        s.acquire();
        assert_eq!((s.count(), s.max()), (1, 4));
        assert!(s.is_signaled());
        s.acquire();
        assert_eq!(s.count(), 0);
        assert!(!s.is_signaled());

        let mut s = sem(MAX, MAX);
        s.acquire();
        assert_eq!(s.count(), MAX - 1);
    }

    #[test]
    fn acquire_then_release_round_trip() {
        let mut s = sem(1, 1);
        s.acquire();
        assert_eq!(s.release(1), Ok(0));
        assert_eq!(s.release(1), Err(Overflow));
        assert_eq!(s, sem(1, 1));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic]
    fn acquire_of_empty_semaphore_is_a_caller_bug() {
        sem(0, 3).acquire();
    }
}

mod mutex {
    use super::MAX;
    use crate::mutex::{Mutex, NotOwner};

    fn mutex(owner: u32, count: u32) -> Mutex {
        Mutex::new(owner, count).expect("valid mutex")
    }

    /// A mutex `owner` abandoned: made held, then killed.
    fn abandoned(owner: u32) -> Mutex {
        let mut m = mutex(owner, 1);
        m.kill(owner).expect("owner kills");
        m
    }

    fn parts(m: &Mutex) -> (u32, u32, bool) {
        (m.owner(), m.count(), m.is_abandoned())
    }

    #[test]
    fn new_free_mutex() {
        assert_eq!(parts(&mutex(0, 0)), (0, 0, false));
    }

    #[test]
    fn new_held_mutex() {
        assert_eq!(parts(&mutex(5, 3)), (5, 3, false));
        assert_eq!(parts(&mutex(MAX, MAX)), (MAX, MAX, false));
    }

    #[test]
    fn new_rejects_owner_without_count() {
        assert_eq!(Mutex::new(5, 0), None);
        assert_eq!(Mutex::new(MAX, 0), None);
    }

    #[test]
    fn new_rejects_count_without_owner() {
        assert_eq!(Mutex::new(0, 1), None);
        assert_eq!(Mutex::new(0, MAX), None);
    }

    #[test]
    fn free_mutex_is_signaled_for_everyone() {
        let m = mutex(0, 0);
        for owner in [0, 1, 7, MAX] {
            assert!(m.is_signaled(owner), "owner {owner}");
        }
    }

    #[test]
    fn held_mutex_is_signaled_only_for_its_owner() {
        let m = mutex(7, 2);
        assert!(m.is_signaled(7));
        assert!(!m.is_signaled(8));
        assert!(!m.is_signaled(0));
        assert!(!m.is_signaled(MAX));
    }

    #[test]
    fn held_mutex_at_u32_max_is_not_signaled_even_for_its_owner() {
        let m = mutex(7, MAX);
        assert!(!m.is_signaled(7));
        assert!(!m.is_signaled(8));
        assert!(mutex(7, MAX - 1).is_signaled(7));
    }

    #[test]
    fn acquire_of_free_mutex_sets_owner_and_count_one() {
        let mut m = mutex(0, 0);
        assert!(!m.acquire(9));
        assert_eq!(parts(&m), (9, 1, false));
    }

    #[test]
    fn acquire_by_owner_recurses() {
        let mut m = mutex(9, 1);
        assert!(!m.acquire(9));
        assert_eq!(parts(&m), (9, 2, false));
    }

    #[test]
    fn acquire_recurses_up_to_u32_max() {
        let mut m = mutex(9, MAX - 1);
        assert!(!m.acquire(9));
        assert_eq!(parts(&m), (9, MAX, false));
        assert!(!m.is_signaled(9));
    }

    #[test]
    fn acquire_reports_and_clears_abandoned_once() {
        let mut m = abandoned(4);
        assert_eq!(parts(&m), (0, 0, true));
        assert!(m.acquire(6), "the first acquirer is told");
        assert_eq!(parts(&m), (6, 1, false));
        assert_eq!(m.unlock(6), Ok(1));
        assert!(!m.acquire(6), "only once");
    }

    #[test]
    fn abandoned_mutex_can_be_taken_by_its_dead_owner_id() {
        let mut m = abandoned(4);
        assert!(m.is_signaled(4));
        assert!(m.acquire(4));
        assert_eq!(parts(&m), (4, 1, false));
    }

    #[test]
    fn unlock_returns_previous_count() {
        let mut m = mutex(3, 5);
        assert_eq!(m.unlock(3), Ok(5));
        assert_eq!(parts(&m), (3, 4, false));
    }

    #[test]
    fn unlock_from_u32_max() {
        let mut m = mutex(3, MAX);
        assert_eq!(m.unlock(3), Ok(MAX));
        assert_eq!(parts(&m), (3, MAX - 1, false));
        assert!(m.is_signaled(3));
    }

    #[test]
    fn unlock_to_zero_frees() {
        let mut m = mutex(3, 1);
        assert_eq!(m.unlock(3), Ok(1));
        assert_eq!(parts(&m), (0, 0, false));
        assert!(m.is_signaled(8));
        assert_eq!(m.unlock(3), Err(NotOwner), "no longer the owner");
    }

    #[test]
    fn unlock_by_another_owner_is_refused_and_changes_nothing() {
        let mut m = mutex(3, 2);
        assert_eq!(m.unlock(4), Err(NotOwner));
        assert_eq!(m.unlock(MAX), Err(NotOwner));
        assert_eq!(m, mutex(3, 2));
    }

    #[test]
    fn unlock_by_owner_zero_is_refused_and_changes_nothing() {
        let mut m = mutex(3, 2);
        assert_eq!(m.unlock(0), Err(NotOwner));
        assert_eq!(m, mutex(3, 2));

        // On a free mutex owner 0 "matches" the stored owner; the count must not wrap.
        let mut m = mutex(0, 0);
        assert_eq!(m.unlock(0), Err(NotOwner));
        assert_eq!(m, mutex(0, 0));

        let mut m = abandoned(3);
        assert_eq!(m.unlock(0), Err(NotOwner));
        assert_eq!(parts(&m), (0, 0, true));
    }

    #[test]
    fn unlock_of_free_mutex_is_refused() {
        let mut m = mutex(0, 0);
        assert_eq!(m.unlock(1), Err(NotOwner));
        assert_eq!(m, mutex(0, 0));
    }

    #[test]
    fn kill_marks_abandoned_and_frees() {
        let mut m = mutex(3, 1);
        assert_eq!(m.kill(3), Ok(()));
        assert_eq!(parts(&m), (0, 0, true));
        assert!(m.is_signaled(5));
    }

    #[test]
    fn kill_frees_every_recursion_level() {
        let mut m = mutex(3, MAX);
        assert_eq!(m.kill(3), Ok(()));
        assert_eq!(parts(&m), (0, 0, true));
    }

    #[test]
    fn kill_by_another_owner_is_refused_and_changes_nothing() {
        let mut m = mutex(3, 2);
        assert_eq!(m.kill(4), Err(NotOwner));
        assert_eq!(m, mutex(3, 2));
    }

    #[test]
    fn kill_by_owner_zero_is_refused_and_changes_nothing() {
        let mut m = mutex(3, 2);
        assert_eq!(m.kill(0), Err(NotOwner));
        assert_eq!(m, mutex(3, 2));

        // Owner 0 must not "kill" a free mutex and mark it abandoned.
        let mut m = mutex(0, 0);
        assert_eq!(m.kill(0), Err(NotOwner));
        assert_eq!(parts(&m), (0, 0, false));
    }

    #[test]
    fn kill_of_free_or_abandoned_mutex_is_refused() {
        let mut m = mutex(0, 0);
        assert_eq!(m.kill(3), Err(NotOwner));
        assert_eq!(parts(&m), (0, 0, false));

        let mut m = abandoned(3);
        assert_eq!(
            m.kill(3),
            Err(NotOwner),
            "the dead owner no longer holds it"
        );
        assert_eq!(parts(&m), (0, 0, true));
    }

    #[test]
    fn abandoned_survives_until_acquired() {
        let mut m = abandoned(3);
        assert_eq!(m.unlock(3), Err(NotOwner));
        assert!(m.is_abandoned());
        assert!(m.acquire(5));
        assert_eq!(m.kill(5), Ok(()));
        assert!(m.is_abandoned(), "abandoned again by the next owner");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic]
    fn acquire_by_owner_zero_is_a_caller_bug() {
        mutex(0, 0).acquire(0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic]
    fn acquire_of_mutex_held_by_another_is_a_caller_bug() {
        mutex(3, 1).acquire(4);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic]
    fn acquire_at_u32_max_is_a_caller_bug() {
        mutex(3, MAX).acquire(3);
    }
}

mod event {
    use crate::event::Event;

    #[test]
    fn new_keeps_kind_and_state() {
        for manual in [false, true] {
            for signaled in [false, true] {
                let e = Event::new(manual, signaled);
                assert_eq!((e.is_manual(), e.is_signaled()), (manual, signaled));
            }
        }
    }

    #[test]
    fn manual_event_stays_signaled_when_acquired() {
        let mut e = Event::new(true, true);
        e.acquire();
        e.acquire();
        assert!(e.is_signaled());
        assert!(e.is_manual());
    }

    #[test]
    fn auto_event_is_reset_when_acquired() {
        let mut e = Event::new(false, true);
        e.acquire();
        assert!(!e.is_signaled());
        assert!(!e.is_manual());
    }

    #[test]
    fn store_returns_previous_state() {
        for manual in [false, true] {
            for before in [false, true] {
                for after in [false, true] {
                    let mut e = Event::new(manual, before);
                    assert_eq!(e.store(after), before);
                    assert_eq!(e.is_signaled(), after);
                    assert_eq!(e.is_manual(), manual, "store keeps the kind");
                }
            }
        }
    }

    #[test]
    fn pulse_as_the_shell_does_it() {
        // wake.rs: store(true), wake, store(false); reports the state before the set.
        for before in [false, true] {
            let mut e = Event::new(false, before);
            assert_eq!(e.store(true), before);
            e.store(false);
            assert!(!e.is_signaled());
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic]
    fn acquire_of_unsignaled_event_is_a_caller_bug() {
        Event::new(true, false).acquire();
    }
}

mod state {
    use super::MAX;
    use crate::{event::Event, mutex::Mutex, sem::Semaphore, state::State};

    fn sem(count: u32, max: u32) -> State {
        State::Sem(Semaphore::new(count, max).unwrap())
    }

    fn mutex(owner: u32, count: u32) -> State {
        State::Mutex(Mutex::new(owner, count).unwrap())
    }

    fn event(manual: bool, signaled: bool) -> State {
        State::Event(Event::new(manual, signaled))
    }

    #[test]
    fn is_signaled_dispatches_to_the_semaphore() {
        for owner in [0, 1, MAX] {
            assert!(sem(1, 2).is_signaled(owner));
            assert!(!sem(0, 2).is_signaled(owner));
        }
    }

    #[test]
    fn is_signaled_dispatches_to_the_mutex_with_the_owner() {
        let held = mutex(5, 1);
        assert!(held.is_signaled(5));
        assert!(!held.is_signaled(6));
        assert!(!held.is_signaled(0));
        assert!(!mutex(5, MAX).is_signaled(5));
        assert!(mutex(0, 0).is_signaled(6));
    }

    #[test]
    fn is_signaled_dispatches_to_the_event() {
        for owner in [0, 1, MAX] {
            assert!(event(false, true).is_signaled(owner));
            assert!(!event(true, false).is_signaled(owner));
        }
    }

    #[test]
    fn acquire_of_semaphore_takes_a_unit_and_reports_no_abandon() {
        let mut s = sem(2, 2);
        assert!(!s.acquire(1));
        assert_eq!(s, sem(1, 2));
    }

    #[test]
    fn acquire_of_mutex_sets_the_owner() {
        let mut m = mutex(0, 0);
        assert!(!m.acquire(3));
        assert_eq!(m, mutex(3, 1));
        assert!(!m.acquire(3));
        assert_eq!(m, mutex(3, 2));
    }

    #[test]
    fn acquire_of_abandoned_mutex_reports_it() {
        let mut inner = Mutex::new(3, 2).unwrap();
        inner.kill(3).unwrap();
        let mut m = State::Mutex(inner);
        assert!(m.acquire(4));
        assert_eq!(m, mutex(4, 1), "and clears it");
    }

    #[test]
    fn acquire_of_event_follows_its_kind() {
        let mut auto = event(false, true);
        assert!(!auto.acquire(1));
        assert_eq!(auto, event(false, false));

        let mut manual = event(true, true);
        assert!(!manual.acquire(1));
        assert_eq!(manual, event(true, true));
    }
}
