// SPDX-License-Identifier: MIT OR Apache-2.0
//! The tokio driver (`--features tokio`): awaited reads, writes and polls with their buffers
//! back, multishot streams, dropped futures, completions of directly submitted requests,
//! many tasks on a multi-thread runtime.

mod common;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use aiopoll::tokio::AsyncContext;
use aiopoll::{AlignedBuf, Errno, Op, PollEvents};
use rustix::event::{eventfd, EventfdFlags};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Runs `f` with a fresh context on a current-thread runtime, failing after 20 s.
fn run<F: std::future::Future<Output = ()>>(f: impl FnOnce(Arc<AsyncContext>) -> F) {
    current_thread().block_on(async {
        let actx = Arc::new(AsyncContext::new(common::ctx(64)).unwrap());
        tokio::time::timeout(Duration::from_secs(20), f(actx.clone()))
            .await
            .expect("the test timed out");
        assert_eq!(actx.context().stats().stray_events, 0);
    });
}

#[test]
fn reads_writes_and_polls_give_their_buffers_back() {
    require_device!();
    run(|ctx| async move {
        let (fd, _) = common::memfd_with(0);
        let data = common::pattern(8192, 3);
        let (r, back) = ctx.write(fd.as_fd(), data.clone(), 0).await;
        assert_eq!(r, Ok(8192));
        assert_eq!(back, data);
        let (r, buf) = ctx
            .read(fd.as_fd(), AlignedBuf::new(4096, 4096).unwrap(), 4096)
            .await;
        assert_eq!(r, Ok(4096));
        assert_eq!(&buf[..], &data[4096..]);
        let (r, buf) = ctx
            .read(fd.as_fd(), vec![0u8; 10].into_boxed_slice(), 8190)
            .await;
        assert_eq!(r, Ok(2));
        assert_eq!(&buf[..2], &data[8190..]);

        // A poll that completes later, woken by another thread's write.
        let (rx, tx) = rustix::pipe::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            rustix::io::write(&tx, b"ping").unwrap();
            tx
        });
        let ev = ctx.poll(rx.as_fd(), PollEvents::IN).await.unwrap();
        assert!(ev.contains(PollEvents::IN));
        let _tx = writer.join().unwrap();
        let (r, buf) = ctx.read(rx.as_fd(), vec![0; 16], 0).await;
        assert_eq!(r, Ok(4));
        assert_eq!(&buf[..4], b"ping");

        // A refused request gives the buffer back too.
        let (r, buf) = ctx
            .read(_tx.as_fd(), AlignedBuf::new(512, 512).unwrap(), 0)
            .await;
        assert_eq!(r, Err(Errno::BADF));
        assert_eq!(buf.len(), 512);
        // Multishot polls have their own stream.
        let e = ctx
            .submit(Op::poll_multishot(rx.as_fd(), PollEvents::IN))
            .await
            .unwrap_err();
        assert_eq!(e.errno(), Errno::INVAL);
        assert_eq!(ctx.context().in_flight(), 0);
    });
}

#[test]
fn multishot_stream_until_cancelled() {
    require_device!();
    run(|ctx| async move {
        let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
        let mut polls = ctx.poll_multishot(efd.as_fd(), PollEvents::IN).unwrap();
        for _ in 0..3 {
            common::eventfd_add(&efd, 1);
            let ev = polls.next().await.unwrap().unwrap();
            assert!(ev.contains(PollEvents::IN));
            assert_eq!(common::eventfd_take(&efd), 1);
        }
        assert!(ctx.context().is_in_flight(polls.token()));
        polls.cancel().unwrap();
        assert_eq!(polls.next().await, None);
        assert_eq!(polls.next().await, None);
        assert!(!ctx.context().is_in_flight(polls.token()));
    });
}

#[test]
fn dropped_futures_cancel_polls_and_drop_completions() {
    require_device!();
    run(|ctx| async move {
        let (rx, _tx) = rustix::pipe::pipe().unwrap();
        // A poll that never completes, abandoned by a timeout: cancelled.
        let r = tokio::time::timeout(
            Duration::from_millis(50),
            ctx.poll(rx.as_fd(), PollEvents::IN),
        )
        .await;
        assert!(r.is_err());
        let polls = ctx.poll_multishot(rx.as_fd(), PollEvents::IN).unwrap();
        let t = polls.token();
        drop(polls);
        // What they left is reaped (the cancelled polls' last completions)
        // while a later request is awaited, and goes nowhere else.
        assert_eq!(ctx.submit(Op::noop()).await.unwrap().result(), Ok(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ctx.submit(Op::noop()).await.unwrap().result(), Ok(0));
        assert!(!ctx.context().is_in_flight(t));
        assert_eq!(ctx.context().in_flight(), 0);
        ctx.context().submit(Op::noop().with_user_data(9)).unwrap();
        assert_eq!(ctx.wait_one().await.user_data(), 9);
    });
}

#[test]
fn wait_one_gets_requests_submitted_directly() {
    require_device!();
    run(|ctx| async move {
        for u in 1..=3 {
            ctx.context().submit(Op::noop().with_user_data(u)).unwrap();
        }
        for u in 1..=3 {
            assert_eq!(ctx.wait_one().await.user_data(), u);
        }
        // From another thread, while this task waits.
        let c2 = ctx.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c2.context().submit(Op::noop().with_user_data(4)).unwrap();
            c2.context().submit(Op::noop().with_user_data(5)).unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(ctx.wait().await.iter().map(|c| c.user_data()));
        }
        t.join().unwrap();
        assert_eq!(got, [4, 5]);
    });
}

#[test]
fn many_tasks_on_a_multi_thread_runtime() {
    require_device!();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .unwrap();
    let ctx = Arc::new(rt.block_on(async { AsyncContext::new(common::ctx(32)).unwrap() }));
    let (fd, data) = common::memfd_with(1 << 16);
    let (fd, data) = (Arc::new(fd), Arc::new(data));
    rt.block_on(async {
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let (ctx, fd, data) = (ctx.clone(), fd.clone(), data.clone());
                tokio::spawn(async move {
                    for i in 0..300u64 {
                        if i % 2 == 0 {
                            let c = ctx.submit(Op::noop().with_user_data(t << 32 | i)).await;
                            assert_eq!(c.unwrap().user_data(), t << 32 | i);
                        } else {
                            let off = ((t * 300 + i) * 97 % 60_000) as usize;
                            let (r, buf) = ctx.read(fd.as_fd(), vec![0; 64], off as u64).await;
                            assert_eq!(r, Ok(64));
                            assert_eq!(buf[..], data[off..off + 64]);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("a task timed out")
                .expect("a task failed");
        }
    });
    assert_eq!(ctx.context().in_flight(), 0);
    assert_eq!(ctx.context().stats().stray_events, 0);
}
