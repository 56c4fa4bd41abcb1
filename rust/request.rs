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
    context::{
        Context,
        PollOfContext, //
    },
    sys::{
        self,
        ArcSlot,
        EventFd,
        PollWaits,
        RwArgs,
        RwIo,
        TrackedRef, //
    },
    uapi::IoEvent,
};
use kernel::{
    cred::Credential,
    fs::File,
    impl_has_work,
    interrupt::LocalInterruptDisabled,
    list::{
        AtomicTracker,
        ListLinks,
        TryNewListArc, //
    },
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

/// What a request does, as the submission parsed it.
pub(crate) enum Op {
    /// `IOCB_CMD_PREAD`, `PWRITE`, `PREADV`, `PWRITEV`; what to do is given to
    /// [`Request::issue`] and not kept (the kiocb holds it).
    Rw,
    /// `IOCB_CMD_FSYNC` (`datasync == false`) and `IOCB_CMD_FDSYNC`, run on the module's
    /// workqueue with the submitter's credentials.
    Fsync {
        datasync: bool,
        creds: ARef<Credential>,
    },
    /// `IOCB_CMD_NOOP`: completes at once with `res == 0`.
    Noop,
    /// `IOCB_CMD_POLL`: waits for `events` (kernel `EPOLL*` bits, with `EPOLLERR | EPOLLHUP`);
    /// `multishot` keeps it armed, one event per readiness.
    Poll { events: u32, multishot: bool },
}

/// What a request keeps for its kind of operation: the kiocb of a read or write, the wait
/// entries and arguments of a poll, the credentials of an fsync. One of them, never several, so
/// that a request is sized for the largest (64 bytes: the kiocb and its owner, or the two
/// entries), not for their sum.
pub(crate) enum Part {
    Rw(RwIo),
    Fsync {
        datasync: bool,
        creds: ARef<Credential>,
    },
    Noop,
    Poll {
        waits: PollWaits,
        events: u32,
        multishot: bool,
    },
}

impl Part {
    fn new(op: Op) -> Self {
        match op {
            Op::Rw => Self::Rw(RwIo::new()),
            Op::Fsync { datasync, creds } => Self::Fsync { datasync, creds },
            Op::Noop => Self::Noop,
            Op::Poll { events, multishot } => Self::Poll {
                waits: PollWaits::new(),
                events,
                multishot,
            },
        }
    }
}

/// One submitted iocb.
#[pin_data]
pub(crate) struct Request {
    /// The context the event goes to. Its release waits until every request is dropped.
    pub(crate) ctx: TrackedRef<Context>,
    /// The submission and completion roles (see the module documentation).
    refs: Refcount,
    /// `io_event.data`: the iocb's `aio_data`.
    pub(crate) data: u64,
    /// `io_event.obj`: the user address of the iocb.
    pub(crate) obj: u64,
    /// `io_event.res` (`res2` is always 0). Written by the completion before it drops its
    /// role, read by whoever drops the last role: `refs` orders the two (release/acquire), so
    /// relaxed accesses suffice. 32 bits hold every result: a read or write moves at most
    /// `MAX_RW_COUNT` (`INT_MAX & PAGE_MASK`) bytes, the rest are errnos or poll masks.
    res: Atomic<i32>,
    /// Signalled once when the event is posted (`IOCB_FLAG_RESFD`).
    pub(crate) eventfd: Option<EventFd>,
    /// The file the request operates on (`None` for `NOOP`).
    pub(crate) file: Option<ARef<File>>,
    /// `POLL` of a context's file: the link it counts, given back when the request is
    /// dropped (with its reference to the file). Rare, so kept out of line.
    poll_of_context: Option<KBox<PollOfContext>>,
    /// The operation, with what it keeps.
    pub(crate) part: Part,
    /// The work item of `FSYNC`/`FDSYNC`, and of `POLL` completions that cannot happen in
    /// the waker's context.
    #[pin]
    work: Work<Request>,
    /// `POLL`: the `pstate::*` bits of `rust/poll.rs`, which also says how they are changed
    /// and what that orders. A polled read or write: the `POLLED` and `DONE` bits of
    /// `rust/rw.rs` (its completion's result published with release).
    pub(crate) pstate: Atomic<u32>,
    /// `POLL`: the request's reference to itself while armed: the completion role. Whoever
    /// takes it completes the request, exactly once. Taken with the context's `active` lock
    /// held (and, inside a wake-up, the queue's lock), which orders the takers' other steps;
    /// the slot itself needs no lock.
    pub(crate) self_ref: ArcSlot<Request>,
    /// Links of one of the context's lists: of cancellable requests (`Context::active`) for
    /// `POLL`, of I/O to poll for (the reaper's list, `rw::Reaper`) for polled reads and writes. A request
    /// only ever goes on the one list of its kind, so the two can share the links.
    #[pin]
    links: ListLinks<0>,
    #[pin]
    links_track: AtomicTracker<0>,
}

kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<0> for Request { tracked_by links_track: AtomicTracker; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Request { using ListLinks { self.links }; }
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
        poll_of_context: Option<PollOfContext>,
    ) -> Result<Arc<Self>> {
        let poll_of_context = poll_of_context
            .map(|p| KBox::new(p, GFP_KERNEL_ACCOUNT))
            .transpose()?;
        Arc::pin_init(
            pin_init!(Self {
                ctx,
                refs: Refcount::new(2),
                data,
                obj,
                res: Atomic::new(0),
                eventfd,
                file,
                poll_of_context,
                part: Part::new(op),
                work <- new_work!("Request::work"),
                pstate: Atomic::new(0),
                self_ref: ArcSlot::new(),
                links <- ListLinks::new(),
                links_track <- AtomicTracker::new(),
            }),
            // Charged to the submitter's memory cgroup, like io_uring's requests.
            GFP_KERNEL_ACCOUNT,
        )
    }

    /// Starts the operation (`rw`: what a read or write does). On error nothing was started
    /// and no event will be posted; on success the completion role is handed to whatever
    /// finishes the operation, and the caller's submission role is dropped.
    pub(crate) fn issue(this: Arc<Self>, rw: Option<&RwArgs>) -> Result {
        match &this.part {
            Part::Rw(_) => {
                let file = this.file.as_ref().ok_or(EBADF)?;
                sys::rw_submit(&this, file, rw.ok_or(EINVAL)?)?;
            }
            Part::Fsync { .. } => {
                sys::workqueue()?.enqueue(this.clone()).map_err(|_| EBUSY)?;
            }
            Part::Noop => Self::complete(this.clone(), 0),
            Part::Poll { .. } => Self::arm_poll(&this)?,
        }
        Self::put(this);
        Ok(())
    }

    /// Records the result of the operation and drops the completion role.
    pub(crate) fn complete(this: Arc<Self>, res: i64) {
        Self::complete_in(this, res, None);
    }

    /// `complete`, with `irq` when interrupts are known to be off.
    pub(crate) fn complete_in(this: Arc<Self>, res: i64, irq: Option<&LocalInterruptDisabled>) {
        this.store_result(res);
        Self::put_in(this, irq);
    }

    /// Records the result of the operation (before the completion role is dropped).
    pub(crate) fn store_result(&self, res: i64) {
        // Cannot saturate (see `res`); the clamp only keeps a misbehaving driver's value sane.
        self.res
            .store(res.clamp(i32::MIN.into(), i32::MAX.into()) as i32, Relaxed);
    }

    /// Drops one role; the last one posts the event (fs/aio's `iocb_put()`). Also the
    /// reaper's, for a polled request whose result is stored.
    pub(crate) fn put(this: Arc<Self>) {
        Self::put_in(this, None);
    }

    /// `put`, with `irq` when interrupts are known to be off.
    fn put_in(this: Arc<Self>, irq: Option<&LocalInterruptDisabled>) {
        if let Some(event) = Self::put_taking_event(&this) {
            this.ctx.post(&event, irq);
            if let Some(eventfd) = &this.eventfd {
                eventfd.signal();
            }
        }
    }

    /// Drops one role; when it was the last, returns the event, which the caller must post
    /// (then signal the eventfd, if any).
    pub(crate) fn put_taking_event(this: &Self) -> Option<IoEvent> {
        // `refs` orders the completion's store of `res` before this load (release/acquire
        // of the count's last decrement).
        this.refs.dec_and_test().then(|| IoEvent {
            data: this.data,
            obj: this.obj,
            res: this.res.load(Relaxed).into(),
            res2: 0,
        })
    }
}

impl WorkItem for Request {
    type Pointer = Arc<Request>;

    fn run(this: Arc<Request>) {
        if let Part::Poll { .. } = this.part {
            return Self::poll_work(&this);
        }
        let res = match (&this.part, &this.file) {
            (Part::Fsync { datasync, creds }, Some(file)) => sys::fsync_as(file, creds, *datasync),
            _ => i64::from(EINVAL.to_errno()),
        };
        Self::complete(this, res);
    }
}

// A request and the `Arc`'s count fit in kmalloc-192, as fs/aio's `aio_kiocb` cache (192-byte
// objects): no more slab memory per armed poll than fs/aio. Lock debugging (`CONFIG_LOCKDEP`)
// grows the work item, and so the request, on test kernels.
#[cfg(not(CONFIG_LOCKDEP))]
const _: () = assert!(core::mem::size_of::<Request>() <= 192 - 8);
