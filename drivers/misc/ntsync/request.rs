// SPDX-License-Identifier: GPL-2.0

//! A wait request: its arguments checked, and its fds resolved into objects of the device.

use crate::{
    device::Device,
    object::Object,
    object_file,
    slots::Slots,
    uapi, //
};
use kernel::{
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// How many fds a wait copies in at a time: a full request's 64 would take a quarter of a
/// kilobyte of stack.
pub(crate) const FD_CHUNK: usize = 16;

impl<const N: usize> Slots<Object, N> {
    /// Checks a wait request and resolves its fds, then the alert, into objects of `dev`, in
    /// these slots, empty so far, which must have room for all of them if the request is valid.
    #[inline(always)]
    pub(crate) fn fill_from_user(
        &mut self,
        dev: &Device<Object>,
        args: &uapi::WaitArgs,
        all: bool,
    ) -> Result {
        if args.pad != 0 || args.flags & !uapi::WAIT_REALTIME != 0 || args.owner == 0 {
            return Err(EINVAL);
        }
        let count = args.count as usize;
        if count > uapi::MAX_WAIT_COUNT {
            return Err(EINVAL);
        }
        self.set_count(count);
        let mut reader = UserSlice::new(
            UserPtr::from_addr(args.objs as usize),
            count * size_of::<u32>(),
        )
        .reader();
        if N <= FD_CHUNK {
            // Sized for the request: one copy.
            let mut fds = [[0u8; size_of::<u32>()]; N];
            let fds = fds.as_flattened_mut();
            let fds = fds.get_mut(..count * size_of::<u32>()).ok_or(EINVAL)?;
            reader.read_slice(fds)?;
            for b in fds.chunks_exact(size_of::<u32>()) {
                self.push_fd(dev, u32::from_ne_bytes([b[0], b[1], b[2], b[3]]), all)?;
            }
        } else {
            // A fault anywhere in the array wins over a bad fd, whatever their order, as when
            // the array is copied in one piece: the first bad fd is only reported at the end.
            let mut resolved = Ok(());
            let mut left = count;
            while left > 0 {
                let n = left.min(FD_CHUNK);
                let mut chunk = [[0u8; size_of::<u32>()]; FD_CHUNK];
                let chunk = &mut chunk.as_flattened_mut()[..n * size_of::<u32>()];
                reader.read_slice(chunk)?;
                left -= n;
                for b in chunk.chunks_exact(size_of::<u32>()) {
                    if resolved.is_err() {
                        break;
                    }
                    resolved = self.push_fd(dev, u32::from_ne_bytes([b[0], b[1], b[2], b[3]]), all);
                }
            }
            resolved?;
        }
        if args.alert != 0 {
            self.push_fd(dev, args.alert, all)?;
        }
        Ok(())
    }

    /// Resolves `fd` into the next slot.
    #[inline(always)]
    fn push_fd(&mut self, dev: &Device<Object>, fd: u32, all: bool) -> Result {
        let obj = object_file::from_fd(fd).ok_or(EINVAL)?;
        if !core::ptr::eq(&*obj.dev, dev) {
            return Err(EINVAL);
        }
        // Acquiring all at once needs distinct objects, the alert included.
        if all && self.iter().any(|(_, o)| core::ptr::eq(o, &*obj)) {
            return Err(EINVAL);
        }
        self.push(obj)
    }
}
