// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the kernel APIs that `kernel::` does not cover, and around the C shim
//! (`rust/shim.c`), one submodule per kind of object.
//!
//! Together with `rust/fops.rs`, this is the only place that uses `kernel::bindings` or the
//! shim; the rest of the module is safe Rust.
//!
//! It is a leaf: nothing here names the context or its requests. What calls back into them
//! does so through traits they implement: [`RwOwner`] (kiocb completions), [`PollOwner`] (poll
//! wake-ups), [`OwnerExit`] (the owner watch) and [`Tracked`] (requests' references to their
//! context).

mod arc_slot;
mod eventfd;
mod file;
mod owner;
mod poll;
mod ring;
mod rw;
mod shim;
mod tracker;
mod vma;
mod wait;
mod workqueue;

pub(crate) use self::{
    arc_slot::ArcSlot,
    eventfd::EventFd,
    file::{
        current_creds,
        fsync_as,
        FileExt, //
    },
    owner::{
        OwnerExit,
        OwnerWatch, //
    },
    poll::{
        demangle_poll,
        mangle_poll,
        poll_arm,
        poll_mask,
        PollOwner,
        PollWaits,
        WokenEntry, //
    },
    ring::RingMem,
    rw::{
        rw_submit,
        RwArgs,
        RwIo,
        RwOwner, //
    },
    tracker::{
        Tracked,
        TrackedRef,
        Tracker, //
    },
    vma::Vma,
    wait::{
        get_timeout,
        wake_after_post,
        InlineCompletion,
        PollQueue,
        SigmaskSwap,
        UserSigmask,
        WaitEnd,
        WaitQueue, //
    },
    workqueue::{
        workqueue,
        Workqueue, //
    },
};
use kernel::prelude::*;

/// A C return value as a `Result` (`kernel::error::to_result`), with the success case
/// inline: the kernel crate's function is an out-of-line call, and the submission path makes
/// several shim calls per request.
#[inline(always)]
pub(crate) fn to_result(ret: c_int) -> Result {
    if ret >= 0 {
        Ok(())
    } else {
        kernel::error::to_result(ret)
    }
}

/// The number of possible CPUs (`num_possible_cpus()`).
pub(crate) fn num_possible_cpus() -> u32 {
    // SAFETY: No preconditions.
    unsafe { shim::aiopoll_num_possible_cpus() }
}

/// Writes `val` at user address `uaddr` as `put_user()` does (`EFAULT` for an address that
/// is not writable user memory); cheaper than a four-byte `copy_to_user()`.
pub(crate) fn put_user_u32(uaddr: u64, val: u32) -> Result {
    // SAFETY: `put_user()` checks the address itself and handles faults.
    to_result(unsafe { shim::aiopoll_put_user_u32(uaddr, val) })
}

/// Writes `val` at user address `uaddr` as `put_user()` does (see [`put_user_u32`]).
pub(crate) fn put_user_u64(uaddr: u64, val: u64) -> Result {
    // SAFETY: `put_user()` checks the address itself and handles faults.
    to_result(unsafe { shim::aiopoll_put_user_u64(uaddr, val) })
}

/// Whether the current system call comes from a 32-bit task (`in_compat_syscall()`), whose
/// pointers in arrays are 4 bytes wide.
pub(crate) fn in_compat_syscall() -> bool {
    // SAFETY: No preconditions.
    unsafe { shim::aiopoll_in_compat_syscall() }
}

/// Gives the CPU away if another task needs it (`cond_resched()`).
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context without spinlocks held.
    unsafe { shim::aiopoll_cond_resched() }
}
