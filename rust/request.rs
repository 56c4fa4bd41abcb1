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
        PollOwner,
        PollWaits,
        RwArgs,
        RwIo,
        RwOwner,
        TrackedRef,
        WokenEntry, //
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
        List,
        ListArc,
        ListLinks,
        TryNewListArc, //
    },
    new_work, //
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            ordering::{
                Acquire,
                Full,
                Relaxed, //
            },
            Atomic, //
        },
        Arc,
        ArcBorrow,
        Refcount,
        SpinLockIrqGuard, //
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
enum Part {
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

/// Poll state bits (`Request::pstate`).
mod pstate {
    /// The completion work is queued or running.
    pub(super) const SCHED: u32 = 1 << 0;
    /// A wake-up came while `SCHED` was set: the work must poll again before it stops.
    pub(super) const RESCHED: u32 = 1 << 1;
    /// Cancelled (by the cancel ioctl, the context's release, or POLLFREE).
    pub(super) const CANCEL: u32 = 1 << 2;
}

/// `EPOLLFREE` of `<uapi/asm-generic/poll.h>`.
const POLLFREE: u32 = 0x4000;
/// `EPOLLERR | EPOLLHUP`, always reported, as in fs/aio.
pub(crate) const POLL_ALWAYS: u32 = 0x0008 | 0x0010;

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
    /// `io_event.res` (`res2` is always 0). Written by the completion before it drops its
    /// role, read by whoever drops the last role: `refs` orders the two (release/acquire), so
    /// relaxed accesses suffice. 32 bits hold every result: a read or write moves at most
    /// `MAX_RW_COUNT` (`INT_MAX & PAGE_MASK`) bytes, the rest are errnos or poll masks.
    res: Atomic<i32>,
    /// Signalled once when the event is posted (`IOCB_FLAG_RESFD`).
    eventfd: Option<EventFd>,
    /// The file the request operates on (`None` for `NOOP`).
    file: Option<ARef<File>>,
    /// `POLL` of a context's file: the link it counts, given back when the request is
    /// dropped (with its reference to the file). Rare, so kept out of line.
    poll_of_context: Option<KBox<PollOfContext>>,
    /// The operation, with what it keeps.
    part: Part,
    /// The work item of `FSYNC`/`FDSYNC`, and of `POLL` completions that cannot happen in
    /// the waker's context.
    #[pin]
    work: Work<Request>,
    /// `POLL`: `pstate::*` bits.
    pstate: Atomic<u32>,
    /// `POLL`: the request's reference to itself while armed: the completion role. Whoever
    /// takes it completes the request, exactly once. Taken with the context's `active` lock
    /// held (and, inside a wake-up, the queue's lock), which orders the takers' other steps;
    /// the slot itself needs no lock.
    self_ref: ArcSlot<Request>,
    /// Links of one of the context's lists: of cancellable requests (`Context::active`) for
    /// `POLL`, of I/O to poll for (`Context::iopoll`) for polled reads and writes. A request
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
    fn complete(this: Arc<Self>, res: i64) {
        Self::complete_in(this, res, None);
    }

    /// `complete`, with `irq` when interrupts are known to be off.
    fn complete_in(this: Arc<Self>, res: i64, irq: Option<&LocalInterruptDisabled>) {
        // Cannot saturate (see `res`); the clamp only keeps a misbehaving driver's value sane.
        this.res
            .store(res.clamp(i32::MIN.into(), i32::MAX.into()) as i32, Relaxed);
        Self::put_in(this, irq);
    }

    /// Drops one role; the last one posts the event (fs/aio's `iocb_put()`).
    fn put(this: Arc<Self>) {
        Self::put_in(this, None);
    }

    /// `put`, with `irq` when interrupts are known to be off.
    fn put_in(this: Arc<Self>, irq: Option<&LocalInterruptDisabled>) {
        if this.refs.dec_and_test() {
            let event = IoEvent {
                data: this.data,
                obj: this.obj,
                res: this.res.load(Relaxed).into(),
                res2: 0,
            };
            this.ctx.post(&event, irq);
            if let Some(eventfd) = &this.eventfd {
                eventfd.signal();
            }
        }
    }
}

// SAFETY: `rw_io` returns the `RwIo` of `part`, a field of the request that is set once, by
// `new`.
unsafe impl RwOwner for Request {
    fn rw_io(&self) -> Option<&RwIo> {
        match &self.part {
            Part::Rw(io) => Some(io),
            _ => None,
        }
    }

    fn rw_polled_issuing(this: &Arc<Self>) -> Result {
        // On the context's list before it is issued, so a completion always finds it there to
        // take it off; and only now, with the kiocb ready for a poller.
        let listed = ListArc::<Self>::try_from_arc(this.clone()).map_err(|_| EINVAL)?;
        this.ctx.iopoll_push(listed);
        Ok(())
    }

    fn rw_done(this: Arc<Self>, res: i64) {
        let listed = this.unlist_iopoll();
        Self::complete(this, res);
        drop(listed);
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

impl Request {
    /// Takes a polled read or write off the context's `iopoll` list, if it is there.
    fn unlist_iopoll(&self) -> Option<ListArc<Self>> {
        self.ctx.iopoll_remove(self)
    }

    /// Polls the device for this polled read or write (see `Context::iopoll_once`).
    pub(crate) fn iopoll(&self) -> bool {
        self.rw_io().is_some_and(RwIo::iopoll)
    }

    /// Whether this polled read or write has been issued, so that polling for it can find it.
    pub(crate) fn iopoll_ready(&self) -> bool {
        self.rw_io().is_some_and(RwIo::is_issued)
    }
}

/// `IOCB_CMD_POLL`, after fs/aio's `aio_poll()`, `aio_poll_wake()`, `aio_poll_complete_work()`
/// and `aio_poll_cancel()`, with io_uring's two wait queues and multishot.
///
/// Who completes: whoever takes `self_ref` (the completion role), with the context's `active`
/// lock held: the wake-up itself (inline, when it can take that lock with a trylock), the work
/// item, or the arming when the file is ready at once. The wake-up never blocks on `active`:
/// the order elsewhere is `active` → queue lock, and the wake-up runs under the queue lock.
///
/// `pstate` is only changed by compare-exchange with full ordering: a wake-up that finds the
/// work queued sets `RESCHED`, and the work can only stop (clear `SCHED`) if `RESCHED` is clear,
/// after polling the file again; so a wake-up is never lost, keyed or not.
impl Request {
    /// The wait entries of a poll request.
    fn poll_waits(&self) -> Option<&PollWaits> {
        match &self.part {
            Part::Poll { waits, .. } => Some(waits),
            _ => None,
        }
    }

    /// The events of a poll request, and whether it is multishot.
    fn poll_args(&self) -> (u32, bool) {
        match self.part {
            Part::Poll {
                events, multishot, ..
            } => (events, multishot),
            _ => (0, false),
        }
    }

    /// Atomically replaces `pstate` with `f(old)`; returns `old`.
    fn pstate_update(&self, f: impl Fn(u32) -> u32) -> u32 {
        let mut s = self.pstate.load(Relaxed);
        loop {
            match self.pstate.cmpxchg(s, f(s), Full) {
                Ok(old) => return old,
                Err(now) => s = now,
            }
        }
    }

    /// Queues the completion work, or, if it is queued or running, tells it to poll once more
    /// before it stops.
    fn poll_schedule(this: ArcBorrow<'_, Self>) {
        let old = this.pstate_update(|s| {
            if s & pstate::SCHED != 0 {
                s | pstate::RESCHED
            } else {
                s | pstate::SCHED
            }
        });
        if old & pstate::SCHED == 0 {
            if let Ok(wq) = sys::workqueue() {
                // Cannot be queued already: SCHED was clear.
                let _ = wq.enqueue(Arc::from(this));
            }
        }
    }

    /// Takes the entries off their queues. Called with the context's `active` lock held (so
    /// interrupts are off, as `PollWait::lock` needs).
    fn poll_unqueue(&self) {
        for pw in self.poll_waits().into_iter().flat_map(PollWaits::queued) {
            if let Some(guard) = pw.lock() {
                guard.remove();
            }
        }
    }

    /// Takes the request off the context's `active` list, if it is there.
    fn unlist(&self, active: &mut List<Self>) -> Option<ListArc<Self>> {
        // SAFETY: The caller passes its context's `active` list, and a poll request (the only
        // kind this is called for) only ever goes on that list.
        unsafe { active.remove(self) }
    }

    /// Arms a poll request (fs/aio's `aio_poll()`): queues it on the file's wait queues, and
    /// completes it at once if the file is ready or has no wait queue.
    ///
    /// The arming owns the request until it hands it over: `pstate` starts with `SCHED`, so
    /// wake-ups during the arming neither complete it inline nor queue the work, they only
    /// leave `RESCHED` (or `CANCEL`, for POLLFREE) for the arming to act on.
    fn arm_poll(this: &Arc<Self>) -> Result {
        let file = this.file.as_ref().ok_or(EBADF)?;
        let (events, multishot) = this.poll_args();
        let waits = this.poll_waits().ok_or(EINVAL)?;
        let listed = ListArc::try_from_arc(this.clone()).map_err(|_| EINVAL)?;
        this.self_ref.set(this.clone()).map_err(|_| EINVAL)?;
        this.pstate.store(pstate::SCHED, Relaxed);
        // SAFETY: The entries live in `this`, which is armed once, and `self_ref` (set above)
        // keeps it alive until whoever takes it has taken every entry off its queue
        // (`poll_unqueue`) or POLLFREE detached it.
        let (mask, queued, armed) = unsafe { sys::poll_arm(this, file, events, waits) };
        let mask = mask & events;
        let mut active = this.ctx.active.lock();
        if armed.is_err() || queued == 0 || (mask != 0 && !multishot) {
            this.poll_unqueue();
            let completion = this.self_ref.take();
            drop(active);
            let Some(completion) = completion else {
                return Ok(());
            };
            if let Err(e) = armed {
                // More than two queues (EINVAL), or no memory for the second entry (EAGAIN,
                // as fs/aio answers a failed allocation): the submission fails and no event is
                // posted.
                drop(completion);
                return Err(if e == ENOMEM { EAGAIN } else { e });
            }
            if mask == 0 {
                // Not pollable and not ready (fs/aio: EINVAL).
                drop(completion);
                return Err(EINVAL);
            }
            Self::complete(completion, i64::from(sys::mangle_poll(mask)));
            return Ok(());
        }
        active.push_back(listed);
        drop(active);
        // Hand over. The work runs now if a wake-up (or POLLFREE) came during the arming, or
        // to post the first event of a ready multishot request; else the request waits.
        let run_work = |s: u32| s & (pstate::RESCHED | pstate::CANCEL) != 0 || mask != 0;
        let old = this.pstate_update(|s| {
            if run_work(s) {
                s & !pstate::RESCHED
            } else {
                s & !pstate::SCHED
            }
        });
        if run_work(old) {
            // SCHED stays set: the work owns the request until it stops.
            let _ = sys::workqueue()?.enqueue(this.clone());
        }
        Ok(())
    }

    /// Cancels a listed poll request (fs/aio's `aio_poll_cancel()`), which the caller took off
    /// the context's `active` list: the work completes it with `res == 0`.
    pub(crate) fn poll_cancel(this: ArcBorrow<'_, Self>) {
        this.pstate_update(|s| s | pstate::CANCEL);
        Self::poll_schedule(this);
    }

    /// Cancels a poll request that the cancel ioctl took off `active`, whose lock it passes
    /// in: completes it at once (`res == 0`) when its work is idle, as io_uring cancels
    /// without a round trip through a worker; otherwise the work does it, as
    /// [`Request::poll_cancel`].
    ///
    /// Claiming the idle work (`pstate` 0 to `SCHED | CANCEL`) excludes everyone else who
    /// could complete the request: the work (never queued again while `SCHED` is set) and an
    /// inline wake-up (which needs `pstate == 0` and `active`, held here until the entries are
    /// off their queues). A wake-up that got in first set `SCHED`, and the claim fails.
    pub(crate) fn poll_cancel_now(
        this: ArcBorrow<'_, Self>,
        active: SpinLockIrqGuard<'_, List<Self>>,
    ) {
        if this
            .pstate
            .cmpxchg(0, pstate::SCHED | pstate::CANCEL, Full)
            .is_err()
        {
            Self::poll_cancel(this);
            return;
        }
        this.poll_unqueue();
        let completion = this.self_ref.take();
        drop(active);
        if let Some(completion) = completion {
            Self::complete(completion, 0);
        }
    }

    /// The completion work (fs/aio's `aio_poll_complete_work()`): polls the file again and
    /// completes the request if it is ready or cancelled, posts an event and stays armed if
    /// it is multishot, or keeps waiting.
    fn poll_work(this: &Arc<Self>) {
        let (events, multishot) = this.poll_args();
        let Some(file) = this.file.as_ref() else {
            return;
        };
        loop {
            // From here on, a new wake-up makes us poll once more.
            let s = this.pstate_update(|s| s & !pstate::RESCHED);
            let cancelled = s & pstate::CANCEL != 0;
            let mask = if cancelled {
                0
            } else {
                sys::poll_mask(file, events) & events
            };
            let res = i64::from(sys::mangle_poll(mask));
            let stay = !cancelled
                && (mask == 0 || (multishot && this.ctx.post_more(this.data, this.obj, res, None)));
            if stay {
                // Stop, unless a wake-up came meanwhile: then poll again.
                let old = this.pstate_update(|s| {
                    if s & pstate::RESCHED != 0 {
                        s
                    } else {
                        s & !pstate::SCHED
                    }
                });
                if old & pstate::RESCHED == 0 {
                    return;
                }
                continue;
            }
            let mut active = this.ctx.active.lock();
            this.poll_unqueue();
            let completion = this.self_ref.take();
            let listed = this.unlist(&mut active);
            drop(active);
            if let Some(completion) = completion {
                let res = if multishot && mask != 0 {
                    // No room in the ring for another event: end with one that says so.
                    i64::from(EOVERFLOW.to_errno())
                } else {
                    res
                };
                Self::complete(completion, res);
            }
            drop(listed);
            return;
        }
    }
}

// SAFETY: `poll_wake` returns right after `WokenEntry::remove_pollfree`, touching nothing of the
// request.
unsafe impl PollOwner for Request {
    /// A wake-up of one of the request's entries (fs/aio's `aio_poll_wake()`), with that
    /// entry's queue lock held. Returns whether the wake-up was for this request.
    fn poll_wake(this: ArcBorrow<'_, Self>, entry: WokenEntry<'_>, mask: u32) -> bool {
        let (events, multishot) = this.poll_args();
        if mask & POLLFREE != 0 {
            // The queue is being freed. Cancel first (the work completes the request, or a
            // running work polls once more and sees the cancel), and only then detach the
            // entry: that release store must be our last access to the request, as fs/aio's
            // aio_poll_wake() and io_uring's io_pollfree_wake() insist. Until it, whoever
            // completes the request waits for this queue's lock (`poll_unqueue`); after it, it
            // no longer does, and may free the request on another CPU at once.
            Self::poll_cancel(this);
            entry.remove_pollfree();
            return true;
        }
        if mask != 0 && mask & events == 0 {
            // A keyed wake-up for events nobody asked for.
            return false;
        }
        // Complete right here, in the waker's context, when that is safe: the wake-up says
        // what happened (a key), no eventfd must be signalled (never from a wake-up), the
        // request is on one queue (we hold only its lock), the work is idle, and we are not
        // inside one of aiopoll's own wake-ups (whose queue lock we would nest).
        if mask != 0
            && this.eventfd.is_none()
            && this.pstate.load(Acquire) == 0
            && this.poll_waits().is_some_and(|w| !w.has_second())
            && !sys::in_own_wakeup()
        {
            let done = sys::with_irqs_off(|irq| {
                // From here the context's pollers are woken from a work item: their callbacks
                // must not run under the lock of the queue being woken.
                let _inline = sys::InlineCompletion::enter();
                // The whole key, not just the events asked for: fs/aio's aio_poll_wake() reports
                // mangle_poll(key) too, and programs written for it see the same masks.
                let res = i64::from(sys::mangle_poll(mask));
                let taken = this.ctx.try_with_active(irq, |active| {
                    if !this.self_ref.is_set()
                        || (multishot && this.ctx.post_more(this.data, this.obj, res, irq))
                    {
                        return None;
                    }
                    entry.remove();
                    Some((this.self_ref.take(), this.unlist(active)))
                });
                let Some(taken) = taken else {
                    // `active` is busy: defer to the work.
                    return false;
                };
                if let Some((completion, listed)) = taken {
                    if let Some(completion) = completion {
                        let res = if multishot {
                            // No room in the ring for another event: end with one that says so.
                            i64::from(EOVERFLOW.to_errno())
                        } else {
                            res
                        };
                        Self::complete_in(completion, res, irq);
                    }
                    drop(listed);
                }
                true
            });
            if done {
                return true;
            }
        }
        Self::poll_schedule(this);
        true
    }
}

// A request and the `Arc`'s count fit in kmalloc-192, as fs/aio's `aio_kiocb` cache (192-byte
// objects): no more slab memory per armed poll than fs/aio. Lock debugging (`CONFIG_LOCKDEP`)
// grows the work item, and so the request, on test kernels.
#[cfg(not(CONFIG_LOCKDEP))]
const _: () = assert!(core::mem::size_of::<Request>() <= 192 - 8);
