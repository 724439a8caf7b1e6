// SPDX-License-Identifier: GPL-2.0

//! `/dev/ntsync`: each open is an independent namespace of objects.

use crate::{
    ffi,
    object::{
        Object,
        State, //
    },
    sem::Semaphore,
    uapi,
    wait,
};
use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::{
        Arc,
        ArcBorrow, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// One open of `/dev/ntsync`. Its objects keep it alive after the device file is closed.
pub(crate) struct Device;

impl Device {
    /// `NTSYNC_IOC_CREATE_SEM`: returns the new semaphore's fd.
    fn create_sem(self: &Arc<Self>, arg: usize) -> Result<isize> {
        let args: uapi::SemArgs = UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::SemArgs>())
            .reader()
            .read()?;
        let sem = Semaphore::new(args.count, args.max).ok_or(EINVAL)?;
        let obj = Object::new(self.clone(), State::Sem(sem))?;
        Ok(ffi::install_object(obj)? as isize)
    }
}

#[vtable]
impl MiscDevice for Device {
    type Ptr = Arc<Device>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Device>> {
        Ok(Arc::new(Device, GFP_KERNEL)?)
    }

    fn ioctl(dev: ArcBorrow<'_, Device>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let dev: Arc<Device> = dev.into();
        match cmd {
            uapi::CREATE_SEM => dev.create_sem(arg),
            uapi::WAIT_ANY => wait::wait_any(&dev, arg),
            _ => Err(ENOIOCTLCMD),
        }
    }
}
