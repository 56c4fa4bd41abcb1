// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reads, writes, vectored I/O, syncs and request options on tmpfs files, pipes and sockets.

mod common;

use std::os::fd::AsFd;

use aiopoll::{Errno, Op, Opcode, RwFlags};
use rustix::event::{eventfd, EventfdFlags};

#[test]
fn write_then_read_back_a_tmpfs_file() {
    require_device!();
    let ctx = common::ctx(16);
    let fd = rustix::fs::memfd_create("aiopoll-io", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let data = common::pattern(8192, 1);
    let t = ctx
        .submit(Op::write(fd.as_fd(), data.clone()).with_user_data(1))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(
        (c.token(), c.opcode(), c.result()),
        (t, Opcode::Write, Ok(8192))
    );
    // The buffer comes back, unchanged.
    assert_eq!(c.into_buffers().into_single(), Some(data.clone()));
    // The data really is in the file.
    assert_eq!(common::pread(&fd, 0, 9000), data);

    // Read it back in two halves, at offsets.
    ctx.submit(Op::read(fd.as_fd(), vec![0; 4096]).with_user_data(2))
        .unwrap();
    ctx.submit(
        Op::read(fd.as_fd(), vec![0; 4096])
            .with_offset(4096)
            .with_user_data(3),
    )
    .unwrap();
    let mut done = common::wait_n(&ctx, 2);
    done.sort_by_key(|c| c.user_data());
    for (i, c) in done.into_iter().enumerate() {
        assert_eq!(c.result(), Ok(4096));
        let buf = c.into_buffers().into_single().unwrap();
        assert_eq!(buf, data[i * 4096..(i + 1) * 4096]);
    }
    // A short read at the end of the file, an empty one past it.
    ctx.submit(Op::read(fd.as_fd(), vec![0xff; 100]).with_offset(8192 - 10))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(10));
    let buf = c.into_buffers().into_single().unwrap();
    assert_eq!(buf.len(), 100, "the buffer keeps its length");
    assert_eq!(buf[..10], data[8182..]);
    assert!(
        buf[10..].iter().all(|&b| b == 0xff),
        "bytes past the result untouched"
    );
    ctx.submit(Op::read(fd.as_fd(), vec![0; 10]).with_offset(1 << 20))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(0));
}

#[test]
fn writev_then_readv() {
    require_device!();
    let ctx = common::ctx(16);
    let (fd, _) = common::memfd_with(0);
    let parts = vec![
        common::pattern(100, 2),
        common::pattern(3000, 3),
        common::pattern(1, 4),
    ];
    let all: Vec<u8> = parts.concat();
    ctx.submit(Op::writev(fd.as_fd(), parts.clone()).with_offset(10))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!((c.opcode(), c.result()), (Opcode::Writev, Ok(3101)));
    assert_eq!(c.into_buffers().into_vectored(), Some(parts));
    assert_eq!(common::pread(&fd, 10, 4000), all);

    ctx.submit(Op::readv(fd.as_fd(), vec![vec![0; 1000], vec![0; 5000]]).with_offset(10))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!((c.opcode(), c.result()), (Opcode::Readv, Ok(3101)));
    let bufs = c.into_buffers().into_vectored().unwrap();
    assert_eq!(bufs[0], all[..1000]);
    assert_eq!(bufs[1][..2101], all[1000..]);
    assert!(bufs[1][2101..].iter().all(|&b| b == 0));
}

#[test]
fn fsync_and_fdsync() {
    require_device!();
    let ctx = common::ctx(8);
    let (fd, data) = common::memfd_with(4096);
    let f = ctx.submit(Op::fsync(fd.as_fd()).with_user_data(1)).unwrap();
    let d = ctx
        .submit(Op::fdsync(fd.as_fd()).with_user_data(2))
        .unwrap();
    let mut done = common::wait_n(&ctx, 2);
    done.sort_by_key(|c| c.user_data());
    assert_eq!((done[0].token(), done[0].opcode()), (f, Opcode::Fsync));
    assert_eq!((done[1].token(), done[1].opcode()), (d, Opcode::Fdsync));
    assert_eq!(done[0].result(), Ok(0));
    assert_eq!(done[1].result(), Ok(0));
    assert_eq!(common::pread(&fd, 0, 4096), data);
    // A pipe has no ->fsync: refused at submission, as fs/aio does.
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    assert_eq!(
        ctx.submit(Op::fsync(rx.as_fd())).unwrap_err().errno(),
        Errno::INVAL
    );
    // fsync takes no offset.
    assert_eq!(
        ctx.submit(Op::fsync(fd.as_fd()).with_offset(1))
            .unwrap_err()
            .errno(),
        Errno::INVAL
    );
}

#[test]
fn pipes_and_nonblocking_sockets() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    // RWF_NOWAIT on an empty pipe: EAGAIN in the completion, the buffer comes back.
    ctx.submit(Op::read(rx.as_fd(), vec![0; 16]).with_rw_flags(RwFlags::NOWAIT))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Err(Errno::AGAIN));
    assert_eq!(c.into_buffers().len(), 16);
    ctx.submit(Op::write(tx.as_fd(), b"through the pipe".to_vec()))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(16));
    ctx.submit(Op::read(rx.as_fd(), vec![0; 64])).unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(16));
    assert_eq!(
        &c.into_buffers().into_single().unwrap()[..16],
        b"through the pipe"
    );

    // Non-blocking socket pair, offset 0.
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    ctx.submit(Op::read(b.as_fd(), vec![0; 8])).unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Err(Errno::AGAIN));
    ctx.submit(Op::writev(
        a.as_fd(),
        vec![b"ping".to_vec(), b"pong".to_vec()],
    ))
    .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(8));
    ctx.submit(Op::read(b.as_fd(), vec![0; 8])).unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(8));
    assert_eq!(c.into_buffers().into_single().unwrap(), b"pingpong");
}

#[test]
fn eventfd_is_signalled_per_completion() {
    require_device!();
    let ctx = common::ctx(8);
    let efd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).unwrap();
    let (fd, _) = common::memfd_with(64);
    ctx.submit(Op::read(fd.as_fd(), vec![0; 64]).with_eventfd(efd.as_fd()))
        .unwrap();
    ctx.submit(Op::noop().with_eventfd(efd.as_fd())).unwrap();
    ctx.submit(Op::noop()).unwrap();
    assert_eq!(common::wait_n(&ctx, 3).len(), 3);
    assert_eq!(common::eventfd_take(&efd), 2);
}

#[test]
fn request_options_reach_the_kernel() {
    require_device!();
    let ctx = common::ctx(8);
    let (fd, data) = common::memfd_with(512);
    // Best-effort class, level 4: allowed to anyone.
    ctx.submit(Op::read(fd.as_fd(), vec![0; 512]).with_ioprio((2 << 13) | 4))
        .unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(512));
    assert_eq!(c.into_buffers().into_single().unwrap(), data);
    // An invalid class is refused.
    assert_eq!(
        ctx.submit(Op::read(fd.as_fd(), vec![0; 1]).with_ioprio(7 << 13))
            .unwrap_err()
            .errno(),
        Errno::INVAL
    );
    // RWF_DSYNC is taken; RWF_APPEND with RWF_NOAPPEND is EINVAL; an unknown flag EOPNOTSUPP.
    ctx.submit(Op::write(fd.as_fd(), vec![1; 8]).with_rw_flags(RwFlags::DSYNC))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(8));
    assert_eq!(
        ctx.submit(
            Op::write(fd.as_fd(), vec![1; 8]).with_rw_flags(RwFlags::APPEND | RwFlags::NOAPPEND)
        )
        .unwrap_err()
        .errno(),
        Errno::INVAL
    );
    assert_eq!(
        ctx.submit(
            Op::write(fd.as_fd(), vec![1; 8]).with_rw_flags(RwFlags::from_bits_retain(1 << 30))
        )
        .unwrap_err()
        .errno(),
        Errno::OPNOTSUPP
    );
    // RWF_HIPRI without O_DIRECT: EOPNOTSUPP (an aiopoll refusal).
    assert_eq!(
        ctx.submit(Op::read(fd.as_fd(), vec![0; 8]).with_rw_flags(RwFlags::HIPRI))
            .unwrap_err()
            .errno(),
        Errno::OPNOTSUPP
    );
    // A negative offset as the kernel sees it.
    assert_eq!(
        ctx.submit(Op::read(fd.as_fd(), vec![0; 8]).with_offset(u64::MAX))
            .unwrap_err()
            .errno(),
        Errno::INVAL
    );
    // The append flag really appends.
    ctx.submit(Op::write(fd.as_fd(), b"tail".to_vec()).with_rw_flags(RwFlags::APPEND))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(4));
    assert_eq!(common::pread(&fd, 512, 100), b"tail");
    assert_eq!(ctx.in_flight(), 0);
}
