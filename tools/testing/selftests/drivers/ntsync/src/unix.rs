// SPDX-License-Identifier: GPL-2.0

//! Unix sockets: connected pairs, and messages that carry a descriptor with `SCM_RIGHTS`, as
//! Wine's server hands the device and its objects to its clients.

use crate::errno;
use crate::Errno;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A connected pair of close-on-exec unix sockets of type `ty` (`SOCK_STREAM`,
/// `SOCK_SEQPACKET`).
pub fn socketpair(ty: libc::c_int) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut sv = [0; 2];
    // SAFETY: `sv` has room for two descriptors.
    let ret =
        unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    if ret != 0 {
        return Err(errno());
    }
    // SAFETY: socketpair returned two new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) })
}

/// The control buffer size for one descriptor.
fn cmsg_space() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize }
}

/// One sendmsg(2) of `data` on `sock` with `flags`, `fd` attached if given: the number of
/// bytes sent.
pub fn send_with_fd(
    sock: RawFd,
    data: &[u8],
    fd: Option<RawFd>,
    flags: libc::c_int,
) -> Result<usize, Errno> {
    let space = cmsg_space();
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: Every pointer refers to a local buffer of the stated size (sendmsg only reads
    // the data); the control buffer has room for one descriptor, as CMSG_SPACE computes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
            libc::CMSG_DATA(cmsg).cast::<RawFd>().write_unaligned(fd);
        }
        let n = libc::sendmsg(sock, &msg, flags);
        if n < 0 {
            Err(errno())
        } else {
            Ok(n as usize)
        }
    }
}

/// One recvmsg(2) on `sock` into `buf`, a received descriptor close-on-exec: the number of
/// bytes received and the descriptor that came with them.
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), Errno> {
    let space = cmsg_space();
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: As in `send_with_fd`; a received descriptor is new and owned by nobody else.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(errno());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        let fd = (!cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS)
            .then(|| OwnedFd::from_raw_fd(libc::CMSG_DATA(cmsg).cast::<RawFd>().read_unaligned()));
        Ok((n as usize, fd))
    }
}
