// SPDX-License-Identifier: GPL-2.0

//! `/dev/ntsync`: each open is an independent namespace of objects.

use crate::{
    ffi,
    object::{
        self,
        Object, //
    },
    uapi,
    wait, //
};
use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        ArcBorrow,
        Mutex, //
    },
};

/// What the device's wait-all lock protects besides the objects' wait-all queues.
pub(crate) struct WaitAll {
    /// Wait-all calls queued on this device.
    pub(crate) queued: u32,
}

/// One open of `/dev/ntsync`. Its objects keep it alive after the device file is closed.
#[pin_data]
pub(crate) struct Device {
    /// Serialises wait-all calls and the state changes that may satisfy them: see
    /// [`crate::object`].
    #[pin]
    pub(crate) wait_all: Mutex<WaitAll>,
}

impl Device {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Device {
                wait_all <- new_mutex!(WaitAll { queued: 0 }, "Device::wait_all"),
            }),
            GFP_KERNEL,
        )
    }
}

#[vtable]
impl MiscDevice for Device {
    type Ptr = Arc<Device>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Device>> {
        let dev = Device::new()?;
        ffi::nonseekable(file);
        Ok(dev)
    }

    fn ioctl(dev: ArcBorrow<'_, Device>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::CREATE_SEM | uapi::CREATE_MUTEX | uapi::CREATE_EVENT => {
                let state = object::new_state(cmd, arg)?;
                let obj = Object::new(dev.into(), state)?;
                Ok(ffi::install_object(obj)? as isize)
            }
            uapi::WAIT_ANY => wait::wait(&dev, arg, false),
            uapi::WAIT_ALL => wait::wait(&dev, arg, true),
            _ => Err(ENOIOCTLCMD),
        }
    }
}
