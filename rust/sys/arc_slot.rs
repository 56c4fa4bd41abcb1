// SPDX-License-Identifier: GPL-2.0

//! A lock-free slot for one `Arc`.

use kernel::sync::{
    atomic::{
        ordering::{
            Acquire,
            Full, //
        },
        Atomic, //
    },
    Arc, //
};

/// An `Option<Arc<T>>` that is filled and emptied with one atomic operation each, from any
/// context and without a lock: whoever [`take`](ArcSlot::take)s the `Arc` owns it, exactly
/// once.
///
/// # Invariants
///
/// `ptr` is null, or comes from [`Arc::into_raw`] and owns that reference.
pub(crate) struct ArcSlot<T> {
    ptr: Atomic<*const T>,
}

// SAFETY: The slot only holds an `Arc<T>`, which may be sent and shared when `T` is `Send` and
// `Sync`; filling and emptying it are atomic.
unsafe impl<T: Send + Sync> Send for ArcSlot<T> {}
// SAFETY: As above.
unsafe impl<T: Send + Sync> Sync for ArcSlot<T> {}

impl<T> ArcSlot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Self {
            ptr: Atomic::new(core::ptr::null()),
        }
    }

    /// Fills the slot; hands `arc` back if it is full.
    pub(crate) fn set(&self, arc: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let raw = Arc::into_raw(arc);
        // Fully ordered: what the caller did before is visible to whoever takes the `Arc`.
        match self.ptr.cmpxchg(core::ptr::null(), raw, Full) {
            // INVARIANT: `raw` comes from `Arc::into_raw`, and the slot now owns it.
            Ok(_) => Ok(()),
            // SAFETY: `raw` comes from `Arc::into_raw` above and was not stored.
            Err(_) => Err(unsafe { Arc::from_raw(raw) }),
        }
    }

    /// Empties the slot, returning what it held.
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        // Fully ordered: pairs with `set`, and orders the taker's later accesses after it.
        let raw = self.ptr.xchg(core::ptr::null(), Full);
        // SAFETY: By the type invariant a non-null `raw` comes from `Arc::into_raw` and owned
        // its reference, which the exchange moved to us (INVARIANT: the slot is now null).
        (!raw.is_null()).then(|| unsafe { Arc::from_raw(raw) })
    }

    /// Whether the slot holds an `Arc` (a hint: it may be taken at once).
    pub(crate) fn is_set(&self) -> bool {
        !self.ptr.load(Acquire).is_null()
    }
}

impl<T> Drop for ArcSlot<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}
