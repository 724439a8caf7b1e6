// SPDX-License-Identifier: GPL-2.0

//! Object files: every object is the private data of an anonymous-inode file, whose fd is
//! what user space holds. Here are that file's operations and ioctls, and the reference to an
//! object that holding its file gives.

use crate::ffi::uaccess::{
    get_user_u32,
    put_user_u32, //
};
use crate::{
    file::FileRef,
    object::{
        read_user,
        write_user,
        Object, //
    },
    state::State,
    uapi, //
};
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    fs::file::FileDescriptorReservation,
    list::ListArc,
    prelude::*,
    uaccess::UserPtr,
};

/// A counted reference to an object, held through its file.
pub(crate) type ObjectRef = FileRef<Object>;

/// The file operations of an object file. A `static`, so that its address identifies object
/// files: see [`from_fd`].
struct ObjectFops(bindings::file_operations);

// SAFETY: The table is never written after initialisation; the raw pointers inside it (the
// owning module and functions) are valid from any thread.
unsafe impl Sync for ObjectFops {}

static OBJECT_FOPS: ObjectFops = ObjectFops(bindings::file_operations {
    owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
    release: Some(object_release),
    unlocked_ioctl: Some(object_ioctl),
    // Every argument is a pointer to a structure laid out alike for 32- and 64-bit callers,
    // so a 32-bit caller only needs its pointer widened. The binding is `None` without
    // CONFIG_COMPAT.
    compat_ioctl: bindings::compat_ptr_ioctl,
    ..pin_init::zeroed()
});

/// # Safety
///
/// `file` is an object file being released: its `private_data` came from [`new_file`] and is
/// not used again.
unsafe extern "C" fn object_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: The file was made by `new_file`, so `private_data` points to an object that its
    // device lists until this release takes it off; no other file operation can run any more.
    let obj = unsafe { &*(*file).private_data.cast::<Object>() };
    let listed = obj.dev.unlist(obj);
    // Dropped once nothing borrows the object: it may be the last reference to it, and
    // through it to its device.
    drop(listed);
    0
}

/// # Safety
///
/// `file` is a live object file.
unsafe extern "C" fn object_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The object of a live object file stays listed, and so alive, until the file's
    // release, which cannot run while this ioctl holds the file.
    let obj = unsafe { &*(*file).private_data.cast::<Object>() };
    match obj.ioctl(cmd, arg) {
        Ok(ret) => ret as c_long,
        Err(err) => err.to_errno() as c_long,
    }
}

/// Makes `obj` a new anonymous-inode file and installs it as a close-on-exec fd.
pub(crate) fn install_object(obj: ListArc<Object>) -> Result<u32> {
    // Reserved first: once the file exists, failing would have to undo more.
    let reservation = FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC)?;
    let file = new_file(obj)?;
    let fd = reservation.reserved_fd();
    reservation.fd_install(file.into_file());
    Ok(fd)
}

/// Makes `obj` a new anonymous-inode file, with no fd yet, and lists it in its device, which
/// holds it for the file: the file needs no reference of its own.
pub(crate) fn new_file(obj: ListArc<Object>) -> Result<ObjectRef> {
    // SAFETY: The operations of `OBJECT_FOPS` expect `private_data` to point to an object that
    // its device lists until the file's release takes it off: the object is listed below,
    // before anything can reach the file, and only `object_release` unlists it. Without a
    // file, `obj` goes on return.
    let file = unsafe { FileRef::new_file(c"ntsync", &OBJECT_FOPS.0, &*obj) }?;
    // Listed only now that the file exists: its release takes the object off the list.
    file.dev.list(obj);
    Ok(file)
}

/// The object behind `fd`, or `None` when `fd` is not an open ntsync object.
pub(crate) fn from_fd(fd: u32) -> Option<ObjectRef> {
    // SAFETY: Only `new_file` makes files with `OBJECT_FOPS`, each with an object that its
    // device lists, keeping it alive, until the file is released.
    unsafe { FileRef::from_fd(fd, &OBJECT_FOPS.0) }
}

impl Object {
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::SEM_RELEASE => self.sem_release_ioctl(arg),
            uapi::SEM_READ => self.sem_read(arg),
            uapi::MUTEX_UNLOCK => self.mutex_unlock_ioctl(arg),
            uapi::MUTEX_KILL => self.mutex_kill_ioctl(arg),
            uapi::MUTEX_READ => self.mutex_read(arg),
            uapi::EVENT_SET | uapi::EVENT_RESET | uapi::EVENT_PULSE => self.event_ioctl(cmd, arg),
            uapi::EVENT_READ => self.event_read(arg),
            _ => Err(ENOIOCTLCMD),
        }
    }

    /// `NTSYNC_IOC_SEM_RELEASE`: the previous count replaces the argument.
    fn sem_release_ioctl(&self, arg: usize) -> Result<isize> {
        let prev = self.release(get_user_u32(UserPtr::from_addr(arg))?)?;
        put_user_u32(UserPtr::from_addr(arg), prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_UNLOCK`: the previous count goes to the `count` field only.
    fn mutex_unlock_ioctl(&self, arg: usize) -> Result<isize> {
        let args: uapi::MutexArgs = read_user(arg)?;
        if args.owner == 0 {
            return Err(EINVAL);
        }
        let prev = self.unlock(args.owner)?;
        let count = arg + core::mem::offset_of!(uapi::MutexArgs, count);
        put_user_u32(UserPtr::from_addr(count), prev)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_KILL`.
    fn mutex_kill_ioctl(&self, arg: usize) -> Result<isize> {
        let owner = get_user_u32(UserPtr::from_addr(arg))?;
        if owner == 0 {
            return Err(EINVAL);
        }
        self.kill(owner)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_EVENT_SET`, `_RESET` and `_PULSE`: the previous state is written out after
    /// the change.
    fn event_ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        let prev = match cmd {
            uapi::EVENT_RESET => self.reset_event()?,
            _ => self.set_event(cmd == uapi::EVENT_PULSE)?,
        };
        put_user_u32(UserPtr::from_addr(arg), prev.into())?;
        Ok(0)
    }

    /// `NTSYNC_IOC_SEM_READ`.
    fn sem_read(&self, arg: usize) -> Result<isize> {
        let args = self.read(|state| match state {
            State::Sem(sem) => Ok(uapi::SemArgs {
                count: sem.count(),
                max: sem.max(),
            }),
            _ => Err(EINVAL),
        })?;
        write_user(arg, &args)?;
        Ok(0)
    }

    /// `NTSYNC_IOC_MUTEX_READ`: EOWNERDEAD, after filling in the state, when abandoned.
    fn mutex_read(&self, arg: usize) -> Result<isize> {
        let mutex = self.read(|state| match state {
            State::Mutex(mutex) => Ok(*mutex),
            _ => Err(EINVAL),
        })?;
        let args = uapi::MutexArgs {
            owner: mutex.owner(),
            count: mutex.count(),
        };
        write_user(arg, &args)?;
        if mutex.is_abandoned() {
            return Err(EOWNERDEAD);
        }
        Ok(0)
    }

    /// `NTSYNC_IOC_EVENT_READ`.
    fn event_read(&self, arg: usize) -> Result<isize> {
        let args = self.read(|state| match state {
            State::Event(event) => Ok(uapi::EventArgs {
                manual: event.is_manual().into(),
                signaled: event.is_signaled().into(),
            }),
            _ => Err(EINVAL),
        })?;
        write_user(arg, &args)?;
        Ok(0)
    }
}
