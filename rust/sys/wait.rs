// SPDX-License-Identifier: GPL-2.0

//! Waiting and waking: the context's wait queues, the "inside an aiopoll wake-up" mark, the
//! interrupt state of wake-up callbacks, and the signal mask and timeout of `GETEVENTS`.

use super::{
    shim,
    to_result,
    workqueue::raw_workqueue, //
};
use core::marker::PhantomData;
use kernel::{
    bindings,
    interrupt::LocalInterruptDisabled,
    prelude::*,
    sync::LockClassKey,
    types::Opaque, //
};

/// How a wait on a [`WaitQueue`] ended.
pub(crate) enum WaitEnd {
    /// The condition became true.
    Done,
    /// The timeout expired first.
    TimedOut,
    /// A signal is pending.
    Interrupted,
}

/// A wait queue: wakes threads that wait for a condition.
///
/// Entries are added only by waits through this type, which remove their own before
/// returning, so the queue never needs `wake_up_pollfree()` and may be freed with its owner.
/// Its entries wake sleeping tasks and nothing else, so it may be woken anywhere, inside
/// another wake-up included.
#[repr(transparent)]
#[pin_data]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue head is designed to be used from any thread; it has its own lock.
unsafe impl Send for WaitQueue {}
// SAFETY: As above.
unsafe impl Sync for WaitQueue {}

/// Calls the `FnMut() -> bool` closure at `arg`.
///
/// # Safety
///
/// `arg` must point to an `F` that is valid and not otherwise accessed during the call.
unsafe extern "C" fn call_cond<F: FnMut() -> bool>(arg: *mut c_void) -> bool {
    // SAFETY: Guaranteed by the caller.
    let cond = unsafe { &mut *arg.cast::<F>() };
    cond()
}

impl WaitQueue {
    /// Creates a wait queue; `name` and `key` name its lock for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `__init_waitqueue_head` initialises the pinned slot it is given.
            head <- Opaque::ffi_init(move |slot| unsafe {
                shim::aiopoll_waitqueue_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Wakes every waiter (`wake_up_all()`); callable from any context.
    pub(crate) fn wake_all(&self) {
        // SAFETY: The head was initialised by `new`.
        unsafe { shim::aiopoll_wake_all(self.head.get()) }
    }

    fn wait<F: FnMut() -> bool>(
        &self,
        interruptible: bool,
        timeout: c_long,
        mut cond: F,
    ) -> c_long {
        let arg = core::ptr::from_mut(&mut cond).cast::<c_void>();
        // SAFETY: The head was initialised by `new`; `arg` points to `cond`, which outlives the
        // call and is only used through `call_cond` during it. `wait_event()` evaluates `cond`
        // after setting the task's sleeping state, so `cond` must not sleep (taking a
        // spinlock is fine, on PREEMPT_RT too, whose sleeping spinlocks keep that state).
        unsafe {
            shim::aiopoll_wait_event(self.head.get(), interruptible, timeout, call_cond::<F>, arg)
        }
    }

    /// Sleeps until `cond` returns true, a signal arrives, or `timeout` (in jiffies; `None`:
    /// no limit) expires. `cond` must not sleep.
    pub(crate) fn wait_interruptible(
        &self,
        timeout: Option<u64>,
        cond: impl FnMut() -> bool,
    ) -> WaitEnd {
        let max = kernel::task::MAX_SCHEDULE_TIMEOUT as u64;
        let timeout = timeout.map_or(max, |t| t.min(max - 1)) as c_long;
        match self.wait(true, timeout, cond) {
            0 => WaitEnd::TimedOut,
            ret if ret < 0 => WaitEnd::Interrupted,
            _ => WaitEnd::Done,
        }
    }
}

/// The C `struct aiopoll_pollq` (`rust/shim.h`): a wait queue and the work item that wakes it
/// from outside a wake-up.
#[repr(C)]
pub(crate) struct RawPollQueue {
    head: bindings::wait_queue_head,
    work: bindings::work_struct,
}

/// The queue that pollers of a file wait on (`poll_wait()`: poll, select, epoll, and poll
/// requests of other contexts), woken through [`wake_after_post`].
///
/// Its entries' callbacks may take any lock (epoll's, for one), so it is never woken inside
/// another wake-up; there the wake-up is deferred to a work item on the module's workqueue
/// (`rust/shim.c` explains the deadlock this avoids). Entries are added by `poll_wait()` on
/// the owning file: poll, select and epoll remove theirs before the file's `release`, and poll
/// requests hold a reference to the file, so the queue never needs `wake_up_pollfree()`.
///
/// # Invariants
///
/// `q` was initialised by `aiopoll_pollq_init()`; its work item is cancelled (and waited for)
/// on drop, before the memory goes.
#[pin_data(PinnedDrop)]
pub(crate) struct PollQueue {
    #[pin]
    q: Opaque<RawPollQueue>,
}

// SAFETY: The wait queue has its own lock and the work item is queued and cancelled with the
// workqueue API, which may be used from any thread.
unsafe impl Send for PollQueue {}
// SAFETY: As above.
unsafe impl Sync for PollQueue {}

impl PollQueue {
    /// Creates the queue; `name` and `key` name its lock for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `aiopoll_pollq_init` initialises the pinned slot it is given.
            // INVARIANT: initialised here.
            q <- Opaque::ffi_init(move |slot| unsafe {
                shim::aiopoll_pollq_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// The C wait queue head, for `poll_wait()`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::wait_queue_head {
        // SAFETY: `q` is valid memory; this only computes the address of a field.
        unsafe { &raw mut (*self.q.get()).head }
    }
}

/// After an event was posted: wakes the sleepers on `wait` (as [`WaitQueue::wake_all`]) and the
/// pollers on `pollers`, those that are there, behind one full barrier. The pollers are woken
/// at once, or from the queue's work item when the caller runs inside a wake-up (an inline
/// poll completion). Callable from any context.
pub(crate) fn wake_after_post(wait: &WaitQueue, pollers: &PollQueue) {
    let wq = raw_workqueue();
    if wq.is_null() {
        // No context (so no queue) exists without the module's workqueue.
        return;
    }
    // SAFETY: Both queues were initialised by their `new` (type invariants); `wq` is the
    // module's workqueue, valid until after the last context (which owns the queues) is gone.
    unsafe { shim::aiopoll_wake_after_post(wait.head.get(), pollers.q.get(), wq) }
}

#[pinned_drop]
impl PinnedDrop for PollQueue {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant `q` is initialised; after this no work item refers to
        // it.
        unsafe { shim::aiopoll_pollq_fini(self.q.get()) }
    }
}

/// Marks this CPU as inside an aiopoll wake-up while a poll request completes inline, in
/// its waker's context: the context's pollers are then woken from a work item
/// ([`wake_after_post`]), and other contexts' poll wake-ups on this CPU do not complete inline
/// (their [`InlineCompletion::try_enter`] fails). Also says whether interrupts are disabled:
/// wake-up callbacks run under their queue's lock, which nearly every waker takes with
/// `spin_lock_irqsave()` (not on PREEMPT_RT), and then the `SpinLockIrq`s of the completion can
/// be taken with `lock_with()`, without disabling interrupts again.
///
/// # Invariants
///
/// Created by `aiopoll_inline_enter()`, which entered the section (and pinned the task to
/// this CPU), undone once on drop, on the same CPU. `irqs_off`: interrupts were disabled when
/// the section was entered.
pub(crate) struct InlineCompletion {
    irqs_off: bool,
    _not_send: PhantomData<*mut ()>,
}

impl InlineCompletion {
    /// Enters the inline section until the guard is dropped; `None`, entering nothing, when
    /// the caller runs inside a wake-up of one of aiopoll's own wait queues or another inline
    /// completion on this CPU (whose queue lock an inline completion would nest).
    pub(crate) fn try_enter() -> Option<Self> {
        // SAFETY: No preconditions; a section entered here is left by `drop`.
        let ret = unsafe { shim::aiopoll_inline_enter() };
        if ret < 0 {
            // Not entered. (No guard may exist then, not even a discarded one: its drop would
            // leave a section that was never entered.)
            return None;
        }
        // INVARIANT: entered; `ret` is 1 when interrupts were disabled.
        Some(Self {
            irqs_off: ret > 0,
            _not_send: PhantomData,
        })
    }

    /// The proof that interrupts are disabled, when they were at the entry.
    pub(crate) fn irq(&self) -> Option<&LocalInterruptDisabled> {
        if !self.irqs_off {
            return None;
        }
        // SAFETY: Interrupts were disabled at the entry (type invariant), and stay so while the
        // guard is borrowed: the section runs inside a wake-up callback, under its queue's
        // lock, and the only sections it can enter (aiopoll's locks and wake-ups) restore the
        // interrupt state they found.
        Some(unsafe { LocalInterruptDisabled::assume_disabled() })
    }
}

impl Drop for InlineCompletion {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the section was entered on this CPU (the guard is not
        // `Send` and the task cannot migrate), and is left once.
        unsafe { shim::aiopoll_wake_section_exit() };
    }
}

/// The signal mask a system call installed for its wait, as `io_pgetevents()` and `pselect()`
/// do: [`SigmaskSwap::install`] swaps it in, [`SigmaskSwap::finish`] (or dropping the guard,
/// on any early return) puts the caller's back, unless a signal is pending, in which case the
/// return to user space delivers it under the temporary mask with the original one saved in
/// the handler's frame.
///
/// # Invariants
///
/// `installed` is true exactly when `install` swapped the current task's mask and nothing has
/// restored it yet.
pub(crate) struct SigmaskSwap {
    installed: bool,
    /// The mask belongs to the task that installed it: the guard must not leave the thread.
    _not_send: PhantomData<*mut ()>,
}

/// A signal mask read from user space, not installed yet (`None`: the call gave none).
pub(crate) struct UserSigmask(Option<bindings::sigset_t>);

impl UserSigmask {
    /// Reads the `sigset_t` at user address `umask` (of `sigsetsize` bytes, which must be the
    /// kernel's); `umask == 0` is no mask, whatever `sigsetsize`. `EINVAL` for a wrong size,
    /// `EFAULT` for a bad address.
    pub(crate) fn read(umask: u64, sigsetsize: u64) -> Result<Self> {
        if umask == 0 {
            return Ok(Self(None));
        }
        let mut kmask = bindings::sigset_t::default();
        // SAFETY: `kmask` is a valid place to write; the shim checks the user address itself.
        to_result(unsafe { shim::aiopoll_read_user_sigmask(umask, sigsetsize, &mut kmask) })?;
        Ok(Self(Some(kmask)))
    }

    /// Installs the mask as the current task's blocked mask until the guard ends.
    pub(crate) fn install(self) -> SigmaskSwap {
        let installed = match self.0 {
            Some(mut kmask) => {
                // SAFETY: Acts on `current`; `kmask` is a valid mask that lives for the call.
                unsafe { shim::aiopoll_install_sigmask(&mut kmask) };
                true
            }
            None => false,
        };
        // INVARIANT: the mask was swapped exactly when there was one.
        SigmaskSwap {
            installed,
            _not_send: PhantomData,
        }
    }
}

impl SigmaskSwap {
    /// Installs the `sigset_t` at user address `umask` (of `sigsetsize` bytes) as the current
    /// task's blocked mask; `umask == 0` installs nothing. `EINVAL` for a wrong size, `EFAULT`
    /// for a bad address (the mask is then unchanged).
    pub(crate) fn install(umask: u64, sigsetsize: u64) -> Result<Self> {
        Ok(UserSigmask::read(umask, sigsetsize)?.install())
    }

    /// Ends the swap; returns whether a signal is pending (the wait was interrupted).
    pub(crate) fn finish(mut self) -> bool {
        self.restore()
    }

    fn restore(&mut self) -> bool {
        let interrupted = kernel::current!().signal_pending();
        if self.installed {
            // INVARIANT: restored (or left for the signal delivery to restore) here, once.
            self.installed = false;
            // SAFETY: Acts on `current`, whose mask `install` swapped (the guard is not `Send`).
            unsafe { shim::aiopoll_restore_saved_sigmask_unless(interrupted) };
        }
        interrupted
    }
}

impl Drop for SigmaskSwap {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Reads a relative `struct __kernel_timespec` from user address `uts`, in nanoseconds.
pub(crate) fn get_timeout(uts: u64) -> Result<i64> {
    let mut nsecs = 0i64;
    // SAFETY: `nsecs` is a valid place to write; the shim checks the user address itself.
    to_result(unsafe { shim::aiopoll_get_timeout(uts, &mut nsecs) })?;
    Ok(nsecs)
}
