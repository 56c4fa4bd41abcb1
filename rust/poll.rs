// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_POLL`, after fs/aio's `aio_poll()`, `aio_poll_wake()`, `aio_poll_complete_work()`
//! and `aio_poll_cancel()`, with io_uring's two wait queues and multishot.
//!
//! Who completes: whoever takes `self_ref` (the completion role), with the context's `active`
//! lock held: the wake-up itself (inline, when it can take that lock with a trylock), the work
//! item, or the arming when the file is ready at once. The wake-up never blocks on `active`:
//! the order elsewhere is `active` → queue lock, and the wake-up runs under the queue lock.
//!
//! `pstate` is only changed by compare-exchange with full ordering: a wake-up that finds the
//! work queued sets `RESCHED`, and the work can only stop (clear `SCHED`) if `RESCHED` is clear,
//! after polling the file again; so a wake-up is never lost, keyed or not.

use crate::{
    request::{
        Part,
        Request, //
    },
    sys::{
        self,
        PollOwner,
        PollWaits,
        WokenEntry, //
    },
};
use kernel::{
    list::{
        List,
        ListArc, //
    },
    prelude::*,
    sync::{
        atomic::ordering::{
            Acquire,
            Full,
            Relaxed, //
        },
        Arc,
        ArcBorrow,
        SpinLockIrqGuard, //
    },
};

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
    pub(crate) fn arm_poll(this: &Arc<Self>) -> Result {
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
    pub(crate) fn poll_work(this: &Arc<Self>) {
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
        // inside one of aiopoll's own wake-ups (whose queue lock we would nest: `try_enter`
        // fails then). Inside the section the context's pollers are woken from a work item:
        // their callbacks must not run under the lock of the queue being woken.
        if mask != 0
            && this.eventfd.is_none()
            && this.pstate.load(Acquire) == 0
            && this.poll_waits().is_some_and(|w| !w.has_second())
        {
            if let Some(inline) = sys::InlineCompletion::try_enter() {
                let irq = inline.irq();
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
                // `None`: `active` is busy, defer to the work.
                if let Some(taken) = taken {
                    if let Some((completion, listed)) = taken {
                        if let Some(completion) = completion {
                            let res = if multishot {
                                // No room in the ring for another event: end with one that
                                // says so.
                                i64::from(EOVERFLOW.to_errno())
                            } else {
                                res
                            };
                            Self::complete_in(completion, res, irq);
                        }
                        drop(listed);
                    }
                    return true;
                }
            }
        }
        Self::poll_schedule(this);
        true
    }
}
