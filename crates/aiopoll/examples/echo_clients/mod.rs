// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the echo examples (`echo`, `echo_async`) share: the load generator (client threads
//! that check every echoed byte) and the server's accept step.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters shared by the server and the clients.
#[derive(Default)]
pub struct Counters {
    pub served: AtomicU64,
    pub errors: AtomicU64,
}

/// The message `m` of client `c`: a length from 1 to 1500 bytes, and bytes that depend on
/// both, so that a crossed or shifted echo is caught.
pub fn message(c: usize, m: usize) -> Vec<u8> {
    let len = 1 + (c * 131 + m * 977) % 1500;
    (0..len)
        .map(|i| (i as u64 * 31 + c as u64 * 7 + m as u64 * 13) as u8)
        .collect()
}

/// One client: sends `messages` messages, reads each echo back and compares it.
pub fn client(addr: SocketAddr, c: usize, messages: usize, counters: &Counters) {
    let run = || -> std::io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut back = vec![0; 1500];
        for m in 0..messages {
            let msg = message(c, m);
            s.write_all(&msg)?;
            s.read_exact(&mut back[..msg.len()])?;
            if back[..msg.len()] == msg[..] {
                counters.served.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("client {c}: {e}");
        counters.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `clients` client threads against `addr` and waits for them all.
pub fn run_clients(addr: SocketAddr, clients: usize, messages: usize, counters: &Arc<Counters>) {
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let counters = counters.clone();
            std::thread::spawn(move || client(addr, c, messages, &counters))
        })
        .collect();
    for h in handles {
        if h.join().is_err() {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Accepts one connection, non-blocking and without Nagle's delay; None when none is waiting
/// (or accept failed, counted in `errors`).
pub fn accept_one(listener: &TcpListener, errors: &mut u64) -> Option<TcpStream> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(true).is_err() {
                    *errors += 1;
                    continue;
                }
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) => {
                eprintln!("accept: {e}");
                *errors += 1;
                return None;
            }
        }
    }
}

/// A loopback listener, non-blocking, on a port the system picks.
pub fn listen() -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, addr))
}

/// The value of option `name` from `it`, a number.
pub fn number(it: &mut impl Iterator<Item = String>, name: &str) -> Result<usize, String> {
    it.next()
        .and_then(|v| v.parse().ok())
        .ok_or(format!("{name} needs a number"))
}
