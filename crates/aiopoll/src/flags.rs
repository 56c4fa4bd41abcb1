// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bit sets of the API: poll events, `RWF_*` flags and feature bits (`bitflags` types), and
//! signal masks.

use bitflags::bitflags;
use rustix::io::Errno;

bitflags! {
    /// `POLL*` event bits of a poll request (the low 16 bits of `aio_buf`) and of its result.
    ///
    /// A `bitflags` type: `|`, `&`, `contains`, `intersects`, `from_bits_retain` (raw bits
    /// kept as they are: the kernel refuses the ones it does not know), and a `Debug` that
    /// names the bits.
    ///
    /// ```
    /// use aiopoll::PollEvents;
    ///
    /// let ev = PollEvents::IN | PollEvents::RDHUP;
    /// assert!(ev.contains(PollEvents::IN));
    /// assert!(!ev.contains(PollEvents::OUT));
    /// assert_eq!(ev.bits(), 0x2001);
    /// assert_eq!(format!("{ev:?}"), "PollEvents(IN | RDHUP)");
    /// assert_eq!(PollEvents::from_bits_retain(0x4001).bits(), 0x4001);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct PollEvents: u16 {
        /// `POLLIN`: readable.
        const IN = 0x0001;
        /// `POLLPRI`: urgent data.
        const PRI = 0x0002;
        /// `POLLOUT`: writable.
        const OUT = 0x0004;
        /// `POLLERR`: error (always reported).
        const ERR = 0x0008;
        /// `POLLHUP`: hang-up (always reported).
        const HUP = 0x0010;
        /// `POLLNVAL`.
        const NVAL = 0x0020;
        /// `POLLRDNORM`.
        const RDNORM = 0x0040;
        /// `POLLRDBAND`.
        const RDBAND = 0x0080;
        /// `POLLWRNORM`.
        const WRNORM = 0x0100;
        /// `POLLWRBAND`.
        const WRBAND = 0x0200;
        /// `POLLMSG`.
        const MSG = 0x0400;
        /// `POLLRDHUP`: the peer shut down writing.
        const RDHUP = 0x2000;
    }
}

bitflags! {
    /// `RWF_*` flags of a read or write (`aio_rw_flags`).
    ///
    /// ```
    /// use aiopoll::RwFlags;
    ///
    /// assert_eq!((RwFlags::NOWAIT | RwFlags::DSYNC).bits(), 0x0a);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct RwFlags: u32 {
        /// `RWF_HIPRI`: polled I/O (O_DIRECT files of devices with poll queues).
        const HIPRI = 0x01;
        /// `RWF_DSYNC`: per-write `O_DSYNC`.
        const DSYNC = 0x02;
        /// `RWF_SYNC`: per-write `O_SYNC`.
        const SYNC = 0x04;
        /// `RWF_NOWAIT`: fail with `EAGAIN` rather than block.
        const NOWAIT = 0x08;
        /// `RWF_APPEND`: per-write `O_APPEND`.
        const APPEND = 0x10;
        /// `RWF_NOAPPEND`: ignore `O_APPEND` for this write.
        const NOAPPEND = 0x20;
        /// `RWF_ATOMIC`: untorn write.
        const ATOMIC = 0x40;
        /// `RWF_DONTCACHE`: drop the page cache pages after the I/O.
        const DONTCACHE = 0x80;
    }
}

bitflags! {
    /// `AIOPOLL_FEAT_*` bits of the running module ([`Version::features`](crate::Version)).
    ///
    /// ```
    /// use aiopoll::Features;
    ///
    /// assert!(Features::ALL.contains(Features::POLL));
    /// assert_eq!(Features::ALL, Features::all());
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Features: u64 {
        /// `AIOPOLL_FEAT_CONTEXT` (ABI 1.1): ring, submit, getevents, cancel.
        const CONTEXT = 1 << 0;
        /// `AIOPOLL_FEAT_SIGMASK` (ABI 1.2): getevents swaps the signal mask.
        const SIGMASK = 1 << 1;
        /// `AIOPOLL_FEAT_POLL` (ABI 1.3): `IOCB_CMD_POLL`, cancel, multishot.
        const POLL = 1 << 2;
        /// `AIOPOLL_FEAT_HIPRI` (ABI 1.4): polled block I/O with `RWF_HIPRI`.
        const HIPRI = 1 << 3;
        /// `AIOPOLL_FEAT_COMPAT` (ABI 1.5): 32-bit callers.
        const COMPAT = 1 << 4;
        /// `AIOPOLL_FEAT_SUBMIT_WAIT` (ABI 1.6): submit and wait in one call
        /// ([`Context::submit_and_wait`](crate::Context::submit_and_wait)).
        const SUBMIT_WAIT = 1 << 5;
        /// `AIOPOLL_FEAT_DESTROY` (ABI 1.7): `AIOPOLL_IOC_DESTROY`, io_destroy(2)'s semantics
        /// (waiters woken, in-flight I/O waited for) before the file is closed.
        const DESTROY = 1 << 6;
    }
}

impl Features {
    /// Every feature this crate knows (`AIOPOLL_FEATURES`).
    pub const ALL: Features = Features::from_bits_retain(0x7f);
}

/// A set of signals 1 to 64 in the kernel's `sigset_t` format (bit `n - 1` for signal `n`,
/// 8 bytes), for [`Context::wait_with_sigmask`](crate::Context::wait_with_sigmask).
///
/// ```
/// use aiopoll::SigMask;
///
/// let m = SigMask::full().without(libc::SIGUSR1);
/// assert!(!m.contains(libc::SIGUSR1));
/// assert!(m.contains(libc::SIGUSR2));
/// assert_eq!(SigMask::empty().with(1).bits(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigMask(u64);

impl SigMask {
    /// No signal.
    pub const fn empty() -> Self {
        SigMask(0)
    }

    /// Every signal (the kernel never blocks `SIGKILL` and `SIGSTOP` anyway).
    pub const fn full() -> Self {
        SigMask(u64::MAX)
    }

    /// From the kernel's bits.
    pub const fn from_bits(bits: u64) -> Self {
        SigMask(bits)
    }

    /// The kernel's bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The calling thread's blocked signals (`pthread_sigmask(2)`).
    ///
    /// # Errors
    ///
    /// The errno of `pthread_sigmask` (none in practice).
    pub fn current_thread() -> Result<Self, Errno> {
        crate::sys::current_sigmask().map(SigMask)
    }

    const fn bit(signo: i32) -> u64 {
        if signo >= 1 && signo <= 64 {
            1 << (signo - 1)
        } else {
            0
        }
    }

    /// `self` plus signal `signo` (numbers outside 1..=64 are ignored).
    pub const fn with(self, signo: i32) -> Self {
        SigMask(self.0 | Self::bit(signo))
    }

    /// `self` without signal `signo` (numbers outside 1..=64 are ignored).
    pub const fn without(self, signo: i32) -> Self {
        SigMask(self.0 & !Self::bit(signo))
    }

    /// Whether signal `signo` is in the set.
    pub const fn contains(self, signo: i32) -> bool {
        self.0 & Self::bit(signo) != 0
    }
}
