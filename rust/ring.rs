// SPDX-License-Identifier: GPL-2.0

//! The completion ring of a context: fs/aio's `struct aio_ring` header and its `struct
//! io_event` slots, in memory shared with user space (see `Documentation/design.rst`, *Memory
//! ordering of the ring*).
//!
//! - Completions write events at the tail ([`Producer::post`]), under the context's `inner`
//!   lock, which owns the [`Producer`].
//! - `GETEVENTS` copies events out and moves `head` ([`Ring::read`]), under the context's
//!   `ring_lock`; user space may do the same in the mapping, with no lock at all.
//! - Submissions take a free slot each ([`Ring::try_take`]) without a lock; the slots of
//!   consumed events are credited back ([`Producer::refill`]) under `inner`.
//!
//! The kernel trusts nothing it reads from the ring memory: `head` is clamped into the ring,
//! and the tail is the kernel's own copy.

use crate::{
    sys::{
        RingMem,
        Vma, //
    },
    uaddr::UserAddr,
    uapi::{
        self,
        IoEvent,
        RingHeader, //
    },
};
use core::{
    mem::{
        offset_of,
        size_of, //
    },
    num::NonZeroU32,
};
use kernel::{
    prelude::*,
    sync::atomic::{
        ordering::{
            Acquire,
            Relaxed,
            Release, //
        },
        Atomic, //
    },
};

/// Events reserved by all rings together (fs/aio's `aio_nr`), against the `max_events`
/// module parameter (fs/aio's `aio_max_nr`). Only its value matters: relaxed accesses, with a
/// compare-exchange that makes the check and the addition one step.
static TOTAL_EVENTS: Atomic<u64> = Atomic::new(0);

/// Largest ring fs/aio accepts: `nr_events * 2` up to `0x10000000 / sizeof(struct io_event)`.
const MAX_RING_EVENTS: u32 = 0x1000_0000 / size_of::<IoEvent>() as u32;

/// A context's completion ring, fixed by `AIOPOLL_IOC_SETUP`.
pub(crate) struct Ring {
    mem: RingMem,
    /// Slots in the ring (the trusted copy of `aiopoll_ring.nr`); never zero, so the index
    /// arithmetic below cannot divide by zero.
    nr: NonZeroU32,
    /// What the context counts against the module-wide limit.
    reserved_events: u64,
    /// `Producer::tail`, published (release) after the events before it were written, for the
    /// readers of the ring, which need no lock to see how far it is filled.
    tail: Atomic<u32>,
    /// Free slots (fs/aio's `reqs_available`): `nr - 1` minus requests in flight minus events
    /// posted and not yet credited back (`Producer::completed`). Taken without a lock by
    /// submissions; credited back under `inner` (consumed events) or by a failed submission.
    /// A plain counter: only its value matters, and atomic read-modify-writes of one
    /// location are totally ordered, so the sum above stays `nr - 1` and the ring can never
    /// hold more events than it has slots.
    free: Atomic<u32>,
}

impl Ring {
    /// Sizes, reserves and allocates the ring of a context for `nr_events` requests in flight,
    /// as fs/aio's `ioctx_alloc()` and `aio_setup_ring()` do, and writes its header (`id` is
    /// `ring_id`). The events are counted against the module-wide limit until
    /// [`Ring::unreserve`].
    pub(crate) fn new(nr_events: u32, ring_id: u32) -> Result<Self> {
        // Like fs/aio: at least four per possible CPU, doubled, with fs/aio's (wrapping)
        // arithmetic and its errnos.
        let wanted = nr_events
            .max(crate::sys::num_possible_cpus().saturating_mul(4))
            .wrapping_mul(2);
        if wanted > MAX_RING_EVENTS {
            return Err(EINVAL);
        }
        let limit = u64::from(crate::module_parameters::max_events.value());
        if wanted == 0 || u64::from(nr_events) > limit {
            return Err(EAGAIN);
        }
        let page = kernel::page::PAGE_SIZE;
        let bytes = Self::slot_offset(wanted + 2);
        let size = bytes.div_ceil(page) * page;
        let nr = ((size - uapi::RING_HEADER_LENGTH) / size_of::<IoEvent>()) as u32;
        let nr = NonZeroU32::new(nr).ok_or(EINVAL)?;

        // Reserve against the module-wide limit (fs/aio's aio_max_nr), racing contexts
        // included: the compare-exchange makes the check and the addition one step.
        let need = u64::from(nr_events);
        let mut total = TOTAL_EVENTS.load(Relaxed);
        loop {
            let new = total
                .checked_add(need)
                .filter(|&t| t <= limit)
                .ok_or(EAGAIN)?;
            match TOTAL_EVENTS.cmpxchg(total, new, Relaxed) {
                Ok(_) => break,
                Err(now) => total = now,
            }
        }
        let mem = match RingMem::new(size) {
            Ok(mem) => mem,
            Err(e) => {
                TOTAL_EVENTS.fetch_sub(need, Relaxed);
                return Err(e);
            }
        };
        mem.write_u32(offset_of!(RingHeader, id), ring_id);
        mem.write_u32(offset_of!(RingHeader, nr), nr.get());
        mem.write_u32(offset_of!(RingHeader, head), 0);
        mem.write_u32(offset_of!(RingHeader, tail), 0);
        mem.write_u32(offset_of!(RingHeader, magic), uapi::RING_MAGIC);
        mem.write_u32(
            offset_of!(RingHeader, compat_features),
            uapi::RING_COMPAT_FEATURES,
        );
        mem.write_u32(
            offset_of!(RingHeader, incompat_features),
            uapi::RING_INCOMPAT_FEATURES,
        );
        mem.write_u32(
            offset_of!(RingHeader, header_length),
            uapi::RING_HEADER_LENGTH as u32,
        );
        Ok(Self {
            mem,
            nr,
            reserved_events: need,
            tail: Atomic::new(0),
            free: Atomic::new(nr.get() - 1),
        })
    }

    /// Gives back the events the ring counts against the module-wide limit; called once, when
    /// the ring's context is released (or its setup fails after [`Ring::new`]).
    pub(crate) fn unreserve(&self) {
        TOTAL_EVENTS.fetch_sub(self.reserved_events, Relaxed);
    }

    /// Slots in the ring (`aiopoll_ring.nr`).
    pub(crate) fn nr(&self) -> u32 {
        self.nr.get()
    }

    /// The size of the ring memory, in bytes: what user space maps.
    pub(crate) fn size(&self) -> usize {
        self.mem.size()
    }

    /// Free slots now (a snapshot, for fdinfo).
    pub(crate) fn free_slots(&self) -> u32 {
        self.free.load(Relaxed)
    }

    /// Maps the whole ring into `vma`.
    pub(crate) fn map(&self, vma: &Vma) -> Result {
        self.mem.map(vma)
    }

    /// Byte offset of slot `slot`.
    fn slot_offset(slot: u32) -> usize {
        uapi::RING_HEADER_LENGTH + slot as usize * size_of::<IoEvent>()
    }

    /// `head` as user space left it, clamped into the ring (it is user-writable).
    pub(crate) fn user_head(&self) -> u32 {
        let head = self.mem.read_u32(offset_of!(RingHeader, head));
        // No division unless user space wrote nonsense.
        if head < self.nr.get() {
            head
        } else {
            head % self.nr
        }
    }

    /// Whether the ring holds events that user space has not consumed, without a lock: the
    /// published tail is loaded with acquire (see [`Producer::post`]).
    pub(crate) fn has_events(&self) -> bool {
        self.user_head() != self.tail.load(Acquire)
    }

    /// The slot after `slot` (`slot < nr`).
    fn next(&self, slot: u32) -> u32 {
        if slot + 1 < self.nr.get() {
            slot + 1
        } else {
            0
        }
    }

    /// How many slots from `head` to `tail` (both `< nr`), going forward.
    fn distance(&self, head: u32, tail: u32) -> u32 {
        if tail >= head {
            tail - head
        } else {
            tail + (self.nr.get() - head)
        }
    }

    /// Takes a free slot, without a lock; false if none is free.
    pub(crate) fn try_take(&self) -> bool {
        let mut free = self.free.load(Relaxed);
        loop {
            if free == 0 {
                return false;
            }
            match self.free.cmpxchg(free, free - 1, Relaxed) {
                Ok(_) => return true,
                Err(now) => free = now,
            }
        }
    }

    /// Gives back `n` slots.
    pub(crate) fn give_back(&self, n: u32) {
        self.free.fetch_add(n, Relaxed);
    }

    /// Copies up to `nr` events from the ring to `events` and consumes them (fs/aio's
    /// `aio_read_events_ring()`). The caller holds the context's `ring_lock`: one reader moves
    /// `head` at a time.
    pub(crate) fn read(&self, events: UserAddr, nr: i64) -> Result<i64> {
        // Acquire: the events up to the tail are visible (see `Producer::post`).
        let tail = self.tail.load(Acquire);
        let mut head = self.user_head();
        let mut got: i64 = 0;
        while got < nr && head != tail {
            // Contiguous events from `head`, up to the end of the ring.
            let avail = if head < tail {
                tail - head
            } else {
                self.nr.get() - head
            };
            let n = i64::from(avail).min(nr - got) as u32;
            let bytes = n as usize * size_of::<IoEvent>();
            let dst = events.element::<IoEvent>(got as usize)?;
            // The whole destination range must not wrap either (`copy_to_user` checks the
            // rest).
            dst.offset(bytes)?;
            self.mem
                .copy_to_user(Self::slot_offset(head), bytes, dst.ptr()?)?;
            got += i64::from(n);
            head = head.wrapping_add(n) % self.nr;
        }
        if got > 0 {
            self.mem.write_u32(offset_of!(RingHeader, head), head);
        }
        Ok(got)
    }
}

/// The writing side of a ring: what posting an event changes, kept under the context's `inner`
/// lock (fs/aio's `completion_lock`).
pub(crate) struct Producer {
    /// The next slot to fill: the trusted copy of `aiopoll_ring.tail`.
    tail: u32,
    /// Events posted but not yet credited back to `Ring::free` (fs/aio's
    /// `completed_events`).
    completed: u32,
    /// Events posted since the context was created (for fdinfo).
    total_completed: u64,
}

impl Producer {
    /// An empty ring's.
    pub(crate) const fn new() -> Self {
        Self {
            tail: 0,
            completed: 0,
            total_completed: 0,
        }
    }

    /// Whether `ring` holds events that user space has not consumed, by the trusted tail.
    pub(crate) fn has_events(&self, ring: &Ring) -> bool {
        ring.user_head() != self.tail
    }

    /// Events posted and not yet credited back (fs/aio's `completed_events`).
    pub(crate) fn completed(&self) -> u32 {
        self.completed
    }

    /// Events posted since the context was created.
    pub(crate) fn total_completed(&self) -> u64 {
        self.total_completed
    }

    /// Takes a ring slot, crediting back what user space consumed if none is free; false
    /// when `nr - 1` slots stay taken (so the ring cannot overflow).
    pub(crate) fn reserve(&mut self, ring: &Ring) -> bool {
        if ring.try_take() {
            return true;
        }
        self.refill(ring);
        ring.try_take()
    }

    /// Writes `event` in the ring and publishes it (fs/aio's `aio_complete()`).
    pub(crate) fn post(&mut self, ring: &Ring, event: &IoEvent) {
        let tail = self.tail;
        ring.mem.write_event(Ring::slot_offset(tail), event);
        // The event must be visible before the tail that publishes it: pairs with the
        // reader's read barrier (GETEVENTS) or acquire load (user space).
        ring.mem.write_barrier();
        let tail = ring.next(tail);
        self.tail = tail;
        ring.mem.write_u32(offset_of!(RingHeader, tail), tail);
        // For the lock-free readers of the kernel side: the event before the tail.
        ring.tail.store(tail, Release);
        self.completed += 1;
        self.total_completed += 1;
        self.refill(ring);
    }

    /// Credits back the slots of events user space consumed (fs/aio's
    /// `refill_reqs_available()`): whatever was completed and is no longer between `head` and
    /// the tail.
    fn refill(&mut self, ring: &Ring) {
        let head = ring.user_head();
        let in_ring = ring.distance(head, self.tail);
        if self.completed > in_ring {
            let consumed = self.completed - in_ring;
            self.completed -= consumed;
            ring.give_back(consumed);
        }
    }
}
