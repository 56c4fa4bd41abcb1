// SPDX-License-Identifier: GPL-2.0

//! The async I/O context: the object behind each open file of `/dev/aiopoll`.
//!
//! This file has the context itself, its ioctls (but `GETEVENTS`, in `rust/wait.rs`),
//! `SUBMIT`'s parsing of iocbs, cancel, posting events, the mapping of the ring and fdinfo.
//! The ring is in `rust/ring.rs`, the requests in `rust/request.rs`, `rust/poll.rs` and
//! `rust/rw.rs`.
//!
//! # Locks
//!
//! Each lock's field says what it protects. Their order, with the wait-queue locks of polled
//! files and of the context's own queues, is stated once, in `Documentation/design.rst`
//! (*Locks and their order*).

use crate::{
    fops, poll,
    request::{
        Op,
        Request, //
    },
    ring::{
        Producer,
        Ring, //
    },
    rw::Reaper,
    sys::{
        self,
        EventFd,
        OwnerExit,
        OwnerWatch,
        PollQueue,
        RwArgs,
        Tracked,
        TrackedRef,
        Tracker,
        Vma,
        WaitQueue, //
    },
    uaddr::UserAddr,
    uapi::{
        self,
        IoEvent,
        Iocb, //
    },
};
use kernel::{
    c_str,
    fs::{
        file::LocalFile,
        File, //
    },
    interrupt::LocalInterruptDisabled,
    list::List,
    mm::Mm,
    new_mutex,
    new_spinlock_irq, //
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    static_lock_class, //
    sync::{
        aref::ARef,
        atomic::{
            ordering::{
                Acquire,
                Full,
                Relaxed,
                Release, //
            },
            Atomic, //
        },
        Arc,
        ArcBorrow,
        Mutex,
        SetOnce,
        SpinLockIrq, //
    },
};

/// Source of context ids, unique for the lifetime of the module.
static NEXT_ID: Atomic<u64> = Atomic::new(1);

/// The state of a context that completions may change, under `Context::inner`.
struct Inner {
    /// The ring's writing side: its tail and slot accounting.
    producer: Producer,
    /// Live mappings of the ring, and the address of the newest (fdinfo).
    maps: u32,
    map_addr: usize,
}

/// One async I/O context, owned by the file that opened it.
///
/// The file holds the only `Arc` (`file->private_data`). Requests point at the context with
/// [`TrackedRef`]s, counted by `requests`; `release` (and, as a safety net, `drop`) waits until
/// none is left, so the context is always freed by its file's release, in process context.
#[pin_data(PinnedDrop)]
pub(crate) struct Context {
    /// Counts the requests (and submissions in progress) that point at the context.
    #[pin]
    requests: Tracker,
    /// Unique id, shown in fdinfo.
    id: u64,
    /// The mm of the process that opened the context; the context works only there. Held
    /// (`mmgrab()`) so that no other mm can take its address while the context lives, which
    /// makes the owner check a plain comparison, with no lock. Immutable.
    owner: Option<ARef<Mm>>,
    /// Watches the process that opened the context, to cancel its polls when it has exited
    /// (see [`OwnerExit for Context`](Context::owner_exited)).
    #[pin]
    owner_watch: OwnerWatch,
    /// The ring, set once by `AIOPOLL_IOC_SETUP` and freed with the context.
    ring: SetOnce<Ring>,
    /// Serialises `AIOPOLL_IOC_SETUP`: the ring is checked absent and installed under it.
    #[pin]
    setup_lock: Mutex<()>,
    /// Serialises the readers of the ring in `GETEVENTS`, which copy events out and move
    /// `head` (fs/aio's `ring_lock`; see [`Ring::read`]), and the reaper of polled I/O,
    /// which owns the list of polled requests (see `rust/rw.rs`).
    #[pin]
    pub(crate) ring_lock: Mutex<Reaper>,
    /// What completions change ([`Inner`]); taken from any context, hard interrupts included,
    /// so nothing that sleeps and no other lock is taken under it.
    #[pin]
    inner: SpinLockIrq<Inner>,
    /// Armed poll requests, which the cancel ioctl and `release` can cancel (fs/aio's
    /// `active_reqs` under `ctx_lock`). Poll wake-ups only ever `try_lock` it.
    #[pin]
    pub(crate) active: SpinLockIrq<List<Request>>,
    /// How many polled requests the reaper's list holds (`Reaper::iopoll` under
    /// `ring_lock`), changed under that lock, read without it.
    pub(crate) iopoll_len: Atomic<u32>,
    /// Woken on every posted event: waiters of GETEVENTS (plain sleeping tasks only, so it
    /// may be woken inside another wake-up).
    #[pin]
    pub(crate) wait: WaitQueue,
    /// Woken on every posted event too: pollers of the context file (poll, select, epoll,
    /// other contexts' poll requests), from a work item when the event is posted inside a
    /// wake-up (see [`PollQueue`]).
    #[pin]
    pollers: PollQueue,
    /// Polls among contexts that involve this one (see [`PollOfContext`]).
    poll_counts: Arc<PollCounts>,
    /// No new requests: set by `release`, by `AIOPOLL_IOC_DESTROY`, or when the process that
    /// created the context has exited (its polls are cancelled then, as fs/aio kills such a
    /// context). Set once and read without a lock by submissions, as a shortcut: what keeps
    /// a racing submission from adding a request once `shutdown` found none left is the
    /// tracker ([`TrackedRef::try_new`]), so the flag orders nothing else.
    closed: Atomic<bool>,
    /// Set once by `AIOPOLL_IOC_DESTROY` (fs/aio's `ctx->dead`): every later ioctl but
    /// `VERSION` fails with `EINVAL`, and waiters in `GETEVENTS` return. Written with a full
    /// barrier before the wake-up of `wait`, read without a lock by the waiters' condition
    /// (ordered by the wait queue, see `rust/wait.rs`) and by the ioctls.
    destroyed: Atomic<bool>,
}

/// How many poll requests link a context to other contexts (see [`PollOfContext`]). Kept out
/// of [`Context`], in its own allocation, so that a request can update the counts of both
/// ends when it is dropped in any context without holding either context alive.
pub(crate) struct PollCounts {
    /// Poll requests of this context whose file is an aiopoll context.
    polls_on_contexts: Atomic<u64>,
    /// Poll requests of any context whose file is this context's.
    polled_by_contexts: Atomic<u64>,
}

/// A poll request of one context on the file of another.
///
/// A poll request holds a reference to the file it polls, and a context is released only
/// when its file's last reference goes. Polls among contexts could therefore form reference
/// cycles that nothing breaks once user space has closed its fds: a context polling itself,
/// two contexts polling each other, or longer rings (the fuzzer found such a leak). As epoll
/// does for loops of epoll sets, aiopoll refuses with `ELOOP` every poll that could close a
/// cycle: a context never polls itself, and it polls another context only if that one polls
/// no context and it is itself polled by none, so that a chain of polls among contexts is
/// one link long. (epoll sets in between hold no file references, so they cannot close a
/// cycle, and chains through them are allowed.)
///
/// # Invariants
///
/// While a `PollOfContext` exists it is counted once in `poller.polls_on_contexts` and once
/// in `target.polled_by_contexts`.
pub(crate) struct PollOfContext {
    poller: Arc<PollCounts>,
    target: Arc<PollCounts>,
}

impl PollOfContext {
    /// Claims a poll of `poller` on `target`'s file, or fails with `ELOOP`.
    pub(crate) fn claim(poller: &Context, target: &Context) -> Result<Self> {
        if core::ptr::eq(poller, target) {
            return Err(ELOOP);
        }
        // Count first, then look, each count fully ordered: of two concurrent submissions
        // that would close a cycle together, at least one sees the other's count (the
        // store-buffering pattern with full barriers), so no cycle slips through; both may
        // fail, which is the safe side.
        poller.poll_counts.polls_on_contexts.fetch_add(1, Full);
        target.poll_counts.polled_by_contexts.fetch_add(1, Full);
        // INVARIANT: counted once in each, just above; `drop` takes both back.
        let claim = Self {
            poller: poller.poll_counts.clone(),
            target: target.poll_counts.clone(),
        };
        if target.poll_counts.polls_on_contexts.load(Relaxed) != 0
            || poller.poll_counts.polled_by_contexts.load(Relaxed) != 0
        {
            return Err(ELOOP);
        }
        Ok(claim)
    }
}

impl Drop for PollOfContext {
    fn drop(&mut self) {
        // Fully ordered like the claims, so that a later claim sees the link gone only once
        // the request that held it is being dropped.
        self.poller.polls_on_contexts.fetch_sub(1, Full);
        self.target.polled_by_contexts.fetch_sub(1, Full);
    }
}

// SAFETY: `Context`'s `drop` waits for `requests` to be idle before anything else.
unsafe impl Tracked for Context {
    fn tracker(&self) -> &Tracker {
        &self.requests
    }
}

#[pinned_drop]
impl PinnedDrop for Context {
    fn drop(self: Pin<&mut Self>) {
        // `release` already did both; this keeps the watch's and the `Tracked` contracts on
        // every path, before any field is dropped.
        self.owner_watch.stop();
        self.requests.wait_idle();
    }
}

impl OwnerExit for Context {
    /// The process that created the context has exited: as fs/aio's `exit_aio()` when the
    /// process's mm goes away, the context's armed polls are cancelled and it accepts no new
    /// requests. A poll holds a reference to the file it polls, and that file may hold the
    /// context's file (a unix socket with the context's fd in flight, an io_uring with it as
    /// a fixed file): cancelling is what breaks such reference cycles once the process is
    /// gone. (The `ELOOP` rule of [`PollOfContext`] refuses the cycles among contexts up front.)
    fn owner_exited(&self) {
        self.closed.store(true, Release);
        self.cancel_polls();
    }
}

/// A ring slot, and a reference to the context, taken for a request being built; both are
/// given back on drop unless a request took them over.
struct Slot<'a> {
    ring: &'a Ring,
    track: Option<TrackedRef<Context>>,
}

impl Slot<'_> {
    /// Hands the slot and the reference to the request being created.
    fn into_request_ref(mut self) -> Option<TrackedRef<Context>> {
        self.track.take()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(track) = self.track.take() {
            self.ring.give_back(1);
            drop(track);
        }
    }
}

impl Context {
    /// Creates the context of a newly opened file.
    pub(crate) fn open(_file: &File) -> Result<Arc<Self>> {
        // A relaxed counter is enough: ids only need to be unique, not ordered with anything.
        let id = NEXT_ID.fetch_add(1, Relaxed);
        let owner = kernel::current!().mm().map(|mm| ARef::from(&**mm));
        let ctx = Arc::pin_init(
            try_pin_init!(Self {
                requests <- Tracker::new(),
                id,
                owner,
                owner_watch <- OwnerWatch::new(),
                ring: SetOnce::new(),
                setup_lock <- new_mutex!(()),
                ring_lock <- new_mutex!(Reaper::new(), "Context::ring_lock"),
                inner <- new_spinlock_irq!(Inner {
                    producer: Producer::new(),
                    maps: 0,
                    map_addr: 0,
                }),
                active <- new_spinlock_irq!(List::new(), "Context::active"),
                iopoll_len: Atomic::new(0),
                poll_counts: Arc::new(
                    PollCounts {
                        polls_on_contexts: Atomic::new(0),
                        polled_by_contexts: Atomic::new(0),
                    },
                    GFP_KERNEL_ACCOUNT
                )?,
                wait <- WaitQueue::new(c_str!("aiopoll_ctx_wait"), static_lock_class!()),
                pollers <- PollQueue::new(c_str!("aiopoll_ctx_pollers"), static_lock_class!()),
                closed: Atomic::new(false),
                destroyed: Atomic::new(false),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // SAFETY: The context lives in an `Arc` owned by its file; `release` stops the watch
        // before anything else (and `drop`, as a safety net, before any field is dropped), and
        // nothing else can reach the watch yet.
        unsafe { ctx.owner_watch.start(&*ctx) }?;
        Ok(ctx)
    }

    /// Cancels every armed poll request; their work items complete them.
    fn cancel_polls(&self) {
        let mut active = self.active.lock();
        while let Some(req) = active.pop_front() {
            Request::poll_cancel(req.as_arc_borrow());
        }
    }

    /// Takes no more requests, cancels the armed polls and waits until every request has
    /// ended: `release`, and `AIOPOLL_IOC_DESTROY` before it. A second call finds nothing
    /// to do.
    fn shutdown(&self) {
        self.closed.store(true, Release);
        // Cancel every armed poll request, as fs/aio's free_ioctx_users() does.
        self.cancel_polls();
        // Polled I/O completes only when polled for: poll until none is left.
        while self.reap_polled(&mut self.ring_lock.lock(), false) {
            sys::cond_resched();
        }
        // Reads, writes and fsyncs run to completion, as in fs/aio: wait for all requests,
        // whose completions may still touch the context and, until the module is unloaded,
        // its code. A submission racing with this takes no reference once none is left.
        self.requests.wait_idle();
    }

    /// Called on the last close of the file: waits for every request to end, then gives back
    /// what the context reserved. The file's reference is dropped by the caller.
    pub(crate) fn release(self: Arc<Self>) {
        self.owner_watch.stop();
        self.shutdown();
        if let Some(ring) = self.ring.as_ref() {
            ring.unreserve();
        }
    }

    /// `AIOPOLL_IOC_DESTROY`, as fs/aio's `io_destroy()`: the context is dead from now on (a
    /// second call fails with `EINVAL`, as on fs/aio); the waiters of `GETEVENTS` are woken
    /// and return `EINVAL` unless they reaped something; and the call returns once every
    /// request has ended, armed polls cancelled. The ring and its reservation stay until the
    /// file is released.
    fn destroy(&self) -> Result<isize> {
        self.ring()?;
        // Full: the flag is set before `wake_all` looks at the queue (the waiters' side of
        // that pairing is in `rust/wait.rs`); the exchange lets one caller through.
        if self.destroyed.xchg(true, Full) {
            return Err(EINVAL);
        }
        self.wait.wake_all();
        self.shutdown();
        Ok(0)
    }

    /// Whether `AIOPOLL_IOC_DESTROY` was called (no lock; see `destroyed`).
    pub(crate) fn is_destroyed(&self) -> bool {
        self.destroyed.load(Acquire)
    }

    /// Fails with `EINVAL` unless the caller runs in the mm that created the context (so a
    /// child of `fork()` cannot use its parent's context, as with fs/aio).
    fn check_owner(&self) -> Result {
        let current = kernel::current!();
        match (&self.owner, current.mm()) {
            (Some(owner), Some(mm)) if core::ptr::eq(owner.as_raw(), mm.as_raw()) => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// The ring, or `EINVAL` before `AIOPOLL_IOC_SETUP`.
    pub(crate) fn ring(&self) -> Result<&Ring> {
        self.ring.as_ref().ok_or(EINVAL)
    }

    /// Handles an ioctl on the context's file.
    pub(crate) fn ioctl(self: ArcBorrow<'_, Self>, cmd: u32, arg: usize) -> Result<isize> {
        if cmd == uapi::IOC_VERSION {
            let version = uapi::Version {
                major: uapi::ABI_MAJOR,
                minor: uapi::ABI_MINOR,
                features: uapi::FEAT_CONTEXT
                    | uapi::FEAT_SIGMASK
                    | uapi::FEAT_POLL
                    | uapi::FEAT_HIPRI
                    | uapi::FEAT_COMPAT
                    | uapi::FEAT_SUBMIT_WAIT
                    | uapi::FEAT_DESTROY,
            };
            UserAddr::new(arg as u64).write(&version)?;
            return Ok(0);
        }
        if ![
            uapi::IOC_SETUP,
            uapi::IOC_SUBMIT,
            uapi::IOC_GETEVENTS,
            uapi::IOC_SUBMIT_WAIT,
            uapi::IOC_CANCEL,
            uapi::IOC_DESTROY,
        ]
        .contains(&cmd)
        {
            return Err(ENOTTY);
        }
        self.check_owner()?;
        // A destroyed context is no context (fs/aio's lookup no longer finds it).
        if self.is_destroyed() {
            return Err(EINVAL);
        }
        let arg = UserAddr::new(arg as u64);
        match cmd {
            uapi::IOC_SETUP => self.setup(arg),
            uapi::IOC_SUBMIT => {
                let args: uapi::Submit = arg.read()?;
                if args.reserved != 0 {
                    return Err(EINVAL);
                }
                self.submit(args.nr, UserAddr::new(args.iocbpp))
            }
            uapi::IOC_GETEVENTS => {
                let args: uapi::GetEvents = arg.read()?;
                self.getevents(&args)
            }
            uapi::IOC_SUBMIT_WAIT => self.submit_wait(arg),
            uapi::IOC_DESTROY => self.destroy(),
            _ => {
                let args: uapi::Cancel = arg.read()?;
                if args.reserved != 0 {
                    return Err(EINVAL);
                }
                self.cancel(UserAddr::new(args.iocb))
            }
        }
    }

    /// `AIOPOLL_IOC_SETUP`: sizes and allocates the ring (see [`Ring::new`]).
    fn setup(&self, arg: UserAddr) -> Result<isize> {
        let mut args: uapi::Setup = arg.read()?;
        if args.flags != 0 || args.reserved != [0; 2] || args.nr_events == 0 {
            return Err(EINVAL);
        }
        let _guard = self.setup_lock.lock();
        if self.ring.as_ref().is_some() {
            return Err(EINVAL);
        }
        let ring = Ring::new(args.nr_events, args.ring_id)?;
        args.ring_nr = ring.nr();
        args.ring_size = ring.size() as u64;
        if let Err(e) = arg.write(&args) {
            ring.unreserve();
            return Err(e);
        }
        // Cannot fail: `setup_lock` is held and the ring was checked empty above.
        if !self.ring.populate(ring) {
            return Err(EINVAL);
        }
        Ok(0)
    }

    /// Takes a ring slot for a new request, or fails with `EAGAIN` when `nr - 1` are taken
    /// even after crediting what user space consumed.
    fn take_slot<'a>(self: ArcBorrow<'a, Self>, ring: &'a Ring) -> Result<Slot<'a>> {
        if self.closed.load(Acquire) {
            return Err(EINVAL);
        }
        // No reference once `shutdown` found none left: the context is being destroyed.
        let track = TrackedRef::try_new(self).ok_or(EINVAL)?;
        // The lock only when no slot is free: crediting back consumed events needs it.
        if !ring.try_take() && !self.inner.lock().producer.reserve(ring) {
            return Err(EAGAIN);
        }
        Ok(Slot {
            ring,
            track: Some(track),
        })
    }

    /// `AIOPOLL_IOC_SUBMIT`, as fs/aio's `io_submit()` (and `compat_sys_io_submit()` for a
    /// 32-bit caller, whose array holds 4-byte pointers).
    pub(crate) fn submit(self: ArcBorrow<'_, Self>, nr: i64, iocbpp: UserAddr) -> Result<isize> {
        if nr < 0 {
            return Err(EINVAL);
        }
        let ring = self.ring()?;
        let nr = nr.min(i64::from(ring.nr())) as usize;
        let compat = sys::in_compat_syscall();
        let mut done = 0;
        let mut err = Ok(());
        let mut hipri = false;
        // A single iocb (a latency-bound loop re-arming one poll) needs no batch buffer to
        // clear.
        let mut one = [0u64; 1];
        let mut batch;
        let ptrs: &mut [u64] = if nr <= 1 {
            &mut one
        } else {
            batch = [0u64; SUBMIT_BATCH];
            &mut batch
        };
        while done < nr && err.is_ok() {
            let n = (nr - done).min(ptrs.len());
            let (read, read_err) = read_iocb_ptrs(iocbpp, done, &mut ptrs[..n], compat);
            for &ptr in &ptrs[..read] {
                match self.submit_one(ring, UserAddr::new(ptr)) {
                    Ok(polled) => hipri |= polled,
                    Err(e) => {
                        err = Err(e);
                        break;
                    }
                }
                done += 1;
            }
            if err.is_ok() {
                err = read_err;
            }
        }
        if hipri {
            // Nobody but a reaper completes polled I/O: a reaper asleep in GETEVENTS must wake
            // up and start polling (its wait condition includes pending polled I/O). Once per
            // call, after the last submission: each look at the queue is a full barrier.
            self.wait.wake_all();
        }
        match (done, err) {
            (0, Err(e)) => Err(e),
            (n, _) => Ok(n as isize),
        }
    }

    /// Submits the iocb at user address `uiocb` (fs/aio's `io_submit_one()`); returns whether
    /// it is polled I/O (`RWF_HIPRI`), which only a reaper completes.
    fn submit_one(self: ArcBorrow<'_, Self>, ring: &Ring, uiocb: UserAddr) -> Result<bool> {
        let iocb: Iocb = uiocb.read()?;
        if iocb.aio_reserved2 != 0 || (iocb.aio_nbytes as i64) < 0 {
            return Err(EINVAL);
        }
        if iocb.aio_flags & !uapi::IOCB_FLAGS != 0 {
            return Err(EINVAL);
        }
        let slot = self.take_slot(ring)?;
        let op = iocb.aio_lio_opcode;
        let file = if op == uapi::cmd::NOOP {
            None
        } else {
            Some(fget(iocb.aio_fildes)?)
        };
        let eventfd = if iocb.aio_flags & uapi::IOCB_FLAG_RESFD != 0 {
            Some(EventFd::from_fd(iocb.aio_resfd)?)
        } else {
            None
        };
        // fs/aio writes KIOCB_KEY to aio_key before looking at the opcode.
        uiocb
            .offset(core::mem::offset_of!(Iocb, aio_key))?
            .write_u32(uapi::KIOCB_KEY)?;
        let mut poll_of_context = None;
        let mut rw = None;
        let op = match op {
            uapi::cmd::PREAD | uapi::cmd::PWRITE | uapi::cmd::PREADV | uapi::cmd::PWRITEV => {
                rw = Some(RwArgs {
                    hipri: iocb.aio_rw_flags & uapi::RWF_HIPRI != 0,
                    write: op == uapi::cmd::PWRITE || op == uapi::cmd::PWRITEV,
                    vectored: op == uapi::cmd::PREADV || op == uapi::cmd::PWRITEV,
                    buf: iocb.aio_buf,
                    nbytes: iocb.aio_nbytes,
                    offset: iocb.aio_offset,
                    rw_flags: iocb.aio_rw_flags,
                    has_ioprio: iocb.aio_flags & uapi::IOCB_FLAG_IOPRIO != 0,
                    ioprio: iocb.aio_reqprio.into(),
                });
                Op::Rw
            }
            uapi::cmd::FSYNC | uapi::cmd::FDSYNC => {
                if iocb.aio_buf != 0
                    || iocb.aio_offset != 0
                    || iocb.aio_nbytes != 0
                    || iocb.aio_rw_flags != 0
                {
                    return Err(EINVAL);
                }
                if !file.as_deref().is_some_and(sys::FileExt::has_fsync) {
                    return Err(EINVAL);
                }
                Op::Fsync {
                    datasync: op == uapi::cmd::FDSYNC,
                    creds: sys::current_creds()?,
                }
            }
            uapi::cmd::POLL => {
                // fs/aio's checks: events in the low 16 bits of aio_buf, nothing else set.
                if iocb.aio_buf > u64::from(u16::MAX)
                    || iocb.aio_offset != 0
                    || iocb.aio_nbytes != 0
                    || iocb.aio_rw_flags != 0
                {
                    return Err(EINVAL);
                }
                // A poll of a context's file must not close a reference cycle.
                poll_of_context = match file.as_deref().and_then(fops::context_of) {
                    Some(target) => Some(PollOfContext::claim(&self, &target)?),
                    None => None,
                };
                Op::Poll {
                    events: sys::demangle_poll(iocb.aio_buf as u16) | poll::POLL_ALWAYS,
                    multishot: iocb.aio_flags & uapi::IOCB_FLAG_MULTISHOT != 0,
                }
            }
            uapi::cmd::NOOP => {
                if iocb.aio_buf != 0
                    || iocb.aio_offset != 0
                    || iocb.aio_nbytes != 0
                    || iocb.aio_rw_flags != 0
                {
                    return Err(EINVAL);
                }
                Op::Noop
            }
            _ => return Err(EINVAL),
        };
        // The slot and the context reference now belong to the request: its event, or its
        // failure below, returns the slot.
        let ctx = slot.into_request_ref().ok_or(EINVAL)?;
        let give_back = || ring.give_back(1);
        // fs/aio fails an allocation with EAGAIN.
        let hipri = rw.is_some_and(|args| args.hipri);
        let req = Request::new(
            ctx,
            uiocb.get(),
            iocb.aio_data,
            file,
            eventfd,
            op,
            poll_of_context,
        )
        .map_err(|_| {
            give_back();
            EAGAIN
        })?;
        Request::issue(req, rw.as_ref()).inspect_err(|_| give_back())?;
        Ok(hipri)
    }

    /// Runs `f` on the state under `inner`, taken without touching the interrupt state when
    /// `irq` proves them disabled already.
    fn with_inner<R>(
        &self,
        irq: Option<&LocalInterruptDisabled>,
        f: impl FnOnce(&mut Inner) -> R,
    ) -> R {
        match irq {
            Some(irq) => f(&mut self.inner.lock_with(irq)),
            None => f(&mut self.inner.lock()),
        }
    }

    /// Runs `f` on the `active` list if its lock can be taken at once (as `with_inner`).
    pub(crate) fn try_with_active<R>(
        &self,
        irq: Option<&LocalInterruptDisabled>,
        f: impl FnOnce(&mut List<Request>) -> R,
    ) -> Option<R> {
        match irq {
            Some(irq) => self.active.try_lock_with(irq).map(|mut a| f(&mut a)),
            None => self.active.try_lock().map(|mut a| f(&mut a)),
        }
    }

    /// Posts `event` in the ring (fs/aio's `aio_complete()`); callable from any context, with
    /// `irq` when interrupts are known to be off.
    pub(crate) fn post(&self, event: &IoEvent, irq: Option<&LocalInterruptDisabled>) {
        let Some(ring) = self.ring.as_ref() else {
            return;
        };
        self.with_inner(irq, |inner| inner.producer.post(ring, event));
        sys::wake_after_post(&self.wait, &self.pollers);
    }

    /// Posts the events `events` yields in one `inner` section, in process context (the
    /// reaper of polled I/O), and wakes waiters if there was any. The iterator runs under the
    /// lock, so it must not sleep nor take locks.
    pub(crate) fn post_iter(&self, events: impl Iterator<Item = IoEvent>) {
        let Some(ring) = self.ring.as_ref() else {
            // No ring, so no request either; the iterator still runs, for what it does.
            events.for_each(drop);
            return;
        };
        let posted = self.with_inner(None, |inner| {
            events.fold(0u32, |n, event| {
                inner.producer.post(ring, &event);
                n + 1
            })
        });
        if posted > 0 {
            sys::wake_after_post(&self.wait, &self.pollers);
        }
    }

    /// Posts an extra event of a multishot request, which needs a free slot of its own;
    /// returns false, posting nothing, when the ring has none.
    pub(crate) fn post_more(
        &self,
        data: u64,
        obj: u64,
        res: i64,
        irq: Option<&LocalInterruptDisabled>,
    ) -> bool {
        let Some(ring) = self.ring.as_ref() else {
            return false;
        };
        let event = IoEvent {
            data,
            obj,
            res,
            res2: uapi::POLL_MORE,
        };
        // Reserved and posted in one section: the slot is taken and filled at once.
        let posted = self.with_inner(irq, |inner| {
            let reserved = inner.producer.reserve(ring);
            if reserved {
                inner.producer.post(ring, &event);
            }
            reserved
        });
        if !posted {
            return false;
        }
        sys::wake_after_post(&self.wait, &self.pollers);
        true
    }

    /// `AIOPOLL_IOC_CANCEL`, as fs/aio's `io_cancel()`: checks the key of the user's iocb,
    /// then looks for an armed poll request submitted with it (reads, writes and fsyncs
    /// cannot be cancelled, as in fs/aio). A found request leaves the list, so it is
    /// cancelled once; its event, `res == 0`, comes through the ring.
    fn cancel(&self, uiocb: UserAddr) -> Result<isize> {
        let key: u32 = uiocb.offset(core::mem::offset_of!(Iocb, aio_key))?.read()?;
        if key != uapi::KIOCB_KEY {
            return Err(EINVAL);
        }
        self.ring()?;
        let mut active = self.active.lock();
        let found = active
            .iter()
            .find(|req| req.obj == uiocb.get())
            .map(Arc::from);
        let Some(req) = found else {
            return Err(EINVAL);
        };
        // SAFETY: `req` was just found on this list.
        let listed = unsafe { active.remove(&req) };
        // Usually completes it before returning; fs/aio's answer stays `EINPROGRESS` (the
        // event is always delivered through the ring).
        Request::poll_cancel_now(req.as_arc_borrow(), active);
        drop(listed);
        Err(EINPROGRESS)
    }

    /// `poll()` on the context file: whether it is readable, that is, the ring holds events.
    pub(crate) fn poll_readable(&self) -> bool {
        let Some(ring) = self.ring.as_ref() else {
            return false;
        };
        self.inner.lock().producer.has_events(ring)
    }

    /// The queue that `poll()` registers on.
    pub(crate) fn poll_queue(&self) -> &PollQueue {
        &self.pollers
    }

    /// `mmap()` of the context file: maps the whole ring, shared, from offset 0, once at a
    /// time, in the context's own mm.
    pub(crate) fn mmap(&self, vma: &Vma) -> Result {
        self.check_owner()?;
        if self.is_destroyed() {
            return Err(EINVAL);
        }
        let ring = self.ring()?;
        if !vma.is_shared() || vma.pgoff() != 0 || vma.len() != ring.size() {
            return Err(EINVAL);
        }
        // The ring is data: never executable (as a mapping of a `noexec` mount, `EPERM`).
        if vma.is_exec() {
            return Err(EPERM);
        }
        let mut inner = self.inner.lock();
        if inner.maps != 0 {
            return Err(EBUSY);
        }
        inner.maps = 1;
        inner.map_addr = vma.start();
        drop(inner);
        ring.map(vma).inspect_err(|_| {
            self.inner.lock().maps = 0;
        })
    }

    /// A mapping of the ring was duplicated (the new half of an `mremap`).
    pub(crate) fn vma_opened(&self, vma: &Vma) {
        let mut inner = self.inner.lock();
        inner.maps += 1;
        inner.map_addr = vma.start();
    }

    /// A mapping of the ring went away.
    pub(crate) fn vma_closed(&self) {
        let mut inner = self.inner.lock();
        inner.maps = inner.maps.saturating_sub(1);
        if inner.maps == 0 {
            inner.map_addr = 0;
        }
    }

    /// The ring was moved by `mremap`: the context follows it.
    pub(crate) fn vma_moved(&self, vma: &Vma) {
        self.inner.lock().map_addr = vma.start();
    }

    /// Prints the context's state in `/proc/PID/fdinfo/FD`.
    pub(crate) fn show_fdinfo(self: ArcBorrow<'_, Self>, m: &SeqFile) {
        seq_print!(m, "aiopoll-abi:\t{}.{}\n", uapi::ABI_MAJOR, uapi::ABI_MINOR);
        seq_print!(m, "ctx-id:\t{}\n", self.id);
        let (nr, size, free) = match self.ring.as_ref() {
            Some(r) => (r.nr(), r.size(), r.free_slots()),
            None => (0, 0, 0),
        };
        let inner = self.inner.lock();
        seq_print!(m, "ring-entries:\t{}\n", nr);
        seq_print!(m, "ring-size:\t{}\n", size);
        seq_print!(m, "ring-addr:\t{:#x}\n", inner.map_addr);
        seq_print!(
            m,
            "in-flight:\t{}\n",
            nr.saturating_sub(1)
                .saturating_sub(free)
                .saturating_sub(inner.producer.completed())
        );
        seq_print!(m, "completed:\t{}\n", inner.producer.total_completed());
    }
}

/// Iocb pointers read from user space at once by `SUBMIT`.
const SUBMIT_BATCH: usize = 32;

/// Reads `out.len()` iocb pointers from the array at `iocbpp`, from element `start` on (4-byte
/// elements for a 32-bit caller). Returns how many were read, and the error that stopped the
/// reading before `out` was full. One copy when the whole batch is readable; otherwise element
/// by element, so that exactly the readable prefix is submitted, as fs/aio's `get_user()` of
/// one pointer at a time does.
fn read_iocb_ptrs(
    iocbpp: UserAddr,
    start: usize,
    out: &mut [u64],
    compat: bool,
) -> (usize, Result) {
    use kernel::transmute::AsBytes;

    let read_one = |i: usize| -> Result<u64> {
        if compat {
            iocbpp.element::<u32>(i)?.read::<u32>().map(u64::from)
        } else {
            iocbpp.element::<u64>(i)?.read::<u64>()
        }
    };
    let n = out.len();
    let bulk = if compat {
        let mut ptrs32 = [0u32; SUBMIT_BATCH];
        let ptrs32 = &mut ptrs32[..n];
        let res = iocbpp
            .element::<u32>(start)
            .and_then(|a| a.slice(core::mem::size_of_val(ptrs32)))
            .and_then(|s| s.reader().read_slice(AsBytes::as_bytes_mut(ptrs32)));
        for (o, &p) in out.iter_mut().zip(ptrs32.iter()) {
            *o = u64::from(p);
        }
        res
    } else {
        iocbpp
            .element::<u64>(start)
            .and_then(|a| a.slice(core::mem::size_of_val(out)))
            .and_then(|s| s.reader().read_slice(AsBytes::as_bytes_mut(out)))
    };
    if bulk.is_ok() {
        return (n, Ok(()));
    }
    for (i, o) in out.iter_mut().enumerate() {
        match read_one(start + i) {
            Ok(p) => *o = p,
            Err(e) => return (i, Err(e)),
        }
    }
    (n, Ok(()))
}

/// Takes a reference to the file behind `fd` (`EBADF` if there is none).
fn fget(fd: u32) -> Result<ARef<File>> {
    let file = LocalFile::fget(fd).map_err(|_| EBADF)?;
    // SAFETY: An ioctl does not hold `fdget_pos`, so the file may be shared across threads.
    Ok(unsafe { LocalFile::assume_no_fdget_pos(file) })
}
