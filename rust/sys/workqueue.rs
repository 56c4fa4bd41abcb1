// SPDX-License-Identifier: GPL-2.0

//! The module's workqueue.

use super::shim;
use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    bindings,
    prelude::*,
    workqueue::Queue, //
};

/// The module's own workqueue, destroyed (after running everything queued) when dropped, so
/// that no work function of the module runs after it is unloaded.
///
/// # Invariants
///
/// `self.0` is a workqueue allocated by this object, destroyed only by its `Drop`.
pub(crate) struct Workqueue(NonNull<bindings::workqueue_struct>);

// SAFETY: A workqueue may be used and destroyed from any thread.
unsafe impl Send for Workqueue {}
// SAFETY: Queueing work is thread safe.
unsafe impl Sync for Workqueue {}

/// The module's workqueue, published for request code while the module is loaded.
static WORKQUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());

impl Workqueue {
    /// Allocates the workqueue and publishes it as [`workqueue()`].
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: No preconditions.
        let wq = NonNull::new(unsafe { shim::aiopoll_alloc_workqueue() }).ok_or(ENOMEM)?;
        // Release: the workqueue's initialisation happens before any user sees the pointer.
        WORKQUEUE.store(wq.as_ptr(), Ordering::Release);
        Ok(Self(wq))
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        WORKQUEUE.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: By the type invariant the workqueue is ours; destroying it first runs every
        // queued item.
        unsafe { bindings::destroy_workqueue(self.0.as_ptr()) };
    }
}

/// The module's workqueue, or null while it does not exist (before `Workqueue::new`, after
/// its drop), for the wrappers that hand it to the shim.
pub(super) fn raw_workqueue() -> *mut bindings::workqueue_struct {
    // Acquire: pairs with the release store in `Workqueue::new`.
    WORKQUEUE.load(Ordering::Acquire)
}

/// The module's workqueue. Requests exist only while a context file is open, which pins the
/// module, so they always find it.
pub(crate) fn workqueue() -> Result<&'static Queue> {
    let wq = raw_workqueue();
    if wq.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: The workqueue stays valid until the module's `Workqueue` is dropped at unload,
    // after every context (and so every request) is gone.
    Ok(unsafe { Queue::from_raw(wq) })
}
