// SPDX-License-Identifier: MIT OR Apache-2.0
//! IOCB_CMD_POLL: one-shot and multishot on pipes, eventfds and socket pairs; cancellation.

mod common;

use std::os::fd::AsFd;
use std::time::Duration;

use aiopoll::{Context, Errno, Op, Opcode, PollEvents};
use rustix::event::{eventfd, EventfdFlags};

/// The mask of a poll woken up by a keyed wake-up: the events asked for are there, but, as
/// with fs/aio, the whole key of the wake-up is reported (`IN | RDNORM` for a pipe, `IN |
/// PRI | RDNORM | RDBAND` for a unix socket), not only the events asked for.
fn assert_woken(c: &aiopoll::Completion, asked: PollEvents, key: PollEvents) {
    let got = c.poll_events().unwrap();
    assert!(got.contains(asked), "{got:?} lacks {asked:?}");
    assert!(key.contains(got), "{got:?} is not within {key:?}");
}

/// Nothing completes within 50 ms.
fn assert_quiet(ctx: &Context) {
    let done = ctx.wait(1, Some(Duration::from_millis(50))).unwrap();
    assert!(done.is_empty(), "unexpected completions {done:?}");
}

#[test]
fn oneshot_on_a_pipe() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let t = ctx
        .submit(Op::poll(rx.as_fd(), PollEvents::IN).with_user_data(5))
        .unwrap();
    assert_quiet(&ctx);
    rustix::io::write(&tx, b"x").unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!((c.token(), c.user_data(), c.opcode()), (t, 5, Opcode::Poll));
    assert_woken(&c, PollEvents::IN, PollEvents::IN | PollEvents::RDNORM);
    assert!(!c.more());
    assert_eq!(ctx.in_flight(), 0);
    // The write end is writable at once; asking for IN too reports only OUT.
    ctx.submit(Op::poll(tx.as_fd(), PollEvents::OUT | PollEvents::IN))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).poll_events(), Ok(PollEvents::OUT));
    // The writer gone: HUP is reported although not asked for.
    drop(tx);
    ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    assert_eq!(
        common::wait_one(&ctx).poll_events(),
        Ok(PollEvents::IN | PollEvents::HUP)
    );
}

#[test]
fn oneshot_on_an_eventfd() {
    require_device!();
    let ctx = common::ctx(8);
    let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    ctx.submit(Op::poll(efd.as_fd(), PollEvents::IN | PollEvents::OUT))
        .unwrap();
    assert_eq!(common::wait_one(&ctx).poll_events(), Ok(PollEvents::OUT));
    ctx.submit(Op::poll(efd.as_fd(), PollEvents::IN)).unwrap();
    assert_quiet(&ctx);
    common::eventfd_add(&efd, 3);
    assert_eq!(common::wait_one(&ctx).poll_events(), Ok(PollEvents::IN));
}

#[test]
fn oneshot_on_a_socketpair() {
    require_device!();
    let ctx = common::ctx(8);
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    ctx.submit(Op::poll(b.as_fd(), PollEvents::IN | PollEvents::RDHUP))
        .unwrap();
    assert_quiet(&ctx);
    std::io::Write::write_all(&mut &a, b"abc").unwrap();
    let key = PollEvents::IN | PollEvents::PRI | PollEvents::RDNORM | PollEvents::RDBAND;
    assert_woken(&common::wait_one(&ctx), PollEvents::IN, key);
    a.shutdown(std::net::Shutdown::Write).unwrap();
    ctx.submit(Op::poll(b.as_fd(), PollEvents::IN | PollEvents::RDHUP))
        .unwrap();
    assert_eq!(
        common::wait_one(&ctx).poll_events(),
        Ok(PollEvents::IN | PollEvents::RDHUP)
    );
}

#[test]
fn multishot_posts_an_event_per_readiness_until_cancelled() {
    require_device!();
    let ctx = common::ctx(32);
    let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    let resfd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    let t = ctx
        .submit(
            Op::poll_multishot(efd.as_fd(), PollEvents::IN)
                .with_user_data(9)
                .with_eventfd(resfd.as_fd()),
        )
        .unwrap();
    assert_quiet(&ctx);
    let mut events = 0;
    for round in 1..=4 {
        common::eventfd_add(&efd, round);
        let done = ctx.wait(1, Some(Duration::from_secs(5))).unwrap();
        assert!(!done.is_empty(), "no event for round {round}");
        for c in &done {
            assert_eq!((c.token(), c.user_data()), (t, 9));
            assert!(c.more(), "round {round}: {c:?}");
            assert_eq!(c.res2(), 1, "AIOPOLL_POLL_MORE");
            assert_eq!(c.poll_events(), Ok(PollEvents::IN));
        }
        events += done.len();
        assert_eq!(common::eventfd_take(&efd), round);
        assert!(ctx.is_in_flight(t), "still armed after round {round}");
    }
    assert!(events >= 4);
    // The eventfd of the request is signalled only for the last event.
    assert_eq!(common::eventfd_take(&resfd), 0);
    ctx.cancel(t).unwrap();
    let last = common::wait_one(&ctx);
    assert_eq!(last.token(), t);
    assert!(!last.more());
    assert_eq!((last.raw_result(), last.res2()), (0, 0));
    assert!(!ctx.is_in_flight(t));
    assert!(common::readable_within(&resfd, 5000));
    assert_eq!(common::eventfd_take(&resfd), 1);
    // Further readiness posts nothing.
    common::eventfd_add(&efd, 1);
    assert_quiet(&ctx);
}

#[test]
fn multishot_ready_at_submission_and_on_a_pipe() {
    require_device!();
    let ctx = common::ctx(32);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    rustix::io::write(&tx, b"a").unwrap();
    let t = ctx
        .submit(Op::poll_multishot(rx.as_fd(), PollEvents::IN))
        .unwrap();
    // Ready when submitted: an event at once.
    let c = common::wait_one(&ctx);
    assert!(c.more());
    assert_eq!(c.poll_events(), Ok(PollEvents::IN));
    // Each write into the emptied pipe wakes the reader up again (a pipe wakes its readers
    // only when it was empty).
    let mut b = [0u8; 8];
    for _ in 0..3 {
        assert_eq!(rustix::io::read(&rx, &mut b), Ok(1));
        rustix::io::write(&tx, b"b").unwrap();
        let done = ctx.wait(1, Some(Duration::from_secs(5))).unwrap();
        assert!(!done.is_empty());
        for c in &done {
            assert!(c.more() && c.token() == t);
            assert_woken(c, PollEvents::IN, PollEvents::IN | PollEvents::RDNORM);
        }
    }
    ctx.cancel(t).unwrap();
    let rest = ctx.wait(1, Some(Duration::from_secs(5))).unwrap();
    let last = rest.last().unwrap();
    assert!(!last.more());
    assert_eq!(last.result(), Ok(0));
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn multishot_ends_with_eoverflow_when_the_ring_is_full() {
    require_device!();
    let ctx = common::ctx(1);
    let cap = ctx.capacity();
    let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    let t = ctx
        .submit(Op::poll_multishot(efd.as_fd(), PollEvents::IN))
        .unwrap();
    // Never reap: every readiness takes a slot, until there is none.
    for _ in 0..cap + 2 {
        common::eventfd_add(&efd, 1);
        common::eventfd_take(&efd);
    }
    let mut done = Vec::new();
    while ctx.is_in_flight(t) {
        let got = ctx.wait(1, Some(Duration::from_secs(5))).unwrap();
        assert!(!got.is_empty(), "the multishot poll never ended");
        done.extend(got);
    }
    assert!(done.len() <= cap, "{} events for {cap} slots", done.len());
    let last = done.pop().unwrap();
    assert!(!last.more());
    assert_eq!(last.result(), Err(Errno::OVERFLOW));
    assert!(done.iter().all(|c| c.more()));
}

#[test]
fn cancel_of_an_armed_poll() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    // The kernel's EINPROGRESS ("found, being cancelled") is Ok.
    assert_eq!(ctx.cancel(t), Ok(()));
    // Found once: a second cancel is EINVAL (the completion is not reaped yet).
    assert!(ctx.is_in_flight(t));
    assert_eq!(ctx.cancel(t), Err(Errno::INVAL));
    let c = common::wait_one(&ctx);
    assert_eq!(c.token(), t);
    assert_eq!(c.result(), Ok(0), "a cancelled poll completes with res 0");
    assert_eq!(c.poll_events(), Ok(PollEvents::empty()));
    // Reaped: unknown to the context.
    assert_eq!(ctx.cancel(t), Err(Errno::INVAL));
}

#[test]
fn only_polls_can_be_cancelled() {
    require_device!();
    let ctx = common::ctx(8);
    // A noop (and a read) completes inside the submission: in flight until reaped, but the
    // kernel has nothing to cancel.
    let t = ctx.submit(Op::noop()).unwrap();
    let (fd, _) = common::memfd_with(16);
    let r = ctx.submit(Op::read(fd.as_fd(), vec![0; 16])).unwrap();
    assert_eq!(ctx.cancel(t), Err(Errno::INVAL));
    assert_eq!(ctx.cancel(r), Err(Errno::INVAL));
    // A poll that already completed cannot be cancelled either.
    let p = ctx
        .submit(Op::poll(fd.as_fd(), PollEvents::IN | PollEvents::OUT))
        .unwrap();
    assert_eq!(ctx.cancel(p), Err(Errno::INVAL));
    let done = common::wait_n(&ctx, 3);
    assert_eq!(done[2].token(), p);
    assert_eq!(done[2].poll_events(), Ok(PollEvents::IN | PollEvents::OUT));
}

#[test]
fn cancel_all_ends_every_poll() {
    require_device!();
    let ctx = common::ctx(8);
    let pipes: Vec<_> = (0..3).map(|_| rustix::pipe::pipe().unwrap()).collect();
    for (rx, _) in &pipes {
        ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    }
    let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    ctx.submit(Op::poll_multishot(efd.as_fd(), PollEvents::IN))
        .unwrap();
    assert_eq!(ctx.cancel_all(), 4);
    let done = common::wait_n(&ctx, 4);
    assert!(done.iter().all(|c| c.result() == Ok(0) && !c.more()));
    assert_eq!(ctx.in_flight(), 0);
    assert_eq!(ctx.cancel_all(), 0);
}

#[test]
fn poll_outlives_the_fd_it_was_given() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    // The kernel holds its own reference to the file: the pipe still has a reader.
    drop(rx);
    assert_eq!(rustix::io::write(&tx, b"x"), Ok(1));
    let c = common::wait_one(&ctx);
    assert_eq!(c.token(), t);
    assert_woken(&c, PollEvents::IN, PollEvents::IN | PollEvents::RDNORM);
    // Completed: the request, and its reference, go away.
    assert!(common::pipe_loses_its_reader(&tx));
}

#[test]
fn poll_on_another_context() {
    require_device!();
    let ctx = common::ctx(8);
    let other = common::ctx(8);
    ctx.submit(Op::poll(other.as_fd(), PollEvents::IN)).unwrap();
    assert_quiet(&ctx);
    other.submit(Op::noop()).unwrap();
    assert_eq!(common::wait_one(&ctx).poll_events(), Ok(PollEvents::IN));
    assert_eq!(other.reap().len(), 1);
}
