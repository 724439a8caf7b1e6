// SPDX-License-Identifier: GPL-2.0

//! The objects a wait names, held through their files for the whole wait, in slots sized for
//! the request. What an object is does not matter here (it is the parameter `T`), so that the
//! waiter, which holds its objects, sits below `object.rs`; `request.rs` fills the slots.

use crate::file::FileRef;
use core::marker::PhantomData;
use kernel::prelude::*;

/// The objects a wait names, then its alert event if it has one; each kept alive for the
/// whole wait, so closing an fd meanwhile is harmless. `R` is an array of slots, a few more
/// than the wait names at most (see `crate::wait::wait`), or a slice of them.
///
/// # Invariants
///
/// `refs[..len]` are `Some`, the rest `None`; `count <= len <= count + 1` once filled.
pub(crate) struct Objects<T, R: ?Sized = [Option<FileRef<T>>]> {
    len: usize,
    /// How many precede the alert.
    count: usize,
    _objects: PhantomData<T>,
    refs: R,
}

/// `N` slots of objects, on the stack or in a waiter.
pub(crate) type Slots<T, const N: usize> = Objects<T, [Option<FileRef<T>>; N]>;

impl<T, const N: usize> Slots<T, N> {
    /// The objects, then the alert; at most `N`.
    #[cfg(CONFIG_NTSYNC_RS_KUNIT_TEST)]
    pub(crate) fn from_iter(objs: impl Iterator<Item = FileRef<T>>, count: usize) -> Self {
        let mut refs = [const { None }; N];
        let mut len = 0;
        for (slot, obj) in refs.iter_mut().zip(objs) {
            *slot = Some(obj);
            len += 1;
        }
        // INVARIANT: The first `len` slots were filled.
        Self {
            refs,
            len,
            count,
            _objects: PhantomData,
        }
    }

    /// No objects yet, written where they will stay.
    pub(crate) fn empty_in_place() -> impl Init<Self, Error> {
        // INVARIANT: None filled.
        try_init!(Self {
            len: 0,
            count: 0,
            _objects: PhantomData,
            refs <- pin_init::init_array_from_fn(|_| None),
        }? Error)
    }

    /// No objects yet.
    pub(crate) const fn empty() -> Self {
        // INVARIANT: None filled.
        Self {
            len: 0,
            count: 0,
            _objects: PhantomData,
            refs: [const { None }; N],
        }
    }

    /// Starts filling empty slots with the `count` objects of a wait, which come before its
    /// alert.
    #[inline(always)]
    pub(crate) fn set_count(&mut self, count: usize) {
        self.count = count;
    }

    /// Puts `obj` in the next slot.
    #[inline(always)]
    pub(crate) fn push(&mut self, obj: FileRef<T>) -> Result {
        // INVARIANT: Filled in order, after the `len` filled before.
        *self.refs.get_mut(self.len).ok_or(EINVAL)? = Some(obj);
        self.len += 1;
        Ok(())
    }
}

impl<T, const N: usize> core::ops::Deref for Slots<T, N> {
    type Target = Objects<T>;

    fn deref(&self) -> &Objects<T> {
        self
    }
}

impl<T> Objects<T> {
    /// How many objects and alert there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many objects precede the alert.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Every object with the index a wait reports for it, the alert last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        (0u32..).zip(self.refs[..self.len].iter().flatten().map(|obj| &**obj))
    }

    /// The object at position `i`, the alert's included.
    pub(crate) fn object(&self, i: usize) -> Option<&T> {
        self.refs[..self.len].get(i)?.as_deref()
    }

    /// The object, when the wait names only one and no alert.
    pub(crate) fn single(&self) -> Option<&T> {
        match &self.refs[..self.len] {
            [Some(obj)] if self.count == 1 => Some(obj),
            _ => None,
        }
    }

    /// The objects without the alert.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &T> {
        self.refs[..self.count].iter().flatten().map(|obj| &**obj)
    }

    pub(crate) fn alert(&self) -> Option<&T> {
        self.refs[self.count..self.len]
            .iter()
            .flatten()
            .map(|obj| &**obj)
            .next()
    }
}
