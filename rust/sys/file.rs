// SPDX-License-Identifier: GPL-2.0

//! Files and credentials: what fs/aio checks of a file, and `fsync` on behalf of a submitter.

use super::shim;
use core::ptr::NonNull;
use kernel::{
    bindings,
    cred::Credential,
    fs::File,
    prelude::*,
    sync::aref::ARef, //
};

/// What fs/aio checks of a file before syncing it (a read's or write's checks are part of
/// `rw_submit`'s one shim call).
pub(crate) trait FileExt {
    /// Whether the file has `->fsync`.
    fn has_fsync(&self) -> bool;
}

impl FileExt for File {
    fn has_fsync(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_has_fsync(self.as_ptr()) }
    }
}

/// Credentials of the current task, for work done on its behalf (`prepare_creds()`).
pub(crate) fn current_creds() -> Result<ARef<Credential>> {
    // SAFETY: No preconditions; it returns a new reference or NULL.
    let creds = NonNull::new(unsafe { bindings::prepare_creds() }).ok_or(ENOMEM)?;
    // SAFETY: `prepare_creds` returned a valid `cred` whose one reference we now own, and
    // `Credential` is a transparent wrapper of `struct cred`.
    Ok(unsafe { ARef::from_raw(creds.cast::<Credential>()) })
}

/// `vfs_fsync(file, datasync)` with `creds` in force, as fs/aio's `aio_fsync_work()`.
pub(crate) fn fsync_as(file: &File, creds: &Credential, datasync: bool) -> i64 {
    // SAFETY: Both pointers are valid for the duration of the call.
    i64::from(unsafe {
        shim::aiopoll_fsync_as(
            file.as_ptr(),
            core::ptr::from_ref::<Credential>(creds).cast(),
            datasync,
        )
    })
}
