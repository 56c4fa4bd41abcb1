// SPDX-License-Identifier: MIT OR Apache-2.0
//! Submission builders: [`Op`] and its flag types.

use std::fmt;
use std::marker::PhantomData;

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::buf::{Buffers, IoBuf, IoBufMut, Many, One};
use crate::flags::{PollEvents, RwFlags};

/// What a request does: the `IOCB_CMD_*` opcode of its iocb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// `IOCB_CMD_PREAD`: read into one buffer.
    Read,
    /// `IOCB_CMD_PWRITE`: write one buffer.
    Write,
    /// `IOCB_CMD_PREADV`: read into several buffers.
    Readv,
    /// `IOCB_CMD_PWRITEV`: write several buffers.
    Writev,
    /// `IOCB_CMD_FSYNC`.
    Fsync,
    /// `IOCB_CMD_FDSYNC`.
    Fdsync,
    /// `IOCB_CMD_POLL`, one-shot or multishot.
    Poll,
    /// `IOCB_CMD_NOOP`: completes at once with result 0 (an aiopoll extension).
    Noop,
}

/// The lifetime-free content of an [`Op`], turned into an iocb by the engine.
#[derive(Debug)]
pub(crate) struct OpParts {
    pub opcode: Opcode,
    pub fd: RawFd,
    pub offset: u64,
    pub rw_flags: u32,
    pub resfd: Option<RawFd>,
    pub ioprio: Option<u16>,
    pub user_data: u64,
    pub poll_events: u16,
    pub multishot: bool,
    pub buffers: Buffers,
}

/// One request to submit: an opcode, its file, its owned buffers and options.
///
/// The file descriptors are borrowed (`'fd`) until submission only: the kernel takes its own
/// reference to the files then, so they may be closed while the request is in flight. The
/// buffers are owned: [`Context::submit`](crate::Context::submit) moves them into the
/// context, and the request's [`Completion`](crate::Completion) gives them back.
///
/// # Examples
///
/// Building requests needs no device:
///
/// ```
/// use std::os::fd::AsFd;
/// use aiopoll::{Op, Opcode, PollEvents, RwFlags};
///
/// let file = std::fs::File::open("/dev/null")?;
/// let read = Op::read(file.as_fd(), vec![0; 4096])
///     .with_offset(8192)
///     .with_rw_flags(RwFlags::NOWAIT)
///     .with_user_data(7);
/// assert_eq!(read.opcode(), Opcode::Read);
/// assert_eq!(read.offset(), 8192);
/// assert_eq!(read.user_data(), 7);
/// assert_eq!(read.buffers().len(), 4096);
///
/// let poll = Op::poll_multishot(file.as_fd(), PollEvents::IN);
/// assert!(poll.is_multishot());
/// assert_eq!(poll.poll_events(), PollEvents::IN);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Op<'fd> {
    pub(crate) parts: OpParts,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

impl fmt::Debug for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("opcode", &self.parts.opcode)
            .field("fd", &self.parts.fd)
            .field("offset", &self.parts.offset)
            .field("user_data", &self.parts.user_data)
            .field("bytes", &self.parts.buffers.len())
            .finish_non_exhaustive()
    }
}

impl<'fd> Op<'fd> {
    fn new(opcode: Opcode, fd: RawFd, buffers: Buffers) -> Self {
        Op {
            parts: OpParts {
                opcode,
                fd,
                offset: 0,
                rw_flags: 0,
                resfd: None,
                ioprio: None,
                user_data: 0,
                poll_events: 0,
                multishot: false,
                buffers,
            },
            _fd: PhantomData,
        }
    }

    pub(crate) fn from_parts(parts: OpParts) -> Self {
        Op {
            parts,
            _fd: PhantomData,
        }
    }

    /// Reads up to `buf.bytes_len()` bytes of `fd` at the offset (`IOCB_CMD_PREAD`) into
    /// `buf`: a `Vec<u8>` (its length, not its capacity), a `Box<[u8]>`, an
    /// [`AlignedBuf`](crate::AlignedBuf) for `O_DIRECT`, or any [`IoBufMut`].
    ///
    /// The completion's result is the number of bytes read; the buffer comes back with its
    /// length unchanged, its first `n` bytes filled ([`Buffers::downcast`]).
    pub fn read<B: IoBufMut>(fd: BorrowedFd<'fd>, buf: B) -> Self {
        let buffers = Buffers::single(Box::new(One::<B, true>(buf)));
        Self::new(Opcode::Read, fd.as_raw_fd(), buffers)
    }

    /// Writes the whole of `buf` to `fd` at the offset (`IOCB_CMD_PWRITE`); `buf` is any
    /// [`IoBuf`].
    pub fn write<B: IoBuf>(fd: BorrowedFd<'fd>, buf: B) -> Self {
        let buffers = Buffers::single(Box::new(One::<B, false>(buf)));
        Self::new(Opcode::Write, fd.as_raw_fd(), buffers)
    }

    /// Reads into `bufs` in order, each up to its length (`IOCB_CMD_PREADV`; at most 1024
    /// buffers). They come back as the `Vec` ([`Buffers::downcast_vectored`]).
    pub fn readv<B: IoBufMut>(fd: BorrowedFd<'fd>, bufs: Vec<B>) -> Self {
        let buffers = Buffers::vectored(Box::new(Many::<B, true>(bufs)));
        Self::new(Opcode::Readv, fd.as_raw_fd(), buffers)
    }

    /// Writes `bufs` in order (`IOCB_CMD_PWRITEV`; at most 1024 buffers).
    pub fn writev<B: IoBuf>(fd: BorrowedFd<'fd>, bufs: Vec<B>) -> Self {
        let buffers = Buffers::vectored(Box::new(Many::<B, false>(bufs)));
        Self::new(Opcode::Writev, fd.as_raw_fd(), buffers)
    }

    /// `fsync(fd)` (`IOCB_CMD_FSYNC`), run by the module's workqueue.
    pub fn fsync(fd: BorrowedFd<'fd>) -> Self {
        Self::new(Opcode::Fsync, fd.as_raw_fd(), Buffers::default())
    }

    /// `fdatasync(fd)` (`IOCB_CMD_FDSYNC`).
    pub fn fdsync(fd: BorrowedFd<'fd>) -> Self {
        Self::new(Opcode::Fdsync, fd.as_raw_fd(), Buffers::default())
    }

    /// A request that completes at once with result 0 (`IOCB_CMD_NOOP`, an aiopoll
    /// extension).
    pub fn noop() -> Self {
        Self::new(Opcode::Noop, 0, Buffers::default())
    }

    /// Waits until `fd` is ready for `events` (`IOCB_CMD_POLL`, one-shot); the result is the
    /// ready mask ([`Completion::poll_events`](crate::Completion::poll_events)). `ERR` and
    /// `HUP` are always reported. The request holds its own reference to the file: closing
    /// `fd` does not end it; [`Context::cancel`](crate::Context::cancel) does.
    pub fn poll(fd: BorrowedFd<'fd>, events: PollEvents) -> Self {
        let mut op = Self::new(Opcode::Poll, fd.as_raw_fd(), Buffers::default());
        op.parts.poll_events = events.bits();
        op
    }

    /// A poll that stays armed (`AIOPOLL_IOCB_FLAG_MULTISHOT`): one completion per readiness
    /// with [`Completion::more`](crate::Completion::more) set, until it is cancelled (a last
    /// completion with result 0) or the ring has no room for another event (a last
    /// completion with `EOVERFLOW`).
    pub fn poll_multishot(fd: BorrowedFd<'fd>, events: PollEvents) -> Self {
        let mut op = Self::poll(fd, events);
        op.parts.multishot = true;
        op
    }

    /// Sets the file offset of a read or write (`aio_offset`; default 0; must be 0 for other
    /// kinds and for non-seekable files). Offsets above `i64::MAX` are refused by the kernel.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.parts.offset = offset;
        self
    }

    /// Sets the `RWF_*` flags of a read or write (`aio_rw_flags`).
    pub fn with_rw_flags(mut self, flags: RwFlags) -> Self {
        self.parts.rw_flags = flags.bits();
        self
    }

    /// Signals the eventfd `efd` once per completion (`IOCB_FLAG_RESFD`; for a multishot
    /// poll, once for its last completion).
    pub fn with_eventfd(mut self, efd: BorrowedFd<'fd>) -> Self {
        self.parts.resfd = Some(efd.as_raw_fd());
        self
    }

    /// Sets the I/O priority (`IOCB_FLAG_IOPRIO`, `aio_reqprio`, as `ioprio_set(2)` encodes
    /// it: class << 13 | level).
    pub fn with_ioprio(mut self, ioprio: u16) -> Self {
        self.parts.ioprio = Some(ioprio);
        self
    }

    /// Sets the caller's 64-bit value carried by the request's completions.
    pub fn with_user_data(mut self, user_data: u64) -> Self {
        self.parts.user_data = user_data;
        self
    }

    /// The opcode.
    pub fn opcode(&self) -> Opcode {
        self.parts.opcode
    }

    /// The offset set by [`with_offset`](Op::with_offset).
    pub fn offset(&self) -> u64 {
        self.parts.offset
    }

    /// The `RWF_*` flags.
    pub fn rw_flags(&self) -> RwFlags {
        RwFlags::from_bits_retain(self.parts.rw_flags)
    }

    /// The user data.
    pub fn user_data(&self) -> u64 {
        self.parts.user_data
    }

    /// The events a poll waits for (empty for other kinds).
    pub fn poll_events(&self) -> PollEvents {
        PollEvents::from_bits_retain(self.parts.poll_events)
    }

    /// Whether this is a multishot poll.
    pub fn is_multishot(&self) -> bool {
        self.parts.multishot
    }

    /// The buffers the request owns.
    pub fn buffers(&self) -> &Buffers {
        &self.parts.buffers
    }

    /// Gives the buffers back, dropping the request (after a failed submission, say).
    pub fn into_buffers(self) -> Buffers {
        self.parts.buffers
    }
}
