// SPDX-License-Identifier: MIT OR Apache-2.0
//! The ABI of `/dev/aiopoll` (`uapi/linux/aiopoll.h`, `<linux/aio_abi.h>`) and every raw
//! system call of the crate: the ioctls, the ring mapping, and the two libc calls (fork
//! generation, signal mask). This module, `buf` and `engine` are the only ones with `unsafe`
//! code (besides the registration of the fd with tokio's reactor in `tokio`).

use std::ffi::c_void;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

use rustix::io::Errno;
use rustix::ioctl::{opcode, Ioctl, IoctlOutput, Opcode};

/// `struct iocb` of `<linux/aio_abi.h>` (64 bytes, host endianness).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Iocb {
    pub aio_data: u64,
    #[cfg(target_endian = "little")]
    pub aio_key: u32,
    pub aio_rw_flags: u32,
    #[cfg(target_endian = "big")]
    pub aio_key: u32,
    pub aio_lio_opcode: u16,
    pub aio_reqprio: i16,
    pub aio_fildes: u32,
    pub aio_buf: u64,
    pub aio_nbytes: u64,
    pub aio_offset: i64,
    pub aio_reserved2: u64,
    pub aio_flags: u32,
    pub aio_resfd: u32,
}

/// `struct io_event` of `<linux/aio_abi.h>` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IoEvent {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

/// `struct iovec` with integer fields, so that requests holding an array of them stay `Send`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IoVec {
    pub base: usize,
    pub len: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct VersionArg {
    major: u32,
    minor: u32,
    features: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SetupArg {
    nr_events: u32,
    ring_id: u32,
    flags: u32,
    ring_nr: u32,
    ring_size: u64,
    reserved: [u64; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SubmitArg {
    nr: i64,
    iocbpp: u64,
    reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct GetEventsArg {
    min_nr: i64,
    nr: i64,
    events: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
    reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SubmitWaitArg {
    nr: i64,
    iocbpp: u64,
    min_nr: i64,
    max_nr: i64,
    events: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
    submitted: i64,
    reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CancelArg {
    iocb: u64,
    result: u64,
    reserved: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KernelTimespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

// Sizes of the ABI structures, as `rust/uapi.rs` and `rust/abi_check.c` check them in the
// module.
const _: () = assert!(size_of::<Iocb>() == 64);
const _: () = assert!(size_of::<IoEvent>() == 32);
const _: () = assert!(size_of::<IoVec>() == size_of::<libc::iovec>());
const _: () = assert!(size_of::<VersionArg>() == 16);
const _: () = assert!(size_of::<SetupArg>() == 40);
const _: () = assert!(size_of::<SubmitArg>() == 24);
const _: () = assert!(size_of::<GetEventsArg>() == 56);
const _: () = assert!(size_of::<CancelArg>() == 24);
const _: () = assert!(size_of::<SubmitWaitArg>() == 80);

/// The ioctl group of `/dev/aiopoll` (`AIOPOLL_IOC_MAGIC`).
const IOC_MAGIC: u8 = 0xA9;

pub(crate) const IOC_VERSION: Opcode = opcode::read::<VersionArg>(IOC_MAGIC, 0x00);
pub(crate) const IOC_SETUP: Opcode = opcode::read_write::<SetupArg>(IOC_MAGIC, 0x01);
pub(crate) const IOC_SUBMIT: Opcode = opcode::write::<SubmitArg>(IOC_MAGIC, 0x02);
pub(crate) const IOC_GETEVENTS: Opcode = opcode::write::<GetEventsArg>(IOC_MAGIC, 0x03);
pub(crate) const IOC_CANCEL: Opcode = opcode::write::<CancelArg>(IOC_MAGIC, 0x04);
pub(crate) const IOC_SUBMIT_WAIT: Opcode = opcode::read_write::<SubmitWaitArg>(IOC_MAGIC, 0x05);

pub(crate) const IOCB_CMD_PREAD: u16 = 0;
pub(crate) const IOCB_CMD_PWRITE: u16 = 1;
pub(crate) const IOCB_CMD_FSYNC: u16 = 2;
pub(crate) const IOCB_CMD_FDSYNC: u16 = 3;
pub(crate) const IOCB_CMD_POLL: u16 = 5;
pub(crate) const IOCB_CMD_NOOP: u16 = 6;
pub(crate) const IOCB_CMD_PREADV: u16 = 7;
pub(crate) const IOCB_CMD_PWRITEV: u16 = 8;

pub(crate) const IOCB_FLAG_RESFD: u32 = 1 << 0;
pub(crate) const IOCB_FLAG_IOPRIO: u32 = 1 << 1;
pub(crate) const AIOPOLL_IOCB_FLAG_MULTISHOT: u32 = 1 << 16;
pub(crate) const AIOPOLL_POLL_MORE: i64 = 1;

const RING_MAGIC: u32 = 0xa10a_10a1;
const RING_HEADER_LENGTH: usize = 32;
const RING_HEAD: usize = 8;
const RING_TAIL: usize = 12;
const RING_MAGIC_OFFSET: usize = 16;
const RING_INCOMPAT_OFFSET: usize = 24;
const RING_HEADER_LENGTH_OFFSET: usize = 28;

/// The kernel's `sizeof(sigset_t)` (64 signals), not glibc's 128 bytes.
pub(crate) const KERNEL_SIGSET_SIZE: u64 = 8;

/// One ioctl of the crate: `opcode`, with a pointer to `arg`; its output is the ioctl's
/// non-negative return value.
struct Call<'a, T> {
    opcode: Opcode,
    arg: &'a mut T,
}

// SAFETY: `as_ptr` is the address of the argument structure, which lives (`'a`) for the
// whole call; every opcode is used only with its own structure (the callers of `ioctl`
// below, whose contract says the rest); the kernel may write the structure (IS_MUTATING).
unsafe impl<T> Ioctl for Call<'_, T> {
    type Output = i32;
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn as_ptr(&mut self) -> *mut c_void {
        (self.arg as *mut T).cast()
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _arg: *mut c_void) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

/// `ioctl(fd, opcode, arg)`; the return value or the errno.
///
/// # Safety
///
/// `arg` must be what `opcode` expects, and every address in it valid for what the kernel
/// does with it, during the call and after it.
unsafe fn ioctl<T>(fd: BorrowedFd<'_>, opcode: Opcode, arg: &mut T) -> Result<i32, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { rustix::ioctl::ioctl(fd, Call { opcode, arg }) }
}

/// The answer of `AIOPOLL_IOC_VERSION`: major, minor, feature bits.
pub(crate) fn version(fd: BorrowedFd<'_>) -> Result<(u32, u32, u64), Errno> {
    let mut v = VersionArg::default();
    // SAFETY: VERSION writes a `struct aiopoll_version`, which `v` is, during the call only.
    unsafe { ioctl(fd, IOC_VERSION, &mut v) }?;
    Ok((v.major, v.minor, v.features))
}

/// `AIOPOLL_IOC_SETUP`: returns `(ring_nr, ring_size)`.
pub(crate) fn setup(fd: BorrowedFd<'_>, nr_events: u32) -> Result<(u32, u64), Errno> {
    let mut s = SetupArg {
        nr_events,
        ring_id: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: SETUP reads and writes a `struct aiopoll_setup`, which `s` is, during the call.
    unsafe { ioctl(fd, IOC_SETUP, &mut s) }?;
    Ok((s.ring_nr, s.ring_size))
}

/// `AIOPOLL_IOC_SUBMIT` of the iocbs at `iocbs`; the number submitted.
///
/// # Safety
///
/// Every pointer must point to a live `Iocb` that stays at its address, with every buffer or
/// iovec array it refers to, until the final event of its request has been reaped; nothing
/// may read or write those buffers meanwhile (the kernel may write them at any time).
pub(crate) unsafe fn submit(fd: BorrowedFd<'_>, iocbs: &[*mut Iocb]) -> Result<usize, Errno> {
    let mut s = SubmitArg {
        nr: iocbs.len() as i64,
        iocbpp: iocbs.as_ptr() as u64,
        reserved: 0,
    };
    // SAFETY: SUBMIT reads `s` and the pointer array during the call; the iocbs and their
    // buffers are the caller's contract.
    let n = unsafe { ioctl(fd, IOC_SUBMIT, &mut s) }?;
    Ok(n as usize)
}

/// The `timeout`, `sigmask` and `sigsetsize` fields of a wait's argument: the addresses of
/// the optional timeout and kernel-format mask (0 when absent), and the mask's size.
fn wait_ptrs(ts: Option<&mut KernelTimespec>, mask: Option<&mut u64>) -> (u64, u64, u64) {
    let timeout = ts.map_or(0, |ts| ts as *mut KernelTimespec as u64);
    match mask {
        Some(mask) => (timeout, mask as *mut u64 as u64, KERNEL_SIGSET_SIZE),
        None => (timeout, 0, 0),
    }
}

/// `AIOPOLL_IOC_GETEVENTS` into `events`: waits for `min_nr` events at most `timeout`
/// (`None`: no limit), with the kernel-format signal mask `sigmask` installed if given.
pub(crate) fn getevents(
    fd: BorrowedFd<'_>,
    min_nr: usize,
    events: &mut [IoEvent],
    timeout: Option<KernelTimespec>,
    sigmask: Option<u64>,
) -> Result<usize, Errno> {
    let (mut ts, mut mask) = (timeout, sigmask);
    let (timeout, sigmask, sigsetsize) = wait_ptrs(ts.as_mut(), mask.as_mut());
    let mut g = GetEventsArg {
        min_nr: min_nr as i64,
        nr: events.len() as i64,
        events: events.as_mut_ptr() as u64,
        timeout,
        sigmask,
        sigsetsize,
        reserved: 0,
    };
    // SAFETY: GETEVENTS reads `g`, `ts` and `mask` and writes at most `events.len()` events
    // into `events`, all during the call only.
    let n = unsafe { ioctl(fd, IOC_GETEVENTS, &mut g) }?;
    Ok(n as usize)
}

/// `AIOPOLL_IOC_SUBMIT_WAIT`: submits the iocbs at `iocbs`, then waits as
/// [`getevents`] does. Returns how many iocbs were submitted (also when the call then
/// failed: `EINTR`) and the number of events written to `events`, or the error.
///
/// # Safety
///
/// As [`submit`] for `iocbs`.
pub(crate) unsafe fn submit_wait(
    fd: BorrowedFd<'_>,
    iocbs: &[*mut Iocb],
    min_nr: usize,
    events: &mut [IoEvent],
    timeout: Option<KernelTimespec>,
    sigmask: Option<u64>,
) -> (usize, Result<usize, Errno>) {
    let (mut ts, mut mask) = (timeout, sigmask);
    let (timeout, sigmask, sigsetsize) = wait_ptrs(ts.as_mut(), mask.as_mut());
    let mut w = SubmitWaitArg {
        nr: iocbs.len() as i64,
        iocbpp: iocbs.as_ptr() as u64,
        min_nr: min_nr as i64,
        max_nr: events.len() as i64,
        events: events.as_mut_ptr() as u64,
        timeout,
        sigmask,
        sigsetsize,
        submitted: 0,
        reserved: 0,
    };
    // SAFETY: SUBMIT_WAIT reads `w`, `ts`, `mask` and the pointer array, writes
    // `w.submitted` and at most `events.len()` events into `events`, all during the call;
    // the iocbs and their buffers are the caller's contract.
    let r = unsafe { ioctl(fd, IOC_SUBMIT_WAIT, &mut w) };
    let submitted = usize::try_from(w.submitted).unwrap_or(0).min(iocbs.len());
    (submitted, r.map(|n| n as usize))
}

/// `AIOPOLL_IOC_CANCEL` of the request submitted with `iocb` (Ok(()) is never returned by the
/// module: EINPROGRESS means found).
///
/// # Safety
///
/// `iocb` must point to a live `Iocb` (the kernel reads its `aio_key` during the call).
pub(crate) unsafe fn cancel(fd: BorrowedFd<'_>, iocb: *const Iocb) -> Result<(), Errno> {
    let mut c = CancelArg {
        iocb: iocb as u64,
        result: 0,
        reserved: 0,
    };
    // SAFETY: CANCEL reads `c` and the `aio_key` of `*iocb`, during the call only; `iocb` is
    // live (the caller's contract).
    unsafe { ioctl(fd, IOC_CANCEL, &mut c) }?;
    Ok(())
}

/// The right to move the ring's `head`: one per ring, made by [`Ring::map`]. Whoever holds it
/// (`&mut`) is the ring's only consumer in user space; it must also keep
/// `AIOPOLL_IOC_GETEVENTS`, which moves `head` in the kernel, from running meanwhile.
#[derive(Debug)]
pub(crate) struct HeadToken(());

/// The mapped completion ring of a context: `struct aiopoll_ring`, then `nr` io_event slots.
#[derive(Debug)]
pub(crate) struct Ring {
    base: NonNull<u8>,
    size: usize,
    nr: u32,
}

// SAFETY: the ring is plain shared memory, accessed only through atomics and volatile reads;
// `Ring` has no thread affinity.
unsafe impl Send for Ring {}
// SAFETY: the methods read the ring (atomics and volatile reads); the one that moves `head`
// needs the ring's only `HeadToken` by `&mut`, so two threads never move it at once.
unsafe impl Sync for Ring {}

impl Ring {
    /// Maps the ring of the context `fd` (`size` bytes, `nr` slots, from SETUP) and checks
    /// its header; the ring and the right to consume it.
    pub(crate) fn map(fd: BorrowedFd<'_>, size: u64, nr: u32) -> Result<(Ring, HeadToken), Errno> {
        let size = usize::try_from(size).map_err(|_| Errno::NOMEM)?;
        if nr < 2 || size < RING_HEADER_LENGTH + nr as usize * size_of::<IoEvent>() {
            return Err(Errno::INVAL);
        }
        // SAFETY: a new shared mapping at an address the kernel chooses: no existing memory
        // is affected. It is unmapped only by `Drop`.
        let p = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                size,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        let ring = Ring {
            base: NonNull::new(p.cast()).ok_or(Errno::NOMEM)?,
            size,
            nr,
        };
        if ring.load_u32(RING_MAGIC_OFFSET) != RING_MAGIC
            || ring.load_u32(RING_INCOMPAT_OFFSET) != 0
            || ring.load_u32(RING_HEADER_LENGTH_OFFSET) as usize != RING_HEADER_LENGTH
            || ring.load_u32(4) != nr
        {
            return Err(Errno::PROTO);
        }
        Ok((ring, HeadToken(())))
    }

    /// The `u32` of the header at byte `offset`.
    fn header(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset + 4 <= RING_HEADER_LENGTH && offset.is_multiple_of(4));
        // SAFETY: `offset` is inside the mapped header and 4-aligned (the mapping is
        // page-aligned); the memory lives as long as `self`. It is shared with the kernel,
        // which only ever accesses it as whole `u32`s: an atomic is the right view of it.
        unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn load_u32(&self, offset: usize) -> u32 {
        self.header(offset).load(Ordering::Relaxed)
    }

    /// Number of slots.
    pub(crate) fn nr(&self) -> u32 {
        self.nr
    }

    /// Events the kernel published that are not consumed yet (no system call).
    pub(crate) fn ready(&self) -> u32 {
        let head = self.header(RING_HEAD).load(Ordering::Relaxed) % self.nr;
        let tail = self.header(RING_TAIL).load(Ordering::Acquire) % self.nr;
        (tail + self.nr - head) % self.nr
    }

    /// Consumes up to `max` events from the ring without a system call, as libaio does:
    /// acquire-load `tail`, copy the events, release-store `head`. `_head` is this ring's
    /// token: no other thread consumes meanwhile.
    pub(crate) fn reap(
        &self,
        _head: &mut HeadToken,
        max: usize,
        mut f: impl FnMut(IoEvent),
    ) -> usize {
        let nr = self.nr;
        let mut head = self.header(RING_HEAD).load(Ordering::Relaxed) % nr;
        // The acquire pairs with the kernel's write barrier between filling a slot and
        // publishing the new tail: the events before `tail` are visible.
        let tail = self.header(RING_TAIL).load(Ordering::Acquire) % nr;
        let mut n = 0;
        while n < max && head != tail {
            let off = RING_HEADER_LENGTH + head as usize * size_of::<IoEvent>();
            // SAFETY: `head < nr` and `map` checked that `nr` slots fit in the mapping; the
            // slot is 8-aligned (page-aligned base, 32-byte header and slots). The kernel does
            // not write a published slot until `head` moves past it, so the copy is stable;
            // a volatile read because the memory is shared with the kernel.
            let ev = unsafe { std::ptr::read_volatile(self.base.as_ptr().add(off).cast()) };
            f(ev);
            head = (head + 1) % nr;
            n += 1;
        }
        if n > 0 {
            // Release: the copies above are done before the kernel may reuse the slots.
            self.header(RING_HEAD).store(head, Ordering::Release);
        }
        n
    }

    /// Drops the ring without unmapping it: in a forked child, where the mapping was not
    /// inherited and something else may live at that address now.
    pub(crate) fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base` and `size` are exactly the mapping `map` created, not unmapped
        // before (`forget` skips this), and nothing borrows from it any more (`&mut self`).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

/// Counts `fork()`s of this process (in the children), so that a context can tell that it
/// runs in a child, where the kernel refuses its ioctls and its ring is not mapped.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn atfork_child() {
    // Async-signal-safe: one atomic add.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, registering the fork handler on first use.
pub(crate) fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registers a child handler that only does an atomic add; handlers cannot be
        // unregistered, and the function is 'static.
        let r = unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
        assert_eq!(r, 0, "pthread_atfork failed");
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The calling thread's blocked signals 1..=64 as a kernel `sigset_t` (bit `n - 1`: signal n).
pub(crate) fn current_sigmask() -> Result<u64, Errno> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: a null new set only reads the current mask into `set`, valid for writes.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), set.as_mut_ptr()) };
    if r != 0 {
        return Err(Errno::from_raw_os_error(r));
    }
    // SAFETY: zero-initialised, then filled by `pthread_sigmask`.
    let set = unsafe { set.assume_init() };
    let mut bits = 0u64;
    for sig in 1..=64 {
        // SAFETY: `set` is an initialised sigset_t; `sigismember` only reads it and fails
        // with -1 for signal numbers the libc does not know.
        if unsafe { libc::sigismember(&set, sig) } == 1 {
            bits |= 1 << (sig - 1);
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_abi_reference() {
        assert_eq!(IOC_VERSION, 0x8010_a900);
        assert_eq!(IOC_SETUP, 0xc028_a901);
        assert_eq!(IOC_SUBMIT, 0x4018_a902);
        assert_eq!(IOC_GETEVENTS, 0x4038_a903);
        assert_eq!(IOC_CANCEL, 0x4018_a904);
        assert_eq!(IOC_SUBMIT_WAIT, 0xc050_a905);
    }

    #[test]
    fn iocb_layout() {
        assert_eq!(std::mem::offset_of!(Iocb, aio_lio_opcode), 16);
        assert_eq!(std::mem::offset_of!(Iocb, aio_fildes), 20);
        assert_eq!(std::mem::offset_of!(Iocb, aio_buf), 24);
        assert_eq!(std::mem::offset_of!(Iocb, aio_offset), 40);
        assert_eq!(std::mem::offset_of!(Iocb, aio_flags), 56);
        assert_eq!(std::mem::offset_of!(Iocb, aio_resfd), 60);
    }

    #[test]
    fn current_sigmask_sees_a_blocked_signal() {
        std::thread::spawn(|| {
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
            // SAFETY: initialises `set` and blocks SIGUSR2 in this short-lived thread only.
            unsafe {
                libc::sigemptyset(set.as_mut_ptr());
                libc::sigaddset(set.as_mut_ptr(), libc::SIGUSR2);
                libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
            }
            let m = current_sigmask().unwrap();
            assert_ne!(m & (1 << (libc::SIGUSR2 - 1)), 0);
        })
        .join()
        .unwrap();
    }
}
