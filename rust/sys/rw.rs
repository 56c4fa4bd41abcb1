// SPDX-License-Identifier: GPL-2.0

//! Reads and writes through a `struct kiocb` embedded in their owner, as fs/aio's
//! `aio_read()`/`aio_write()`, with polled I/O (`RWF_HIPRI`).

use super::{
    shim,
    to_result, //
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        atomic::{
            ordering::{
                Acquire,
                Relaxed,
                Release, //
            },
            Atomic, //
        },
        Arc, //
    },
    types::Opaque, //
};

/// What a read or write request is, as fs/aio's `IOCB_CMD_P{READ,WRITE}[V]`. The layout of
/// the shim's `struct aiopoll_rw_args`, which it is passed as (asserted here and there).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RwArgs {
    pub(crate) buf: u64,
    pub(crate) nbytes: u64,
    pub(crate) offset: i64,
    pub(crate) rw_flags: i32,
    /// The iocb's `aio_reqprio`, used only with `has_ioprio` (`IOCB_FLAG_IOPRIO`).
    pub(crate) ioprio: i32,
    pub(crate) has_ioprio: bool,
    pub(crate) write: bool,
    pub(crate) vectored: bool,
    /// Polled I/O (`RWF_HIPRI`): completes only when someone calls [`RwIo::iopoll`].
    pub(crate) hipri: bool,
}

const _: () = {
    assert!(core::mem::size_of::<RwArgs>() == 40);
    assert!(core::mem::offset_of!(RwArgs, offset) == 16);
    assert!(core::mem::offset_of!(RwArgs, ioprio) == 28);
    assert!(core::mem::offset_of!(RwArgs, hipri) == 35);
};

/// A `struct kiocb` and the owner its completion goes to (`ki_complete` finds the owner
/// here, since the kiocb is the first field).
#[repr(C)]
struct RawRwIo {
    kiocb: bindings::kiocb,
    /// Null until the I/O is issued, then the owner's reference leaked for the completion
    /// (stored with release, so it also says "issued": see [`RwIo`]).
    owner: Atomic<*mut c_void>,
}

/// A `struct kiocb` embedded in a request, for reads and writes issued to another file.
///
/// # Invariants
///
/// Once `owner` is set (release; the I/O is *issued*), the kiocb is initialised, prepared and
/// checked, its file is the request's (alive as long as the owner), and it stays so until the
/// owner is dropped. While the I/O is in flight, `owner` is a reference to the owner leaked
/// from an `Arc`, which `rw_complete` takes back. `owner` is set by [`rw_submit`] right before
/// the I/O is issued, once: from then on pollers may use the kiocb ([`RwIo::iopoll`]); the
/// release store and the pollers' acquire loads order the kiocb's initialisation before their
/// use of it. (No separate flag: the request stays as small as a poll-sized object.)
pub(crate) struct RwIo {
    io: Opaque<RawRwIo>,
}

// SAFETY: Before it is issued, only the submitter touches the kiocb (the owner is not reachable by
// pollers or completions yet). Afterwards the kiocb belongs to the VFS and the driver, which
// write it through C (inside `Opaque`), and the only Rust-side use is `iopoll`, which the
// block layer allows from several tasks at once (see `aiopoll_kiocb_iopoll()`).
unsafe impl Send for RwIo {}
// SAFETY: As above.
unsafe impl Sync for RwIo {}

impl RwIo {
    /// An unused kiocb.
    pub(crate) fn new() -> Self {
        // INVARIANT: not issued (a zeroed `owner` is null).
        Self {
            io: Opaque::zeroed(),
        }
    }

    /// The `owner` field.
    fn owner(&self) -> &Atomic<*mut c_void> {
        // SAFETY: `io` is valid memory for as long as `self`; `owner` is only ever accessed
        // atomically, through this reference.
        unsafe { &(*self.io.get()).owner }
    }

    /// Whether the I/O has been issued (pollers may use the kiocb).
    pub(crate) fn is_issued(&self) -> bool {
        !self.owner().load(Acquire).is_null()
    }

    /// Polls the device for this polled (`hipri`) I/O and others on the same queue; their
    /// completions may run inside. Returns false without polling when the I/O has not been
    /// issued yet (its kiocb is still being prepared), and whether something completed
    /// otherwise. Harmless after the I/O completed: the kiocb then names no bio. With `spin`
    /// the poll goes on until it finds a completion (or a signal is pending, or the CPU is
    /// wanted elsewhere); without, it looks once.
    pub(crate) fn iopoll(&self, spin: bool) -> bool {
        if !self.is_issued() {
            return false;
        }
        // SAFETY: By the type invariant the kiocb is issued, prepared and its file alive; the
        // caller holds a reference to the owner, so the kiocb stays valid during the call.
        unsafe { shim::aiopoll_kiocb_iopoll(self.kiocb(), spin) > 0 }
    }

    /// The kiocb.
    fn kiocb(&self) -> *mut bindings::kiocb {
        // SAFETY: `io` is valid memory; this only computes the address of a field.
        unsafe { &raw mut (*self.io.get()).kiocb }
    }
}

/// An object, kept in an [`Arc`], that embeds an [`RwIo`] and wants to know when its I/O ends.
///
/// # Safety
///
/// [`RwOwner::rw_io`] must return an [`RwIo`] that lives inside `self` (so it is valid for as
/// long as `self`), the same one on every call.
pub(crate) unsafe trait RwOwner: Sized + Send + Sync {
    /// The embedded [`RwIo`], if the object has one.
    fn rw_io(&self) -> Option<&RwIo>;
    /// Called for polled (`hipri`) I/O once the kiocb is fully prepared and checked, right
    /// before it is issued (so before [`RwOwner::rw_done`] can run); an error cancels the
    /// submission. This is where the owner makes itself findable by pollers: not earlier,
    /// since a poller would then use a kiocb that is still being initialised.
    fn rw_polled_issuing(this: &Arc<Self>) -> Result;
    /// Called once when the read or write ends, with its result (bytes or a negative errno),
    /// possibly in interrupt context.
    fn rw_done(this: Arc<Self>, res: i64);
}

/// The `ki_complete` of aiopoll's kiocbs: takes back the reference [`rw_submit`] gave the
/// kiocb, and reports the result.
///
/// # Safety
///
/// `kiocb` must be the kiocb of an [`RwIo`] inside a `T` submitted by [`rw_submit`], completed
/// once.
unsafe extern "C" fn rw_complete<T: RwOwner>(kiocb: *mut bindings::kiocb, res: c_long) {
    // Module exit waits for this section (`synchronize_rcu()`), so the module's code stays
    // in place until the completion is done with it.
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: The kiocb is valid until the owner is dropped, which cannot happen before we take
    // back its reference below.
    unsafe { shim::aiopoll_rw_end(kiocb) };
    // SAFETY: The kiocb is the first field of a `RawRwIo` (type invariant of `RwIo`), whose
    // `owner` `rw_submit` set to a reference leaked from the `Arc<T>` for this call (before
    // issuing the I/O that ends here, so no ordering is needed to see it).
    let owner = unsafe { (*kiocb.cast::<RawRwIo>()).owner.load(Relaxed) };
    // SAFETY: As above: the leaked reference, taken back once.
    let owner = unsafe { Arc::from_raw(owner.cast::<T>().cast_const()) };
    T::rw_done(owner, res as i64);
}

/// Submits a read or write of `file` through `owner`'s kiocb, as fs/aio's `aio_read()` and
/// `aio_write()` do. Each owner is submitted at most once.
///
/// An error is a submission error (nothing was issued, [`RwOwner::rw_done`] is not called);
/// otherwise the I/O was issued and `rw_done` is called exactly once, maybe before this returns.
pub(crate) fn rw_submit<T: RwOwner>(owner: &Arc<T>, file: &File, args: &RwArgs) -> Result {
    // By the `RwOwner` contract the `RwIo` lives inside the `T`, as long as `owner`.
    let io = owner.rw_io().ok_or(EINVAL)?;
    if io.is_issued() {
        return Err(EBUSY);
    }
    let kiocb = io.kiocb();
    let iter = Opaque::<bindings::iov_iter>::uninit();
    let mut iovec: *mut bindings::iovec = core::ptr::null_mut();
    // Scratch space for a one-segment vector (import_iovec() copies the segment into it), alive
    // until the I/O below was issued.
    let mut scratch = bindings::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    };
    // fs/aio's steps up to the issue, with its errnos, in one call. From here on the imported
    // iovec array (if any) must be freed.
    // SAFETY: `kiocb` is ours and not in use; `file` is valid and kept alive by the owner;
    // `args` has the C layout (see `RwArgs`); `iter`, `scratch` and `iovec` are valid places
    // to write, and `scratch` outlives every use of the iterator (this function); user
    // addresses are checked inside.
    let verify = to_result(unsafe {
        shim::aiopoll_rw_prep(
            kiocb,
            file.as_ptr(),
            args,
            rw_complete::<T>,
            &mut scratch,
            &mut iovec,
            iter.get(),
        )
    })
    .and_then(|()| {
        if args.hipri {
            T::rw_polled_issuing(owner)
        } else {
            Ok(())
        }
    });
    if verify.is_ok() {
        // The completion's reference: given back by `rw_complete`.
        let leaked = Arc::into_raw(owner.clone()).cast::<c_void>().cast_mut();
        // INVARIANT: `owner` holds the reference leaked for the completion, and the kiocb is
        // prepared and checked: pollers may use it from here on.
        io.owner().store(leaked, Release);
        // SAFETY: `kiocb` and `iter` are initialised and checked; the iovec array stays alive
        // until the call returns, which is as long as `->read_iter`/`->write_iter` use it.
        let ret = unsafe { shim::aiopoll_rw_issue(kiocb, iter.get(), args.write) };
        let eiocbqueued = -(bindings::EIOCBQUEUED as isize);
        if ret != eiocbqueued {
            // Completed (or failed) synchronously: complete it as `aio_rw_done()` does, mapping
            // the restart errnos to EINTR.
            let restart = [
                bindings::ERESTARTSYS,
                bindings::ERESTARTNOINTR,
                bindings::ERESTARTNOHAND,
                bindings::ERESTART_RESTARTBLOCK,
            ];
            let ret = if restart.iter().any(|&e| ret == -(e as isize)) {
                -(bindings::EINTR as isize)
            } else {
                ret
            };
            // SAFETY: The I/O is over and the kiocb's reference was leaked above for this call.
            unsafe { rw_complete::<T>(kiocb, ret as c_long) };
        }
    }
    if !iovec.is_null() {
        // SAFETY: `iovec` is the array `import_iovec` allocated for us, no longer used.
        unsafe { bindings::kfree(iovec.cast()) };
    }
    verify
}
