// SPDX-License-Identifier: MIT OR Apache-2.0
//! The wait with a signal mask (`io_pgetevents(2)` semantics) and EINTR. A binary of its own:
//! signal handlers are process-wide.

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aiopoll::{Context, Errno, Op, PollEvents, SigMask, Token};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Installs the SIGUSR1 handler (without SA_RESTART, as for any interruptible wait).
fn install_handler() {
    // SAFETY: a zeroed sigaction with a handler that only does an atomic add, which is
    // async-signal-safe; no other code of the test binary uses SIGUSR1.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

/// Blocks (`how` = SIG_BLOCK) or unblocks SIGUSR1 in the calling thread.
fn mask_sigusr1(how: libc::c_int) {
    // SAFETY: builds a set in a local and changes the calling thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        assert_eq!(libc::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
    }
}

/// The handler installed, SIGUSR1 blocked (`how` = SIG_BLOCK) or unblocked in this thread, and
/// a context with one poll armed on an idle pipe, whose ends are returned to keep it open.
fn armed_poll(how: libc::c_int) -> (Context, Token, OwnedFd, OwnedFd) {
    install_handler();
    mask_sigusr1(how);
    let ctx = common::ctx(8);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    (ctx, t, rx, tx)
}

/// Cancels the armed poll, checks its event (`res == 0`) and unblocks SIGUSR1 again.
fn cancel_armed_poll(ctx: Context, t: Token) {
    ctx.cancel(t).unwrap();
    assert_eq!(common::wait_one(&ctx).result(), Ok(0));
    mask_sigusr1(libc::SIG_UNBLOCK);
}

/// Sends SIGUSR1 to thread `t` after `ms` milliseconds, from another thread.
fn signal_later(t: libc::pthread_t, ms: u64) -> std::thread::JoinHandle<()> {
    let t = t as usize;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: `t` is the test thread, alive until it joins this thread.
        assert_eq!(
            unsafe { libc::pthread_kill(t as libc::pthread_t, libc::SIGUSR1) },
            0
        );
    })
}

fn self_thread() -> libc::pthread_t {
    // SAFETY: no preconditions.
    unsafe { libc::pthread_self() }
}

#[test]
fn signal_let_through_by_the_mask_interrupts_the_wait() {
    require_device!();
    let (ctx, t, _rx, _tx) = armed_poll(libc::SIG_BLOCK);
    let before = HANDLED.load(Ordering::SeqCst);
    let mask = SigMask::current_thread().unwrap();
    assert!(mask.contains(libc::SIGUSR1));
    // Raised from another thread while the wait is under way.
    let sender = signal_later(self_thread(), 300);
    let start = Instant::now();
    let r = ctx.wait_with_sigmask(
        1,
        Some(Duration::from_secs(20)),
        mask.without(libc::SIGUSR1),
    );
    let elapsed = start.elapsed();
    sender.join().unwrap();
    assert_eq!(r.unwrap_err(), Errno::INTR);
    assert!(
        elapsed >= Duration::from_millis(250),
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "returned after {elapsed:?}"
    );
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        before + 1,
        "the handler ran once"
    );
    // The thread's own mask is back: SIGUSR1 blocked.
    assert!(SigMask::current_thread().unwrap().contains(libc::SIGUSR1));
    assert!(ctx.is_in_flight(t));
    cancel_armed_poll(ctx, t);
}

#[test]
fn blocked_signal_does_not_interrupt_and_the_mask_delivers_it() {
    require_device!();
    let (ctx, t, _rx, _tx) = armed_poll(libc::SIG_BLOCK);
    let before = HANDLED.load(Ordering::SeqCst);
    // Pending but blocked: a plain wait times out normally.
    // SAFETY: signals the calling thread itself; the handler is installed.
    assert_eq!(
        unsafe { libc::pthread_kill(self_thread(), libc::SIGUSR1) },
        0
    );
    let done = ctx.wait(1, Some(Duration::from_millis(100))).unwrap();
    assert!(done.is_empty());
    assert_eq!(HANDLED.load(Ordering::SeqCst), before);
    // A mask that blocks it as well: still a normal timeout.
    let blocked = SigMask::current_thread().unwrap();
    let done = ctx
        .wait_with_sigmask(1, Some(Duration::from_millis(100)), blocked)
        .unwrap();
    assert!(done.is_empty());
    assert_eq!(HANDLED.load(Ordering::SeqCst), before);
    // Unblocked by the mask: delivered at once, EINTR.
    let r = ctx.wait_with_sigmask(
        1,
        Some(Duration::from_secs(20)),
        blocked.without(libc::SIGUSR1),
    );
    assert_eq!(r.unwrap_err(), Errno::INTR);
    assert_eq!(HANDLED.load(Ordering::SeqCst), before + 1);
    cancel_armed_poll(ctx, t);
}

#[test]
fn wait_with_sigmask_returns_completions() {
    require_device!();
    let ctx = common::ctx(8);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let t = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN)).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        rustix::io::write(&tx, b"x").unwrap();
        tx
    });
    let done = ctx
        .wait_with_sigmask(1, Some(Duration::from_secs(10)), SigMask::empty())
        .unwrap();
    let _tx = writer.join().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].token(), t);
    assert!(done[0].poll_events().unwrap().contains(PollEvents::IN));
    assert!(ctx.stats().getevents_calls >= 1);
}

#[test]
fn plain_wait_is_interrupted_by_a_handled_signal() {
    require_device!();
    let (ctx, t, _rx, _tx) = armed_poll(libc::SIG_UNBLOCK);
    // Signals every 100 ms until the wait returns, so that one surely lands inside it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let target = self_thread() as usize;
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                // SAFETY: the test thread is alive until it joins this thread.
                unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
            }
        })
    };
    let r = ctx.wait(1, Some(Duration::from_secs(20)));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    assert_eq!(r.unwrap_err(), Errno::INTR);
    cancel_armed_poll(ctx, t);
}
