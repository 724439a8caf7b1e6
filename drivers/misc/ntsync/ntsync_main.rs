// SPDX-License-Identifier: GPL-2.0

//! ntsync: emulation of Windows NT synchronization primitives for Wine.
//!
//! A drop-in replacement for `drivers/misc/ntsync.c`, with the same uAPI
//! (`include/uapi/linux/ntsync.h`) and semantics
//! (`Documentation/userspace-api/ntsync.rst`).

mod device;
mod event;
mod ffi;
mod file;
mod mutex;
mod object;
mod queue;
mod sem;
mod state;
mod uapi;
mod view;
mod wait;

use crate::ffi::miscdevice::{
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use kernel::prelude::*;

module! {
    type: NtSyncModule,
    name: "ntsync_rs",
    authors: ["The ntsync-rs authors"],
    description: "NT synchronization primitive emulation (Rust)",
    license: "GPL",
    // A node for a fixed minor can exist before the module is loaded (kmod static-nodes
    // makes it from these aliases at boot): opening it loads the module, which upstream's
    // dynamic minor rules out. Keep the number in step with `MINOR`.
    alias: ["devname:ntsync", "char-major-10-249"],
}

/// The misc minor number asked for: not assigned in `include/linux/miscdevice.h` or
/// `Documentation/admin-guide/devices.txt`.
const MINOR: u8 = 249;

#[pin_data]
struct NtSyncModule {
    // Dropped in this order: no device can be open once the debugfs root goes.
    #[pin]
    misc: MiscDeviceRegistration<device::Instance>,
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
fn register_misc() -> impl PinInit<MiscDeviceRegistration<device::Instance>, Error> {
    let options = |minor| MiscDeviceOptions {
        name: c"ntsync",
        mode: 0o666,
        minor,
    };
    let fixed = MiscDeviceRegistration::<device::Instance>::register(options(Some(MINOR)));
    let dynamic = MiscDeviceRegistration::<device::Instance>::register(options(None));
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
