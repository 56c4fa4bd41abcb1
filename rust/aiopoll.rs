// SPDX-License-Identifier: GPL-2.0

//! aiopoll: asynchronous readiness polling and async I/O through `/dev/aiopoll`.
//!
//! Each open of `/dev/aiopoll` is an async I/O context in the manner of an `io_setup` context
//! of `fs/aio.c`. See `Documentation/` in the repository for the design and the ABI.

use kernel::prelude::*;

mod context;
mod fops;
mod poll;
mod request;
mod ring;
mod rw;
mod sys;
mod uaddr;
mod uapi;
mod wait;

module! {
    type: AiopollModule,
    name: "aiopoll",
    authors: ["The aiopoll developers"],
    description: "Asynchronous readiness polling and async I/O contexts through /dev/aiopoll",
    license: "GPL",
    // Opening /dev/aiopoll loads the module: kmod's static-nodes (systemd-tmpfiles) makes the
    // node at boot from these two aliases, and the misc driver asks for char-major-10-MINOR
    // when a node of a minor nobody registered is opened.
    alias: ["devname:aiopoll", "char-major-10-243"],
    params: {
        max_events: u32 {
            default: 65536,
            description: "Events all contexts together may reserve (fs/aio's aio-max-nr)",
        },
    },
}

/// Permissions of `/dev/aiopoll`: any user may create contexts, as with `io_setup(2)`.
const DEVICE_MODE: u16 = 0o666;

/// The misc minor of `/dev/aiopoll`, from the range `Documentation/admin-guide/devices.txt`
/// reserves for local use (243-254), as `alias` above says; a dynamic one when it is taken.
const DEVICE_MINOR: i32 = 243;

/// The loaded module: it owns the misc device registration and the workqueue.
///
/// Drop order matters: `dev` first (no new contexts; none is open, since each pins the
/// module), then `_wq`, whose destruction waits for every work function of the module.
#[pin_data(PinnedDrop)]
struct AiopollModule {
    #[pin]
    dev: fops::Registration,
    _wq: sys::Workqueue,
}

#[pinned_drop]
impl PinnedDrop for AiopollModule {
    fn drop(self: Pin<&mut Self>) {
        // Completions run module code under `rcu_read_lock()` (see `rw_complete` in
        // `rust/sys/rw.rs`): wait for the last of them before the module's text goes away.
        kernel::sync::rcu::synchronize_rcu();
    }
}

impl kernel::InPlaceModule for AiopollModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _wq: sys::Workqueue::new()?,
            dev <- fops::Registration::register(c"aiopoll", DEVICE_MINOR, DEVICE_MODE),
        })
        .pin_chain(|this| {
            pr_info!(
                "ABI {}.{}, /dev/aiopoll registered (10:{})\n",
                uapi::ABI_MAJOR,
                uapi::ABI_MINOR,
                this.dev.minor()
            );
            Ok(())
        })
    }
}
