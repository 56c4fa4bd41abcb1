//! The in-flight table: requests whose iocb, iovec array and buffers the kernel may access
//! until their final event is reaped. This module, `buf` and `sys` are the only ones with
//! `unsafe` code: the one invariant the rest of the crate relies on lives here.
//!
//! Invariant: a request submitted to the kernel is a `Box<Request>` in `Engine::table` from
//! its submission until its final event is reaped (or forever, if the crate cannot tell that
//! it ended: the request is leaked then). Nothing touches its buffers meanwhile. `Drop`
//! cancels what can be cancelled and reaps everything before it frees anything.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::buf::Buffers;
use crate::op::{OpParts, Opcode};
use crate::sys::{self, IoEvent, IoVec, Iocb, KernelTimespec, Ring};

/// A request in flight: its iocb (whose address the kernel identifies it by), the iovec
/// array of a readv/writev, and the owned buffers the iocb points into.
#[derive(Debug)]
struct Request {
    iocb: Iocb,
    iovecs: Vec<IoVec>,
    parts: OpParts,
}

impl Request {
    /// Builds the iocb of `parts`, with `aio_data` = `id`. Every address in the iocb points
    /// into memory the request owns.
    fn new(parts: OpParts, id: u64) -> Box<Request> {
        let mut req = Box::new(Request {
            iocb: Iocb::default(),
            iovecs: Vec::new(),
            parts,
        });
        let r = &mut *req;
        let (buf, nbytes) = match r.parts.buffers.addresses(&mut r.iovecs) {
            Some(one) => (one.base as u64, one.len as u64),
            None => (r.iovecs.as_ptr() as u64, r.iovecs.len() as u64),
        };
        let p = &r.parts;
        let mut flags = 0;
        if p.resfd.is_some() {
            flags |= sys::IOCB_FLAG_RESFD;
        }
        if p.ioprio.is_some() {
            flags |= sys::IOCB_FLAG_IOPRIO;
        }
        if p.multishot {
            flags |= sys::AIOPOLL_IOCB_FLAG_MULTISHOT;
        }
        r.iocb = Iocb {
            aio_data: id,
            aio_rw_flags: p.rw_flags,
            aio_lio_opcode: match p.opcode {
                Opcode::Read => sys::IOCB_CMD_PREAD,
                Opcode::Write => sys::IOCB_CMD_PWRITE,
                Opcode::Readv => sys::IOCB_CMD_PREADV,
                Opcode::Writev => sys::IOCB_CMD_PWRITEV,
                Opcode::Fsync => sys::IOCB_CMD_FSYNC,
                Opcode::Fdsync => sys::IOCB_CMD_FDSYNC,
                Opcode::Poll => sys::IOCB_CMD_POLL,
                Opcode::Noop => sys::IOCB_CMD_NOOP,
            },
            aio_reqprio: p.ioprio.unwrap_or(0) as i16,
            aio_fildes: p.fd as u32,
            aio_buf: if p.opcode == Opcode::Poll {
                u64::from(p.poll_events)
            } else {
                buf
            },
            aio_nbytes: nbytes,
            aio_offset: p.offset as i64,
            aio_flags: flags,
            aio_resfd: p.resfd.unwrap_or(0) as u32,
            ..Iocb::default()
        };
        req
    }
}

/// An event matched to its request.
#[derive(Debug)]
pub(crate) struct Event {
    pub id: u64,
    pub user_data: u64,
    pub opcode: Opcode,
    pub res: i64,
    pub res2: i64,
    pub more: bool,
    pub buffers: Buffers,
}

/// What a submission did: the ids of the submitted requests, in order, then the parts of
/// those not submitted, and the errno when none was.
pub(crate) struct Submitted {
    pub ids: Vec<u64>,
    pub rest: Vec<OpParts>,
    pub error: Option<Errno>,
}

/// Counters of a context (see `Stats` in the public API).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub ring_events: u64,
    pub ioctl_events: u64,
    pub getevents_calls: u64,
    pub submit_calls: u64,
    pub stray_events: u64,
}

/// Largest number of events one GETEVENTS call asks for, unless `min_nr` is larger.
const GETEVENTS_BATCH: usize = 256;

/// A context: its fd, its mapped ring and its requests in flight.
#[derive(Debug)]
pub(crate) struct Engine {
    // Field order is drop order: the table (empty after `Drop::drop`), then the ring, then
    // the fd.
    table: HashMap<u64, Box<Request>>,
    ring: Option<Ring>,
    fd: OwnedFd,
    next_id: u64,
    fork_generation: u64,
    scratch: Vec<IoEvent>,
    pub counters: Counters,
}

impl Engine {
    /// Opens `path`, sets the context up for `nr_events` and maps its ring.
    pub(crate) fn open(path: &str, nr_events: u32) -> Result<Engine, Errno> {
        let fork_generation = sys::fork_generation();
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        let (ring_nr, ring_size) = sys::setup(fd.as_fd(), nr_events)?;
        let ring = Ring::map(fd.as_fd(), ring_size, ring_nr)?;
        Ok(Engine {
            table: HashMap::new(),
            ring: Some(ring),
            fd,
            next_id: 1,
            fork_generation,
            scratch: Vec::new(),
            counters: Counters::default(),
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether this process is a `fork()` child of the one that created the context: the
    /// kernel refuses the context's ioctls there, and the ring is not mapped.
    pub(crate) fn in_forked_child(&self) -> bool {
        sys::fork_generation() != self.fork_generation
    }

    fn ring_mut(&mut self) -> Result<&mut Ring, Errno> {
        if self.in_forked_child() {
            return Err(Errno::INVAL);
        }
        self.ring.as_mut().ok_or(Errno::INVAL)
    }

    /// Slots of the ring.
    pub(crate) fn ring_nr(&self) -> u32 {
        self.ring.as_ref().map_or(0, Ring::nr)
    }

    /// Events in the ring not consumed yet (0 in a forked child).
    pub(crate) fn ready(&self) -> usize {
        if self.in_forked_child() {
            return 0;
        }
        self.ring.as_ref().map_or(0, |r| r.ready() as usize)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.table.contains_key(&id)
    }

    /// Submits `batch` in order, as `AIOPOLL_IOC_SUBMIT` does: some, all, or none.
    pub(crate) fn submit(&mut self, batch: Vec<OpParts>) -> Submitted {
        self.submit_inner(batch, None).0
    }

    /// Submits `batch` as [`submit`](Engine::submit), then waits for `min_nr` events as
    /// [`getevents`](Engine::getevents), in one `AIOPOLL_IOC_SUBMIT_WAIT` (two calls on a
    /// module older than ABI 1.6). The wait's result is `Ok(0)` when nothing was submitted.
    pub(crate) fn submit_and_wait(
        &mut self,
        batch: Vec<OpParts>,
        min_nr: usize,
        timeout: Option<KernelTimespec>,
        sigmask: Option<u64>,
        out: &mut Vec<Event>,
    ) -> (Submitted, Result<usize, Errno>) {
        let nr = batch.len();
        let (s, waited) = self.submit_inner(batch, Some((min_nr, timeout, sigmask)));
        let waited = match waited {
            Some(Err(Errno::NOTTY)) if s.ids.is_empty() => {
                // No SUBMIT_WAIT in this module: the same in two calls.
                let s = self.submit_inner(s.rest, None).0;
                let r = if s.ids.is_empty() && nr > 0 {
                    Ok(0)
                } else if s.ids.len() < nr {
                    self.getevents(0, Some(KernelTimespec::default()), None, out)
                } else {
                    self.getevents(min_nr, timeout, sigmask, out)
                };
                return (s, r);
            }
            Some(r) => r,
            None => Ok(0),
        };
        let waited = waited.map(|n| self.complete_scratch(n, out));
        (s, waited)
    }

    /// Submits `batch`, with the wait of `SUBMIT_WAIT` when `wait` says what it is (the events
    /// are left in `scratch`: see `complete_scratch`).
    #[allow(clippy::type_complexity)]
    fn submit_inner(
        &mut self,
        batch: Vec<OpParts>,
        wait: Option<(usize, Option<KernelTimespec>, Option<u64>)>,
    ) -> (Submitted, Option<Result<usize, Errno>>) {
        if self.in_forked_child() {
            let s = Submitted {
                ids: Vec::new(),
                rest: batch,
                error: Some(Errno::INVAL),
            };
            return (s, wait.map(|_| Err(Errno::INVAL)));
        }
        let mut reqs: Vec<(u64, Box<Request>)> = batch
            .into_iter()
            .map(|parts| {
                let id = self.next_id;
                self.next_id += 1;
                (id, Request::new(parts, id))
            })
            .collect();
        let ptrs: Vec<*mut Iocb> = reqs
            .iter_mut()
            .map(|(_, r)| &mut r.iocb as *mut Iocb)
            .collect();
        self.counters.submit_calls += 1;
        let mut waited = None;
        let result = if let Some((min_nr, timeout, sigmask)) = wait {
            let nr = min_nr.max(GETEVENTS_BATCH.min(self.ring_nr() as usize));
            self.scratch.clear();
            self.scratch.resize(nr, IoEvent::default());
            self.counters.getevents_calls += 1;
            // SAFETY: as for `sys::submit` below: the accepted requests (the first `n`) move
            // into `table` right below, before anything else happens.
            let (n, r) = unsafe {
                sys::submit_wait(
                    self.fd.as_fd(),
                    &ptrs,
                    min_nr,
                    &mut self.scratch,
                    timeout,
                    sigmask,
                )
            };
            match r {
                Err(e) if n == 0 && !ptrs.is_empty() => {
                    // Nothing submitted: the first iocb's error, or a refused argument.
                    waited = Some(Err(e));
                    Err(e)
                }
                r => {
                    waited = Some(r);
                    Ok(n)
                }
            }
        } else if ptrs.is_empty() {
            Ok(0)
        } else {
            // SAFETY: every pointer is the iocb of a boxed request in `reqs`, whose addresses
            // point only into memory the request owns (`Request::new`). The requests the
            // kernel accepted (the first `n`) move, still boxed, into `table` right below,
            // before anything else happens, and stay there until their final event is
            // reaped (`reap`, `getevents`, `Drop`). Those it did not accept were never seen
            // by the kernel past this call and are given back.
            unsafe { sys::submit(self.fd.as_fd(), &ptrs) }
        };
        let (n, error) = match result {
            Ok(n) => (n.min(reqs.len()), None),
            Err(e) => (0, Some(e)),
        };
        let rest_reqs = reqs.split_off(n);
        let mut ids = Vec::with_capacity(n);
        for (id, req) in reqs {
            ids.push(id);
            self.table.insert(id, req);
        }
        let s = Submitted {
            ids,
            rest: rest_reqs.into_iter().map(|(_, r)| r.parts).collect(),
            error,
        };
        (s, waited)
    }

    /// Matches the first `n` events of `scratch` (written by the kernel) to their requests.
    fn complete_scratch(&mut self, n: usize, out: &mut Vec<Event>) -> usize {
        let n = n.min(self.scratch.len());
        self.counters.ioctl_events += n as u64;
        for i in 0..n {
            let ev = self.scratch[i];
            if let Some(e) = Self::complete(&mut self.table, &mut self.counters, ev) {
                out.push(e);
            }
        }
        n
    }

    /// Matches an event to its request; a final event takes the request out of the table.
    fn complete(
        table: &mut HashMap<u64, Box<Request>>,
        counters: &mut Counters,
        ev: IoEvent,
    ) -> Option<Event> {
        let Some(req) = table.get(&ev.data) else {
            counters.stray_events += 1;
            return None;
        };
        if ev.obj != &req.iocb as *const Iocb as u64 {
            counters.stray_events += 1;
            return None;
        }
        let more = req.parts.multishot && ev.res2 == sys::AIOPOLL_POLL_MORE;
        let (user_data, opcode) = (req.parts.user_data, req.parts.opcode);
        let buffers = if more {
            Buffers::default()
        } else {
            // The final event: the kernel is done with the request, which leaves the table.
            table
                .remove(&ev.data)
                .map(|r| r.parts.buffers)
                .unwrap_or_default()
        };
        Some(Event {
            id: ev.data,
            user_data,
            opcode,
            res: ev.res,
            res2: ev.res2,
            more,
            buffers,
        })
    }

    /// Consumes up to `max` events from the mapped ring, with no system call.
    pub(crate) fn reap(&mut self, max: usize, out: &mut Vec<Event>) -> usize {
        if self.in_forked_child() {
            return 0;
        }
        let Some(ring) = self.ring.as_mut() else {
            return 0;
        };
        let (table, counters) = (&mut self.table, &mut self.counters);
        let n = ring.reap(max, |ev| {
            if let Some(e) = Self::complete(table, counters, ev) {
                out.push(e);
            }
        });
        self.counters.ring_events += n as u64;
        n
    }

    /// `AIOPOLL_IOC_GETEVENTS`: waits for at least `min_nr` events.
    pub(crate) fn getevents(
        &mut self,
        min_nr: usize,
        timeout: Option<KernelTimespec>,
        sigmask: Option<u64>,
        out: &mut Vec<Event>,
    ) -> Result<usize, Errno> {
        self.ring_mut()?;
        let nr = min_nr.max(GETEVENTS_BATCH.min(self.ring_nr() as usize));
        self.scratch.clear();
        self.scratch.resize(nr, IoEvent::default());
        self.counters.getevents_calls += 1;
        let n = sys::getevents(self.fd.as_fd(), min_nr, &mut self.scratch, timeout, sigmask)?;
        Ok(self.complete_scratch(n, out))
    }

    /// `AIOPOLL_IOC_CANCEL` of request `id`: `Ok` when the kernel found it (EINPROGRESS: its
    /// final event comes through the ring), `EINVAL` when it is not in flight or cannot be
    /// cancelled.
    pub(crate) fn cancel(&mut self, id: u64) -> Result<(), Errno> {
        self.ring_mut()?;
        let req = self.table.get(&id).ok_or(Errno::INVAL)?;
        match sys::cancel(self.fd.as_fd(), &req.iocb) {
            Ok(()) | Err(Errno::INPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Cancels every poll in flight; how many the kernel found.
    pub(crate) fn cancel_polls(&mut self) -> usize {
        let ids: Vec<u64> = self
            .table
            .iter()
            .filter(|(_, r)| r.parts.opcode == Opcode::Poll)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter(|id| self.cancel(*id).is_ok())
            .count()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.in_forked_child() {
            // The requests belong to the parent, which owns their buffers (this process has
            // copies): free nothing the kernel might still use, leave the address range of
            // the ring alone (the mapping was not inherited), and just close our fd.
            std::mem::forget(std::mem::take(&mut self.table));
            if let Some(ring) = self.ring.take() {
                ring.forget();
            }
            return;
        }
        // The fd may be shared with a forked child, so closing it does not necessarily end
        // the requests: end them here, before their buffers are freed.
        let mut events = Vec::new();
        self.cancel_polls();
        while !self.table.is_empty() {
            events.clear();
            self.reap(usize::MAX, &mut events);
            if self.table.is_empty() {
                break;
            }
            let timeout = KernelTimespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            match self.getevents(1, Some(timeout), None, &mut events) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => {
                    // The kernel cannot tell us: leak the requests rather than free memory
                    // it may still write.
                    std::mem::forget(std::mem::take(&mut self.table));
                    break;
                }
            }
        }
        // The completions in `events` are dropped here, with their buffers: safe, their
        // requests have ended. Then the fields: the ring is unmapped, the fd closed.
    }
}
