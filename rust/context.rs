// SPDX-License-Identifier: GPL-2.0

//! The async I/O context: the object behind each open file of `/dev/aiopoll`.

use crate::uapi;
use kernel::{
    fs::File,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{
        atomic::{
            ordering::Relaxed,
            Atomic, //
        },
        Arc,
        ArcBorrow, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    }, //
};

/// Source of context ids, unique for the lifetime of the module.
static NEXT_ID: Atomic<u64> = Atomic::new(1);

/// One async I/O context, owned by the file that opened it.
///
/// The file holds one reference (`file->private_data`); later, in-flight requests hold their own.
pub(crate) struct Context {
    /// Unique id, shown in fdinfo (and, with the ring, in `aio_ring.id`).
    id: u64,
}

impl Context {
    /// Creates the context of a newly opened file.
    pub(crate) fn open(_file: &File) -> Result<Arc<Self>> {
        // A relaxed counter is enough: ids only need to be unique, not ordered with anything.
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Ok(Arc::new(Self { id }, GFP_KERNEL)?)
    }

    /// Called on the last close of the file; the context is freed with its last reference.
    pub(crate) fn release(self: Arc<Self>) {}

    /// Handles an ioctl on the context's file.
    pub(crate) fn ioctl(self: ArcBorrow<'_, Self>, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::IOC_VERSION => {
                let version = uapi::Version {
                    major: uapi::ABI_MAJOR,
                    minor: uapi::ABI_MINOR,
                    features: 0,
                };
                let size = core::mem::size_of::<uapi::Version>();
                UserSlice::new(UserPtr::from_addr(arg), size)
                    .writer()
                    .write(&version)?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }

    /// Prints the context's state in `/proc/PID/fdinfo/FD`.
    pub(crate) fn show_fdinfo(self: ArcBorrow<'_, Self>, m: &SeqFile) {
        seq_print!(m, "aiopoll-abi:\t{}.{}\n", uapi::ABI_MAJOR, uapi::ABI_MINOR);
        seq_print!(m, "ctx-id:\t{}\n", self.id);
    }
}
