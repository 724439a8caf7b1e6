// SPDX-License-Identifier: GPL-2.0

//! `/dev/ntsync`: each open is an independent namespace of objects.

use crate::ffi::fs::file::nonseekable_open;
use crate::{
    file,
    object::{
        self,
        Object, //
    },
    uapi,
    view::{
        self,
        View, //
    },
    wait, //
};
use kernel::{
    debugfs,
    fs::File,
    list::{
        List,
        ListArc, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    str::CString,
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

/// One open of `/dev/ntsync`. Its objects keep it alive after the device file is closed.
#[pin_data]
pub(crate) struct Device {
    /// Serialises wait-all calls and the state changes that may satisfy them: see
    /// [`crate::object`].
    #[pin]
    pub(crate) wait_all: Mutex<WaitAll>,
    /// Every object that has a file, oldest first: what the debugfs view lists. Only the view,
    /// to copy the list, and the creation and release of object files take this lock.
    #[pin]
    objects: Mutex<Listed>,
    next_object_id: Atomic<u64>,
    /// Names the device in debugfs.
    pub(crate) id: u64,
    /// The process that opened the device.
    pub(crate) opener: Pid,
}

/// The objects of a device, each linked in through its own [`Object`], so that listing one
/// allocates nothing.
struct Listed {
    list: List<Object>,
    len: usize,
}

impl Device {
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
    pub(crate) fn list(&self, obj: ListArc<Object>) {
        let mut listed = self.objects.lock();
        listed.list.push_back(obj);
        listed.len += 1;
    }

    /// Takes an object whose file is being released off the list, and returns the list's
    /// reference, for the caller to drop once it no longer borrows the object: it may be the
    /// last.
    pub(crate) fn unlist(&self, obj: &Object) -> Option<ListArc<Object>> {
        let mut listed = self.objects.lock();
        // SAFETY: Only `list` puts objects on a list, each on the one of its own device.
        let removed = unsafe { listed.list.remove(obj) };
        listed.len -= usize::from(removed.is_some());
        removed
    }

    /// The objects listed now, oldest first, each kept alive by the copy: a reader holds the
    /// lock that creating and closing objects take only for the time to allocate and fill the
    /// copy, not for a whole listing.
    pub(crate) fn objects(&self) -> Result<KVec<Arc<Object>>> {
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

/// An open of `/dev/ntsync`: the device, and its file in debugfs for as long as it is open.
#[pin_data]
pub(crate) struct Instance {
    dev: Arc<Device>,
    #[pin]
    _view: debugfs::File<View>,
}

#[vtable]
impl MiscDevice for Instance {
    type Ptr = Pin<KBox<Instance>>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        let dev = Device::new()?;
        let root = view::root()?;
        let name = CString::try_from_fmt(fmt!("{}", dev.id))?;
        let view = View::new(dev.clone());
        let instance = KBox::pin_init(
            try_pin_init!(Instance {
                dev,
                _view <- root.read_only_file(&name, view),
            }? Error),
            GFP_KERNEL,
        )?;
        // SAFETY: Called from the device's open, where the file's mode may change.
        unsafe { nonseekable_open(file) };
        Ok(instance)
    }

    fn ioctl(me: Pin<&Instance>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let dev = &me.dev;
        match cmd {
            uapi::CREATE_SEM | uapi::CREATE_MUTEX | uapi::CREATE_EVENT => {
                let state = object::new_state(cmd, arg)?;
                let obj = Object::new(dev.clone(), state)?;
                Ok(file::install_object(obj)? as isize)
            }
            uapi::WAIT_ANY => wait::wait(dev, arg, false),
            uapi::WAIT_ALL => wait::wait(dev, arg, true),
            _ => Err(ENOIOCTLCMD),
        }
    }
}
