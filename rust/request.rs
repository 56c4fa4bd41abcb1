// SPDX-License-Identifier: GPL-2.0

//! Requests: one submitted `struct iocb`, from submission to its event in the ring.
//!
//! A request is reference counted twice over, as fs/aio's `aio_kiocb`:
//!
//! - `Arc<Request>` owns the memory. The submitter holds one `Arc`; whatever completes the
//!   request (a kiocb's `ki_complete`, a work item) holds another while the operation runs.
//! - `refs` counts the two *roles*, submission and completion (fs/aio's `ki_refcnt = 2`). The
//!   event is posted when both have let go, so a completion that races with the submitter can
//!   never post an event, or free anything, under a submitter that still reads the request.
//!
//! A request whose submission fails is dropped without an event, and its ring slot is returned.

use crate::{
    context::Context,
    sys::{
        self,
        EventFd,
        RwArgs,
        RwIo,
        RwOwner,
        TrackedRef, //
    },
    uapi::IoEvent,
};
use kernel::{
    cred::Credential,
    fs::File,
    impl_has_work,
    new_work, //
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            ordering::Relaxed,
            Atomic, //
        },
        Arc,
        Refcount, //
    },
    workqueue::{
        Work,
        WorkItem, //
    },
};

/// What a request does.
pub(crate) enum Op {
    /// `IOCB_CMD_PREAD`, `PWRITE`, `PREADV`, `PWRITEV`.
    Rw(RwArgs),
    /// `IOCB_CMD_FSYNC` (`datasync == false`) and `IOCB_CMD_FDSYNC`, run on the module's
    /// workqueue with the submitter's credentials.
    Fsync {
        datasync: bool,
        creds: ARef<Credential>,
    },
    /// `IOCB_CMD_NOOP`: completes at once with `res == 0`.
    Noop,
}

/// One submitted iocb.
#[pin_data]
pub(crate) struct Request {
    /// The context the event goes to. Its release waits until every request is dropped.
    pub(crate) ctx: TrackedRef<Context>,
    /// The submission and completion roles (see the module documentation).
    refs: Refcount,
    /// `io_event.data`: the iocb's `aio_data`.
    data: u64,
    /// `io_event.obj`: the user address of the iocb.
    pub(crate) obj: u64,
    /// `io_event.res` and `res2`. Written by the completion before it drops its role, read by
    /// whoever drops the last role: `refs` orders the two (release/acquire), so relaxed
    /// accesses suffice.
    res: Atomic<i64>,
    res2: Atomic<i64>,
    /// Signalled once when the event is posted (`IOCB_FLAG_RESFD`).
    eventfd: Option<EventFd>,
    /// The file the request operates on (`None` for `NOOP`).
    file: Option<ARef<File>>,
    op: Op,
    /// The kiocb of reads and writes.
    io: RwIo,
    /// The work item of `FSYNC`/`FDSYNC`.
    #[pin]
    work: Work<Request>,
}

impl_has_work! {
    impl HasWork<Self> for Request { self.work }
}

impl Request {
    /// Allocates a request of `ctx` for the iocb at user address `obj`.
    pub(crate) fn new(
        ctx: TrackedRef<Context>,
        obj: u64,
        data: u64,
        file: Option<ARef<File>>,
        eventfd: Option<EventFd>,
        op: Op,
    ) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                ctx,
                refs: Refcount::new(2),
                data,
                obj,
                res: Atomic::new(0),
                res2: Atomic::new(0),
                eventfd,
                file,
                op,
                io: RwIo::new(),
                work <- new_work!("Request::work"),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts the operation. On error nothing was started and no event will be posted; on
    /// success the completion role is handed to whatever finishes the operation, and the
    /// caller's submission role is dropped.
    pub(crate) fn issue(this: Arc<Self>) -> Result {
        match &this.op {
            Op::Rw(args) => {
                let file = this.file.as_ref().ok_or(EBADF)?;
                sys::rw_submit(&this, &this.io, file, args)?;
            }
            Op::Fsync { .. } => {
                sys::workqueue()?.enqueue(this.clone()).map_err(|_| EBUSY)?;
            }
            Op::Noop => Self::complete(this.clone(), 0),
        }
        Self::put(this);
        Ok(())
    }

    /// Records the result of the operation and drops the completion role.
    fn complete(this: Arc<Self>, res: i64) {
        this.res.store(res, Relaxed);
        Self::put(this);
    }

    /// Drops one role; the last one posts the event (fs/aio's `iocb_put()`).
    fn put(this: Arc<Self>) {
        if this.refs.dec_and_test() {
            let event = IoEvent {
                data: this.data,
                obj: this.obj,
                res: this.res.load(Relaxed),
                res2: this.res2.load(Relaxed),
            };
            this.ctx.post(&event);
            if let Some(eventfd) = &this.eventfd {
                eventfd.signal();
            }
        }
    }
}

// SAFETY: `RW_IO_OFFSET` is the offset of `io`, the `RwIo` that `issue` passes to `rw_submit`.
unsafe impl RwOwner for Request {
    const RW_IO_OFFSET: usize = core::mem::offset_of!(Request, io);

    fn rw_done(this: Arc<Self>, res: i64) {
        Self::complete(this, res);
    }
}

impl WorkItem for Request {
    type Pointer = Arc<Request>;

    fn run(this: Arc<Request>) {
        let res = match (&this.op, &this.file) {
            (Op::Fsync { datasync, creds }, Some(file)) => sys::fsync_as(file, creds, *datasync),
            _ => i64::from(EINVAL.to_errno()),
        };
        Self::complete(this, res);
    }
}
