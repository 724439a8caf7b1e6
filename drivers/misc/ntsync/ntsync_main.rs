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

use kernel::prelude::*;

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
const MINOR: i32 = 243;

#[pin_data]
struct NtSyncModule {
    // Dropped in this order: no device can be open once the debugfs root goes.
    #[pin]
    misc: ffi::MiscRegistration<device::Instance>,
    _view: view::Root,
}

impl kernel::InPlaceModule for NtSyncModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // Wine runs as an ordinary user, and every open is its own namespace: 0666 as upstream.
        // The debugfs root exists before the first open can look for it.
        let view = view::Root::create();
        try_pin_init!(Self {
            misc <- ffi::MiscRegistration::register(c"ntsync", 0o666, MINOR),
            _view: view,
        })
    }
}
