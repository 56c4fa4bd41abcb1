// SPDX-License-Identifier: GPL-2.0

//! Eventfd references, signalled on completions (`IOCB_FLAG_RESFD`).

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::from_err_ptr,
    prelude::*, //
};

/// A reference to an eventfd, signalled once per completion with `IOCB_FLAG_RESFD`.
///
/// # Invariants
///
/// `self.0` is a valid `eventfd_ctx` on which this object owns one reference.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: An eventfd reference may be used and dropped from any thread.
unsafe impl Send for EventFd {}
// SAFETY: `eventfd_signal_mask` may be called concurrently.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// Takes a reference to the eventfd behind file descriptor `fd` (`EBADF`, `EINVAL`).
    pub(crate) fn from_fd(fd: u32) -> Result<Self> {
        // SAFETY: No preconditions; it returns a new reference or an error pointer.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd as c_int) })?;
        // INVARIANT: `eventfd_ctx_fdget` returned a valid context with a new reference.
        Ok(Self(NonNull::new(ctx).ok_or(EBADF)?))
    }

    /// Adds one to the eventfd's counter. Callable from any context except a wait-queue
    /// callback of another eventfd (the caller defers from those).
    pub(crate) fn signal(&self) {
        // SAFETY: By the type invariant `self.0` is valid.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own a reference, given back here once.
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}
