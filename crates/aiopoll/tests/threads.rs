// SPDX-License-Identifier: MIT OR Apache-2.0
//! One context shared by threads: submitting from several while others wait, reap and
//! cancel (`&self` everywhere); every completion reaped exactly once, with its buffer.

mod common;

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aiopoll::{Completion, Context, Errno, Op, PollEvents};

/// Submits `op` again and again while the ring is full (`EAGAIN`), for up to 10 s.
fn submit_retrying(ctx: &Context, mut op: Op<'_>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ctx.submit(op) {
            Ok(_) => return,
            Err(e) if e.errno() == Errno::AGAIN && Instant::now() < deadline => {
                op = e.into_op();
                std::thread::yield_now();
            }
            Err(e) => panic!("submit: {e}"),
        }
    }
}

#[test]
fn threads_submit_while_others_wait_and_reap() {
    require_device!();
    const SUBMITTERS: u64 = 4;
    const PER_THREAD: u64 = 2000;
    let ctx = common::ctx(64);
    let (fd, data) = common::memfd_with(1 << 16);
    let seen = Mutex::new(HashSet::new());
    let count = AtomicUsize::new(0);
    let total = (SUBMITTERS * PER_THREAD) as usize;
    // Checks one completion: a noop, or a read whose buffer holds the file at its offset.
    let check = |c: Completion| {
        let u = c.user_data();
        assert!(
            seen.lock().unwrap().insert(u),
            "completion {u:#x} reaped twice"
        );
        if u % 2 == 1 {
            let off = (u >> 1) as usize % 60_000;
            let n = c.result().unwrap();
            assert_eq!(n, 100);
            let buf = c.into_buffers().into_single().unwrap();
            assert_eq!(buf[..], data[off..off + 100], "read {u:#x}");
        } else {
            assert_eq!(c.result(), Ok(0));
        }
        count.fetch_add(1, Ordering::Relaxed);
    };
    std::thread::scope(|s| {
        for t in 0..SUBMITTERS {
            let (ctx, fd) = (&ctx, &fd);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let id = (t << 32) | (i << 1);
                    let op = if i % 3 == 0 {
                        let off = (id | 1) >> 1;
                        Op::read(fd.as_fd(), vec![0; 100])
                            .with_offset(off % 60_000)
                            .with_user_data(id | 1)
                    } else {
                        Op::noop().with_user_data(id)
                    };
                    submit_retrying(ctx, op);
                }
            });
        }
        // Two waiters that block in GETEVENTS (with a timeout), one that only reaps.
        for w in 0..3 {
            let (ctx, check, count) = (&ctx, &check, &count);
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while count.load(Ordering::Relaxed) < total {
                    assert!(Instant::now() < deadline, "completions missing");
                    let done = if w == 2 {
                        std::thread::yield_now();
                        ctx.reap()
                    } else {
                        ctx.wait(1, Some(Duration::from_millis(20))).unwrap()
                    };
                    done.into_iter().for_each(check);
                }
            });
        }
    });
    assert_eq!(count.load(Ordering::Relaxed), total);
    assert_eq!(ctx.in_flight(), 0);
    let st = ctx.stats();
    assert_eq!(st.stray_events, 0);
    assert_eq!(st.ring_events + st.ioctl_events, total as u64);
}

#[test]
fn a_blocked_waiter_gets_what_another_thread_submits() {
    require_device!();
    let ctx = common::ctx(8);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            let done = ctx.wait(1, None).unwrap();
            (done, start.elapsed())
        });
        // Let it block in GETEVENTS: it holds the consumer then, so `reap` returns nothing,
        // and at once; a second waiter gives up after its timeout.
        std::thread::sleep(Duration::from_millis(100));
        assert!(ctx.reap().is_empty());
        let start = Instant::now();
        assert!(ctx
            .wait(1, Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty());
        assert!(start.elapsed() < Duration::from_secs(5));
        let t = ctx.submit(Op::noop().with_user_data(7)).unwrap();
        let (done, waited) = waiter.join().unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].token(), done[0].user_data()), (t, 7));
        assert!(waited >= Duration::from_millis(100));
    });
    assert!(ctx.stats().getevents_calls >= 1);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn cancel_from_another_thread_ends_a_waited_poll() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let c = common::wait_one(&ctx);
            stop.store(true, Ordering::Relaxed);
            c
        });
        std::thread::sleep(Duration::from_millis(50));
        ctx.cancel(t).unwrap();
        let c = waiter.join().unwrap();
        assert_eq!((c.token(), c.result()), (t, Ok(0)));
    });
    assert!(stop.load(Ordering::Relaxed));
    assert!(!ctx.is_in_flight(t));
}

#[test]
fn submit_and_wait_from_threads() {
    require_device!();
    let ctx = common::ctx(128);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    let mut ops = vec![Op::noop(), Op::noop()];
                    let (tokens, done) = ctx
                        .submit_and_wait(&mut ops, 1, Some(Duration::from_secs(5)))
                        .unwrap();
                    assert_eq!(tokens.len(), 2);
                    total.fetch_add(done.len(), Ordering::Relaxed);
                }
            });
        }
    });
    // What the calls did not take is in the ring.
    let rest = ctx.reap().len();
    assert_eq!(total.load(Ordering::Relaxed) + rest, 4 * 200 * 2);
    assert_eq!(ctx.in_flight(), 0);
    assert_eq!(ctx.stats().stray_events, 0);
}
