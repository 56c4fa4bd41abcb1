// SPDX-License-Identifier: GPL-2.0

//! The watch on the process that created an object (a context).

use super::{
    shim,
    workqueue::raw_workqueue, //
};
use kernel::{
    bindings,
    prelude::*,
    types::Opaque, //
};

/// The C `struct aiopoll_owner_watch` (`rust/shim.h`).
#[repr(C)]
pub(crate) struct RawOwnerWatch {
    wait: bindings::wait_queue_entry,
    pid: *mut bindings::pid,
    wq: *mut bindings::workqueue_struct,
    work: bindings::work_struct,
    func: Option<unsafe extern "C" fn(*mut c_void)>,
    data: *mut c_void,
}

/// What an [`OwnerWatch`] calls when the watched process has exited.
pub(crate) trait OwnerExit: Sync {
    /// The process that created the object has exited (all its threads). Called once at most,
    /// from the module's workqueue.
    fn owner_exited(&self);
}

/// Watches the process (thread group) that called [`OwnerWatch::start`] and calls
/// [`OwnerExit::owner_exited`] once it has exited, as fs/aio kills a process's contexts when
/// its memory map goes away (`rust/shim.c` explains how).
///
/// # Invariants
///
/// `w` is zeroed (not watching) or was set up by `aiopoll_owner_watch_start()`; it is stopped
/// (`aiopoll_owner_watch_stop()`, which waits for a running callback) on drop at the latest.
#[pin_data(PinnedDrop)]
pub(crate) struct OwnerWatch {
    #[pin]
    w: Opaque<RawOwnerWatch>,
}

// SAFETY: The watch is started, stopped and woken through the wait-queue and workqueue APIs,
// which may be used from any thread.
unsafe impl Send for OwnerWatch {}
// SAFETY: As above; `start` and `stop` take `&self` but are serialised by their callers (see
// their docs).
unsafe impl Sync for OwnerWatch {}

/// The callback of an [`OwnerWatch`] for an owner of type `T`.
///
/// # Safety
///
/// `data` must point to a `T` that is alive for the whole call.
unsafe extern "C" fn owner_exited<T: OwnerExit>(data: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    let owner = unsafe { &*data.cast::<T>() };
    owner.owner_exited();
}

impl OwnerWatch {
    /// A watch that watches nothing yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: zeroed: not watching.
            w <- Opaque::ffi_init(|slot: *mut RawOwnerWatch| {
                // SAFETY: `slot` is valid for writes of a `RawOwnerWatch`.
                unsafe { slot.write_bytes(0, 1) }
            }),
        })
    }

    /// Starts watching the current task's process for `owner`. Called once, before anything
    /// else can reach the watch.
    ///
    /// # Safety
    ///
    /// `owner` must stay alive until [`OwnerWatch::stop`] has returned (or the watch is
    /// dropped), and `start` must not be called concurrently with `stop`.
    pub(crate) unsafe fn start<T: OwnerExit>(&self, owner: &T) -> Result {
        let wq = raw_workqueue();
        if wq.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: `w` is ours and not watching; `wq` is the module's workqueue, which outlives
        // every object (contexts are all gone before the module is unloaded); `owner` outlives
        // the watch (the caller's contract), which is all the callback needs.
        unsafe {
            shim::aiopoll_owner_watch_start(
                self.w.get(),
                wq,
                owner_exited::<T>,
                core::ptr::from_ref(owner).cast_mut().cast(),
            )
        };
        Ok(())
    }

    /// Stops the watch: afterwards the callback is not running and will not run. Idempotent;
    /// not to be called from the callback itself, nor concurrently with `start`.
    pub(crate) fn stop(&self) {
        // SAFETY: By the type invariant `w` is zeroed or started; the shim handles both.
        unsafe { shim::aiopoll_owner_watch_stop(self.w.get()) }
    }
}

#[pinned_drop]
impl PinnedDrop for OwnerWatch {
    fn drop(self: Pin<&mut Self>) {
        self.stop();
    }
}
