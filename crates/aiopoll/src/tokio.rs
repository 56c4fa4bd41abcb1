// SPDX-License-Identifier: MIT OR Apache-2.0
//! Async integration with tokio (the `tokio` feature): [`AsyncContext`], a context whose
//! completions are awaited.
//!
//! The context fd is registered with tokio's reactor through [`AsyncFd`]: it is readable
//! while the ring holds completions, and the module wakes its pollers on every completion it
//! posts. A task that awaits a
//! completion reaps the ring when the fd is readable (no system call) and hands each
//! completion to the future waiting for it, waking that future's task. No thread of its own,
//! no `GETEVENTS`: whichever task is polled drives the ring.
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use aiopoll::{tokio::AsyncContext, AlignedBuf, Context, PollEvents};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
//! rt.block_on(async {
//!     let ctx = AsyncContext::new(Context::new(64)?)?;
//!     let file = std::fs::File::open("/etc/hostname")?;
//!     // The buffer comes back with the result, as tokio-uring does it.
//!     let (n, buf) = ctx.read(file.as_fd(), vec![0; 256], 0).await;
//!     println!("{}", String::from_utf8_lossy(&buf[..n?]));
//!
//!     let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
//!     let poll = ctx.poll(rx.as_fd(), PollEvents::IN);
//!     std::io::Write::write_all(&mut &tx, b"ping")?;
//!     assert!(poll.await?.contains(PollEvents::IN));
//!
//!     let (n, _) = ctx.read(file.as_fd(), AlignedBuf::new(4096, 4096)?, 0).await;
//!     n?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Rules
//!
//! - Every method takes `&self`; futures borrow the context, so share it with `Arc` to
//!   spawn tasks. It works on tokio's current-thread and multi-thread runtimes.
//! - Dropping a future before its completion came is safe: a poll is cancelled, any other
//!   request runs to its end and its completion (and buffer) is dropped when it is reaped.
//! - Do not block on the same context ([`Context::wait`]) while futures wait on it: the
//!   blocked thread would take the completions (a future's completion is handed over only if
//!   the task that reaps it is in this module), and the tasks would block on it.
//!   [`Context::submit`] and [`Context::cancel`] from any thread are fine; the completions of
//!   requests submitted that way come from [`wait_one`](AsyncContext::wait_one) and
//!   [`wait`](AsyncContext::wait).
//! - Polled I/O ([`RwFlags::HIPRI`](crate::RwFlags::HIPRI)) completes only when
//!   `GETEVENTS` polls the device, which this driver never calls: use the blocking API for it.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use rustix::io::Errno;

use crate::buf::{IoBuf, IoBufMut};
use crate::completion::{Completion, SubmitError, Token};
use crate::context::Context;
use crate::flags::PollEvents;
use crate::op::{Op, Opcode};

/// A [`Context`] driven by tokio: submit requests and await their completions.
///
/// Made with [`AsyncContext::new`] inside a tokio runtime with its I/O driver enabled. See
/// the [module documentation](self) for the rules.
pub struct AsyncContext {
    fd: AsyncFd<Context>,
    state: Mutex<State>,
}

/// Where reaped completions go.
#[derive(Default)]
struct State {
    /// Requests awaited by a future of this module, by token.
    claimed: HashMap<u64, Claim>,
    /// Completions of the other requests, for `wait_one` and `wait`.
    unclaimed: VecDeque<Completion>,
    /// The tasks waiting in `wait_one` or `wait`.
    waiters: Vec<Waker>,
}

/// The completions of one claimed request, until its future takes them.
#[derive(Default)]
struct Claim {
    done: VecDeque<Completion>,
    waker: Option<Waker>,
    /// The future is gone: completions are dropped, the claim removed with the last one.
    abandoned: bool,
}

fn remember(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

impl AsyncContext {
    /// Registers `ctx`'s fd with the current tokio runtime's reactor.
    ///
    /// # Errors
    ///
    /// The reactor's, when it cannot register the fd.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one without its I/O driver (`enable_io`), as
    /// [`AsyncFd::register`] does.
    pub fn new(ctx: Context) -> io::Result<AsyncContext> {
        // SAFETY: the context owns its fd (an `OwnedFd` it closes only when dropped), so the
        // fd stays open and `as_raw_fd` returns it for as long as the `AsyncFd` holds the
        // context.
        let fd = unsafe { AsyncFd::register_with_interest(ctx, Interest::READABLE) }?;
        Ok(AsyncContext {
            fd,
            state: Mutex::new(State::default()),
        })
    }

    /// The context: for [`submit`](Context::submit) without awaiting (then
    /// [`wait_one`](AsyncContext::wait_one)), [`cancel`](Context::cancel), `stats`...
    pub fn context(&self) -> &Context {
        self.fd.get_ref()
    }

    /// Deregisters the fd and gives the context back; completions not yet taken by
    /// [`wait_one`](AsyncContext::wait_one) or [`wait`](AsyncContext::wait) are dropped.
    pub fn into_inner(self) -> Context {
        self.fd.into_inner()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reaps the ring and hands the completions out; how many it reaped.
    fn pump(&self) -> usize {
        let done = self.context().reap_waiting();
        let n = done.len();
        self.dispatch(done);
        n
    }

    fn dispatch(&self, done: Vec<Completion>) {
        if done.is_empty() {
            return;
        }
        let mut wake = Vec::new();
        let mut dropped = Vec::new();
        {
            let mut st = self.lock();
            for c in done {
                let id = c.token().id();
                match st.claimed.get_mut(&id) {
                    Some(claim) if claim.abandoned => {
                        if !c.more() {
                            st.claimed.remove(&id);
                        }
                        dropped.push(c);
                    }
                    Some(claim) => {
                        claim.done.push_back(c);
                        wake.extend(claim.waker.take());
                    }
                    None => {
                        st.unclaimed.push_back(c);
                        wake.append(&mut st.waiters);
                    }
                }
            }
        }
        // Outside the lock: buffers freed, tasks woken.
        drop(dropped);
        wake.into_iter().for_each(Waker::wake);
    }

    /// Waits until `take` finds what it waits for in the state (it registers the task's
    /// waker when it does not), reaping the ring whenever the context fd is readable.
    async fn drive<T>(&self, mut take: impl FnMut(&mut State, &Waker) -> Option<T>) -> T {
        loop {
            // The ring may hold completions that came before the fd was watched.
            self.pump();
            let mut readable = pin!(self.fd.readable());
            let step = poll_fn(|cx| {
                if let Some(v) = take(&mut self.lock(), cx.waker()) {
                    return Poll::Ready(Ok(v));
                }
                readable.as_mut().poll(cx).map(Err)
            })
            .await;
            match step {
                Ok(v) => return v,
                Err(Ok(mut guard)) => {
                    // Readiness is cleared only when the ring was found empty: a completion
                    // posted since the guard was taken sets it again (tokio's tick).
                    if self.pump() == 0 {
                        guard.clear_ready();
                    }
                }
                Err(Err(_)) => {
                    // The reactor is gone (the runtime shuts down): wait without it.
                    let done = self
                        .context()
                        .wait(1, Some(Duration::from_millis(10)))
                        .unwrap_or_default();
                    self.dispatch(done);
                }
            }
        }
    }

    /// Submits `op` for a future of this module: its completions go to `Claimed::next`.
    fn claim<'fd>(&self, op: Op<'fd>) -> Result<Claimed<'_>, SubmitError<'fd>> {
        let poll = op.opcode() == Opcode::Poll;
        let token = self.context().reserve_token();
        self.lock().claimed.insert(token.id(), Claim::default());
        let mut claimed = Claimed {
            actx: self,
            token,
            poll,
            ended: false,
        };
        if let Err(e) = self.context().submit_as(token, op) {
            claimed.ended = true;
            return Err(e);
        }
        Ok(claimed)
    }

    /// Submits `op` and waits for its completion; the completion gives the buffers back.
    ///
    /// # Errors
    ///
    /// A refused submission, with the request given back (see [`Context::submit`]);
    /// `EINVAL` for a multishot poll, which has several completions: use
    /// [`poll_multishot`](AsyncContext::poll_multishot).
    pub async fn submit<'fd>(&self, op: Op<'fd>) -> Result<Completion, SubmitError<'fd>> {
        if op.is_multishot() {
            return Err(SubmitError {
                errno: Errno::INVAL,
                op,
            });
        }
        let mut claimed = self.claim(op)?;
        Ok(claimed.next().await)
    }

    /// Reads up to `buf.bytes_len()` bytes of `fd` at `offset` into `buf`; the number of
    /// bytes read (or the errno), and the buffer.
    ///
    /// On a non-blocking socket or pipe with nothing to read the result is `EAGAIN`: await
    /// [`poll`](AsyncContext::poll) for `IN` first, or after it.
    pub async fn read<B: IoBufMut>(
        &self,
        fd: BorrowedFd<'_>,
        buf: B,
        offset: u64,
    ) -> (Result<usize, Errno>, B) {
        self.with_buf(Op::read(fd, buf).with_offset(offset)).await
    }

    /// Writes `buf` to `fd` at `offset`; the number of bytes written (or the errno), and the
    /// buffer.
    pub async fn write<B: IoBuf>(
        &self,
        fd: BorrowedFd<'_>,
        buf: B,
        offset: u64,
    ) -> (Result<usize, Errno>, B) {
        self.with_buf(Op::write(fd, buf).with_offset(offset)).await
    }

    /// Submits `op`, built with a `B`, and awaits it: its result and the `B`, also when the
    /// submission is refused.
    async fn with_buf<B: IoBuf>(&self, op: Op<'_>) -> (Result<usize, Errno>, B) {
        let (result, buffers) = match self.submit(op).await {
            Ok(c) => (c.result(), c.into_buffers()),
            Err(e) => (Err(e.errno()), e.into_op().into_buffers()),
        };
        let buf = buffers
            .downcast()
            .unwrap_or_else(|_| unreachable!("the request was built with this type"));
        (result, buf)
    }

    /// Waits until `fd` is ready for `events` (a one-shot `IOCB_CMD_POLL`); the ready mask.
    /// Dropping the future cancels the poll.
    ///
    /// # Errors
    ///
    /// The submission's errno, or the poll's.
    pub async fn poll(&self, fd: BorrowedFd<'_>, events: PollEvents) -> Result<PollEvents, Errno> {
        match self.submit(Op::poll(fd, events)).await {
            Ok(c) => c.poll_events(),
            Err(e) => Err(e.errno()),
        }
    }

    /// Arms a multishot poll on `fd`: [`PollStream::next`] gives each readiness. Dropping
    /// the stream cancels the poll.
    ///
    /// # Errors
    ///
    /// The submission's errno.
    pub fn poll_multishot(
        &self,
        fd: BorrowedFd<'_>,
        events: PollEvents,
    ) -> Result<PollStream<'_>, Errno> {
        let claimed = self
            .claim(Op::poll_multishot(fd, events))
            .map_err(|e| e.errno())?;
        Ok(PollStream { claimed })
    }

    /// The next completion of a request submitted through [`context`](AsyncContext::context)
    /// (not awaited by a future of this module), in the order they were reaped.
    pub async fn wait_one(&self) -> Completion {
        self.drive(|st, waker| {
            let c = st.unclaimed.pop_front();
            if c.is_none() {
                remember(&mut st.waiters, waker);
            }
            c
        })
        .await
    }

    /// As [`wait_one`](AsyncContext::wait_one), all the completions there are (at least
    /// one).
    pub async fn wait(&self) -> Vec<Completion> {
        self.drive(|st, waker| {
            if st.unclaimed.is_empty() {
                remember(&mut st.waiters, waker);
                return None;
            }
            Some(st.unclaimed.drain(..).collect())
        })
        .await
    }
}

impl AsFd for AsyncContext {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.context().as_fd()
    }
}

impl AsRawFd for AsyncContext {
    fn as_raw_fd(&self) -> RawFd {
        self.context().as_raw_fd()
    }
}

impl std::fmt::Debug for AsyncContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncContext")
            .field("context", self.context())
            .finish_non_exhaustive()
    }
}

/// A request submitted for a future; abandoned (a poll cancelled) if dropped before its last
/// completion.
struct Claimed<'a> {
    actx: &'a AsyncContext,
    token: Token,
    poll: bool,
    /// The last completion was taken (or the request was never submitted).
    ended: bool,
}

impl Claimed<'_> {
    /// The request's next completion.
    async fn next(&mut self) -> Completion {
        let id = self.token.id();
        let c = self
            .actx
            .drive(|st, waker| {
                let claim = st.claimed.get_mut(&id).expect("claimed until dropped");
                let c = claim.done.pop_front();
                if c.is_none() {
                    claim.waker = Some(waker.clone());
                }
                c
            })
            .await;
        self.ended |= !c.more();
        c
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        let id = self.token.id();
        let mut st = self.actx.lock();
        let Some(claim) = st.claimed.get_mut(&id) else {
            return;
        };
        if self.ended || claim.done.iter().any(|c| !c.more()) {
            // Nothing more will come.
            let claim = st.claimed.remove(&id);
            drop(st);
            drop(claim);
            return;
        }
        claim.abandoned = true;
        let done = std::mem::take(&mut claim.done);
        drop(st);
        drop(done);
        if self.poll {
            // Its last completion comes (result 0) and ends the claim.
            let _ = self.actx.context().cancel(self.token);
        }
    }
}

/// The completions of a multishot poll ([`AsyncContext::poll_multishot`]).
pub struct PollStream<'a> {
    claimed: Claimed<'a>,
}

impl PollStream<'_> {
    /// The poll's token.
    pub fn token(&self) -> Token {
        self.claimed.token
    }

    /// The next readiness: `Some(Ok(mask))` while the poll is armed; `None` once it ended by
    /// a cancel; `Some(Err(EOVERFLOW))` (then `None`) when the ring had no room for another
    /// event: arm a new one.
    pub async fn next(&mut self) -> Option<Result<PollEvents, Errno>> {
        if self.claimed.ended {
            return None;
        }
        let c = self.claimed.next().await;
        match (c.more(), c.result()) {
            (false, Ok(0)) => None,
            _ => Some(c.poll_events()),
        }
    }

    /// Cancels the poll: [`next`](PollStream::next) returns `None` once its last completion
    /// came.
    ///
    /// # Errors
    ///
    /// As [`Context::cancel`].
    pub fn cancel(&self) -> Result<(), Errno> {
        self.claimed.actx.context().cancel(self.claimed.token)
    }
}

impl std::fmt::Debug for PollStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollStream")
            .field("token", &self.claimed.token)
            .field("ended", &self.claimed.ended)
            .finish()
    }
}
