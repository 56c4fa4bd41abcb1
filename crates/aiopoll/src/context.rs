// SPDX-License-Identifier: MIT OR Apache-2.0
//! The context: submission, reaping, cancellation.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::completion::{Completion, SubmitError, Token};
use crate::engine::{ConsumerGuard, Engine};
use crate::flags::{Features, SigMask};
use crate::op::Op;
use crate::sys::KernelTimespec;

/// The device node (`AIOPOLL_DEVICE_PATH`).
pub const DEVICE_PATH: &str = "/dev/aiopoll";

/// The ABI version of the running module (`AIOPOLL_IOC_VERSION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// `AIOPOLL_ABI_MAJOR` of the module (1).
    pub major: u32,
    /// `AIOPOLL_ABI_MINOR` of the module.
    pub minor: u32,
    /// Optional parts the module has.
    pub features: Features,
}

/// Counters of a context, to see where its events came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events consumed from the mapped ring without a system call.
    pub ring_events: u64,
    /// Events consumed by `AIOPOLL_IOC_GETEVENTS`.
    pub ioctl_events: u64,
    /// `AIOPOLL_IOC_GETEVENTS` calls.
    pub getevents_calls: u64,
    /// `AIOPOLL_IOC_SUBMIT` calls.
    pub submit_calls: u64,
    /// Events that matched no request in flight (dropped; 0 unless something else consumed
    /// from the context's ring).
    pub stray_events: u64,
}

/// An aiopoll context: one open of `/dev/aiopoll`, set up, with its completion ring mapped.
///
/// Requests ([`Op`]) are submitted with [`submit`](Context::submit) or
/// [`submit_batch`](Context::submit_batch), which move their buffers into the context;
/// [`reap`](Context::reap), [`wait`](Context::wait) and
/// [`wait_with_sigmask`](Context::wait_with_sigmask) return [`Completion`]s, which give the
/// buffers back.
///
/// # Threads
///
/// A context is `Send` and `Sync`, and every method takes `&self`: share it (`Arc`,
/// `std::thread::scope`) and submit from any number of threads while one of them waits.
///
/// - Submitting ([`submit`](Context::submit), [`submit_batch`](Context::submit_batch)),
///   [`cancel`](Context::cancel) and the queries lock the table of requests in flight
///   briefly, never across a wait: a thread blocked in [`wait`](Context::wait) does not
///   delay them.
/// - Consuming completions is one thread's at a time, because the ring's `head` has one
///   writer: [`reap`](Context::reap) (user space) and `GETEVENTS` (the kernel) must not
///   move it at once. [`wait`](Context::wait), [`wait_with_sigmask`](Context::wait_with_sigmask)
///   and [`submit_and_wait`](Context::submit_and_wait) take that role, waiting for it as long
///   as their timeout allows (a thread blocked in `wait` keeps it until it returns: a second
///   waiter queues behind it and is not interrupted by signals while it queues);
///   [`reap`](Context::reap) never waits for it and returns nothing while another thread has
///   it.
/// - Each completion goes to exactly one caller: whichever thread consumed it. A request
///   submitted by one thread may complete in another thread's `wait`; match completions by
///   [`Token`] or [`user_data`](Op::with_user_data). The completions of one request (a
///   multishot poll) are returned in order.
///
/// The context fd ([`as_fd`](AsFd::as_fd)) is pollable: `poll(2)`/`epoll(7)` report it
/// readable while the ring holds events not yet consumed.
///
/// A context works only in the process that created it: in a `fork(2)` child every method
/// that needs the kernel fails with `EINVAL` (as the kernel's ioctls do there) and reaping
/// returns nothing.
///
/// # Drop
///
/// Dropping a context cancels its polls and reaps until none of its requests is in flight,
/// *then* frees their buffers, unmaps the ring and closes the fd. Reads and writes are not
/// cancellable (as in fs/aio): dropping waits for them. It does not rely on `close(2)`
/// waiting, which it does not do while a forked child still holds the fd. Dropped in a forked
/// child, the context only closes the child's fd and leaks the child's copies of the buffers
/// of requests in flight.
///
/// # Examples
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use aiopoll::{Context, Op, PollEvents};
///
/// let ctx = Context::new(64)?;
/// let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
/// let token = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN).with_user_data(42))?;
/// std::io::Write::write_all(&mut &tx, b"hello")?;
/// let done = ctx.wait(1, None)?;
/// assert_eq!(done[0].token(), token);
/// assert!(done[0].poll_events()?.contains(PollEvents::IN));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Context {
    engine: Engine,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("fd", &self.engine.fd().as_raw_fd())
            .field("ring_entries", &self.ring_entries())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

fn timespec(d: Duration) -> KernelTimespec {
    KernelTimespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

impl Context {
    /// Opens `/dev/aiopoll` (`O_RDWR | O_CLOEXEC`), sets the context up for `nr_events`
    /// requests in flight (`AIOPOLL_IOC_SETUP`; the kernel rounds up, see
    /// [`capacity`](Context::capacity)) and maps its ring (`MAP_SHARED`).
    ///
    /// # Errors
    ///
    /// `ENOENT` when the module is not loaded; `EINVAL` when `nr_events` is 0 or too large;
    /// `EAGAIN` when the events of all contexts would exceed the module's `max_events`;
    /// `ENOMEM`; `EPROTO` when the mapped ring's header is not the expected one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ctx = aiopoll::Context::new(128)?;
    /// assert!(ctx.capacity() >= 128);
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn new(nr_events: u32) -> Result<Context, Errno> {
        Self::with_path(DEVICE_PATH, nr_events)
    }

    /// As [`new`](Context::new), with another device node (a copy of `/dev/aiopoll` made with
    /// `mknod`, say).
    ///
    /// # Errors
    ///
    /// As [`new`](Context::new), plus `open(2)`'s errnos for `path`.
    pub fn with_path(path: &str, nr_events: u32) -> Result<Context, Errno> {
        Ok(Context {
            engine: Engine::open(path, nr_events)?,
        })
    }

    /// The ABI version and features of the running module (`AIOPOLL_IOC_VERSION`).
    ///
    /// # Errors
    ///
    /// None in practice (`EFAULT` cannot happen here).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Features};
    ///
    /// let v = Context::new(1)?.version()?;
    /// assert_eq!(v.major, 1);
    /// assert!(v.features.contains(Features::POLL));
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn version(&self) -> Result<Version, Errno> {
        let (major, minor, features) = crate::sys::version(self.engine.fd())?;
        Ok(Version {
            major,
            minor,
            features: Features::from_bits_retain(features),
        })
    }

    /// Slots of the ring (`aiopoll_setup.ring_nr`).
    pub fn ring_entries(&self) -> u32 {
        self.engine.ring_nr()
    }

    /// Requests that may be in flight or completed but not reaped at once: `ring_entries() -
    /// 1`. A submission beyond that fails with `EAGAIN`; each event of a multishot poll takes
    /// a slot until it is reaped.
    pub fn capacity(&self) -> usize {
        (self.engine.ring_nr() as usize).saturating_sub(1)
    }

    /// Requests submitted whose last completion has not been reaped.
    pub fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    /// Whether the request of `token` is still in flight (its last completion not reaped).
    pub fn is_in_flight(&self, token: Token) -> bool {
        self.engine.contains(token.0)
    }

    /// Events waiting in the ring, read from the mapping without a system call.
    pub fn ready(&self) -> usize {
        self.engine.ready()
    }

    /// Counters of this context.
    pub fn stats(&self) -> Stats {
        let c = self.engine.counters();
        Stats {
            ring_events: c.ring_events,
            ioctl_events: c.ioctl_events,
            getevents_calls: c.getevents_calls,
            submit_calls: c.submit_calls,
            stray_events: c.stray_events,
        }
    }

    /// Submits one request (`AIOPOLL_IOC_SUBMIT`), moving its buffers into the context.
    ///
    /// Reads and writes of buffered files, pipes and sockets run inside the submission (and
    /// may block there, as in fs/aio: use [`RwFlags::NOWAIT`](crate::RwFlags::NOWAIT) or a
    /// poll first); their completion is in the ring when this returns.
    ///
    /// # Errors
    ///
    /// The kernel's errno with the request given back ([`SubmitError::into_op`]): `EAGAIN`
    /// when the ring has no free slot ([`capacity`](Context::capacity) requests in flight or
    /// unreaped), `EBADF` for a closed fd or one not open for the access, `EINVAL` for a
    /// request the kernel refuses, `EOPNOTSUPP` for an `RWF_*` flag the file does not support,
    /// `EPERM` for a real-time I/O priority without the capability.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Errno, Op};
    ///
    /// let ctx = Context::new(1)?;
    /// for _ in 0..ctx.capacity() {
    ///     ctx.submit(Op::noop())?;
    /// }
    /// let err = ctx.submit(Op::noop()).unwrap_err();
    /// assert_eq!(err.errno(), Errno::AGAIN);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn submit<'fd>(&self, op: Op<'fd>) -> Result<Token, SubmitError<'fd>> {
        self.submit_as(self.reserve_token(), op)
    }

    /// A token no request of this context has had, for [`submit_as`](Context::submit_as).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn reserve_token(&self) -> Token {
        Token(self.engine.reserve_ids(1))
    }

    /// [`submit`](Context::submit) with the token `token` from
    /// [`reserve_token`](Context::reserve_token), known before the request can complete.
    pub(crate) fn submit_as<'fd>(
        &self,
        token: Token,
        op: Op<'fd>,
    ) -> Result<Token, SubmitError<'fd>> {
        let mut s = self.engine.submit_reserved(token.0, vec![op.parts]);
        match (s.ids.pop(), s.rest.pop()) {
            (Some(id), _) => Ok(Token(id)),
            (None, Some(parts)) => Err(SubmitError {
                errno: s.error.unwrap_or(Errno::AGAIN),
                op: Op::from_parts(parts),
            }),
            (None, None) => unreachable!("a request is either submitted or given back"),
        }
    }

    /// Submits `ops` in order with one system call, as `io_submit(2)`: the kernel may submit
    /// fewer than all. The submitted ones are removed from the front of `ops` and their tokens
    /// returned, in order; the others stay in `ops`. An empty `ops` returns at once.
    ///
    /// # Errors
    ///
    /// When the *first* request is refused: its errno, with `ops` unchanged (see
    /// [`submit`](Context::submit) for the errnos). The kernel does not say why a later
    /// request was refused: submit it alone to find out.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Op};
    ///
    /// let ctx = Context::new(1)?;
    /// let mut ops: Vec<Op> = (0..ctx.capacity() + 3).map(|_| Op::noop()).collect();
    /// let tokens = ctx.submit_batch(&mut ops)?;
    /// assert_eq!(tokens.len(), ctx.capacity());
    /// assert_eq!(ops.len(), 3);
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn submit_batch(&self, ops: &mut Vec<Op<'_>>) -> Result<Vec<Token>, Errno> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let parts = ops.drain(..).map(|op| op.parts).collect();
        let s = self.engine.submit(parts);
        ops.extend(s.rest.into_iter().map(Op::from_parts));
        match s.error {
            Some(e) if s.ids.is_empty() => Err(e),
            _ => Ok(s.ids.into_iter().map(Token).collect()),
        }
    }

    /// Submits `ops` as [`submit_batch`](Context::submit_batch), then waits for at least
    /// `min_nr` completions at most `timeout` as [`wait`](Context::wait), in one system call
    /// (`AIOPOLL_IOC_SUBMIT_WAIT`, ABI 1.6; two on an older module), as `io_uring_enter(2)`
    /// with `to_submit` and `min_complete` does. Returns the tokens of the submitted requests
    /// (removed from the front of `ops`) and the completions reaped. When the kernel refuses a
    /// request after the first, the call does not wait: it returns what was already there.
    /// Polled I/O ([`RwFlags::HIPRI`](crate::RwFlags::HIPRI)) submitted here is polled for
    /// in the same call.
    ///
    /// # Errors
    ///
    /// When the *first* request is refused, its errno, with `ops` unchanged (nothing was
    /// submitted). When the wait fails after requests were submitted (`EINTR`: a signal
    /// handler ran before any completion), the tokens are returned with no completions: wait
    /// for them with [`wait`](Context::wait). `EINVAL` in a forked child.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Op};
    ///
    /// let ctx = Context::new(8)?;
    /// let mut ops = vec![Op::noop(), Op::noop()];
    /// let (tokens, done) = ctx.submit_and_wait(&mut ops, 2, None)?;
    /// assert_eq!((tokens.len(), done.len()), (2, 2));
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn submit_and_wait(
        &self,
        ops: &mut Vec<Op<'_>>,
        min_nr: usize,
        timeout: Option<Duration>,
    ) -> Result<(Vec<Token>, Vec<Completion>), Errno> {
        let parts = ops.drain(..).map(|op| op.parts).collect();
        let mut events = Vec::new();
        let (s, waited) = match self.consumer_within(timeout) {
            Some((mut consumer, left)) => {
                self.engine
                    .submit_and_wait(&mut consumer, parts, (min_nr, left, None), &mut events)
            }
            // Another thread kept the consumer past the timeout: submit only.
            None => (self.engine.submit(parts), Ok(0)),
        };
        ops.extend(s.rest.into_iter().map(Op::from_parts));
        match (s.ids.is_empty(), waited) {
            (true, Err(e)) => Err(e),
            (true, Ok(_)) if s.error.is_some() => Err(s.error.unwrap_or(Errno::INVAL)),
            _ => Ok((
                s.ids.into_iter().map(Token).collect(),
                events.into_iter().map(Completion::from_event).collect(),
            )),
        }
    }

    /// Consumes the completions waiting in the ring from the mapping, with no system call
    /// (libaio-style user reaping). Returns an empty vector when there is none, when another
    /// thread is consuming (in [`wait`](Context::wait), say: the completions go to it), and
    /// in a forked child. Never blocks.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Op};
    ///
    /// let ctx = Context::new(8)?;
    /// ctx.submit(Op::noop())?;
    /// let done = ctx.reap();
    /// assert_eq!(done.len(), 1);
    /// assert_eq!(ctx.stats().getevents_calls, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reap(&self) -> Vec<Completion> {
        self.reap_with(self.engine.try_consumer())
    }

    /// As [`reap`](Context::reap), but waiting for another thread that is consuming (briefly:
    /// the async driver's threads only ever reap).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn reap_waiting(&self) -> Vec<Completion> {
        self.reap_with(self.engine.consumer_until(None))
    }

    fn reap_with(&self, consumer: Option<ConsumerGuard<'_>>) -> Vec<Completion> {
        let mut events = Vec::new();
        if let Some(mut consumer) = consumer {
            self.engine.reap(&mut consumer, usize::MAX, &mut events);
        }
        events.into_iter().map(Completion::from_event).collect()
    }

    /// Returns at least `min_nr` completions, waiting at most `timeout` (`None`: no limit)
    /// for them, fewer after a timeout.
    ///
    /// Completions already in the ring are taken from the mapping with no system call; only
    /// when they are fewer than `min_nr` does it wait with `AIOPOLL_IOC_GETEVENTS`, which
    /// also returns the completions that arrived meanwhile. With `min_nr` 0 it is
    /// [`reap`](Context::reap). While another thread consumes completions (it is in `wait`
    /// too), this waits for it first, and that time counts against `timeout`. Polled I/O
    /// ([`RwFlags::HIPRI`](crate::RwFlags::HIPRI)) completes only when `GETEVENTS` polls the
    /// device: wait for it with `min_nr` >= 1.
    ///
    /// Waiting for more completions than can come (nothing in flight, no timeout) blocks
    /// until a signal handler interrupts it.
    ///
    /// # Errors
    ///
    /// `EINTR` when a signal handler ran before any completion was there (completions taken
    /// from the ring before the wait are returned instead of the error); `EINVAL` in a
    /// forked child.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let ctx = aiopoll::Context::new(8)?;
    /// // Nothing in flight: times out with no completion.
    /// assert!(ctx.wait(1, Some(Duration::from_millis(10)))?.is_empty());
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn wait(&self, min_nr: usize, timeout: Option<Duration>) -> Result<Vec<Completion>, Errno> {
        self.wait_inner(min_nr, timeout, None)
    }

    /// As [`wait`](Context::wait), with `mask` installed as the thread's blocked signals
    /// for the duration of the wait, atomically with it (`io_pgetevents(2)`, `pselect(2)`):
    /// a signal blocked in the thread but not in `mask` ends the wait with `EINTR` after its
    /// handler ran. The caller's mask is restored before this returns. The mask is passed in
    /// the kernel's format (8 bytes), not glibc's.
    ///
    /// When enough completions are in the ring already there is no wait and no system call,
    /// so no signal is taken either.
    ///
    /// # Errors
    ///
    /// As [`wait`](Context::wait).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use aiopoll::{Context, Errno, SigMask};
    ///
    /// let ctx = Context::new(8)?;
    /// // SIGUSR1 blocked in this thread except while waiting.
    /// let mask = SigMask::current_thread()?.without(libc::SIGUSR1);
    /// match ctx.wait_with_sigmask(1, None, mask) {
    ///     Err(Errno::INTR) => println!("interrupted"),
    ///     Ok(done) => println!("{} completions", done.len()),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), aiopoll::Errno>(())
    /// ```
    pub fn wait_with_sigmask(
        &self,
        min_nr: usize,
        timeout: Option<Duration>,
        mask: SigMask,
    ) -> Result<Vec<Completion>, Errno> {
        self.wait_inner(min_nr, timeout, Some(mask.bits()))
    }

    fn wait_inner(
        &self,
        min_nr: usize,
        timeout: Option<Duration>,
        sigmask: Option<u64>,
    ) -> Result<Vec<Completion>, Errno> {
        if min_nr == 0 {
            return Ok(self.reap());
        }
        let mut events = Vec::new();
        let Some((mut consumer, left)) = self.consumer_within(timeout) else {
            return Ok(Vec::new());
        };
        let got = self.engine.reap(&mut consumer, usize::MAX, &mut events);
        if got < min_nr {
            let r = self
                .engine
                .getevents(&mut consumer, min_nr - got, left, sigmask, &mut events);
            if let Err(e) = r {
                if events.is_empty() {
                    return Err(e);
                }
            }
        }
        drop(consumer);
        Ok(events.into_iter().map(Completion::from_event).collect())
    }

    /// The consumer, waiting for another thread that holds it as long as `timeout` allows,
    /// and the timeout left for the kernel: `timeout` itself when the consumer was free (the
    /// kernel gets exactly what the caller asked for), what remains of it after waiting
    /// otherwise. `None` when the timeout passed first.
    fn consumer_within(
        &self,
        timeout: Option<Duration>,
    ) -> Option<(ConsumerGuard<'_>, Option<KernelTimespec>)> {
        if let Some(consumer) = self.engine.try_consumer() {
            return Some((consumer, timeout.map(timespec)));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let consumer = self.engine.consumer_until(deadline)?;
        let left = match deadline {
            Some(d) => Some(timespec(d.saturating_duration_since(Instant::now()))),
            None => timeout.map(timespec),
        };
        Some((consumer, left))
    }

    /// Cancels the request of `token` (`AIOPOLL_IOC_CANCEL`). Only polls can be cancelled,
    /// as in fs/aio; the cancelled poll's last completion comes through the ring like any
    /// other, with result 0 (the kernel's `EINPROGRESS` is this `Ok`).
    ///
    /// # Errors
    ///
    /// `EINVAL` when the request is not in flight (already reaped), cannot be cancelled (a
    /// read, write, fsync or noop), already completed (its completion is in the ring) or
    /// is already being cancelled; `EINVAL` in a forked child.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use aiopoll::{Context, Op, PollEvents};
    ///
    /// let ctx = Context::new(8)?;
    /// let (rx, _tx) = std::os::unix::net::UnixStream::pair()?;
    /// let token = ctx.submit(Op::poll(rx.as_fd(), PollEvents::IN))?;
    /// ctx.cancel(token)?;
    /// let done = ctx.wait(1, None)?;
    /// assert_eq!(done[0].result(), Ok(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancel(&self, token: Token) -> Result<(), Errno> {
        self.engine.cancel(token.0)
    }

    /// Cancels every poll in flight; returns how many the kernel found. Their last
    /// completions come through the ring.
    pub fn cancel_all(&self) -> usize {
        self.engine.cancel_polls()
    }
}

impl AsFd for Context {
    /// The context fd, pollable: readable while the ring holds completions.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.engine.fd()
    }
}

impl AsRawFd for Context {
    fn as_raw_fd(&self) -> RawFd {
        self.engine.fd().as_raw_fd()
    }
}
