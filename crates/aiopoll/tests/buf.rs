// SPDX-License-Identifier: MIT OR Apache-2.0
//! Owned buffer types: `Vec<u8>`, `Box<[u8]>`, `&'static [u8]`, `AlignedBuf`, given back as
//! given; aligned buffers for O_DIRECT and polled I/O on a block device.

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use aiopoll::{AlignedBuf, Buffers, Errno, Features, IoBuf, IoBufMut, Op, Opcode, RwFlags};
use rustix::fs::{Mode, OFlags};

#[test]
fn each_buffer_type_comes_back_as_given() {
    require_device!();
    let ctx = common::ctx(16);
    let (fd, _) = common::memfd_with(0);
    let data = common::pattern(4096, 5);

    // A boxed slice, written and read back.
    let boxed: Box<[u8]> = data.clone().into_boxed_slice();
    ctx.submit(Op::write(fd.as_fd(), boxed)).unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(4096));
    let back = c.into_buffers().downcast::<Box<[u8]>>().unwrap();
    assert_eq!(&back[..], &data[..]);
    ctx.submit(Op::read(fd.as_fd(), vec![0u8; 4096].into_boxed_slice()))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(4096));
    assert_eq!(
        &c.into_buffers().downcast::<Box<[u8]>>().unwrap()[..],
        &data[..]
    );

    // A static slice, written.
    static GREETING: &[u8] = b"hello, aiopoll";
    ctx.submit(Op::write(fd.as_fd(), GREETING).with_offset(4096))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(GREETING.len()));
    assert_eq!(c.buffers().downcast_ref::<&[u8]>(), Some(&GREETING));
    assert_eq!(common::pread(&fd, 4096, 100), GREETING);

    // An aligned buffer on a tmpfs file (no O_DIRECT needed there), read into.
    ctx.submit(Op::read(fd.as_fd(), AlignedBuf::new(512, 512).unwrap()).with_offset(100))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(512));
    let b = c.into_buffers();
    assert!(b.downcast_ref::<Vec<u8>>().is_none());
    let b = b.downcast::<AlignedBuf>().unwrap();
    assert_eq!(b.as_ptr() as usize % 512, 0);
    assert_eq!(&b[..], &data[100..612]);

    // Vectored: boxed slices in, the Vec of them back.
    let bufs = vec![
        vec![0u8; 10].into_boxed_slice(),
        vec![0u8; 20].into_boxed_slice(),
    ];
    ctx.submit(Op::readv(fd.as_fd(), bufs).with_offset(7))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!((c.opcode(), c.result()), (Opcode::Readv, Ok(30)));
    assert_eq!(
        c.buffers()
            .downcast_vectored_ref::<Box<[u8]>>()
            .unwrap()
            .len(),
        2
    );
    let bufs = c.into_buffers().downcast_vectored::<Box<[u8]>>().unwrap();
    assert_eq!(&bufs[0][..], &data[7..17]);
    assert_eq!(&bufs[1][..], &data[17..37]);

    // A refused request gives its buffer back, of its type.
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    let err = ctx
        .submit(Op::write(rx.as_fd(), AlignedBuf::new(64, 64).unwrap()))
        .unwrap_err();
    assert_eq!(err.errno(), Errno::BADF);
    let b = err
        .into_op()
        .into_buffers()
        .downcast::<AlignedBuf>()
        .unwrap();
    assert_eq!((b.len(), b.align()), (64, 64));

    // Requests without buffers.
    ctx.submit(Op::noop()).unwrap();
    assert!(common::wait_one(&ctx).into_buffers().is_none());
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn buffers_downcast_without_a_device() {
    // Type checks only: no request is submitted.
    let file = std::fs::File::open("/dev/null").unwrap();
    let b = Op::read(file.as_fd(), vec![1u8, 2, 3]).into_buffers();
    let b = b.downcast::<Box<[u8]>>().unwrap_err(); // not a Box<[u8]>: given back whole
    let b = b.downcast_vectored::<Vec<u8>>().unwrap_err(); // not vectored
    assert_eq!(b.len(), 3);
    assert_eq!(b.into_single(), Some(vec![1, 2, 3]));
    let b = Op::writev(file.as_fd(), vec![AlignedBuf::new(8, 8).unwrap()]).into_buffers();
    assert!(b.is_vectored() && !b.is_none());
    assert!(b.downcast_ref::<AlignedBuf>().is_none());
    assert!(format!("{b:?}").contains("AlignedBuf"));
    assert_eq!(b.downcast_vectored::<AlignedBuf>().unwrap().len(), 1);
    assert!(Buffers::default().is_none());
    assert_eq!(AlignedBuf::new(0, 4096).unwrap().len(), 0);
    assert_eq!(AlignedBuf::new(1, 0).unwrap_err(), Errno::INVAL);
}

/// An aligned buffer seen from its byte 1 on: misaligned on purpose (and an `IoBuf` of the
/// caller's own).
struct Misaligned(AlignedBuf);

// SAFETY: the bytes are the `AlignedBuf`'s heap allocation, owned by it, fixed while it
// lives and not written by anything else.
unsafe impl IoBuf for Misaligned {
    fn stable_ptr(&self) -> *const u8 {
        self.0[1..].as_ptr()
    }

    fn bytes_len(&self) -> usize {
        self.0.len() - 1
    }
}

// SAFETY: as for `IoBuf`; the `AlignedBuf` owns its bytes exclusively.
unsafe impl IoBufMut for Misaligned {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.0[1..].as_mut_ptr()
    }
}

/// `/dev/nullb0` (null_blk with a poll queue, memory-backed; made by the guest's
/// run_tests.sh) opened with O_DIRECT, or None to skip.
fn nullb0() -> Option<OwnedFd> {
    rustix::fs::open(
        "/dev/nullb0",
        OFlags::RDWR | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

#[test]
fn aligned_buffers_for_o_direct_and_polled_io() {
    require_device!();
    let Some(dev) = nullb0() else {
        skip_test!("/dev/nullb0 is absent (null_blk with poll_queues=1)");
    };
    let ctx = common::ctx(16);
    // Far from where the C selftests write.
    let off = 768 << 20;
    let data = common::pattern(8192, 9);
    ctx.submit(
        Op::write(dev.as_fd(), AlignedBuf::from_slice(&data, 4096).unwrap()).with_offset(off),
    )
    .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(8192));
    ctx.submit(Op::read(dev.as_fd(), AlignedBuf::new(8192, 4096).unwrap()).with_offset(off))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(8192));
    assert_eq!(
        &c.into_buffers().downcast::<AlignedBuf>().unwrap()[..],
        &data[..]
    );
    // O_DIRECT refuses a buffer that is not aligned to the logical block size.
    let c = ctx.submit(
        Op::read(
            dev.as_fd(),
            Misaligned(AlignedBuf::new(4097, 4096).unwrap()),
        )
        .with_offset(off),
    );
    match c {
        Err(e) => assert_eq!(e.errno(), Errno::INVAL),
        Ok(_) => assert_eq!(common::wait_one(&ctx).result(), Err(Errno::INVAL)),
    }

    // Polled I/O: completes when the wait polls the device (GETEVENTS). Only over what the
    // plain write above wrote: null_blk's memory backing allocates a page on its first write
    // with a sleeping allocation, which its ->poll would do under the RCU read lock (the
    // C selftest writes its region once without polling for the same reason).
    if !ctx.version().unwrap().features.contains(Features::HIPRI) {
        skip_test!("the module has no AIOPOLL_FEAT_HIPRI");
    }
    let hipri = AlignedBuf::from_slice(&data[..4096], 4096).unwrap();
    ctx.submit(
        Op::write(dev.as_fd(), hipri)
            .with_offset(off + 4096)
            .with_rw_flags(RwFlags::HIPRI),
    )
    .unwrap();
    let done = ctx.wait(1, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result(), Ok(4096));
    ctx.submit(
        Op::read(dev.as_fd(), AlignedBuf::new(4096, 4096).unwrap())
            .with_offset(off + 4096)
            .with_rw_flags(RwFlags::HIPRI),
    )
    .unwrap();
    let c = ctx
        .wait(1, Some(Duration::from_secs(5)))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(c.result(), Ok(4096));
    assert_eq!(
        &c.into_buffers().downcast::<AlignedBuf>().unwrap()[..],
        &data[..4096]
    );
    assert_eq!(ctx.in_flight(), 0);
}
