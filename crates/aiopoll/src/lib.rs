// SPDX-License-Identifier: MIT OR Apache-2.0
//! Safe user-space API of aiopoll contexts: asynchronous I/O and
//! readiness polling through `/dev/aiopoll`, with the completion ring reaped from user space.
//!
//! Each [`Context`] is one open of `/dev/aiopoll`, set up with `AIOPOLL_IOC_SETUP` and with
//! its fs/aio-layout completion ring mapped. Requests are built with [`Op`] (read, write,
//! readv, writev, fsync, fdsync, noop, poll, multishot poll) and submitted; each comes back
//! as one [`Completion`] (a multishot poll as several).
//!
//! # Memory model
//!
//! The kernel writes into read buffers asynchronously, so buffers are *owned*: an [`Op`]
//! holds its buffer (any [`IoBuf`] for a write, [`IoBufMut`] for a read: `Vec<u8>`,
//! `Box<[u8]>`, [`AlignedBuf`] for `O_DIRECT` and polled I/O, or a type of your own), and
//! [`Context::submit`] moves it, with the request's iocb, into the context's in-flight table,
//! where neither moves nor is touched until the request's last event is reaped; the
//! [`Completion`] gives the buffer back, as the type it was given as
//! ([`Buffers::downcast`]). File descriptors are only borrowed until submission: the kernel
//! holds its own reference to the file from then on. Dropping a [`Context`] cancels its polls
//! and reaps every request before it frees their buffers.
//!
//! # Threads
//!
//! A [`Context`] is `Send + Sync` and every method takes `&self`: one thread can wait while
//! others submit and cancel. Completions are consumed by one thread at a time (the ring has
//! one consumer); see [`Context`]'s documentation for the contract.
//!
//! # Reaping
//!
//! [`Context::reap`] and [`Context::wait`] first consume the ring from the mapping, with no
//! system call (acquire-load of `tail`, copy of the events, release-store of `head`, as
//! libaio does); [`Context::wait`] calls `AIOPOLL_IOC_GETEVENTS` only to wait for more.
//!
//! # Example
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use aiopoll::{Context, Op};
//!
//! let ctx = Context::new(32)?;
//! let file = std::fs::OpenOptions::new()
//!     .read(true).write(true).create(true).truncate(true)
//!     .open("/tmp/aiopoll-example")?;
//! ctx.submit(Op::write(file.as_fd(), b"hello, aiopoll".to_vec()).with_user_data(1))?;
//! let c = ctx.wait(1, None)?.remove(0);
//! assert_eq!(c.result()?, 14);
//! let back = c.into_buffers().into_single().unwrap(); // the buffer, given back
//!
//! ctx.submit(Op::read(file.as_fd(), vec![0; 5]).with_offset(7).with_user_data(2))?;
//! let c = ctx.wait(1, None)?.remove(0);
//! assert_eq!(c.user_data(), 2);
//! assert_eq!(c.into_buffers().into_single().unwrap(), b"aiopo");
//! # drop(back);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The ABI reference is `Documentation/abi.rst` of the aiopoll repository; the crate's guide
//! is `Documentation/rust.rst`.

#![deny(unsafe_code)]
#![warn(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

#[allow(unsafe_code)]
mod buf;
mod completion;
mod context;
#[allow(unsafe_code)]
mod engine;
mod flags;
mod op;
#[allow(unsafe_code)]
mod sys;
#[cfg(feature = "tokio")]
#[allow(unsafe_code)]
pub mod tokio;

pub use buf::{AlignedBuf, Buffers, IoBuf, IoBufMut};
pub use completion::{Completion, SubmitError, Token};
pub use context::{Context, Stats, Version, DEVICE_PATH};
pub use flags::{Features, PollEvents, RwFlags, SigMask};
pub use op::{Op, Opcode};
/// The errno type of the crate (from `rustix`): `Errno::AGAIN`, `Errno::INTR`, and so on.
pub use rustix::io::Errno;

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<crate::Context>();
        send_sync::<crate::Op<'static>>();
        send_sync::<crate::Completion>();
        send_sync::<crate::SubmitError<'static>>();
    }

    #[test]
    fn refused_submission_outside_the_device() {
        // The engine's failure paths need no device: a context that cannot open.
        assert_eq!(
            crate::Context::with_path("/nonexistent/aiopoll", 8).unwrap_err(),
            crate::Errno::NOENT
        );
    }
}
