// SPDX-License-Identifier: GPL-2.0

//! `AIOPOLL_IOC_GETEVENTS`: reaping events from the ring, and waiting for them (fs/aio's
//! `io_pgetevents()` and `read_events()`), with the caller's signal mask swapped in for the
//! wait and polled I/O driven while it waits.

use crate::{
    context::Context,
    ring::Ring,
    sys::{
        self,
        SigmaskSwap,
        WaitEnd, //
    },
    uaddr::UserAddr,
    uapi::{
        self,
        IoEvent, //
    },
};
use kernel::{
    prelude::*,
    time::{
        msecs_to_jiffies,
        Instant,
        Monotonic, //
    },
};

impl Context {
    /// Copies up to `nr` events from the ring to `events` and consumes them, one reader at a
    /// time (see [`Ring::read`]).
    fn read_ring(&self, ring: &Ring, events: UserAddr, nr: i64) -> Result<i64> {
        let _guard = self.ring_lock.lock();
        ring.read(events, nr)
    }

    /// `AIOPOLL_IOC_GETEVENTS`, as fs/aio's `io_pgetevents()`: the same order of checks, the
    /// signal mask swapped for the wait, and `ERESTARTNOHAND` when a signal interrupted a wait
    /// that reaped nothing (user space sees `EINTR` when a handler ran).
    pub(crate) fn getevents(&self, args: &uapi::GetEvents) -> Result<isize> {
        let timeout = if args.timeout != 0 {
            Some(sys::get_timeout(args.timeout)?)
        } else {
            None
        };
        if args.reserved != 0 {
            return Err(EINVAL);
        }
        let swap = SigmaskSwap::install(args.sigmask, args.sigsetsize)?;
        let ret = self.read_events(args, timeout);
        if swap.finish() && matches!(ret, Ok(0)) {
            return Err(ERESTARTNOHAND);
        }
        ret
    }

    /// Reaps events, waiting for `min_nr` of them until `timeout` (fs/aio's `read_events()`).
    /// A signal ends the wait with what was reaped so far.
    fn read_events(&self, args: &uapi::GetEvents, timeout: Option<i64>) -> Result<isize> {
        if args.min_nr < 0 || args.min_nr > args.nr {
            return Err(EINVAL);
        }
        let ring = self.ring()?;
        // A relative timeout; waits are in jiffies, rounded up, so never shorter than asked.
        // The clock is read only when there is a timeout.
        let start = timeout.map(|ns| (ns, Instant::<Monotonic>::now()));
        let left = |start: &Option<(i64, Instant<Monotonic>)>| {
            start.as_ref().map(|(ns, start)| {
                let ns = ns.saturating_sub(start.elapsed().as_nanos());
                if ns <= 0 {
                    0
                } else {
                    let ms = (ns as u64).div_ceil(1_000_000).min(u64::from(u32::MAX));
                    msecs_to_jiffies(ms as u32) as u64
                }
            })
        };
        // With polled I/O pending, every call polls the device at least once, so a call that
        // does not wait (min_nr 0 or a zero timeout) is how a ring reaper drives polling.
        if self.has_iopoll() {
            self.iopoll_once();
        }
        let events = UserAddr::new(args.events);
        let mut got: i64 = 0;
        loop {
            let read = events
                .element::<IoEvent>(got as usize)
                .and_then(|dst| self.read_ring(ring, dst, args.nr - got));
            match read {
                Ok(n) => got += n,
                Err(e) if got == 0 => return Err(e),
                Err(_) => return Ok(got as isize),
            }
            let remaining = left(&start);
            if got >= args.min_nr || remaining == Some(0) {
                return Ok(got as isize);
            }
            if self.has_iopoll() {
                // Polled I/O pending: spin on the device instead of sleeping (its completions
                // come from our polling), until min_nr, the deadline, or a signal.
                if kernel::current!().signal_pending() {
                    return Ok(got as isize);
                }
                self.iopoll_once();
                sys::cond_resched();
                continue;
            }
            // Wakes up for new events, and for polled I/O submitted meanwhile (which only a
            // reaper completes: see `submit_one`).
            let end = self.wait.wait_interruptible(remaining, || {
                // No lock: `wait_interruptible` orders these loads after the waiter is on the
                // queue, and a poster's or submitter's `wake_after_post`/`wake_all` orders its
                // change before its look at the queue (a full barrier on each side).
                ring.has_events() || self.has_iopoll()
            });
            match end {
                WaitEnd::Done => {}
                WaitEnd::TimedOut => {
                    // Collect what arrived at the deadline, then return.
                    got += events
                        .element::<IoEvent>(got as usize)
                        .and_then(|dst| self.read_ring(ring, dst, args.nr - got))
                        .unwrap_or(0);
                    return Ok(got as isize);
                }
                // The caller turns "interrupted with nothing reaped" into ERESTARTNOHAND.
                WaitEnd::Interrupted => return Ok(got as isize),
            }
        }
    }
}
