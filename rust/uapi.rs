// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `uapi/linux/aiopoll.h`.
//!
//! Every structure here has the layout of its C twin; the `const` assertions at the end of this
//! file check sizes and offsets at build time, and `rust/abi_check.c` checks the same numbers on
//! the C side, so the two cannot drift apart silently.

use core::mem::{
    offset_of,
    size_of, //
};
use kernel::{
    ioctl::_IOR,
    transmute::AsBytes, //
};

/// `AIOPOLL_ABI_MAJOR`.
pub(crate) const ABI_MAJOR: u32 = 1;
/// `AIOPOLL_ABI_MINOR`.
pub(crate) const ABI_MINOR: u32 = 0;
/// `AIOPOLL_IOC_MAGIC`.
pub(crate) const IOC_MAGIC: u32 = 0xA9;

/// `struct aiopoll_version`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Version {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) features: u64,
}

// SAFETY: `Version` is `repr(C)` with no padding (checked below), so every byte is initialised.
unsafe impl AsBytes for Version {}

/// `AIOPOLL_IOC_VERSION`.
pub(crate) const IOC_VERSION: u32 = _IOR::<Version>(IOC_MAGIC, 0x00);

// Layout of `struct aiopoll_version`.
const _: () = {
    assert!(size_of::<Version>() == 16);
    assert!(offset_of!(Version, major) == 0);
    assert!(offset_of!(Version, minor) == 4);
    assert!(offset_of!(Version, features) == 8);
    assert!(IOC_VERSION == 0x8010_a900);
};
