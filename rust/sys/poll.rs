// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_POLL`'s wait-queue entries, their arming and wake-up, and the poll masks.

use super::{
    shim,
    to_result, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        atomic::{
            ordering::Relaxed,
            Atomic, //
        },
        Arc,
        ArcBorrow, //
    },
    types::Opaque, //
};

/// The C `struct aiopoll_pwait` (`rust/shim.h`): a wait-queue entry and the queue it is on.
#[repr(C)]
pub(crate) struct RawPWait {
    wait: bindings::wait_queue_entry,
    head: *mut bindings::wait_queue_head,
}

/// A wait-queue entry of a poll request, embedded in the request.
#[repr(transparent)]
pub(crate) struct PollWait(Opaque<RawPWait>);

// SAFETY: The entry is only touched under its queue's lock or by the one owner of the request
// before it is queued; it carries no thread-bound state.
unsafe impl Send for PollWait {}
// SAFETY: As above.
unsafe impl Sync for PollWait {}

/// The lock of the queue a [`PollWait`] is on, held with interrupts off and the RCU read lock;
/// see [`PollWait::lock`].
///
/// # Invariants
///
/// `aiopoll_pwait_lock()` locked `head` (the queue `pw` is on, with `pw` still on it) and the
/// RCU read lock, saving the interrupt state in `flags`; both are released once, by `drop`.
pub(crate) struct PollWaitGuard<'a> {
    pw: &'a PollWait,
    head: NonNull<bindings::wait_queue_head>,
    flags: c_ulong,
    /// Interrupts are disabled on this CPU: the guard must not leave the thread.
    _not_send: PhantomData<*mut ()>,
}

impl PollWaitGuard<'_> {
    /// Takes the entry off its queue.
    pub(crate) fn remove(&self) {
        // SAFETY: The queue's lock is held (type invariant of the guard).
        unsafe { shim::aiopoll_pwait_del_locked(self.pw.0.get()) }
    }
}

impl Drop for PollWaitGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `aiopoll_pwait_lock` locked this queue and the RCU read
        // lock for us, with `flags`.
        unsafe { shim::aiopoll_pwait_unlock(self.head.as_ptr(), self.flags) }
    }
}

/// The entry being woken, for the duration of its wake-up callback, whose caller holds the
/// entry's queue lock.
///
/// # Invariants
///
/// `pw` is an entry on the queue being woken, whose lock is held for the whole lifetime `'a`
/// (the callback's), on this thread.
pub(crate) struct WokenEntry<'a> {
    pw: *mut RawPWait,
    _callback: PhantomData<&'a mut RawPWait>,
}

impl WokenEntry<'_> {
    /// Takes the entry off its queue.
    pub(crate) fn remove(&self) {
        // SAFETY: The wake-up's caller holds the queue's lock (type invariant).
        unsafe { shim::aiopoll_pwait_del_locked(self.pw) }
    }

    /// POLLFREE: takes the entry off its queue for good (the queue is about to be freed) and
    /// publishes that with a release store. This must be the wake-up's last access to the
    /// request that owns the entry, which may be completed and freed on another CPU right
    /// after (see `aiopoll_pwait_pollfree_locked()`): it consumes the entry, and the caller
    /// must touch nothing of the request afterwards.
    pub(crate) fn remove_pollfree(self) {
        // SAFETY: The wake-up's caller holds the queue's lock (type invariant).
        unsafe { shim::aiopoll_pwait_pollfree_locked(self.pw) }
    }
}

impl PollWait {
    /// An entry on no queue.
    pub(crate) fn new() -> Self {
        Self(Opaque::zeroed())
    }

    /// Prepares the entry for `owner` before it is queued: its wake-ups will call
    /// [`PollOwner::poll_wake`] with `owner`.
    fn init<T: PollOwner>(&self, owner: *const T) {
        // SAFETY: The entry is not on any queue yet; `owner` is only stored, and `poll_wake`
        // has the signature of a `wait_queue_func_t`.
        unsafe { shim::aiopoll_pwait_init(self.0.get(), owner.cast_mut().cast(), poll_wake::<T>) }
    }

    /// Locks the queue the entry is on, if it still is on one (fs/aio's
    /// `poll_iocb_lock_wq()`), with interrupts disabled until the guard is dropped.
    pub(crate) fn lock(&self) -> Option<PollWaitGuard<'_>> {
        let mut flags: c_ulong = 0;
        // SAFETY: The entry was initialised (or is zeroed, with no queue); the shim reads its
        // queue under RCU and takes the queue's lock with interrupts saved in `flags`.
        let head = NonNull::new(unsafe { shim::aiopoll_pwait_lock(self.0.get(), &mut flags) })?;
        // INVARIANT: `aiopoll_pwait_lock` returned the locked queue.
        Some(PollWaitGuard {
            pw: self,
            head,
            flags,
            _not_send: PhantomData,
        })
    }
}

/// The wait-queue entries of a poll request: the first embedded, the second allocated (by the
/// shim's queue callback) only for a file with two queues.
///
/// # Invariants
///
/// `second` is null or points to an entry allocated by `aiopoll_poll_queue_proc()` for this
/// object, freed only on drop; it is set only when a second entry was queued (after the first).
pub(crate) struct PollWaits {
    first: PollWait,
    second: Atomic<*mut RawPWait>,
}

impl PollWaits {
    /// Entries on no queue.
    pub(crate) fn new() -> Self {
        // INVARIANT: nothing allocated, nothing queued.
        Self {
            first: PollWait::new(),
            second: Atomic::new(core::ptr::null_mut()),
        }
    }

    /// Whether the arming queued a second entry (read after it handed the request over): a
    /// request on one queue only can be completed under that queue's lock alone.
    pub(crate) fn has_second(&self) -> bool {
        !self.second.load(Relaxed).is_null()
    }

    /// The entries that may have been queued (some may never have been, or have left their
    /// queue since: [`PollWait::lock`] finds no queue for those).
    pub(crate) fn queued(&self) -> impl Iterator<Item = &PollWait> {
        let second = self.second.load(Relaxed);
        // SAFETY: By the type invariant a non-null `second` is an entry of ours that lives
        // until we are dropped; `PollWait` is a transparent wrapper of `RawPWait`.
        let second = (!second.is_null()).then(|| unsafe { &*second.cast::<PollWait>() });
        Iterator::chain(core::iter::once(&self.first), second)
    }
}

impl Drop for PollWaits {
    fn drop(&mut self) {
        let second = self.second.load(Relaxed);
        if !second.is_null() {
            // SAFETY: By the type invariant the entry was allocated by the shim for us; the
            // owner is being dropped, so the entry is on no queue any more (see `poll_arm`).
            unsafe { shim::aiopoll_pwait_free(second) };
        }
    }
}

/// An object, kept in an [`Arc`], that embeds [`PollWaits`] and is told of the wake-ups of the
/// queues [`poll_arm`] put them on.
///
/// # Safety
///
/// Once [`PollOwner::poll_wake`] has called [`WokenEntry::remove_pollfree`], it must not touch
/// the owner (`this`) again: from then on the owner may be completed and freed on another CPU.
pub(crate) unsafe trait PollOwner: Sized + Send + Sync {
    /// A wake-up of `entry`, one of the owner's entries, with the wake-up's key `mask` (0 when
    /// it has none). Called with the entry's queue lock held, often with interrupts off.
    /// Returns whether the wake-up was for the owner.
    fn poll_wake(this: ArcBorrow<'_, Self>, entry: WokenEntry<'_>, mask: u32) -> bool;
}

/// Queues the entries `pw` of `owner` on the wait queues `file`'s `->poll` names, and returns
/// the ready mask, how many entries were queued (0 to 2), and the error that stopped the
/// arming: `EINVAL` for more than two queues, `ENOMEM`. From here on the queued entries may be
/// woken, which calls [`PollOwner::poll_wake`] with `owner`.
///
/// # Safety
///
/// `pw` must live inside `*owner`, and be armed at most once; `*owner` must stay alive (the
/// caller keeps a reference for this) until every queued entry has been taken off its queue
/// again (under its queue's lock, or by POLLFREE).
pub(crate) unsafe fn poll_arm<T: PollOwner>(
    owner: &Arc<T>,
    file: &File,
    events: u32,
    pw: &PollWaits,
) -> (u32, u32, Result) {
    pw.first.init(Arc::as_ptr(owner));
    let mut queued: c_int = 0;
    let mut error: c_int = 0;
    // SAFETY: The first entry is initialised and lives in `owner`, which the caller keeps
    // alive while the entries are queued; `second` is ours to fill; `file` is valid.
    let mask = unsafe {
        shim::aiopoll_poll_arm(
            file.as_ptr(),
            events,
            pw.first.0.get(),
            pw.second.as_ptr(),
            &mut queued,
            &mut error,
        )
    };
    // INVARIANT: the shim stored `second` only for a second entry it queued.
    (mask, queued.clamp(0, 2) as u32, to_result(error))
}

/// The ready mask of `file` for `events`, without queueing anything.
pub(crate) fn poll_mask(file: &File, events: u32) -> u32 {
    // SAFETY: `file` is valid.
    unsafe { shim::aiopoll_poll_mask(file.as_ptr(), events) }
}

/// `mangle_poll()` and `demangle_poll()` of `<linux/poll.h>`: `$v` with each kernel `EPOLL*`
/// bit (the values of `<uapi/linux/eventpoll.h>`, the same on every architecture;
/// `rust/shim.c` checks them) moved to the architecture's user `POLL*` bit, or back. Written
/// out term by term, as in C, so that every shift folds to a constant.
macro_rules! map_poll_bits {
    ($v:expr, $dir:ident) => {{
        let v: u32 = $v;
        map_poll_bits!(@ $dir, v, 0x1, bindings::POLLIN)
            | map_poll_bits!(@ $dir, v, 0x4, bindings::POLLOUT)
            | map_poll_bits!(@ $dir, v, 0x2, bindings::POLLPRI)
            | map_poll_bits!(@ $dir, v, 0x8, bindings::POLLERR)
            | map_poll_bits!(@ $dir, v, 0x20, bindings::POLLNVAL)
            | map_poll_bits!(@ $dir, v, 0x40, bindings::POLLRDNORM)
            | map_poll_bits!(@ $dir, v, 0x80, bindings::POLLRDBAND)
            | map_poll_bits!(@ $dir, v, 0x100, bindings::POLLWRNORM)
            | map_poll_bits!(@ $dir, v, 0x200, bindings::POLLWRBAND)
            | map_poll_bits!(@ $dir, v, 0x10, bindings::POLLHUP)
            | map_poll_bits!(@ $dir, v, 0x2000, bindings::POLLRDHUP)
            | map_poll_bits!(@ $dir, v, 0x400, bindings::POLLMSG)
    }};
    (@ to_user, $v:ident, $epoll:expr, $poll:expr) => {
        map_bit::<{ $epoll }, { $poll }>($v)
    };
    (@ to_kernel, $v:ident, $epoll:expr, $poll:expr) => {
        map_bit::<{ $poll }, { $epoll }>($v)
    };
}

/// `__MAP()` of `<linux/poll.h>`: bit `FROM` of `v` moved to bit `TO` (both single bits).
#[inline(always)]
const fn map_bit<const FROM: u32, const TO: u32>(v: u32) -> u32 {
    if FROM < TO {
        (v & FROM) * (TO / FROM)
    } else {
        (v & FROM) / (FROM / TO)
    }
}

/// `demangle_poll()`: user `POLL*` bits to the kernel's `EPOLL*` mask.
pub(crate) fn demangle_poll(val: u16) -> u32 {
    map_poll_bits!(u32::from(val), to_kernel)
}

/// `mangle_poll()`: the kernel's mask to user `POLL*` bits (16 bits, as in the kernel).
pub(crate) fn mangle_poll(mask: u32) -> u16 {
    map_poll_bits!(mask & 0xffff, to_user) as u16
}

/// The wake-up function (`wait_queue_func_t`) of the poll entries of a `T`, called by the
/// queue's wake-up with its lock held, often with interrupts off.
///
/// # Safety
///
/// `wait` must be the entry of a [`RawPWait`] that [`poll_arm`] queued for a `T`, on the queue
/// being woken; `key` is the wake-up's key.
unsafe extern "C" fn poll_wake<T: PollOwner>(
    wait: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: By the caller's contract `wait` is the `wait` field of a `RawPWait`.
    let pw = unsafe { kernel::container_of!(wait, RawPWait, wait) };
    // SAFETY: `wait` is valid (the caller's contract); `PollWait::init` set `private` to the
    // owner before the entry was queued, and nothing changes it afterwards.
    let owner = unsafe { (*wait).private };
    // SAFETY: A queued entry's owner lives in an `Arc` and is kept alive until every entry
    // was taken off its queue (the contract of `poll_arm`), which needs this queue's lock, held
    // by our caller for the whole call.
    let this = unsafe { ArcBorrow::from_raw(owner.cast::<T>()) };
    // INVARIANT: `pw` is on the queue being woken, whose lock our caller holds during the call,
    // which is the entry's lifetime.
    let entry = WokenEntry {
        pw,
        _callback: PhantomData,
    };
    // `key_to_poll()`: a poll wake-up's key is its mask.
    let mask = key as usize as u32;
    c_int::from(T::poll_wake(this, entry, mask))
}
