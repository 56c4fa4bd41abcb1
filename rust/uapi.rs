// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `uapi/linux/aiopoll.h` and of the parts of `<linux/aio_abi.h>` it uses.
//!
//! Every structure here has the layout of its C twin; the `const` assertions at the end of this
//! file check sizes, offsets and ioctl numbers at build time, and `rust/abi_check.c` checks the
//! same numbers on the C side, so the two cannot drift apart silently.

use core::mem::{
    offset_of,
    size_of, //
};
use kernel::{
    ioctl::{
        _IO,
        _IOR,
        _IOW,
        _IOWR, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

/// `AIOPOLL_ABI_MAJOR`.
pub(crate) const ABI_MAJOR: u32 = 1;
/// `AIOPOLL_ABI_MINOR`.
pub(crate) const ABI_MINOR: u32 = 7;
/// `AIOPOLL_IOC_MAGIC`.
pub(crate) const IOC_MAGIC: u32 = 0xA9;
/// `AIOPOLL_FEAT_CONTEXT`.
pub(crate) const FEAT_CONTEXT: u64 = 1 << 0;
/// `AIOPOLL_FEAT_SIGMASK`.
pub(crate) const FEAT_SIGMASK: u64 = 1 << 1;
/// `AIOPOLL_FEAT_POLL`.
pub(crate) const FEAT_POLL: u64 = 1 << 2;
/// `AIOPOLL_FEAT_HIPRI`.
pub(crate) const FEAT_HIPRI: u64 = 1 << 3;
/// `AIOPOLL_FEAT_COMPAT`.
pub(crate) const FEAT_COMPAT: u64 = 1 << 4;
/// `AIOPOLL_FEAT_SUBMIT_WAIT`.
pub(crate) const FEAT_SUBMIT_WAIT: u64 = 1 << 5;
/// `AIOPOLL_FEAT_DESTROY`.
pub(crate) const FEAT_DESTROY: u64 = 1 << 6;

/// `AIOPOLL_RING_MAGIC` (fs/aio's `AIO_RING_MAGIC`).
pub(crate) const RING_MAGIC: u32 = 0xa10a10a1;
/// `AIOPOLL_RING_COMPAT_FEATURES`.
pub(crate) const RING_COMPAT_FEATURES: u32 = 1;
/// `AIOPOLL_RING_INCOMPAT_FEATURES`.
pub(crate) const RING_INCOMPAT_FEATURES: u32 = 0;
/// `AIOPOLL_RING_HEADER_LENGTH`: size of `struct aiopoll_ring` (fs/aio's `struct aio_ring`).
pub(crate) const RING_HEADER_LENGTH: usize = 32;

/// `IOCB_CMD_*` of `<linux/aio_abi.h>`.
pub(crate) mod cmd {
    pub(crate) const PREAD: u16 = 0;
    pub(crate) const PWRITE: u16 = 1;
    pub(crate) const FSYNC: u16 = 2;
    pub(crate) const FDSYNC: u16 = 3;
    pub(crate) const POLL: u16 = 5;
    pub(crate) const NOOP: u16 = 6;
    pub(crate) const PREADV: u16 = 7;
    pub(crate) const PWRITEV: u16 = 8;
}

/// `IOCB_FLAG_RESFD`.
pub(crate) const IOCB_FLAG_RESFD: u32 = 1 << 0;
/// `IOCB_FLAG_IOPRIO`.
pub(crate) const IOCB_FLAG_IOPRIO: u32 = 1 << 1;
/// `AIOPOLL_IOCB_FLAG_MULTISHOT`: a poll request that stays armed.
pub(crate) const IOCB_FLAG_MULTISHOT: u32 = 1 << 16;
/// `AIOPOLL_IOCB_FLAGS`: the `aio_flags` bits aiopoll takes.
pub(crate) const IOCB_FLAGS: u32 = IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO | IOCB_FLAG_MULTISHOT;
/// `AIOPOLL_POLL_MORE`: `res2` of a multishot event after which the request stays armed.
pub(crate) const POLL_MORE: i64 = 1;
/// `KIOCB_KEY` of fs/aio: the value written to `aio_key` on submission.
pub(crate) const KIOCB_KEY: u32 = 0;
/// `RWF_HIPRI` of `<linux/fs.h>`: polled I/O.
pub(crate) const RWF_HIPRI: i32 = 0x1;

/// Implements the kernel's `FromBytes` and `AsBytes` for a `repr(C)` struct of integers.
macro_rules! plain_abi_struct {
    ($($t:ty),*) => {$(
        // SAFETY: `$t` is `repr(C)`, made only of integers, and has no padding (its size is
        // asserted below to be the sum of its fields), so every bit pattern is valid and every
        // byte is initialised.
        unsafe impl FromBytes for $t {}
        // SAFETY: As above.
        unsafe impl AsBytes for $t {}
    )*};
}

/// `struct aiopoll_version`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Version {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) features: u64,
}

/// `struct io_event` of `<linux/aio_abi.h>`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IoEvent {
    pub(crate) data: u64,
    pub(crate) obj: u64,
    pub(crate) res: i64,
    pub(crate) res2: i64,
}

/// `struct aiopoll_ring` (fs/aio's `struct aio_ring`): the header of the mapped ring, which the
/// `struct io_event` slots follow. The kernel never reads or writes it as a whole: user space
/// may write any of it at any time, so each field is accessed on its own, at its
/// `offset_of!`, with a volatile access (see `RingMem`).
#[repr(C)]
pub(crate) struct RingHeader {
    pub(crate) id: u32,
    pub(crate) nr: u32,
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) magic: u32,
    pub(crate) compat_features: u32,
    pub(crate) incompat_features: u32,
    pub(crate) header_length: u32,
}

/// `struct iocb` of `<linux/aio_abi.h>` (x86-64, little endian: `aio_key` first).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Iocb {
    pub(crate) aio_data: u64,
    pub(crate) aio_key: u32,
    pub(crate) aio_rw_flags: i32,
    pub(crate) aio_lio_opcode: u16,
    pub(crate) aio_reqprio: i16,
    pub(crate) aio_fildes: u32,
    pub(crate) aio_buf: u64,
    pub(crate) aio_nbytes: u64,
    pub(crate) aio_offset: i64,
    pub(crate) aio_reserved2: u64,
    pub(crate) aio_flags: u32,
    pub(crate) aio_resfd: u32,
}

/// `struct aiopoll_setup`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Setup {
    pub(crate) nr_events: u32,
    pub(crate) ring_id: u32,
    pub(crate) flags: u32,
    pub(crate) ring_nr: u32,
    pub(crate) ring_size: u64,
    pub(crate) reserved: [u64; 2],
}

/// `struct aiopoll_submit`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Submit {
    pub(crate) nr: i64,
    pub(crate) iocbpp: u64,
    pub(crate) reserved: u64,
}

/// `struct aiopoll_getevents`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct GetEvents {
    pub(crate) min_nr: i64,
    pub(crate) nr: i64,
    pub(crate) events: u64,
    pub(crate) timeout: u64,
    pub(crate) sigmask: u64,
    pub(crate) sigsetsize: u64,
    pub(crate) reserved: u64,
}

/// `struct aiopoll_submit_wait`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct SubmitWait {
    pub(crate) nr: i64,
    pub(crate) iocbpp: u64,
    pub(crate) min_nr: i64,
    pub(crate) max_nr: i64,
    pub(crate) events: u64,
    pub(crate) timeout: u64,
    pub(crate) sigmask: u64,
    pub(crate) sigsetsize: u64,
    pub(crate) submitted: i64,
    pub(crate) reserved: u64,
}

/// `struct aiopoll_cancel`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Cancel {
    pub(crate) iocb: u64,
    pub(crate) result: u64,
    pub(crate) reserved: u64,
}

plain_abi_struct!(Version, IoEvent, Iocb, Setup, Submit, GetEvents, SubmitWait, Cancel);

/// `AIOPOLL_IOC_VERSION`.
pub(crate) const IOC_VERSION: u32 = _IOR::<Version>(IOC_MAGIC, 0x00);
/// `AIOPOLL_IOC_SETUP`.
pub(crate) const IOC_SETUP: u32 = _IOWR::<Setup>(IOC_MAGIC, 0x01);
/// `AIOPOLL_IOC_SUBMIT`.
pub(crate) const IOC_SUBMIT: u32 = _IOW::<Submit>(IOC_MAGIC, 0x02);
/// `AIOPOLL_IOC_GETEVENTS`.
pub(crate) const IOC_GETEVENTS: u32 = _IOW::<GetEvents>(IOC_MAGIC, 0x03);
/// `AIOPOLL_IOC_CANCEL`.
pub(crate) const IOC_CANCEL: u32 = _IOW::<Cancel>(IOC_MAGIC, 0x04);
/// `AIOPOLL_IOC_SUBMIT_WAIT`.
pub(crate) const IOC_SUBMIT_WAIT: u32 = _IOWR::<SubmitWait>(IOC_MAGIC, 0x05);
/// `AIOPOLL_IOC_DESTROY`.
pub(crate) const IOC_DESTROY: u32 = _IO(IOC_MAGIC, 0x06);

// Layouts and ioctl numbers; rust/abi_check.c asserts the same numbers for the C header.
const _: () = {
    assert!(size_of::<Version>() == 16);
    assert!(offset_of!(Version, major) == 0);
    assert!(offset_of!(Version, minor) == 4);
    assert!(offset_of!(Version, features) == 8);

    assert!(size_of::<IoEvent>() == 32);
    assert!(offset_of!(IoEvent, obj) == 8);
    assert!(offset_of!(IoEvent, res) == 16);
    assert!(offset_of!(IoEvent, res2) == 24);

    assert!(size_of::<RingHeader>() == RING_HEADER_LENGTH);
    assert!(RING_HEADER_LENGTH == 32);
    assert!(offset_of!(RingHeader, id) == 0);
    assert!(offset_of!(RingHeader, nr) == 4);
    assert!(offset_of!(RingHeader, head) == 8);
    assert!(offset_of!(RingHeader, tail) == 12);
    assert!(offset_of!(RingHeader, magic) == 16);
    assert!(offset_of!(RingHeader, compat_features) == 20);
    assert!(offset_of!(RingHeader, incompat_features) == 24);
    assert!(offset_of!(RingHeader, header_length) == 28);

    assert!(size_of::<Iocb>() == 64);
    assert!(offset_of!(Iocb, aio_key) == 8);
    assert!(offset_of!(Iocb, aio_rw_flags) == 12);
    assert!(offset_of!(Iocb, aio_lio_opcode) == 16);
    assert!(offset_of!(Iocb, aio_reqprio) == 18);
    assert!(offset_of!(Iocb, aio_fildes) == 20);
    assert!(offset_of!(Iocb, aio_buf) == 24);
    assert!(offset_of!(Iocb, aio_nbytes) == 32);
    assert!(offset_of!(Iocb, aio_offset) == 40);
    assert!(offset_of!(Iocb, aio_reserved2) == 48);
    assert!(offset_of!(Iocb, aio_flags) == 56);
    assert!(offset_of!(Iocb, aio_resfd) == 60);

    assert!(size_of::<Setup>() == 40);
    assert!(offset_of!(Setup, ring_id) == 4);
    assert!(offset_of!(Setup, flags) == 8);
    assert!(offset_of!(Setup, ring_nr) == 12);
    assert!(offset_of!(Setup, ring_size) == 16);
    assert!(offset_of!(Setup, reserved) == 24);

    assert!(size_of::<Submit>() == 24);
    assert!(offset_of!(Submit, iocbpp) == 8);
    assert!(offset_of!(Submit, reserved) == 16);

    assert!(size_of::<GetEvents>() == 56);
    assert!(offset_of!(GetEvents, nr) == 8);
    assert!(offset_of!(GetEvents, events) == 16);
    assert!(offset_of!(GetEvents, timeout) == 24);
    assert!(offset_of!(GetEvents, sigmask) == 32);
    assert!(offset_of!(GetEvents, sigsetsize) == 40);
    assert!(offset_of!(GetEvents, reserved) == 48);

    assert!(size_of::<SubmitWait>() == 80);
    assert!(offset_of!(SubmitWait, iocbpp) == 8);
    assert!(offset_of!(SubmitWait, min_nr) == 16);
    assert!(offset_of!(SubmitWait, max_nr) == 24);
    assert!(offset_of!(SubmitWait, events) == 32);
    assert!(offset_of!(SubmitWait, timeout) == 40);
    assert!(offset_of!(SubmitWait, sigmask) == 48);
    assert!(offset_of!(SubmitWait, sigsetsize) == 56);
    assert!(offset_of!(SubmitWait, submitted) == 64);
    assert!(offset_of!(SubmitWait, reserved) == 72);

    assert!(size_of::<Cancel>() == 24);
    assert!(offset_of!(Cancel, result) == 8);
    assert!(offset_of!(Cancel, reserved) == 16);

    assert!(IOC_VERSION == 0x8010_a900);
    assert!(IOC_SETUP == 0xc028_a901);
    assert!(IOC_SUBMIT == 0x4018_a902);
    assert!(IOC_GETEVENTS == 0x4038_a903);
    assert!(IOC_CANCEL == 0x4018_a904);
    assert!(IOC_SUBMIT_WAIT == 0xc050_a905);
    assert!(IOC_DESTROY == 0x0000_a906);
};
