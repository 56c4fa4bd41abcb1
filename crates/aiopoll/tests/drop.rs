// SPDX-License-Identifier: MIT OR Apache-2.0
//! Dropping a context with requests in flight, and contexts across fork().

mod common;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use aiopoll::{Errno, Op, PollEvents};
use rustix::event::{eventfd, EventfdFlags};

#[test]
fn drop_with_polls_armed_ends_them() {
    require_device!();
    let ctx = common::ctx(16);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let efd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    ctx.submit(Op::poll_multishot(efd.as_fd(), PollEvents::IN))
        .unwrap();
    common::eventfd_add(&efd, 1);
    // Completed but not reaped, with a buffer.
    let (fd, _) = common::memfd_with(4096);
    ctx.submit(Op::read(fd.as_fd(), vec![0; 4096])).unwrap();
    assert_eq!(ctx.in_flight(), 3);
    // Only the poll holds the pipe's read end now.
    drop(rx);
    assert_eq!(rustix::io::write(&tx, b"x"), Ok(1));
    let _ = ctx.reap(); // the one-shot poll completes: reap only that
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    drop(rx);
    assert!(ctx.in_flight() >= 2);
    let start = Instant::now();
    drop(ctx);
    assert!(start.elapsed() < Duration::from_secs(10));
    // The cancelled poll released its file: the pipe has no reader left.
    assert!(common::pipe_loses_its_reader(&tx));
}

/// Forks; the child runs `child` and exits with its status (never returns to the test).
fn fork(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `child`, which makes system calls and allocates (glibc's
    // malloc is fork-safe), then leaves with _exit without unwinding into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// The exit status of child `pid`, -1 if it did not exit normally (a signal, say).
fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status into a local.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}

fn child_alive(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: as in wait_child, without waiting.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 }
}

#[test]
fn drop_while_a_forked_child_holds_the_fd() {
    require_device!();
    let ctx = common::ctx(16);
    let (rx, _tx) = rustix::pipe::pipe().unwrap();
    let resfd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN).with_eventfd(resfd.as_fd()))
        .unwrap();
    ctx.submit(Op::poll_multishot(rx.as_fd(), PollEvents::IN).with_eventfd(resfd.as_fd()))
        .unwrap();
    // The child keeps its copy of the context fd open until told to go (or 60 s).
    let (go_rx, go_tx) = rustix::pipe::pipe().unwrap();
    let pid = fork(|| i32::from(!common::readable_within(&go_rx, 60_000)));
    drop(go_rx);
    let start = Instant::now();
    drop(ctx);
    // Dropping did not wait for the child: it cancelled and reaped both polls itself.
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(child_alive(pid), "the child must still hold the fd");
    // The kernel signals the eventfd just after it posts each event (as fs/aio does), so the
    // second signal may trail the reaping of its event a little: count up to 5 s.
    let mut signalled = 0;
    while signalled < 2 && common::readable_within(&resfd, 5000) {
        signalled += common::eventfd_take(&resfd);
    }
    assert_eq!(signalled, 2, "both polls completed");
    rustix::io::write(&go_tx, b"x").unwrap();
    assert_eq!(wait_child(pid), 0);
}

#[test]
fn forked_child_cannot_use_the_context_and_drops_it_safely() {
    require_device!();
    let ctx = common::ctx(16);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let t = ctx
        .submit(Op::poll(rx.as_fd(), PollEvents::IN).with_user_data(3))
        .unwrap();
    ctx.submit(Op::noop()).unwrap();
    let mut slot = Some(ctx);
    let pid = fork(|| {
        let ctx = slot.take().unwrap();
        // The kernel refuses the parent's context here, and the ring is not mapped: no
        // access to it may happen.
        let mut bad = 0;
        if ctx.submit(Op::noop()).map_err(|e| e.errno()) != Err(Errno::INVAL) {
            bad |= 1;
        }
        if ctx.wait(1, Some(Duration::from_millis(10))).unwrap_err() != Errno::INVAL {
            bad |= 2;
        }
        if !ctx.reap().is_empty() || ctx.ready() != 0 {
            bad |= 4;
        }
        if ctx.cancel(t) != Err(Errno::INVAL) {
            bad |= 8;
        }
        // VERSION works in any process.
        if ctx.version().map(|v| v.major) != Ok(1) {
            bad |= 16;
        }
        drop(ctx);
        bad
    });
    assert_eq!(wait_child(pid), 0, "child status (bits: failed checks)");
    let ctx = slot.take().unwrap();
    // The parent's context is intact: the noop is in the ring, the poll still armed.
    let done = ctx.reap();
    assert_eq!(done.len(), 1);
    assert!(ctx.is_in_flight(t));
    rustix::io::write(&tx, b"x").unwrap();
    let c = common::wait_one(&ctx);
    assert_eq!((c.token(), c.user_data()), (t, 3));
    assert!(c.poll_events().unwrap().contains(PollEvents::IN));
}

#[test]
fn drop_after_fork_with_unreaped_buffers_and_polls() {
    require_device!();
    let ctx = common::ctx(64);
    let (fd, data) = common::memfd_with(1 << 16);
    for i in 0..16u64 {
        ctx.submit(Op::read(fd.as_fd(), vec![0; 4096]).with_offset(i * 4096))
            .unwrap();
    }
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    ctx.submit(Op::poll_multishot(rx.as_fd(), PollEvents::IN))
        .unwrap();
    drop(rx);
    let pid = fork(|| {
        std::thread::sleep(Duration::from_millis(500));
        0
    });
    // The reads completed in their submission; their events and buffers are unreaped.
    assert_eq!(ctx.ready(), 16);
    assert_eq!(ctx.in_flight(), 17);
    let start = Instant::now();
    drop(ctx);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(child_alive(pid), "the child must still hold the fd");
    // The multishot poll was cancelled and reaped: its file reference goes away.
    assert!(common::pipe_loses_its_reader(&tx));
    assert_eq!(wait_child(pid), 0);
    assert_eq!(common::pread(&fd, 0, 4096), data[..4096]);
}
