// SPDX-License-Identifier: MIT OR Apache-2.0
//! Helpers shared by the integration tests, which run against the real module.
#![allow(dead_code)]

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use aiopoll::{Completion, Context};

/// Says on stderr, in one write, that `test` is skipped and why: `skipped <test>: <why>`. The
/// guest runner (`scripts/crate.sh`) turns the test's verdict into a TAP `# SKIP` from it;
/// libtest itself cannot tell a skipped test from a passed one.
pub fn report_skip(test: &str, why: &str) {
    // Straight to stderr, as one line: libtest captures only the print macros.
    let _ = std::io::stderr().write_all(format!("skipped {test}: {why}\n").as_bytes());
}

/// Whether the test can run: true when `/dev/aiopoll` exists. Without it the test fails if
/// `AIOPOLL_REQUIRE_DEVICE=1` (as in the VM), and is skipped with a message otherwise.
pub fn device_or_skip(test: &str) -> bool {
    if std::path::Path::new(aiopoll::DEVICE_PATH).exists() {
        return true;
    }
    if std::env::var("AIOPOLL_REQUIRE_DEVICE").as_deref() == Ok("1") {
        panic!(
            "{} is absent and AIOPOLL_REQUIRE_DEVICE=1",
            aiopoll::DEVICE_PATH
        );
    }
    report_skip(
        test,
        &format!("{} is absent (load aiopoll.ko)", aiopoll::DEVICE_PATH),
    );
    false
}

/// The name of the test function this is expanded in, as `<test binary>::<test>`.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn f() {}
        let name = std::any::type_name_of_val(&f);
        name.strip_suffix("::f").unwrap_or(name)
    }};
}

/// Returns from the test when the device is absent (see `device_or_skip`). Every test of
/// the crate that needs `/dev/aiopoll` starts with it.
#[macro_export]
macro_rules! require_device {
    () => {
        if !common::device_or_skip(test_name!()) {
            return;
        }
    };
}

/// Returns from the test, reported as skipped for `why` (see `report_skip`).
#[macro_export]
macro_rules! skip_test {
    ($($why:tt)+) => {{
        common::report_skip(test_name!(), &format!($($why)+));
        return;
    }};
}

pub fn ctx(nr_events: u32) -> Context {
    Context::new(nr_events).expect("Context::new")
}

/// Exactly one completion, waiting up to 5 s.
pub fn wait_one(ctx: &Context) -> Completion {
    let mut v = ctx
        .wait(1, Some(Duration::from_secs(5)))
        .expect("wait for one completion");
    assert_eq!(v.len(), 1, "expected exactly one completion, got {v:?}");
    v.pop().unwrap()
}

/// Waits until `n` completions in total have come (up to 5 s).
pub fn wait_n(ctx: &Context, n: usize) -> Vec<Completion> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while out.len() < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} completions came",
            out.len()
        );
        out.extend(ctx.wait(n - out.len(), Some(left)).expect("wait"));
    }
    assert_eq!(out.len(), n, "more completions than expected: {out:?}");
    out
}

/// A tmpfs file (memfd) of `len` bytes of a known pattern.
pub fn memfd_with(len: usize) -> (OwnedFd, Vec<u8>) {
    let fd = rustix::fs::memfd_create("aiopoll-test", rustix::fs::MemfdFlags::CLOEXEC)
        .expect("memfd_create");
    let data = pattern(len, 7);
    let mut f = std::fs::File::from(fd);
    f.write_all(&data).expect("fill memfd");
    (OwnedFd::from(f), data)
}

/// `len` bytes of a pattern that depends on `seed`.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Reads `len` bytes at `off` with pread(2), to check what the kernel wrote.
pub fn pread(fd: impl AsFd, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    let n = rustix::io::pread(fd, &mut buf, off).expect("pread");
    buf.truncate(n);
    buf
}

/// Whether `fd` is readable now (`poll(2)` with a zero timeout).
pub fn readable(fd: impl AsFd) -> bool {
    let mut p = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut p, Some(&zero)).expect("poll") == 1
}

/// Whether `fd` becomes readable within `ms` milliseconds.
pub fn readable_within(fd: impl AsFd, ms: i64) -> bool {
    let mut p = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let t = rustix::event::Timespec {
        tv_sec: ms / 1000,
        tv_nsec: (ms % 1000) * 1_000_000,
    };
    rustix::event::poll(&mut p, Some(&t)).expect("poll") == 1
}

/// The counter of an eventfd (read(2), so it resets it), or 0 if it is zero (non-blocking).
pub fn eventfd_take(fd: impl AsFd) -> u64 {
    let mut b = [0u8; 8];
    match rustix::io::read(fd, &mut b) {
        Ok(8) => u64::from_ne_bytes(b),
        Ok(n) => panic!("eventfd read of {n} bytes"),
        Err(rustix::io::Errno::AGAIN) => 0,
        Err(e) => panic!("eventfd read: {e}"),
    }
}

/// Whether the pipe of write end `tx` loses its last reader within 5 s (writes fail with
/// EPIPE). The kernel drops a finished poll's file reference asynchronously (a final `fput`
/// from a work item is deferred), so the reader may outlive the request briefly.
pub fn pipe_loses_its_reader(tx: impl AsFd) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match rustix::io::write(&tx, b"x") {
            Err(rustix::io::Errno::PIPE) => {
                let waited = Duration::from_secs(5)
                    - deadline.saturating_duration_since(std::time::Instant::now());
                let _ = writeln!(std::io::stderr(), "pipe lost its reader after {waited:?}");
                return true;
            }
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            r => {
                let _ = writeln!(std::io::stderr(), "pipe write: {r:?}");
                return false;
            }
        }
    }
}

pub fn eventfd_add(fd: impl AsFd, v: u64) {
    assert_eq!(
        rustix::io::write(fd, &v.to_ne_bytes()).expect("eventfd write"),
        8
    );
}
