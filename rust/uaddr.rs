// SPDX-License-Identifier: GPL-2.0

//! User-space addresses that come from user space: ioctl arguments, iocbs, iovec arrays.
//!
//! Any 64-bit value may arrive, including ones near `u64::MAX` or in the kernel half. Every
//! address the module computes from one goes through [`UserAddr`], whose arithmetic is
//! checked: a sum that wraps is `EFAULT`, which is what `access_ok()` answers for a range that
//! wraps; every other bad address is caught by `copy_from_user()`/`copy_to_user()`, which the
//! accessors use. (A wrapping `+` would panic the kernel with `CONFIG_RUST_OVERFLOW_CHECKS`, or
//! silently reach another address without it.)

use core::mem::size_of;
use kernel::{
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// An address in the calling process, as user space gave it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserAddr(u64);

impl UserAddr {
    /// The address `addr`, unchecked until it is used.
    pub(crate) const fn new(addr: u64) -> Self {
        Self(addr)
    }

    /// The address as user space gave it (`io_event.obj`, for one).
    pub(crate) const fn get(self) -> u64 {
        self.0
    }

    /// `self + bytes`, or `EFAULT` if that wraps.
    pub(crate) fn offset(self, bytes: usize) -> Result<Self> {
        let bytes = u64::try_from(bytes).map_err(|_| EFAULT)?;
        self.0.checked_add(bytes).map(Self).ok_or(EFAULT)
    }

    /// The address of element `index` of an array of `T` at `self`, or `EFAULT` if that wraps.
    pub(crate) fn element<T>(self, index: usize) -> Result<Self> {
        self.offset(index.checked_mul(size_of::<T>()).ok_or(EFAULT)?)
    }

    /// The address as a `UserPtr`, or `EFAULT` if it does not fit a pointer.
    pub(crate) fn ptr(self) -> Result<UserPtr> {
        Ok(UserPtr::from_addr(
            usize::try_from(self.0).map_err(|_| EFAULT)?,
        ))
    }

    /// The `len` bytes at the address, for copies (checked by `copy_{from,to}_user`).
    pub(crate) fn slice(self, len: usize) -> Result<UserSlice> {
        Ok(UserSlice::new(self.ptr()?, len))
    }

    /// Reads a `T` at the address.
    pub(crate) fn read<T: FromBytes>(self) -> Result<T> {
        self.slice(size_of::<T>())?.reader().read()
    }

    /// Writes a `u32` at the address (`put_user()`).
    pub(crate) fn write_u32(self, value: u32) -> Result {
        crate::sys::put_user_u32(self.0, value)
    }

    /// Writes a `u64` at the address (`put_user()`).
    pub(crate) fn write_u64(self, value: u64) -> Result {
        crate::sys::put_user_u64(self.0, value)
    }

    /// Writes `value` at the address.
    pub(crate) fn write<T: AsBytes>(self, value: &T) -> Result {
        self.slice(size_of::<T>())?.writer().write(value)
    }
}
