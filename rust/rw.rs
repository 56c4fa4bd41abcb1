// SPDX-License-Identifier: GPL-2.0

//! Reads and writes (`IOCB_CMD_PREAD`, `PWRITE`, `PREADV`, `PWRITEV`): the request's side of
//! `sys::rw_submit` (the kiocb's owner), and polled I/O (`RWF_HIPRI`), which completes only
//! when someone polls the device: the context's `iopoll` list and the polling.
//!
//! A polled request joins `iopoll` once its kiocb is ready ([`RwOwner::rw_polled_issuing`]),
//! before it is issued, and leaves it when it completes ([`RwOwner::rw_done`]), so its
//! completion always finds it there; pollers skip the requests not yet issued.

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
    list::ListArc,
    prelude::*,
    sync::{
        atomic::ordering::Relaxed,
        Arc, //
    },
};

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

impl Request {
    /// Takes a polled read or write off the context's `iopoll` list, if it is there.
    fn unlist_iopoll(&self) -> Option<ListArc<Self>> {
        self.ctx.iopoll_remove(self)
    }

    /// Polls the device for this polled read or write (see `Context::iopoll_once`).
    fn iopoll(&self) -> bool {
        self.rw_io().is_some_and(RwIo::iopoll)
    }

    /// Whether this polled read or write has been issued, so that polling for it can find it.
    fn iopoll_ready(&self) -> bool {
        self.rw_io().is_some_and(RwIo::is_issued)
    }
}

/// The context's polled I/O.
impl Context {
    /// Polls the device for the oldest issued polled read or write, which also completes the
    /// others on its queue; returns false when none is pending. Requests still being issued
    /// by their submitter (listed, but not polled until issued) are skipped. Called in
    /// process context.
    pub(crate) fn iopoll_once(&self) -> bool {
        let iopoll = self.iopoll.lock();
        if iopoll.is_empty() {
            return false;
        }
        let issued = iopoll.iter().find(|req| req.iopoll_ready()).map(Arc::from);
        drop(iopoll);
        if let Some(req) = issued {
            req.iopoll();
        }
        true
    }

    /// Puts a polled read or write on the `iopoll` list.
    fn iopoll_push(&self, listed: ListArc<Request>) {
        let mut iopoll = self.iopoll.lock();
        iopoll.push_back(listed);
        // Under the lock, so the count follows the list; relaxed, as the readers only need
        // some recent value (a waiter is woken through `wait` after a push).
        self.iopoll_len.fetch_add(1, Relaxed);
    }

    /// Takes `req`, a polled read or write of this context, off the `iopoll` list, if it is
    /// there.
    fn iopoll_remove(&self, req: &Request) -> Option<ListArc<Request>> {
        let mut iopoll = self.iopoll.lock();
        // SAFETY: A read or write (the only kind given here) only ever goes on its own
        // context's `iopoll` list.
        let listed = unsafe { iopoll.remove(req) };
        if listed.is_some() {
            self.iopoll_len.fetch_sub(1, Relaxed);
        }
        listed
    }

    /// Whether polled I/O is pending (a snapshot, without the lock).
    pub(crate) fn has_iopoll(&self) -> bool {
        self.iopoll_len.load(Relaxed) != 0
    }
}
