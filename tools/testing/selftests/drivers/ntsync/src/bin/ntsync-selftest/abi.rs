// SPDX-License-Identifier: GPL-2.0

//! The uAPI: the structures' layout and command numbers, and which bytes each command writes.

use libc::{EOWNERDEAD, ETIMEDOUT};
use ntsync_selftests::setup::{dev, event, mutex, sem};
use ntsync_selftests::tap::TestResult;
use ntsync_selftests::*;
use std::os::fd::{AsRawFd, RawFd};

/// The structures and command numbers are those of the documentation.
pub(crate) fn abi_layout() -> TestResult {
    check_eq!(size_of::<SemArgs>(), 8);
    check_eq!(size_of::<MutexArgs>(), 8);
    check_eq!(size_of::<EventArgs>(), 8);
    check_eq!(size_of::<WaitArgs>(), 40);
    check_eq!(std::mem::offset_of!(WaitArgs, objs), 8);
    check_eq!(std::mem::offset_of!(WaitArgs, count), 16);
    check_eq!(std::mem::offset_of!(WaitArgs, index), 20);
    check_eq!(std::mem::offset_of!(WaitArgs, flags), 24);
    check_eq!(std::mem::offset_of!(WaitArgs, owner), 28);
    check_eq!(std::mem::offset_of!(WaitArgs, alert), 32);
    check_eq!(std::mem::offset_of!(WaitArgs, pad), 36);
    let cmds = [
        (IOC_CREATE_SEM, 0x4008_4e80u32),
        (IOC_SEM_RELEASE, 0xc004_4e81),
        (IOC_WAIT_ANY, 0xc028_4e82),
        (IOC_WAIT_ALL, 0xc028_4e83),
        (IOC_CREATE_MUTEX, 0x4008_4e84),
        (IOC_MUTEX_UNLOCK, 0xc008_4e85),
        (IOC_MUTEX_KILL, 0x4004_4e86),
        (IOC_CREATE_EVENT, 0x4008_4e87),
        (IOC_EVENT_SET, 0x8004_4e88),
        (IOC_EVENT_RESET, 0x8004_4e89),
        (IOC_EVENT_PULSE, 0x8004_4e8a),
        (IOC_SEM_READ, 0x8008_4e8b),
        (IOC_MUTEX_READ, 0x8008_4e8c),
        (IOC_EVENT_READ, 0x8008_4e8d),
    ];
    for (got, want) in cmds {
        check_eq!(got, want);
    }
    check_eq!(WAIT_REALTIME, 1);
    check_eq!(MAX_WAIT_COUNT, 64);
    Ok(())
}

/// Every output, pre-filled with 0xaa bytes, is written in full, whatever its value (zero,
/// one, all ones, or bytes that differ from the input's), and the bytes around the argument
/// are not: reads, previous counts and states, and the wait index.
pub(crate) fn outputs_fully_written() -> TestResult {
    const AT: usize = 8;
    /// Runs `cmd` on `fd` with `input` at offset `AT` of a buffer of 0xaa bytes, and checks
    /// that the result is `ret` and the buffer holds `output` there, 0xaa around it.
    fn run(
        fd: RawFd,
        cmd: u32,
        input: &[u8],
        ret: Result<i32, Errno>,
        output: &[u8],
    ) -> TestResult {
        let mut buf = [0xaau8; 64];
        buf[AT..AT + input.len()].copy_from_slice(input);
        let got = ioctl_raw(fd, cmd, buf.as_mut_ptr() as usize + AT);
        check!(got == ret, "cmd {cmd:#x}: {got:?}, expected {ret:?}");
        let mut want = [0xaau8; 64];
        want[AT..AT + output.len()].copy_from_slice(output);
        check!(
            buf == want,
            "cmd {cmd:#x}: wrote {:02x?}, expected {:02x?}",
            &buf[..AT + 16],
            &want[..AT + 16]
        );
        Ok(())
    }
    fn words(w: &[u32]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }
    let fill = u32::from_ne_bytes([0xaa; 4]);
    let dev = dev()?;
    for (count, max) in [(0, 0), (1, 2), (u32::MAX, u32::MAX)] {
        let s = sem(&dev, count, max)?;
        run(
            s.as_raw_fd(),
            IOC_SEM_READ,
            &[],
            Ok(0),
            &words(&[count, max]),
        )?;
    }
    // Every byte of the previous count differs from the amount's.
    let s = sem(&dev, 0x0101_0101, u32::MAX)?;
    run(
        s.as_raw_fd(),
        IOC_SEM_RELEASE,
        &words(&[0x0202_0202]),
        Ok(0),
        &words(&[0x0101_0101]),
    )?;
    let z = sem(&dev, 0, 1)?;
    run(
        z.as_raw_fd(),
        IOC_SEM_RELEASE,
        &words(&[1]),
        Ok(0),
        &words(&[0]),
    )?;

    let m = mutex(&dev, 0, 0)?;
    run(m.as_raw_fd(), IOC_MUTEX_READ, &[], Ok(0), &words(&[0, 0]))?;
    let m = mutex(&dev, u32::MAX, 3)?;
    run(
        m.as_raw_fd(),
        IOC_MUTEX_READ,
        &[],
        Ok(0),
        &words(&[u32::MAX, 3]),
    )?;
    // The count is written, the owner (input only) is left as it was.
    run(
        m.as_raw_fd(),
        IOC_MUTEX_UNLOCK,
        &words(&[u32::MAX, fill]),
        Ok(0),
        &words(&[u32::MAX, 3]),
    )?;
    let one = mutex(&dev, 7, 1)?;
    run(
        one.as_raw_fd(),
        IOC_MUTEX_UNLOCK,
        &words(&[7, fill]),
        Ok(0),
        &words(&[7, 1]),
    )?;
    check_eq!(mutex_kill(&m, u32::MAX), Ok(()));
    run(
        m.as_raw_fd(),
        IOC_MUTEX_READ,
        &[],
        Err(EOWNERDEAD),
        &words(&[0, 0]),
    )?;

    for manual in [0, 1] {
        let e = event(&dev, manual == 1, false)?;
        run(
            e.as_raw_fd(),
            IOC_EVENT_READ,
            &[],
            Ok(0),
            &words(&[manual, 0]),
        )?;
        run(e.as_raw_fd(), IOC_EVENT_SET, &[], Ok(0), &words(&[0]))?;
        run(
            e.as_raw_fd(),
            IOC_EVENT_READ,
            &[],
            Ok(0),
            &words(&[manual, 1]),
        )?;
        run(e.as_raw_fd(), IOC_EVENT_SET, &[], Ok(0), &words(&[1]))?;
        run(e.as_raw_fd(), IOC_EVENT_PULSE, &[], Ok(0), &words(&[1]))?;
        run(e.as_raw_fd(), IOC_EVENT_PULSE, &[], Ok(0), &words(&[0]))?;
        run(e.as_raw_fd(), IOC_EVENT_RESET, &[], Ok(0), &words(&[0]))?;
    }

    // The wait index: 0, a later position, the alert's (count), and wait-all's 0.
    let empty = sem(&dev, 0, 1)?;
    let full = sem(&dev, 3, 3)?;
    let alert = event(&dev, true, true)?;
    for (objs, cmd, index) in [
        (vec![full.as_raw_fd()], IOC_WAIT_ANY, 0u32),
        (vec![empty.as_raw_fd(), full.as_raw_fd()], IOC_WAIT_ANY, 1),
        (vec![empty.as_raw_fd(), empty.as_raw_fd()], IOC_WAIT_ANY, 2),
        (vec![empty.as_raw_fd()], IOC_WAIT_ALL, 1),
        (vec![full.as_raw_fd()], IOC_WAIT_ALL, 0),
    ] {
        let args = Wait::new(&objs).alert(&alert).args();
        let mut input = words(&[
            args.timeout as u32,
            (args.timeout >> 32) as u32,
            args.objs as u32,
            (args.objs >> 32) as u32,
            args.count,
            fill,
            args.flags,
            args.owner,
            args.alert,
            args.pad,
        ]);
        let mut output = input.clone();
        output[20..24].copy_from_slice(&index.to_ne_bytes());
        run(dev.as_raw_fd(), cmd, &input, Ok(0), &output)?;
        // With nothing to take, nothing is written.
        if index == 0 && objs.len() == 1 {
            let objs = [empty.as_raw_fd()];
            let args = Wait::new(&objs).args();
            input[8..16].copy_from_slice(&args.objs.to_ne_bytes());
            input[32..36].copy_from_slice(&0u32.to_ne_bytes());
            run(dev.as_raw_fd(), cmd, &input, Err(ETIMEDOUT), &input)?;
        }
    }
    Ok(())
}
