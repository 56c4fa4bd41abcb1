// SPDX-License-Identifier: MIT OR Apache-2.0
//! The in-flight table: requests whose iocb, iovec array and buffers the kernel may access
//! until their final event is reaped. This module, `buf` and `sys` are the only ones with
//! `unsafe` code: the one invariant the rest of the crate relies on lives here.
//!
//! Invariant: a request submitted to the kernel is a `Box<Request>` in `Engine::table` from
//! just before its submission until its final event is reaped (or forever, if the crate
//! cannot tell that it ended: the request is leaked then). Nothing touches its buffers
//! meanwhile. `Drop` cancels what can be cancelled and reaps everything before it frees
//! anything.
//!
//! Concurrency: every method takes `&self`.
//! - `table` is a mutex held briefly: to register requests before the `SUBMIT` ioctl and to
//!   take back the refused ones after it (never during it), to match reaped events, and
//!   around the `CANCEL` ioctl (so that the iocb it names is not freed meanwhile).
//! - Consuming events, from the mapped ring (which moves `head` in user space) or with
//!   `GETEVENTS`/`SUBMIT_WAIT` (which move it in the kernel), needs the `Consumer`, which
//!   one thread holds at a time (`consumer`, handed over through `consumer_free`). A thread
//!   blocked in `GETEVENTS` holds it for the whole wait; submitters never need it.
//! - Lock order: the consumer, then the table.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::buf::Buffers;
use crate::op::{OpParts, Opcode};
use crate::sys::{self, HeadToken, IoEvent, IoVec, Iocb, KernelTimespec, Ring};

/// A request in flight: its iocb (whose address the kernel identifies it by), the iovec
/// array of a readv/writev, and the owned buffers the iocb points into.
struct Request {
    /// In an `UnsafeCell`: the kernel writes its `aio_key` during `SUBMIT`, while other
    /// threads may hold a `&Request` (matching events under the table lock).
    iocb: UnsafeCell<Iocb>,
    iovecs: Vec<IoVec>,
    parts: OpParts,
}

impl Request {
    /// Builds the iocb of `parts`, with `aio_data` = `id`. Every address in the iocb points
    /// into memory the request owns, taken after the request was boxed.
    fn new(parts: OpParts, id: u64) -> Box<Request> {
        let mut req = Box::new(Request {
            iocb: UnsafeCell::new(Iocb::default()),
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
        *r.iocb.get_mut() = Iocb {
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

    /// The iocb's address: what the kernel knows the request by.
    fn iocb(&self) -> *mut Iocb {
        self.iocb.get()
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

#[derive(Debug, Default)]
struct AtomicCounters {
    ring_events: AtomicU64,
    ioctl_events: AtomicU64,
    getevents_calls: AtomicU64,
    submit_calls: AtomicU64,
    stray_events: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The right to consume the context's events, with the buffer `GETEVENTS` writes into.
#[derive(Debug)]
pub(crate) struct Consumer {
    head: HeadToken,
    scratch: Vec<IoEvent>,
}

/// The consumer, held by one thread; handed back (and the next waiter woken) on drop.
pub(crate) struct ConsumerGuard<'a> {
    engine: &'a Engine,
    consumer: Option<Consumer>,
}

impl ConsumerGuard<'_> {
    fn get(&mut self) -> &mut Consumer {
        self.consumer.as_mut().expect("held until drop")
    }
}

impl Drop for ConsumerGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.engine.consumer) = self.consumer.take();
        self.engine.consumer_free.notify_one();
    }
}

/// Locks `m`, also after a panic in another thread that held it: the data it guards is left
/// consistent at every point where a panic can happen (a request is in the table or not).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wait of a `SUBMIT_WAIT`: `min_nr`, timeout, signal mask.
pub(crate) type WaitArgs = (usize, Option<KernelTimespec>, Option<u64>);

/// Largest number of events one GETEVENTS call asks for, unless `min_nr` is larger.
const GETEVENTS_BATCH: usize = 256;

type Table = HashMap<u64, Box<Request>>;

/// A context: its fd, its mapped ring and its requests in flight.
pub(crate) struct Engine {
    // Field order is drop order: the table (empty after `Drop::drop`), then the ring, then
    // the fd.
    table: Mutex<Table>,
    /// `None` while a thread holds the consumer.
    consumer: Mutex<Option<Consumer>>,
    consumer_free: Condvar,
    ring: Option<Ring>,
    fd: OwnedFd,
    next_id: AtomicU64,
    fork_generation: u64,
    counters: AtomicCounters,
}

impl Engine {
    /// Opens `path`, sets the context up for `nr_events` and maps its ring.
    pub(crate) fn open(path: &str, nr_events: u32) -> Result<Engine, Errno> {
        let fork_generation = sys::fork_generation();
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        let (ring_nr, ring_size) = sys::setup(fd.as_fd(), nr_events)?;
        let (ring, head) = Ring::map(fd.as_fd(), ring_size, ring_nr)?;
        Ok(Engine {
            table: Mutex::new(HashMap::new()),
            consumer: Mutex::new(Some(Consumer {
                head,
                scratch: Vec::new(),
            })),
            consumer_free: Condvar::new(),
            ring: Some(ring),
            fd,
            next_id: AtomicU64::new(1),
            fork_generation,
            counters: AtomicCounters::default(),
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

    /// The ring, unless in a forked child.
    fn ring(&self) -> Result<&Ring, Errno> {
        if self.in_forked_child() {
            return Err(Errno::INVAL);
        }
        self.ring.as_ref().ok_or(Errno::INVAL)
    }

    /// Slots of the ring.
    pub(crate) fn ring_nr(&self) -> u32 {
        self.ring.as_ref().map_or(0, Ring::nr)
    }

    /// Events in the ring not consumed yet (0 in a forked child).
    pub(crate) fn ready(&self) -> usize {
        self.ring().map_or(0, |r| r.ready() as usize)
    }

    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.table).len()
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        lock(&self.table).contains_key(&id)
    }

    pub(crate) fn counters(&self) -> Counters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            ring_events: get(&c.ring_events),
            ioctl_events: get(&c.ioctl_events),
            getevents_calls: get(&c.getevents_calls),
            submit_calls: get(&c.submit_calls),
            stray_events: get(&c.stray_events),
        }
    }

    /// The consumer if no other thread holds it.
    pub(crate) fn try_consumer(&self) -> Option<ConsumerGuard<'_>> {
        let consumer = lock(&self.consumer).take()?;
        Some(ConsumerGuard {
            engine: self,
            consumer: Some(consumer),
        })
    }

    /// The consumer, waiting for the thread that holds it until `deadline` (`None`: no
    /// limit); `None` if the deadline passed first.
    pub(crate) fn consumer_until(&self, deadline: Option<Instant>) -> Option<ConsumerGuard<'_>> {
        let mut slot = lock(&self.consumer);
        loop {
            if let Some(consumer) = slot.take() {
                return Some(ConsumerGuard {
                    engine: self,
                    consumer: Some(consumer),
                });
            }
            slot = match deadline {
                None => self
                    .consumer_free
                    .wait(slot)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.checked_duration_since(Instant::now())?;
                    self.consumer_free
                        .wait_timeout(slot, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Ids for `n` requests, never given out before.
    pub(crate) fn reserve_ids(&self, n: usize) -> u64 {
        self.next_id.fetch_add(n as u64, Ordering::Relaxed)
    }

    /// Submits `batch` in order, as `AIOPOLL_IOC_SUBMIT` does: some, all, or none.
    pub(crate) fn submit(&self, batch: Vec<OpParts>) -> Submitted {
        let first = self.reserve_ids(batch.len());
        self.submit_inner(first, batch, None).0
    }

    /// As [`submit`](Engine::submit), with ids `first..` reserved by
    /// [`reserve_ids`](Engine::reserve_ids).
    pub(crate) fn submit_reserved(&self, first: u64, batch: Vec<OpParts>) -> Submitted {
        self.submit_inner(first, batch, None).0
    }

    /// Submits `batch` as [`submit`](Engine::submit), then waits for `min_nr` events as
    /// [`getevents`](Engine::getevents), in one `AIOPOLL_IOC_SUBMIT_WAIT` (two calls on a
    /// module older than ABI 1.6). The wait's result is `Ok(0)` when nothing was submitted.
    pub(crate) fn submit_and_wait(
        &self,
        consumer: &mut ConsumerGuard<'_>,
        batch: Vec<OpParts>,
        wait: WaitArgs,
        out: &mut Vec<Event>,
    ) -> (Submitted, Result<usize, Errno>) {
        let nr = batch.len();
        let (min_nr, timeout, sigmask) = wait;
        let first = self.reserve_ids(nr);
        let (s, waited) = self.submit_inner(first, batch, Some((consumer.get(), wait)));
        let waited = match waited {
            Some(Err(Errno::NOTTY)) if s.ids.is_empty() => {
                // No SUBMIT_WAIT in this module: the same in two calls.
                let s = self.submit_inner(first, s.rest, None).0;
                let r = if s.ids.is_empty() && nr > 0 {
                    Ok(0)
                } else if s.ids.len() < nr {
                    self.getevents(consumer, 0, Some(KernelTimespec::default()), None, out)
                } else {
                    self.getevents(consumer, min_nr, timeout, sigmask, out)
                };
                return (s, r);
            }
            Some(r) => r,
            None => Ok(0),
        };
        let waited = waited.map(|n| self.complete_scratch(consumer.get(), n, out));
        (s, waited)
    }

    /// Submits `batch` with ids `first..`, with the wait of `SUBMIT_WAIT` when `wait` says
    /// what it is (the events are left in the consumer's scratch: see `complete_scratch`).
    #[allow(clippy::type_complexity)]
    fn submit_inner(
        &self,
        first: u64,
        batch: Vec<OpParts>,
        wait: Option<(&mut Consumer, WaitArgs)>,
    ) -> (Submitted, Option<Result<usize, Errno>>) {
        if self.in_forked_child() {
            let s = Submitted {
                ids: Vec::new(),
                rest: batch,
                error: Some(Errno::INVAL),
            };
            return (s, wait.map(|_| Err(Errno::INVAL)));
        }
        let nr = batch.len();
        let ids: Vec<u64> = (first..first + nr as u64).collect();
        let reqs: Vec<Box<Request>> = batch
            .into_iter()
            .zip(&ids)
            .map(|(parts, &id)| Request::new(parts, id))
            .collect();
        let ptrs: Vec<*mut Iocb> = reqs.iter().map(|r| r.iocb()).collect();
        // Registered before the kernel sees them: another thread reaping meanwhile may get
        // their events, and must find them. Boxed, they do not move.
        {
            let mut table = lock(&self.table);
            for (id, req) in ids.iter().zip(reqs) {
                table.insert(*id, req);
            }
        }
        add(&self.counters.submit_calls, 1);
        let mut waited = None;
        let result = if let Some((consumer, (min_nr, timeout, sigmask))) = wait {
            let len = min_nr.max(GETEVENTS_BATCH.min(self.ring_nr() as usize));
            consumer.scratch.clear();
            consumer.scratch.resize(len, IoEvent::default());
            add(&self.counters.getevents_calls, 1);
            // SAFETY: as for `sys::submit` below; the events go to the consumer's scratch,
            // which this thread holds.
            let (n, r) = unsafe {
                sys::submit_wait(
                    self.fd.as_fd(),
                    &ptrs,
                    min_nr,
                    &mut consumer.scratch,
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
            // SAFETY: every pointer is the iocb of a boxed request in `table`, whose
            // addresses point only into memory the request owns (`Request::new`). The
            // requests stay there until their final event is reaped (`reap`, `getevents`,
            // `Drop`): the ones the kernel accepts (the first `n`); those it does not accept
            // were never seen by the kernel past this call and are taken back below, before
            // any event could name them.
            unsafe { sys::submit(self.fd.as_fd(), &ptrs) }
        };
        let (n, error) = match result {
            Ok(n) => (n.min(nr), None),
            Err(e) => (0, Some(e)),
        };
        let rest = {
            let mut table = lock(&self.table);
            ids[n..]
                .iter()
                .map(|id| {
                    let req = table.remove(id).expect("registered above, never submitted");
                    req.parts
                })
                .collect()
        };
        let mut ids = ids;
        ids.truncate(n);
        (Submitted { ids, rest, error }, waited)
    }

    /// Matches the first `n` events of the consumer's scratch (written by the kernel) to
    /// their requests.
    fn complete_scratch(&self, consumer: &mut Consumer, n: usize, out: &mut Vec<Event>) -> usize {
        let n = n.min(consumer.scratch.len());
        add(&self.counters.ioctl_events, n as u64);
        let mut table = lock(&self.table);
        for ev in &consumer.scratch[..n] {
            if let Some(e) = self.complete(&mut table, *ev) {
                out.push(e);
            }
        }
        n
    }

    /// Matches an event to its request; a final event takes the request out of the table.
    fn complete(&self, table: &mut Table, ev: IoEvent) -> Option<Event> {
        let Some(req) = table.get(&ev.data) else {
            add(&self.counters.stray_events, 1);
            return None;
        };
        if ev.obj != req.iocb() as u64 {
            add(&self.counters.stray_events, 1);
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
    pub(crate) fn reap(
        &self,
        consumer: &mut ConsumerGuard<'_>,
        max: usize,
        out: &mut Vec<Event>,
    ) -> usize {
        let Ok(ring) = self.ring() else {
            return 0;
        };
        let mut table = lock(&self.table);
        let n = ring.reap(&mut consumer.get().head, max, |ev| {
            if let Some(e) = self.complete(&mut table, ev) {
                out.push(e);
            }
        });
        add(&self.counters.ring_events, n as u64);
        n
    }

    /// `AIOPOLL_IOC_GETEVENTS`: waits for at least `min_nr` events.
    pub(crate) fn getevents(
        &self,
        consumer: &mut ConsumerGuard<'_>,
        min_nr: usize,
        timeout: Option<KernelTimespec>,
        sigmask: Option<u64>,
        out: &mut Vec<Event>,
    ) -> Result<usize, Errno> {
        self.ring()?;
        let c = consumer.get();
        let len = min_nr.max(GETEVENTS_BATCH.min(self.ring_nr() as usize));
        c.scratch.clear();
        c.scratch.resize(len, IoEvent::default());
        add(&self.counters.getevents_calls, 1);
        let n = sys::getevents(self.fd.as_fd(), min_nr, &mut c.scratch, timeout, sigmask)?;
        Ok(self.complete_scratch(c, n, out))
    }

    /// `AIOPOLL_IOC_CANCEL` of request `id`: `Ok` when the kernel found it (EINPROGRESS: its
    /// final event comes through the ring), `EINVAL` when it is not in flight or cannot be
    /// cancelled.
    pub(crate) fn cancel(&self, id: u64) -> Result<(), Errno> {
        self.ring()?;
        // Held during the ioctl: the request cannot be reaped and freed meanwhile.
        let table = lock(&self.table);
        let req = table.get(&id).ok_or(Errno::INVAL)?;
        // SAFETY: the iocb of a request in the table, which stays there (and alive) while
        // the table is locked.
        match unsafe { sys::cancel(self.fd.as_fd(), req.iocb()) } {
            Ok(()) | Err(Errno::INPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Cancels every poll in flight; how many the kernel found.
    pub(crate) fn cancel_polls(&self) -> usize {
        let ids: Vec<u64> = lock(&self.table)
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
        let table = self.table.get_mut().unwrap_or_else(PoisonError::into_inner);
        if self.fork_generation != sys::fork_generation() {
            // The requests belong to the parent, which owns their buffers (this process has
            // copies): free nothing the kernel might still use, leave the address range of
            // the ring alone (the mapping was not inherited), and just close our fd.
            std::mem::forget(std::mem::take(table));
            if let Some(ring) = self.ring.take() {
                ring.forget();
            }
            return;
        }
        // The fd may be shared with a forked child, so closing it does not necessarily end
        // the requests: end them here, before their buffers are freed. `&mut self`: no
        // guard of the consumer is alive.
        let mut events = Vec::new();
        self.cancel_polls();
        let mut consumer = self
            .try_consumer()
            .expect("no consumer guard outlives a borrow of the engine");
        while self.in_flight() > 0 {
            events.clear();
            self.reap(&mut consumer, usize::MAX, &mut events);
            if self.in_flight() == 0 {
                break;
            }
            let timeout = KernelTimespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            match self.getevents(&mut consumer, 1, Some(timeout), None, &mut events) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => {
                    // The kernel cannot tell us: leak the requests rather than free memory
                    // it may still write.
                    std::mem::forget(std::mem::take(&mut *lock(&self.table)));
                    break;
                }
            }
        }
        drop(consumer);
        // The completions in `events` are dropped here, with their buffers: safe, their
        // requests have ended. Then the fields: the ring is unmapped, the fd closed.
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("fd", &self.fd)
            .field("ring_nr", &self.ring_nr())
            .finish_non_exhaustive()
    }
}
