// SPDX-License-Identifier: GPL-2.0

//! What one open of `/dev/ntsync` shares with its objects: the wait-all lock and the list of
//! the objects. The objects' type `T` is a parameter, so that this file sits below
//! `object.rs`, whose objects point back to their device.

use kernel::{
    list::{
        List,
        ListArc,
        ListArcSafe,
        ListItem, //
    },
    new_mutex,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        Mutex, //
    },
    task::Pid,
};

/// What the device's wait-all lock protects besides the objects' wait-all queues.
pub(crate) struct WaitAll {
    /// The entries in all those queues together.
    pub(crate) entries: usize,
}

/// One open of `/dev/ntsync`, an independent namespace of objects. Its objects keep it alive
/// after the device file is closed.
#[pin_data]
pub(crate) struct Device<T: ListItem + ListArcSafe> {
    /// Serialises wait-all calls and the state changes that may satisfy them: see
    /// [`crate::object`].
    #[pin]
    pub(crate) wait_all: Mutex<WaitAll>,
    /// Every object that has a file, oldest first: what the debugfs view lists. Only the view,
    /// to copy the list, and the creation and release of object files take this lock.
    #[pin]
    objects: Mutex<Listed<T>>,
    next_object_id: Atomic<u64>,
    /// Names the device in debugfs.
    pub(crate) id: u64,
    /// The process that opened the device.
    pub(crate) opener: Pid,
}

/// The objects of a device, each linked in through its own `T`, so that listing one
/// allocates nothing.
struct Listed<T: ListItem + ListArcSafe> {
    list: List<T>,
    len: usize,
}

impl<T: ListItem + ListArcSafe> Device<T> {
    pub(crate) fn new() -> Result<Arc<Self>> {
        static NEXT_ID: Atomic<u64> = Atomic::new(1);
        Arc::pin_init(
            pin_init!(Device {
                wait_all <- new_mutex!(WaitAll { entries: 0 }, "Device::wait_all"),
                objects <- new_mutex!(
                    Listed {
                        list: List::new(),
                        len: 0,
                    },
                    "Device::objects"
                ),
                next_object_id: Atomic::new(1),
                id: NEXT_ID.fetch_add(1, Relaxed),
                opener: kernel::current!().tgid(),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn next_object_id(&self) -> u64 {
        self.next_object_id.fetch_add(1, Relaxed)
    }

    /// Lists an object whose file now exists. Objects of this device only come here.
    pub(crate) fn list(&self, obj: ListArc<T>) {
        let mut listed = self.objects.lock();
        listed.list.push_back(obj);
        listed.len += 1;
    }

    /// Takes an object whose file is being released off the list, and returns the list's
    /// reference, for the caller to drop once it no longer borrows the object: it may be the
    /// last.
    pub(crate) fn unlist(&self, obj: &T) -> Option<ListArc<T>> {
        let mut listed = self.objects.lock();
        // SAFETY: Only `list` puts objects on a list, each on the one of its own device.
        let removed = unsafe { listed.list.remove(obj) };
        listed.len -= usize::from(removed.is_some());
        removed
    }

    /// The objects listed now, oldest first, each kept alive by the copy: a reader holds the
    /// lock that creating and closing objects take only for the time to allocate and fill the
    /// copy, not for a whole listing.
    pub(crate) fn objects(&self) -> Result<KVec<Arc<T>>> {
        let listed = self.objects.lock();
        // A mutex: the room may be allocated while holding it.
        let mut copy = KVec::with_capacity(listed.len, GFP_KERNEL)?;
        for obj in listed.list.iter() {
            // Room for `listed.len` objects, which is how many the list holds.
            let _ = copy.push_within_capacity(obj.into());
        }
        Ok(copy)
    }
}
