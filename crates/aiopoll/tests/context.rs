// SPDX-License-Identifier: MIT OR Apache-2.0
//! The context: setup, version, ring reaping, waits, submission limits, errors.

mod common;

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use aiopoll::{Context, Errno, Features, Op, Opcode, PollEvents};

#[test]
fn version_and_ring_size() {
    require_device!();
    let ctx = common::ctx(100);
    let v = ctx.version().unwrap();
    assert_eq!(v.major, 1);
    assert!(
        v.minor >= 3,
        "ABI 1.{} is older than the crate needs",
        v.minor
    );
    assert!(v
        .features
        .contains(Features::CONTEXT | Features::SIGMASK | Features::POLL));
    // The crate knows every feature of a module of its own ABI or older.
    if v.minor <= 7 {
        assert!(
            Features::ALL.contains(v.features),
            "features {:#x} of ABI 1.{} are not all in Features::ALL",
            v.features.bits(),
            v.minor
        );
    }
    assert!(ctx.capacity() >= 100, "capacity {}", ctx.capacity());
    assert_eq!(ctx.ring_entries() as usize, ctx.capacity() + 1);
    assert_eq!(ctx.in_flight(), 0);
    assert_eq!(ctx.ready(), 0);
}

#[test]
fn setup_errors() {
    require_device!();
    assert_eq!(Context::new(0).unwrap_err(), Errno::INVAL);
    assert_eq!(
        Context::with_path("/dev/aiopoll-does-not-exist", 8).unwrap_err(),
        Errno::NOENT
    );
    // More than the module's max_events (65536 by default).
    assert_eq!(Context::new(1 << 20).unwrap_err(), Errno::AGAIN);
}

#[test]
fn noop_completes_with_its_token_and_user_data() {
    require_device!();
    let ctx = common::ctx(8);
    let t = ctx.submit(Op::noop().with_user_data(0xdead_beef)).unwrap();
    assert_eq!(ctx.in_flight(), 1);
    assert!(ctx.is_in_flight(t));
    let c = common::wait_one(&ctx);
    assert_eq!(c.token(), t);
    assert_eq!(c.user_data(), 0xdead_beef);
    assert_eq!(c.opcode(), Opcode::Noop);
    assert_eq!(c.result(), Ok(0));
    assert_eq!(c.res2(), 0);
    assert!(!c.more());
    assert!(c.buffers().is_none());
    assert_eq!(ctx.in_flight(), 0);
    assert!(!ctx.is_in_flight(t));
}

#[test]
fn ring_is_reaped_without_a_system_call() {
    require_device!();
    let ctx = common::ctx(16);
    let mut ops: Vec<Op> = (0..8).map(|i| Op::noop().with_user_data(i)).collect();
    let tokens = ctx.submit_batch(&mut ops).unwrap();
    assert_eq!(tokens.len(), 8);
    assert!(ops.is_empty());
    // The events are in the mapped ring: visible without a system call, and to poll(2).
    assert_eq!(ctx.ready(), 8);
    assert!(common::readable(ctx.as_fd()));
    let done = ctx.reap();
    assert_eq!(done.len(), 8);
    for (i, c) in done.iter().enumerate() {
        assert_eq!(c.token(), tokens[i]);
        assert_eq!(c.user_data(), i as u64);
        assert_eq!(c.result(), Ok(0));
    }
    let s = ctx.stats();
    assert_eq!(s.ring_events, 8);
    assert_eq!(s.ioctl_events, 0);
    assert_eq!(s.getevents_calls, 0);
    assert_eq!(s.submit_calls, 1);
    // Consumed: the context fd is no longer readable, the ring is empty.
    assert!(!common::readable(ctx.as_fd()));
    assert_eq!(ctx.ready(), 0);
    assert!(ctx.reap().is_empty());
    // wait() takes what the ring has without a system call when that is enough.
    for _ in 0..4 {
        ctx.submit(Op::noop()).unwrap();
    }
    assert_eq!(ctx.wait(4, None).unwrap().len(), 4);
    assert!(ctx.wait(0, None).unwrap().is_empty());
    let s = ctx.stats();
    assert_eq!((s.ring_events, s.getevents_calls), (12, 0));
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn ring_wraps_around() {
    require_device!();
    let ctx = common::ctx(1);
    let cap = ctx.capacity();
    let mut seen = 0u64;
    // Three times around the ring, in batches of a full ring less a few.
    let total = 3 * ctx.ring_entries() as u64 + 5;
    let mut next = 0u64;
    while seen < total {
        let n = (cap as u64 - 3).min(total - next);
        let mut ops: Vec<Op> = (next..next + n)
            .map(|i| Op::noop().with_user_data(i))
            .collect();
        assert_eq!(ctx.submit_batch(&mut ops).unwrap().len(), n as usize);
        next += n;
        for c in ctx.reap() {
            assert_eq!(c.user_data(), seen, "events out of order");
            seen += 1;
        }
        assert_eq!(seen, next);
    }
    assert_eq!(ctx.stats().getevents_calls, 0);
}

#[test]
fn wait_mixes_ring_and_ioctl_in_order() {
    require_device!();
    let ctx = common::ctx(16);
    for i in 0..6 {
        ctx.submit(Op::noop().with_user_data(i)).unwrap();
    }
    // Reaping nothing first, then asking for more than the ring has makes one ioctl wait.
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let poll = ctx
        .submit(Op::poll(rx.as_fd(), PollEvents::IN).with_user_data(6))
        .unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        rustix::io::write(&tx, b"x").unwrap();
        tx
    });
    let done = ctx.wait(7, Some(Duration::from_secs(5))).unwrap();
    let _tx = writer.join().unwrap();
    let data: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
    assert_eq!(data, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(done[6].token(), poll);
    // Woken up by the write: the waker's key (IN | RDNORM for a pipe), as fs/aio reports it.
    assert!(done[6].poll_events().unwrap().contains(PollEvents::IN));
    let s = ctx.stats();
    assert_eq!(s.ring_events, 6);
    assert_eq!(s.ioctl_events, 1);
    assert_eq!(s.getevents_calls, 1);
}

#[test]
fn wait_times_out_with_no_completion() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    let start = Instant::now();
    let done = ctx.wait(1, Some(Duration::from_millis(200))).unwrap();
    let elapsed = start.elapsed();
    assert!(done.is_empty(), "{done:?}");
    assert!(
        elapsed >= Duration::from_millis(190),
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "returned after {elapsed:?}"
    );
    // A zero timeout does not wait.
    let start = Instant::now();
    assert!(ctx.wait(1, Some(Duration::ZERO)).unwrap().is_empty());
    assert!(start.elapsed() < Duration::from_millis(150));
    assert_eq!(ctx.stats().getevents_calls, 2);
    assert!(ctx.is_in_flight(t));
    ctx.cancel(t).unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(0));
}

#[test]
fn full_ring_gives_eagain_and_the_request_back() {
    require_device!();
    let ctx = common::ctx(1);
    let cap = ctx.capacity();
    for i in 0..cap {
        ctx.submit(Op::noop().with_user_data(i as u64)).unwrap();
    }
    assert_eq!(ctx.in_flight(), cap);
    let (_rx, tx) = rustix::pipe::pipe().unwrap();
    let err = ctx
        .submit(Op::write(tx.as_fd(), vec![1, 2, 3]).with_user_data(99))
        .unwrap_err();
    assert_eq!(err.errno(), Errno::AGAIN);
    let op = err.into_op();
    assert_eq!(op.user_data(), 99);
    assert_eq!(op.into_buffers().into_single(), Some(vec![1, 2, 3]));
    // Reaping one event from the ring frees a slot (the kernel credits it back).
    let mut done = ctx.reap();
    assert_eq!(done.len(), cap);
    done.clear();
    let t = ctx.submit(Op::noop()).unwrap();
    assert_eq!(common::wait_one(&ctx).token(), t);
}

#[test]
fn batch_is_submitted_partially_when_the_ring_fills() {
    require_device!();
    let ctx = common::ctx(1);
    let cap = ctx.capacity();
    let mut ops: Vec<Op> = (0..cap + 3)
        .map(|i| Op::noop().with_user_data(i as u64))
        .collect();
    let tokens = ctx.submit_batch(&mut ops).unwrap();
    assert_eq!(tokens.len(), cap);
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].user_data(), cap as u64, "the rest stays in order");
    // Ring full: the first request fails, nothing is taken.
    assert_eq!(ctx.submit_batch(&mut ops).unwrap_err(), Errno::AGAIN);
    assert_eq!(ops.len(), 3);
    assert_eq!(ctx.reap().len(), cap);
    assert_eq!(ctx.submit_batch(&mut ops).unwrap().len(), 3);
    assert!(ops.is_empty());
    assert_eq!(common::wait_n(&ctx, 3).len(), 3);
    assert!(ctx.submit_batch(&mut Vec::new()).unwrap().is_empty());
}

#[test]
fn bad_fds_give_ebadf() {
    require_device!();
    let ctx = common::ctx(8);
    let dir = std::env::temp_dir().join(format!("aiopoll-ebadf-{}", std::process::id()));
    std::fs::write(&dir, b"0123456789").unwrap();
    let ro = std::fs::File::open(&dir).unwrap();
    let wo = std::fs::OpenOptions::new().write(true).open(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    // A write to a file open for reading, a read of one open for writing.
    let e = ctx.submit(Op::write(ro.as_fd(), vec![0; 4])).unwrap_err();
    assert_eq!(e.errno(), Errno::BADF);
    assert_eq!(e.into_op().into_buffers().len(), 4);
    let e = ctx.submit(Op::read(wo.as_fd(), vec![0; 4])).unwrap_err();
    assert_eq!(e.errno(), Errno::BADF);
    let e = ctx
        .submit(Op::readv(wo.as_fd(), vec![vec![0; 4]]))
        .unwrap_err();
    assert_eq!(e.errno(), Errno::BADF);
    // A descriptor that is not open at all.
    let closed = {
        let f = std::fs::File::open("/dev/null").unwrap();
        let n = std::os::fd::AsRawFd::as_raw_fd(&f);
        drop(f);
        n
    };
    // SAFETY: the number is not open (just closed, and no other thread of this test opens
    // files); the kernel only looks it up, which is what the test checks.
    let bad = unsafe { BorrowedFd::borrow_raw(closed) };
    assert_eq!(
        ctx.submit(Op::read(bad, vec![0; 1])).unwrap_err().errno(),
        Errno::BADF
    );
    assert_eq!(
        ctx.submit(Op::poll(bad, PollEvents::IN))
            .unwrap_err()
            .errno(),
        Errno::BADF
    );
    assert_eq!(ctx.submit(Op::fsync(bad)).unwrap_err().errno(), Errno::BADF);
    // An eventfd that is not an eventfd: EINVAL.
    let e = ctx.submit(Op::noop().with_eventfd(ro.as_fd())).unwrap_err();
    assert_eq!(e.errno(), Errno::INVAL);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn context_fd_is_pollable() {
    require_device!();
    let ctx = common::ctx(8);
    assert!(!common::readable(ctx.as_fd()));
    ctx.submit(Op::noop()).unwrap();
    assert!(common::readable_within(ctx.as_fd(), 5000));
    assert_eq!(ctx.reap().len(), 1);
    assert!(!common::readable(ctx.as_fd()));
}

#[test]
fn context_moves_between_threads() {
    require_device!();
    let ctx = common::ctx(8);
    let t = ctx.submit(Op::noop()).unwrap();
    let (ctx, c) = std::thread::spawn(move || {
        let c = common::wait_one(&ctx);
        (ctx, c)
    })
    .join()
    .unwrap();
    assert_eq!(c.token(), t);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn submit_and_wait_in_one_call() {
    require_device!();
    let ctx = common::ctx(8);
    let before = ctx.stats();
    let mut ops = vec![Op::noop().with_user_data(1), Op::noop().with_user_data(2)];
    let (tokens, done) = ctx.submit_and_wait(&mut ops, 2, None).unwrap();
    assert!(ops.is_empty());
    assert_eq!(tokens.len(), 2);
    assert_eq!(done.len(), 2);
    let mut data: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
    data.sort_unstable();
    assert_eq!(data, [1, 2]);
    assert_eq!(ctx.in_flight(), 0);
    let after = ctx.stats();
    // One system call for both (a module of ABI 1.6 or later).
    if ctx
        .version()
        .unwrap()
        .features
        .contains(Features::SUBMIT_WAIT)
    {
        assert_eq!(after.submit_calls - before.submit_calls, 1);
        assert_eq!(after.getevents_calls - before.getevents_calls, 1);
    }
}

#[test]
fn submit_and_wait_errors_and_timeout() {
    require_device!();
    let ctx = common::ctx(8);
    // The first request refused: its errno, nothing submitted, ops unchanged.
    let bad = unsafe { BorrowedFd::borrow_raw(999) };
    let mut ops = vec![Op::poll(bad, PollEvents::IN), Op::noop()];
    assert_eq!(
        ctx.submit_and_wait(&mut ops, 1, None).unwrap_err(),
        Errno::BADF
    );
    assert_eq!(ops.len(), 2);
    assert_eq!(ctx.in_flight(), 0);
    // A later one refused: the first is submitted and the call does not wait.
    let mut ops = vec![Op::noop(), Op::poll(bad, PollEvents::IN)];
    let (tokens, done) = ctx.submit_and_wait(&mut ops, 5, None).unwrap();
    assert_eq!((tokens.len(), ops.len()), (1, 1));
    assert!(done.len() <= 1);
    let _ = common::wait_n(&ctx, 1 - done.len());
    // An idle pipe: submitted, then the wait times out with nothing.
    let (rx, _tx) = std::os::unix::net::UnixStream::pair().unwrap();
    let start = Instant::now();
    let mut ops = vec![Op::poll(rx.as_fd(), PollEvents::IN)];
    let (tokens, done) = ctx
        .submit_and_wait(&mut ops, 1, Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!((tokens.len(), done.len()), (1, 0));
    assert!(start.elapsed() >= Duration::from_millis(50));
    ctx.cancel(tokens[0]).unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!(c.result(), Ok(0));
}
