// SPDX-License-Identifier: GPL-2.0

//! An ntsync object: its NT state behind a spinlock, the waiters queued on it, and the ioctls
//! of its file.

use crate::{
    device::Device,
    sem::Semaphore,
    uapi,
    wait::WaitEntry,
};
use kernel::{
    alloc::KVec,
    new_spinlock,
    prelude::*,
    sync::{
        Arc,
        SpinLock, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// The NT state of an object.
pub(crate) enum State {
    Sem(Semaphore),
}

impl State {
    /// Whether a wait by `owner` could acquire the object now.
    pub(crate) fn is_signaled(&self, _owner: u32) -> bool {
        match self {
            State::Sem(sem) => sem.is_signaled(),
        }
    }

    /// Acquires the object for `owner`; the caller has seen [`Self::is_signaled`].
    pub(crate) fn acquire(&mut self, _owner: u32) {
        match self {
            State::Sem(sem) => sem.acquire(),
        }
    }
}

/// What the object's lock protects.
pub(crate) struct Inner {
    pub(crate) state: State,
    /// Wait-any waiters, oldest first: they are offered the object in this order.
    pub(crate) any_waiters: KVec<WaitEntry>,
}

impl Inner {
    /// Hands the object to queued waiters for as long as it stays signaled.
    fn wake_waiters(&mut self) {
        crate::wait::wake_any(&mut self.state, &self.any_waiters);
    }
}

/// An object: one open file of `/dev/ntsync`'s objects.
#[pin_data]
pub(crate) struct Object {
    #[pin]
    pub(crate) inner: SpinLock<Inner>,
    /// The `/dev/ntsync` instance that made the object; a wait mixes only objects of one.
    pub(crate) dev: Arc<Device>,
}

impl Object {
    pub(crate) fn new(dev: Arc<Device>, state: State) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_spinlock!(
                    Inner {
                        state,
                        any_waiters: KVec::new(),
                    },
                    "Object::inner"
                ),
                dev,
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::SEM_RELEASE => self.sem_release(arg),
            uapi::SEM_READ => self.sem_read(arg),
            _ => Err(ENOIOCTLCMD),
        }
    }

    /// `NTSYNC_IOC_SEM_RELEASE`: adds units and reports the previous count.
    fn sem_release(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<u32>()).reader_writer();
        let n: u32 = reader.read()?;
        let prev = {
            let mut inner = self.inner.lock();
            let State::Sem(sem) = &mut inner.state else {
                return Err(EINVAL);
            };
            let prev = sem.release(n).map_err(|_| EOVERFLOW)?;
            inner.wake_waiters();
            prev
        };
        writer.write(&prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_SEM_READ`.
    fn sem_read(&self, arg: usize) -> Result<isize> {
        let args = {
            let inner = self.inner.lock();
            let State::Sem(sem) = &inner.state else {
                return Err(EINVAL);
            };
            uapi::SemArgs {
                count: sem.count(),
                max: sem.max(),
            }
        };
        UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::SemArgs>())
            .writer()
            .write(&args)?;
        Ok(0)
    }
}
