// SPDX-License-Identifier: GPL-2.0

//! Object files and their lifetimes: what kind of file an object is, how long it lives (dup,
//! fork, SCM_RIGHTS, a closed device), running out of descriptors and closing one during a wait.

use crate::common::*;
use libc::{EFAULT, EINVAL, EMFILE, EOWNERDEAD, ETIMEDOUT};
use ntsync_selftests::setup::{count, dev, event, mutex, sem, signaled};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::unix::{recv_with_fd, send_with_fd, socketpair};
use ntsync_selftests::*;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Object fds of every kind are close-on-exec, read-write anonymous-inode files.
pub(crate) fn object_fds() -> TestResult {
    let dev = dev()?;
    let objs = [
        sem(&dev, 0, 1)?,
        mutex(&dev, 0, 0)?,
        event(&dev, true, false)?,
    ];
    for obj in &objs {
        let fd = obj.as_raw_fd();
        // SAFETY: Querying the flags of an fd we own.
        let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        check!(
            fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC != 0,
            "fd flags {fd_flags:#x}"
        );
        // SAFETY: As above.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        check!(
            fl >= 0 && fl & libc::O_ACCMODE == libc::O_RDWR,
            "file flags {fl:#x}"
        );
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|e| e.to_string())?;
        check_eq!(link.to_string_lossy(), "anon_inode:ntsync");
    }
    Ok(())
}

/// Objects outlive the device fd that made them; a duplicate of the device fd is the same
/// instance.
pub(crate) fn objects_outlive_device() -> TestResult {
    let dev = dev()?;
    let same = dev.try_clone().map_err(|e| e.to_string())?;
    let s = sem(&dev, 1, 3)?;
    let m = mutex(&dev, 4, 1)?;
    let e = event(&dev, false, false)?;
    drop(dev);
    check_eq!(sem_release(&s, 1), Ok(1));
    check_eq!(sem_read(&s), Ok(sa(2, 3)));
    check_eq!(mutex_unlock(&m, 4), Ok(1));
    check_eq!(event_set(&e), Ok(0));
    // The duplicate still reaches the instance, and its objects are waitable through it.
    let objs = fds(&[&s, &m, &e]);
    check_eq!(Wait::new(&objs).all(&same), Ok(0));
    check_eq!(count(&s)?, 1);
    check_eq!(mutex_state(&m), Ok((1, 1)));
    check_eq!(signaled(&e)?, false);
    Ok(())
}

/// An object lives as long as any descriptor refers to it: a dup, or a copy inherited by a
/// child that outlives the parent's own descriptor.
pub(crate) fn object_lifetime_dup_fork() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 5)?;
    let d = s.try_clone().map_err(|e| e.to_string())?;
    drop(s);
    check_eq!(sem_release(&d, 1), Ok(0));
    check_eq!(sem_read(&d), Ok(sa(1, 5)));

    let (rd, wr) = pipe()?;
    let fd = d.as_raw_fd();
    // SAFETY: The child only makes raw syscalls, then _exit()s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut byte = 0u8;
        // SAFETY: Raw syscalls on inherited descriptors and local buffers.
        unsafe {
            if libc::read(rd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) != 1 {
                libc::_exit(100);
            }
            let mut n = 2u32;
            if ioctl(fd, IOC_SEM_RELEASE, &mut n).is_err() || n != 1 {
                libc::_exit(101);
            }
            let objs = [fd];
            if Wait::new(&objs).any(&dev) != Ok(0) {
                libc::_exit(102);
            }
            let mut args = SemArgs::default();
            if ioctl(fd, IOC_SEM_READ, &mut args).is_err() {
                libc::_exit(103);
            }
            libc::_exit(args.count as i32);
        }
    }
    check!(pid > 0, "fork: errno {}", errno());
    // The parent lets go of the semaphore before the child uses it.
    drop(d);
    // SAFETY: Writing one byte from a local.
    check_eq!(
        unsafe { libc::write(wr.as_raw_fd(), b"x".as_ptr().cast(), 1) },
        1
    );
    check_eq!(wait_child(pid)?, 2);
    Ok(())
}

/// Sends `fd` over `sock` with SCM_RIGHTS and receives it on `peer`: a new descriptor of the
/// same file.
fn pass_fd(sock: &OwnedFd, peer: &OwnedFd, fd: RawFd) -> Result<OwnedFd, String> {
    let sent = send_with_fd(sock.as_raw_fd(), b"x", Some(fd), 0);
    if sent != Ok(1) {
        return Err(format!("sendmsg: {sent:?}"));
    }
    match recv_with_fd(peer.as_raw_fd(), &mut [0]) {
        Ok((1, Some(got))) => Ok(got),
        Ok((1, None)) => Err("no descriptor received".into()),
        Ok((n, _)) => Err(format!("recvmsg: {n} bytes")),
        Err(e) => Err(format!("recvmsg: errno {e}")),
    }
}

/// A descriptor passed with SCM_RIGHTS reaches the same object, which outlives the sender's
/// descriptor; owner ids are not credentials: whoever holds the mutex may unlock it by naming
/// its owner.
pub(crate) fn object_passed_scm_rights() -> TestResult {
    let dev = dev()?;
    let (a, b) = socketpair(libc::SOCK_STREAM).map_err(|e| format!("socketpair: errno {e}"))?;
    let m = mutex(&dev, 5, 1)?;
    let got = pass_fd(&a, &b, m.as_raw_fd())?;
    check!(got.as_raw_fd() != m.as_raw_fd());
    drop(m);
    let link = std::fs::read_link(format!("/proc/self/fd/{}", got.as_raw_fd()))
        .map_err(|e| e.to_string())?;
    check_eq!(link.to_string_lossy(), "anon_inode:ntsync");
    check_eq!(mread(&got), (Ok(()), 5, 1));
    check_eq!(mutex_unlock(&got, 5), Ok(1));
    let objs = [got.as_raw_fd()];
    check_eq!(Wait::new(&objs).by(6).any(&dev), Ok(0));
    check_eq!(mutex_kill(&got, 6), Ok(()));
    check_eq!(mread(&got), (Err(EOWNERDEAD), 0, 0));

    // The device itself, as Wine's server hands it to its clients: the same instance.
    let s = sem(&dev, 1, 1)?;
    let passed = File::from(pass_fd(&a, &b, dev.as_raw_fd())?);
    drop(dev);
    let objs = [s.as_raw_fd()];
    check_eq!(Wait::new(&objs).any(&passed), Ok(0));
    let made = sem(&passed, 1, 1)?;
    check_eq!(Wait::new(&[made.as_raw_fd()]).any(&passed), Ok(0));
    check_eq!(Wait::new(&objs).any(&self::dev()?), Err(EINVAL));
    Ok(())
}

/// Creation fails with EMFILE when the process has no descriptor left.
pub(crate) fn create_emfile() -> TestResult {
    let dev = dev()?;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: Valid out-pointer.
    check_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    // The lowest free descriptor number: every one below it is taken.
    let probe = dev.try_clone().map_err(|e| e.to_string())?;
    let lowest = probe.as_raw_fd() as libc::rlim_t;
    drop(probe);
    let limited = libc::rlimit {
        rlim_cur: lowest,
        rlim_max: old.rlim_max,
    };
    let fds_before = task::fd_count();
    // SAFETY: Valid in-pointer.
    check_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limited) }, 0);
    // Refused over and over: whatever a refusal left behind would pile up (and show in the
    // debug kernel's kmemleak scan).
    let repeated = (0..300).all(|i| match i % 3 {
        0 => create_sem(&dev, 0, 1).err() == Some(EMFILE),
        1 => create_mutex(&dev, 1, 1).err() == Some(EMFILE),
        _ => create_event(&dev, true, true).err() == Some(EMFILE),
    });
    let results = [
        create_sem(&dev, 0, 1).err(),
        create_mutex(&dev, 0, 0).err(),
        create_event(&dev, false, false).err(),
        // The argument checks come first.
        create_sem(&dev, 3, 2).err(),
        create_mutex(&dev, 0, 1).err(),
        raw(&dev, IOC_CREATE_EVENT, 8),
    ];
    // SAFETY: Valid in-pointer.
    check_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    let want = [EMFILE, EMFILE, EMFILE, EINVAL, EINVAL, EFAULT];
    check_eq!(results, want.map(Some));
    check!(repeated, "a repeated creation did not fail with EMFILE");
    check_eq!(task::fd_count(), fds_before);
    check!(create_sem(&dev, 0, 1).is_ok());
    Ok(())
}

/// Closing an object's fd while another thread waits on it is safe: the wait still ends at
/// its deadline, or is woken through another descriptor of the object.
pub(crate) fn close_while_waiting() -> TestResult {
    let dev = dev()?;
    let s = sem(&dev, 0, 1)?;
    let w = Waiter::any(&dev, &Wait::new(&[s.as_raw_fd()]).until(in_ms(200)))?;
    drop(s);
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));

    let s = sem(&dev, 0, 1)?;
    let e = event(&dev, false, false)?;
    let dup = s.try_clone().map_err(|e| e.to_string())?;
    let edup = e.try_clone().map_err(|e| e.to_string())?;
    let w = Waiter::any(&dev, &Wait::new(&fds(&[&s, &e])).until(in_ms(WAKE_MS)))?;
    drop(s);
    drop(e);
    w.still_blocked(QUIET)?;
    check_eq!(sem_release(&dup, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&dup)?, 0);
    // Closing the device fd that the wait was issued on is safe too.
    let other = self::dev()?;
    let s = sem(&other, 0, 1)?;
    let w = Waiter::spawn_on(
        other.as_raw_fd(),
        IOC_WAIT_ANY,
        &Wait::new(&[s.as_raw_fd()]).until(in_ms(WAKE_MS)),
    );
    w.wait_blocked()?;
    drop(other);
    w.still_blocked(QUIET)?;
    check_eq!(sem_release(&s, 1), Ok(0));
    check_eq!(w.join(JOIN)?, (Ok(()), 0));
    check_eq!(count(&s)?, 0);

    // A wait-all whose semaphore lost its last descriptor: never complete, but harmless.
    let w = Waiter::all(&dev, &Wait::new(&fds(&[&dup, &edup])).until(in_ms(300)))?;
    drop(dup);
    check_eq!(event_set(&edup), Ok(0));
    w.still_blocked(QUIET)?;
    check_eq!(w.join(JOIN)?, (Err(ETIMEDOUT), POISON));
    check_eq!(signaled(&edup)?, true);
    Ok(())
}
