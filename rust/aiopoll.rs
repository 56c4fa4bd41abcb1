// SPDX-License-Identifier: GPL-2.0

//! aiopoll: asynchronous readiness polling and async I/O through `/dev/aiopoll`.
//!
//! Each open of `/dev/aiopoll` is an async I/O context in the manner of an `io_setup` context
//! of `fs/aio.c`. See `Documentation/` in the repository for the design and the ABI.

use kernel::prelude::*;

mod context;
mod fops;
mod uapi;

module! {
    type: AiopollModule,
    name: "aiopoll",
    authors: ["The aiopoll developers"],
    description: "Asynchronous readiness polling and async I/O contexts through /dev/aiopoll",
    license: "GPL",
}

/// Permissions of `/dev/aiopoll`: any user may create contexts, as with `io_setup(2)`.
const DEVICE_MODE: u16 = 0o666;

/// The loaded module: it owns the misc device registration.
#[pin_data]
struct AiopollModule {
    #[pin]
    dev: fops::Registration,
}

impl kernel::InPlaceModule for AiopollModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            dev <- fops::Registration::register(c"aiopoll", DEVICE_MODE),
        })
        .pin_chain(|_| {
            pr_info!(
                "ABI {}.{}, /dev/aiopoll registered\n",
                uapi::ABI_MAJOR,
                uapi::ABI_MINOR
            );
            Ok(())
        })
    }
}
