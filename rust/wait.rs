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
        UserSigmask,
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
    sync::ArcBorrow,
    time::{
        msecs_to_jiffies,
        Instant,
        Monotonic, //
    },
};

/// The relative timeout at user address `uts` in nanoseconds, or `None` for `uts == 0` (no
/// limit), as `GETEVENTS` and `SUBMIT_WAIT` take it.
fn read_timeout(uts: u64) -> Result<Option<i64>> {
    if uts == 0 {
        return Ok(None);
    }
    sys::get_timeout(uts).map(Some)
}

impl Context {
    /// Copies up to `nr` events from the ring to `events` and consumes them, one reader at a
    /// time (see [`Ring::read`]); with `poll`, first reaps the polled I/O, if any, in the
    /// same hold of `ring_lock` (`Some(true)`: spinning until something completes).
    fn read_ring(&self, ring: &Ring, events: UserAddr, nr: i64, poll: Option<bool>) -> Result<i64> {
        let mut reaper = self.ring_lock.lock();
        if let Some(spin) = poll {
            if self.has_iopoll() {
                self.reap_polled(&mut reaper, spin);
            }
        }
        ring.read(events, nr)
    }

    /// `AIOPOLL_IOC_GETEVENTS`, as fs/aio's `io_pgetevents()`: the same order of checks, the
    /// signal mask swapped for the wait, and `ERESTARTNOHAND` when a signal interrupted a wait
    /// that reaped nothing (user space sees `EINTR` when a handler ran).
    pub(crate) fn getevents(&self, args: &uapi::GetEvents) -> Result<isize> {
        let timeout = read_timeout(args.timeout)?;
        if args.reserved != 0 {
            return Err(EINVAL);
        }
        let swap = SigmaskSwap::install(args.sigmask, args.sigsetsize)?;
        if args.min_nr < 0 || args.min_nr > args.nr {
            return Err(EINVAL);
        }
        let ret = self.read_events(args.min_nr, args.nr, args.events, timeout);
        if swap.finish() && matches!(ret, Ok(0)) {
            return Err(ERESTARTNOHAND);
        }
        ret
    }

    /// `AIOPOLL_IOC_SUBMIT_WAIT`: `SUBMIT`, then `GETEVENTS`, in one call, as `io_uring_enter()`
    /// with `to_submit` and `min_complete`. The wait's arguments are checked (and the mask
    /// read) before anything is submitted; `submitted` is written before the wait (its address
    /// checked by a first write before the submission); a partial submission does not wait;
    /// a signal that ends the wait after a submission is `EINTR`, never a restart, which
    /// would submit again.
    pub(crate) fn submit_wait(self: ArcBorrow<'_, Self>, arg: UserAddr) -> Result<isize> {
        let args: uapi::SubmitWait = arg.read()?;
        // GETEVENTS' order: the timeout, the mask's size and the mask, then the counts.
        let timeout = read_timeout(args.timeout)?;
        if args.reserved != 0 {
            return Err(EINVAL);
        }
        let mask = UserSigmask::read(args.sigmask, args.sigsetsize)?;
        if args.nr < 0 || args.min_nr < 0 || args.min_nr > args.max_nr {
            return Err(EINVAL);
        }
        // SUBMIT takes at most the ring's size (as fs/aio's io_submit()): fewer is no error.
        let wanted = args.nr.min(i64::from(self.ring()?.nr()));
        let submitted_at = arg.offset(core::mem::offset_of!(uapi::SubmitWait, submitted))?;
        submitted_at.write_u64(0)?;
        let submitted = if wanted > 0 {
            self.submit(args.nr, UserAddr::new(args.iocbpp))? as i64
        } else {
            0
        };
        submitted_at.write_u64(submitted as u64)?;
        if submitted < wanted {
            // Partial: return what is there, without waiting (nor installing the mask).
            return self.read_events(0, args.max_nr, args.events, Some(0));
        }
        let swap = mask.install();
        let ret = self.read_events(args.min_nr, args.max_nr, args.events, timeout);
        if swap.finish() && matches!(ret, Ok(0)) {
            return Err(if submitted > 0 { EINTR } else { ERESTARTNOHAND });
        }
        ret
    }

    /// Reaps up to `nr` events into the user array at `events`, waiting for `min_nr` of them
    /// (`0 <= min_nr <= nr`) until `timeout` (fs/aio's `read_events()`). A signal ends the
    /// wait with what was reaped so far.
    fn read_events(
        &self,
        min_nr: i64,
        nr: i64,
        events: u64,
        timeout: Option<i64>,
    ) -> Result<isize> {
        let ring = self.ring()?;
        // A relative timeout; waits are in jiffies, rounded up, and a wait that the tick ends
        // early goes on (see `TimedOut` below), so never shorter than asked.
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
        // With polled I/O pending, every call polls the device at least once (the first
        // round without spinning), so a call that does not wait (min_nr 0 or a zero timeout)
        // is how a ring reaper drives polling; a call that waits spins on the device from
        // the second round on, as io_uring's io_iopoll_check() does.
        let events = UserAddr::new(events);
        let mut got: i64 = 0;
        let mut spin = false;
        loop {
            let read = events
                .element::<IoEvent>(got as usize)
                .and_then(|dst| self.read_ring(ring, dst, nr - got, Some(spin)));
            match read {
                Ok(n) => got += n,
                Err(e) if got == 0 => return Err(e),
                Err(_) => return Ok(got as isize),
            }
            // Destroyed meanwhile (`AIOPOLL_IOC_DESTROY`): what was reaped, else `EINVAL`, as
            // fs/aio's `aio_read_events()` answers on a dead context.
            if self.is_destroyed() {
                return if got > 0 {
                    Ok(got as isize)
                } else {
                    Err(EINVAL)
                };
            }
            let remaining = left(&start);
            if got >= min_nr || remaining == Some(0) {
                return Ok(got as isize);
            }
            if self.has_iopoll() {
                // Polled I/O pending: spin on the device instead of sleeping (its completions
                // come from our polling), until min_nr, the deadline, or a signal.
                if kernel::current!().signal_pending() {
                    return Ok(got as isize);
                }
                spin = true;
                sys::cond_resched();
                continue;
            }
            // Wakes up for new events, for polled I/O submitted meanwhile (which only a
            // reaper completes: see `Context::submit`), and for `AIOPOLL_IOC_DESTROY`.
            let end = self.wait.wait_interruptible(remaining, || {
                // No lock: `wait_interruptible` orders these loads after the waiter is on the
                // queue, and a poster's, submitter's or destroyer's `wake_after_post`/`wake_all`
                // orders its change before its look at the queue (a full barrier on each side).
                ring.has_events() || self.has_iopoll() || self.is_destroyed()
            });
            match end {
                WaitEnd::Done => {}
                WaitEnd::TimedOut if left(&start) != Some(0) => {
                    // A wait in jiffies can end up to one jiffy early (it starts partway into
                    // the current one): by the clock the deadline is still ahead, so wait on.
                }
                WaitEnd::TimedOut => {
                    // Collect what arrived at the deadline, then return.
                    got += events
                        .element::<IoEvent>(got as usize)
                        .and_then(|dst| self.read_ring(ring, dst, nr - got, None))
                        .unwrap_or(0);
                    return Ok(got as isize);
                }
                // The caller turns "interrupted with nothing reaped" into ERESTARTNOHAND.
                WaitEnd::Interrupted => return Ok(got as isize),
            }
        }
    }
}
