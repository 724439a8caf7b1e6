// SPDX-License-Identifier: GPL-2.0

//! [`kernel::miscdevice`] with the node mode and the fixed minor that the series adds to
//! [`MiscDeviceOptions`].

// All of the kernel crate's module, which this one completes, used or not.
#[allow(unused_imports)]
pub use kernel::miscdevice::*;

use crate::ffi::{
    bindings,
    error::to_result,
    ffi,
    prelude::*,
    types::Opaque, //
};
use core::marker::PhantomData;

// upstream: rust/kernel/miscdevice.rs, replace "/// Options for creating a misc device." .. "/// A registration of a miscdevice."
/// Options for creating a misc device.
#[derive(Copy, Clone)]
pub struct MiscDeviceOptions {
    /// The name of the miscdevice.
    pub name: &'static CStr,
    /// The mode of the device node that devtmpfs makes, or `0` for its default, `0600`.
    pub mode: u16,
    /// The minor number to ask for, or `None` for a dynamic one.
    ///
    /// A fixed minor lets a node made before the driver is loaded, from its
    /// `char-major-10-MINOR` module alias, load it on first open. Registering fails with
    /// [`EBUSY`] if another device has the minor; `Some(255)` is `MISC_DYNAMIC_MINOR`, the same
    /// as `None`.
    pub minor: Option<u8>,
}

impl MiscDeviceOptions {
    /// Create a raw `struct miscdev` ready for registration.
    pub const fn into_raw<T: MiscDevice>(self) -> bindings::miscdevice {
        let mut result: bindings::miscdevice = pin_init::zeroed();
        result.minor = match self.minor {
            Some(minor) => minor as ffi::c_int,
            None => bindings::MISC_DYNAMIC_MINOR as ffi::c_int,
        };
        result.name = crate::ffi::str::as_char_ptr_in_const_context(self.name);
        result.mode = self.mode;
        result.fops = MiscdeviceVTable::<T>::build();
        result
    }
}

// upstream: end

// The one user in the tree names the two new fields.
// upstream: samples/rust/rust_misc_device.rs, replace "        let options = MiscDeviceOptions {" .. "        try_pin_init!(Self {", quoted
//         let options = MiscDeviceOptions {
//             name: c"rust-misc-device",
//             mode: 0,
//             minor: None,
//         };
//
// upstream: end

/// The file operations that the kernel crate makes for `T`.
struct MiscdeviceVTable<T>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// The kernel crate's table for `T`, the one its own options use: the same in both.
    const fn build() -> &'static bindings::file_operations {
        let raw = kernel::miscdevice::MiscDeviceOptions { name: c"" }.into_raw::<T>();
        // SAFETY: `into_raw` points `fops` at a static table.
        unsafe { &*raw.fops }
    }
}

/// The kernel's [`MiscDeviceRegistration`](kernel::miscdevice::MiscDeviceRegistration), but for
/// the options of this module: the series changes the options, not the registration.
///
/// `T::open` receives a `&kernel::miscdevice::MiscDeviceRegistration<T>` that points at this
/// registration's `struct miscdevice`: that type is `repr(transparent)` over the same
/// `Opaque<bindings::miscdevice>` as this one, so the reference is valid.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] and registered
/// with `misc_register()` until this value is dropped.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may run on any thread.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: There are no `&self` methods.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Register a misc device.
    pub fn register(opts: MiscDeviceOptions) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(opts.into_raw::<T>()) };
                // SAFETY: `slot` holds a valid miscdevice, pinned until `PinnedDrop`
                // deregisters it.
                // INVARIANT: On success the device stays registered until drop.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
            _t: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered, by the type invariant.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}
