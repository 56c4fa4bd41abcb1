// SPDX-License-Identifier: GPL-2.0

//! References that do not keep their object alive: the object waits for them instead.

use core::ptr::NonNull;
use kernel::{
    prelude::*,
    sync::{
        atomic::{
            ordering::Relaxed,
            Atomic, //
        },
        ArcBorrow,
        Completion,
        Refcount, //
    },
};

/// Counts [`TrackedRef`]s to the object that owns it, and lets the owner wait until there are
/// none. This is what lets requests point at their context without keeping it alive: the
/// context's release waits for its requests instead, so the context is always freed by its
/// file, in process context.
///
/// The count is an atomic with a bias of one, dropped by the first [`Tracker::wait_idle`]
/// (as a `percpu_ref`'s kill): taking and dropping a reference is one atomic operation, with
/// no lock. A reference is taken only while the count is not zero ([`TrackedRef::try_new`]),
/// so none is taken once the owner found it idle, even by a thread that raced with the kill. Whoever brings the count to zero signals `idle`, a completion: `complete_all()`
/// releases the completion's lock as its last access, and the waiter cannot return (and
/// free the owner) before it has taken that lock itself, so the last reference never
/// touches freed memory.
///
/// # Invariants
///
/// `count` is the number of live `TrackedRef`s, plus one until `killed` is set.
#[pin_data]
pub(crate) struct Tracker {
    count: Refcount,
    /// Set by the first `wait_idle`, which drops the bias.
    killed: Atomic<bool>,
    /// Completed when `count` reaches zero.
    #[pin]
    idle: Completion,
}

impl Tracker {
    /// A tracker with no references.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: no references, and the bias.
        pin_init!(Self {
            count: Refcount::new(1),
            killed: Atomic::new(false),
            idle <- Completion::new(),
        })
    }

    /// Sleeps until no reference is left; once it was called, [`TrackedRef::try_new`] fails
    /// as soon as none is left. Callable again, and then returns at once.
    pub(crate) fn wait_idle(&self) {
        // Relaxed: the flag only makes the bias go once; `count` orders the rest.
        if !self.killed.xchg(true, Relaxed) && self.count.dec_and_test() {
            self.idle.complete_all();
        }
        self.idle.wait_for_completion();
    }
}

/// An object that owns a [`Tracker`] and can be pointed at by [`TrackedRef`]s.
///
/// # Safety
///
/// Dropping the object must first wait until [`Tracked::tracker`] has no reference left
/// ([`Tracker::wait_idle`]), before anything else of the object is dropped or freed.
pub(crate) unsafe trait Tracked: Send + Sync {
    /// The object's tracker.
    fn tracker(&self) -> &Tracker;
}

/// A counted reference to a `T` that lives in an [`Arc`], which does not keep the `T` alive:
/// the `T` waits for it instead (see [`Tracked`]).
///
/// # Invariants
///
/// `ptr` points to a `T` inside an `Arc` (so it never moves) whose tracker counts this
/// reference; by the `Tracked` contract the `T` is not dropped while the count is non-zero.
pub(crate) struct TrackedRef<T: Tracked> {
    ptr: NonNull<T>,
}

// SAFETY: A `TrackedRef<T>` only gives out `&T`, and `T: Sync`; dropping it from another
// thread only touches the tracker's lock.
unsafe impl<T: Tracked> Send for TrackedRef<T> {}
// SAFETY: As above.
unsafe impl<T: Tracked> Sync for TrackedRef<T> {}

impl<T: Tracked> TrackedRef<T> {
    /// Counts a new reference to `obj`; `None` when the owner's [`Tracker::wait_idle`] already
    /// found none left (the owner is being destroyed: it takes no more requests).
    pub(crate) fn try_new(obj: ArcBorrow<'_, T>) -> Option<Self> {
        // `refcount_inc_not_zero()`: an increment only from a non-zero count, so a killed
        // tracker that reached zero is never revived. Relaxed, as `refcount_inc()`: taking a
        // reference orders nothing; dropping it does (see `drop`).
        let count = obj.tracker().count.as_atomic();
        let mut now = count.load(Relaxed);
        loop {
            // Zero: idle and killed; negative: saturated by a refcount error. Neither is taken.
            let next = now.checked_add(1).filter(|_| now > 0)?;
            match count.cmpxchg(now, next, Relaxed) {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        // INVARIANT: `obj` lives in an `Arc` and its tracker now counts this reference.
        Some(Self {
            ptr: NonNull::from(&*obj),
        })
    }
}

impl<T: Tracked> core::ops::Deref for TrackedRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant the `T` is alive while this reference exists.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Tracked> Drop for TrackedRef<T> {
    fn drop(&mut self) {
        let tracker = (**self).tracker();
        // `dec_and_test()` has release ordering, and acquire ordering when it reaches zero:
        // this reference's uses of the owner happen before the waiter's return.
        if tracker.count.dec_and_test() {
            // The last access to the owner (see `Tracker`).
            tracker.idle.complete_all();
        }
    }
}
