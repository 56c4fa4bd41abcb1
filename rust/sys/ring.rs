// SPDX-License-Identifier: GPL-2.0

//! The memory of a completion ring, shared with user space.

use super::{
    shim,
    to_result,
    Vma, //
};
use crate::uapi::IoEvent;
use core::ptr::NonNull;
use kernel::{
    bindings,
    prelude::*,
    sync::barrier::smp_mb,
    uaccess::UserPtr, //
};

/// The C `struct aiopoll_ring_mem` (`rust/shim.c`), only ever handled by pointer.
#[repr(C)]
pub(crate) struct RawRingMem {
    _opaque: [u8; 0],
}

/// The memory of a completion ring: zeroed pages charged to the memory cgroup of the task
/// that set the context up, mapped contiguously in the kernel and shared with user space by
/// `mmap`.
///
/// The kernel reads and writes it with volatile accesses only, because user space may write to
/// any byte of it at any time (it owns `head`); nothing read from it is trusted without a
/// bounds check.
///
/// # Invariants
///
/// `mem` was returned by `aiopoll_ring_alloc(size)`, which also returned `base`: `size` bytes
/// of zeroed, page-aligned memory mapped in the kernel, owned by this object until its drop.
pub(crate) struct RingMem {
    mem: NonNull<RawRingMem>,
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: The memory is only accessed through volatile reads and writes, whose coordination is
// the caller's business (documented on `Ring`). It is freed by `Drop`, which needs process
// context: the owner (a context) is only ever dropped by its file's release.
unsafe impl Send for RingMem {}
// SAFETY: As above.
unsafe impl Sync for RingMem {}

impl RingMem {
    /// Allocates `size` zeroed bytes (a non-zero multiple of the page size), charged to the
    /// current task's memory cgroup.
    pub(crate) fn new(size: usize) -> Result<Self> {
        let mut base: *mut c_void = core::ptr::null_mut();
        // SAFETY: `base` is a valid place to write; the shim checks `size`.
        let mem = unsafe { shim::aiopoll_ring_alloc(size as c_ulong, &mut base) };
        let mem = NonNull::new(mem).ok_or(ENOMEM)?;
        // INVARIANT: `aiopoll_ring_alloc` returned the memory and its kernel address.
        Ok(Self {
            mem,
            base: NonNull::new(base.cast::<u8>()).ok_or(ENOMEM)?,
            size,
        })
    }

    /// The size of the memory, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn u32_ptr(&self, offset: usize) -> *mut u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.size);
        // The pointer stays inside the allocation by the assertion above.
        self.base.as_ptr().wrapping_add(offset).cast::<u32>()
    }

    /// Reads the `u32` at byte `offset` (READ_ONCE).
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: `u32_ptr` returns an aligned pointer inside the live allocation.
        unsafe { self.u32_ptr(offset).read_volatile() }
    }

    /// Writes the `u32` at byte `offset` (WRITE_ONCE).
    pub(crate) fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: As in `read_u32`.
        unsafe { self.u32_ptr(offset).write_volatile(value) }
    }

    /// Writes `event` at byte `offset`.
    pub(crate) fn write_event(&self, offset: usize, event: &IoEvent) {
        assert!(offset % 8 == 0 && offset + core::mem::size_of::<IoEvent>() <= self.size);
        let ptr = self.base.as_ptr().wrapping_add(offset).cast::<IoEvent>();
        // SAFETY: `ptr` is aligned and inside the live allocation (checked above).
        unsafe { ptr.write_volatile(*event) }
    }

    /// Orders the event writes before it against the index write after it (`smp_wmb()`), so a
    /// reader that sees the new tail also sees the events.
    pub(crate) fn write_barrier(&self) {
        smp_mb(kernel::sync::barrier::Write);
    }

    /// Copies `len` bytes at byte `offset` to user address `dst`.
    pub(crate) fn copy_to_user(&self, offset: usize, len: usize, dst: UserPtr) -> Result {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(EINVAL);
        }
        // SAFETY: The source range is inside the live allocation (checked above); the
        // destination is a user address, which `copy_to_user` checks and faults on safely.
        // User space may write the source concurrently; it only gets its own bytes back.
        let left = unsafe {
            bindings::copy_to_user(
                dst.as_mut_ptr(),
                self.base.as_ptr().wrapping_add(offset).cast(),
                len as c_ulong,
            )
        };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Maps the whole memory into `vma` (`remap_vmalloc_range`).
    pub(crate) fn map(&self, vma: &Vma) -> Result {
        if vma.len() != self.size {
            return Err(EINVAL);
        }
        // SAFETY: `vma` is a VMA being set up by `->mmap` (type invariant of `Vma`), and the
        // memory (flagged `VM_USERMAP`) stays allocated while mapped: the VMA holds a
        // reference to the file that owns the ring.
        to_result(unsafe { shim::aiopoll_ring_map(vma.as_ptr(), self.mem.as_ptr()) })
    }
}

impl Drop for RingMem {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the memory is ours and freed once, here, in process
        // context (see `Send` above).
        unsafe { shim::aiopoll_ring_free(self.mem.as_ptr()) };
    }
}
