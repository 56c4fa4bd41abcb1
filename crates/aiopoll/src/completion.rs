// SPDX-License-Identifier: MIT OR Apache-2.0
//! Completions: what a context gives back for each event of a request.

use std::fmt;

use rustix::io::Errno;

use crate::buf::Buffers;
use crate::engine::Event;
use crate::flags::PollEvents;
use crate::op::{Op, Opcode};

/// Identifies a submitted request, for [`Context::cancel`](crate::Context::cancel) and to
/// match completions ([`Completion::token`]). Tokens are unique within a context, never
/// reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(crate) u64);

impl Token {
    /// The number behind the token (the iocb's `aio_data`; 1 for a context's first request).
    pub fn id(self) -> u64 {
        self.0
    }
}

/// One event of a request: its result, and, with the last event of the request, the buffers
/// it owned.
///
/// A request has exactly one completion, except a multishot poll: one per readiness with
/// [`more`](Completion::more) set, then a last one with `more` unset.
///
/// # Examples
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use aiopoll::{Context, Op};
///
/// let ctx = Context::new(8)?;
/// let file = std::fs::File::open("/etc/hostname")?;
/// let token = ctx.submit(Op::read(file.as_fd(), vec![0; 64]).with_user_data(1))?;
/// let c = ctx.wait(1, None)?.pop().unwrap();
/// assert_eq!(c.token(), token);
/// assert_eq!(c.user_data(), 1);
/// let n = c.result()?;
/// let buf = c.into_buffers().into_single().unwrap();
/// println!("{}", String::from_utf8_lossy(&buf[..n]));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Completion {
    token: Token,
    user_data: u64,
    opcode: Opcode,
    res: i64,
    res2: i64,
    more: bool,
    buffers: Buffers,
}

impl Completion {
    pub(crate) fn from_event(e: Event) -> Self {
        Completion {
            token: Token(e.id),
            user_data: e.user_data,
            opcode: e.opcode,
            res: e.res,
            res2: e.res2,
            more: e.more,
            buffers: e.buffers,
        }
    }

    /// The token [`Context::submit`](crate::Context::submit) returned for the request.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The request's user data ([`Op::with_user_data`]).
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// The request's opcode.
    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The result: bytes transferred for reads and writes, the ready mask for polls, 0
    /// otherwise.
    ///
    /// # Errors
    ///
    /// The request's errno when `res` is negative: for example `EAGAIN` for a
    /// [`RwFlags::NOWAIT`](crate::RwFlags::NOWAIT) read with nothing to read, `EOVERFLOW`
    /// for the last completion of a multishot poll that ran out of ring slots, `EINTR` when
    /// the kernel restarted it.
    pub fn result(&self) -> Result<usize, Errno> {
        if self.res < 0 {
            Err(Errno::from_raw_os_error((-self.res) as i32))
        } else {
            Ok(self.res as usize)
        }
    }

    /// The result of a poll as event bits; empty for a cancelled poll.
    ///
    /// A poll that completes at submission reports the events it asked for that are ready
    /// (plus `ERR` and `HUP`); one woken up later reports the waker's whole key, as fs/aio
    /// does: `IN | RDNORM` for a pipe asked for `IN`, say.
    ///
    /// # Errors
    ///
    /// As [`result`](Completion::result).
    pub fn poll_events(&self) -> Result<PollEvents, Errno> {
        self.result()
            .map(|r| PollEvents::from_bits_retain(r as u16))
    }

    /// The raw `res` of the `io_event`.
    pub fn raw_result(&self) -> i64 {
        self.res
    }

    /// The raw `res2` of the `io_event` (`AIOPOLL_POLL_MORE` for a multishot event that is
    /// not the last).
    pub fn res2(&self) -> i64 {
        self.res2
    }

    /// Whether more completions of the same request follow (a multishot poll still armed).
    pub fn more(&self) -> bool {
        self.more
    }

    /// The buffers the request owned; none ([`Buffers::is_none`]) while
    /// [`more`](Completion::more) is set and for requests without buffers.
    pub fn buffers(&self) -> &Buffers {
        &self.buffers
    }

    /// Takes the buffers back.
    pub fn into_buffers(self) -> Buffers {
        self.buffers
    }
}

/// A submission the kernel refused, with the refused request (and its buffers) given back.
pub struct SubmitError<'fd> {
    pub(crate) errno: Errno,
    pub(crate) op: Op<'fd>,
}

impl<'fd> SubmitError<'fd> {
    /// Why: `EAGAIN` when the ring is full, `EBADF` for a closed fd, `EINVAL` for a bad
    /// request, and so on (see the ABI reference).
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The request, to retry it or to take its buffers back.
    pub fn into_op(self) -> Op<'fd> {
        self.op
    }
}

impl fmt::Debug for SubmitError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("errno", &self.errno)
            .field("op", &self.op)
            .finish()
    }
}

impl fmt::Display for SubmitError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "aiopoll submit of {:?}: {}",
            self.op.opcode(),
            self.errno
        )
    }
}

impl std::error::Error for SubmitError<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.errno)
    }
}

impl From<SubmitError<'_>> for Errno {
    fn from(e: SubmitError<'_>) -> Errno {
        e.errno
    }
}

impl From<SubmitError<'_>> for std::io::Error {
    fn from(e: SubmitError<'_>) -> std::io::Error {
        e.errno.into()
    }
}
