// SPDX-License-Identifier: GPL-2.0

//! ntsync: emulation of Windows NT synchronization primitives for Wine.
//!
//! A drop-in replacement for `drivers/misc/ntsync.c`, with the same uAPI
//! (`include/uapi/linux/ntsync.h`) and semantics
//! (`Documentation/userspace-api/ntsync.rst`).

// The driver's modules from the bottom up, in groups: each uses only modules of the groups
// before its own.
//
// The kernel crate as the upstream series leaves it, and the ABI.
mod ffi;
mod uapi;

// The NT rules, free of kernel types (the host test crate compiles them too).
mod event;
mod mutex;
mod sem;

mod state;

// Wait queues, files carrying an object, and the device, none of which knows what an object is.
mod device;
mod file;
mod queue;

// The objects a wait holds, then the waiter that holds them and the wake-any rule.
mod slots;

mod waiter;

// The object and how it is locked.
mod object;

// The wait-all rule, and the state changes with the wake-ups they cause.
mod wake;

// Object files and their ioctls.
mod object_file;

// A wait: its request resolved, and its waiter queued and asleep.
mod queued;
mod request;

// The wait ioctls, and the debugfs view.
mod view;
mod wait;

use crate::ffi::fs::file::nonseekable_open;
use crate::ffi::miscdevice::{
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use crate::{
    device::Device,
    object::Object,
    view::View, //
};
use kernel::{
    debugfs,
    fs::File,
    miscdevice::MiscDevice,
    prelude::*,
    str::CString,
    sync::Arc, //
};

module! {
    type: NtSyncModule,
    name: "ntsync_rs",
    authors: ["The ntsync-rs authors"],
    description: "NT synchronization primitive emulation (Rust)",
    license: "GPL",
    // A node for a fixed minor can exist before the module is loaded (kmod static-nodes
    // makes it from these aliases at boot): opening it loads the module. Keep the number in
    // step with `MINOR`.
    alias: ["devname:ntsync", "char-major-10-243"],
}

/// The misc minor of `/dev/ntsync`, the same for the C driver: the two serve one node and
/// are alternatives.
// `NTSYNC_MINOR` of `include/linux/miscdevice.h`, as requested upstream; no released kernel
// defines it yet.
const MINOR: u8 = 243;

#[pin_data]
struct NtSyncModule {
    // Dropped in this order: no device can be open once the debugfs root goes.
    #[pin]
    misc: MiscDeviceRegistration<Instance>,
    _view: view::Root,
}

impl kernel::InPlaceModule for NtSyncModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // The debugfs root exists before the first open can look for it.
        let view = view::Root::create();
        try_pin_init!(Self {
            misc <- register_misc(),
            _view: view,
        })
    }
}

/// Registers `/dev/ntsync` with mode `0666` (Wine runs as an ordinary user, and every open is
/// its own namespace, as upstream) and the minor `MINOR`, or a dynamic minor if another driver
/// has that one: a node made from the module alias would then reach the other driver, but one
/// that udev makes still reaches us.
fn register_misc() -> impl PinInit<MiscDeviceRegistration<Instance>, Error> {
    let options = |minor| MiscDeviceOptions {
        name: c"ntsync",
        mode: 0o666,
        minor,
    };
    let fixed = MiscDeviceRegistration::<Instance>::register(options(Some(MINOR)));
    let dynamic = MiscDeviceRegistration::<Instance>::register(options(None));
    // SAFETY: Each initializer gets `slot` as the closure does, and the second one only after
    // the first failed, which leaves `slot` uninitialised, as `PinInit` promises on failure.
    // The closure fails only if both did.
    unsafe {
        pin_init::pin_init_from_closure(move |slot| match fixed.__init(slot) {
            Err(err) if err == EBUSY => dynamic.__init(slot),
            result => result,
        })
    }
}

/// An open of `/dev/ntsync`: the device, and its file in debugfs for as long as it is open.
#[pin_data]
struct Instance {
    dev: Arc<Device<Object>>,
    #[pin]
    _view: debugfs::File<View>,
}

#[vtable]
impl MiscDevice for Instance {
    type Ptr = Pin<KBox<Instance>>;

    fn open(
        file: &File,
        _misc: &kernel::miscdevice::MiscDeviceRegistration<Self>,
    ) -> Result<Self::Ptr> {
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
                Ok(object_file::install_object(obj)? as isize)
            }
            uapi::WAIT_ANY => wait::wait(dev, arg, false),
            uapi::WAIT_ALL => wait::wait(dev, arg, true),
            _ => Err(ENOIOCTLCMD),
        }
    }
}
