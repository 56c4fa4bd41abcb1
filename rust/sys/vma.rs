// SPDX-License-Identifier: GPL-2.0

//! The VMAs of ring mappings, in the callbacks of `rust/fops.rs`.

use super::shim;
use kernel::{
    bindings,
    prelude::*, //
};

/// A VMA handed to a `->mmap`, `->open`, `->close` or `->mremap` callback.
///
/// # Invariants
///
/// `self.0` is a valid VMA for the duration of the callback that created this object, with
/// the `mmap_lock` held as the callback requires.
pub(crate) struct Vma(*mut bindings::vm_area_struct);

impl Vma {
    /// Wraps a VMA given to a callback.
    ///
    /// # Safety
    ///
    /// `vma` must be valid, with the `mmap_lock` held, for as long as the returned object lives.
    pub(crate) unsafe fn from_raw(vma: *mut bindings::vm_area_struct) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(vma)
    }

    /// The C VMA, for the other wrappers of this module.
    pub(super) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.0
    }

    /// The start address.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_start(self.0) as usize }
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_len(self.0) as usize }
    }

    /// Whether the mapping is `MAP_SHARED`.
    pub(crate) fn is_shared(&self) -> bool {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_is_shared(self.0) }
    }

    /// Whether the mapping is executable (`PROT_EXEC`).
    pub(crate) fn is_exec(&self) -> bool {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_is_exec(self.0) }
    }

    /// The page offset into the file.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_pgoff(self.0) as usize }
    }

    /// Installs `ops` and `data` and makes the mapping fixed-size, not inherited and not
    /// executable.
    ///
    /// # Safety
    ///
    /// `data` must stay valid for as long as the VMA (and its copies) can call `ops`.
    pub(crate) unsafe fn setup(
        &self,
        ops: &'static bindings::vm_operations_struct,
        data: *mut c_void,
    ) {
        // SAFETY: By the type invariant the VMA is valid and being set up by `->mmap`.
        unsafe { shim::aiopoll_vma_setup(self.0, ops, data) }
    }

    /// The `vm_private_data` installed by [`Vma::setup`].
    pub(crate) fn private_data(&self) -> *mut c_void {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_private(self.0) }
    }
}
