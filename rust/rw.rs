// SPDX-License-Identifier: GPL-2.0

//! Reads and writes (`IOCB_CMD_PREAD`, `PWRITE`, `PREADV`, `PWRITEV`): the request's side of
//! `sys::rw_submit` (the kiocb's owner), and polled I/O (`RWF_HIPRI`), which completes only
//! when someone polls the device, the way io_uring's `IORING_SETUP_IOPOLL` does it:
//!
//! - A polled request joins the reaper's list ([`Reaper::iopoll`], under the context's
//!   `ring_lock` mutex) once its kiocb is ready ([`RwOwner::rw_polled_issuing`]), before it is
//!   issued. Pollers skip the requests not yet issued.
//! - Its completion (`ki_complete`, inside the poll or wherever the block layer ends it) only
//!   records the result and marks it done with a release store ([`rw::DONE`](DONE)); it takes
//!   no lock and wakes nobody.
//! - The reaper ([`Context::reap_polled`], with `ring_lock` held: in `GETEVENTS`,
//!   `SUBMIT_WAIT` and `release`) polls the oldest pending request (which completes the
//!   others on its queue with it), takes every done request off the list, and posts their
//!   events in one `inner` section.
//!
//! Reads and writes that are not polled complete as before (the completion posts), and never
//! touch the list.

use crate::{
    context::Context,
    request::{
        Part,
        Request, //
    },
    sys::{
        RwIo,
        RwOwner, //
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
            Relaxed,
            Release, //
        },
        Arc, //
    },
};

/// `Request::pstate` of a read or write (which has no poll state): polled (`RWF_HIPRI`), on
/// the reaper's list from before it is issued until the reaper takes it off.
const POLLED: u32 = 1 << 0;
/// `Request::pstate` of a polled read or write: its completion has run and stored the
/// result. Set with release after the result, read with acquire by the reaper.
const DONE: u32 = 1 << 1;

/// What the context's `ring_lock` protects besides the reading of the ring: the polled I/O,
/// which only the holder of the lock polls for and completes (one reaper at a time, as
/// io_uring's `uring_lock`).
pub(crate) struct Reaper {
    /// Polled reads and writes, oldest first, from before they are issued until the reaper
    /// has seen them done.
    iopoll: List<Request>,
}

impl Reaper {
    /// No polled I/O.
    pub(crate) fn new() -> Self {
        Self {
            iopoll: List::new(),
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
        // On the reaper's list before it is issued, so a reaper always finds it there once it
        // is done; and only now, with the kiocb ready for a poller.
        let listed = ListArc::<Self>::try_from_arc(this.clone()).map_err(|_| EINVAL)?;
        // Before it is listed: its completion must know to leave the posting to the reaper.
        this.pstate.store(POLLED, Relaxed);
        this.ctx.iopoll_push(listed);
        Ok(())
    }

    fn rw_done(this: Arc<Self>, res: i64) {
        if this.pstate.load(Relaxed) & POLLED == 0 {
            Self::complete(this, res);
            return;
        }
        // Polled: only record it. The reaper (who holds the list's reference) posts it.
        this.store_result(res);
        // INVARIANT (of `DONE`): the result is stored before, and the release orders it.
        this.pstate.store(POLLED | DONE, Release);
    }
}

impl Request {
    /// Polls the device for this polled read or write (see [`Context::reap_polled`]).
    fn iopoll(&self, spin: bool) -> bool {
        self.rw_io().is_some_and(|io| io.iopoll(spin))
    }

    /// Whether this polled read or write has been issued and has not completed: polling
    /// for it can find it.
    fn iopoll_pending(&self) -> bool {
        self.pstate.load(Relaxed) & DONE == 0 && self.rw_io().is_some_and(RwIo::is_issued)
    }

    /// Whether this polled read or write has completed (its result visible).
    fn iopoll_done(&self) -> bool {
        self.pstate.load(Acquire) & DONE != 0
    }
}

/// The context's polled I/O.
impl Context {
    /// Puts a polled read or write on the reaper's list (process context: the submission).
    fn iopoll_push(&self, listed: ListArc<Request>) {
        let mut reaper = self.ring_lock.lock();
        reaper.iopoll.push_back(listed);
        // Under the lock, so the count follows the list; relaxed, as the readers only need
        // some recent value (a waiter is woken through `wait` after a submission).
        self.iopoll_len.fetch_add(1, Relaxed);
    }

    /// Whether polled I/O is pending (a snapshot, without the lock).
    pub(crate) fn has_iopoll(&self) -> bool {
        self.iopoll_len.load(Relaxed) != 0
    }

    /// The reaper's round (io_uring's `io_do_iopoll()`), with `ring_lock` held (`reaper`):
    /// polls the device for the oldest pending polled request (`spin`: until something
    /// completes), then takes every completed one off the list and posts their events
    /// together. Returns false when there was no polled I/O at all.
    pub(crate) fn reap_polled(&self, reaper: &mut Reaper, spin: bool) -> bool {
        if reaper.iopoll.is_empty() {
            return false;
        }
        if let Some(req) = reaper.iopoll.iter().find(|req| req.iopoll_pending()) {
            // The list's reference keeps the request alive: only lock holders take it off.
            req.iopoll(spin);
        }
        // The completed requests move to a list of our own (the same links, no allocation),
        // so that their events are posted in one `inner` section, whatever their number.
        let mut done = List::<Request>::new();
        let mut cursor = reaper.iopoll.cursor_front();
        while let Some(next) = cursor.peek_next() {
            if !next.iopoll_done() {
                cursor.move_next();
                continue;
            }
            done.push_back(next.remove());
            self.iopoll_len.fetch_sub(1, Relaxed);
        }
        // Drops their completion roles and posts the events of those whose role was the last
        // (fs/aio's `iocb_put()`; a submitter still in `SUBMIT` posts the others). Requests
        // with an eventfd go one by one below: the eventfd is signalled once the event is in
        // the ring, never under `inner`.
        self.post_iter(
            done.iter()
                .filter(|req| req.eventfd.is_none())
                .filter_map(|req| Request::put_taking_event(&req)),
        );
        while let Some(listed) = done.pop_front() {
            if listed.eventfd.is_some() {
                Request::put(listed.into_arc());
            }
        }
        true
    }
}
