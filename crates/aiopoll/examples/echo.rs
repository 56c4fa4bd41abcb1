// SPDX-License-Identifier: MIT OR Apache-2.0
//! A TCP echo server on loopback, driven by aiopoll, with a built-in load generator.
//!
//! The server loop waits for readiness with aiopoll polls (a multishot poll on the listening
//! socket, one-shot polls on the connections) and moves the data with aiopoll reads and
//! writes at offset 0 on the non-blocking sockets. `--epoll` runs the same loop on epoll with
//! read(2)/write(2), for comparison. Client threads send messages and check every echoed
//! byte.
//!
//! ```text
//! echo [--epoll | --both] [--clients N] [--messages M]
//! aiopoll: served 4000 requests, 0 errors in 812.3 ms
//! ```
//!
//! The exit status is 0 when every message came back intact.

mod echo_clients;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiopoll::{Context, Errno, Op, Opcode, PollEvents};
use echo_clients::{accept_one, listen, number, run_clients, Counters};
use rustix::event::{epoll, eventfd, EventfdFlags};

const BUF_SIZE: usize = 4096;
const LISTENER: u64 = u64::MAX;
const STOP: u64 = u64::MAX - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Aiopoll,
    Epoll,
}

struct Args {
    modes: Vec<Mode>,
    clients: usize,
    messages: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        modes: vec![Mode::Aiopoll],
        clients: 50,
        messages: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--epoll" => a.modes = vec![Mode::Epoll],
            "--both" => a.modes = vec![Mode::Aiopoll, Mode::Epoll],
            "--clients" => a.clients = number(&mut it, "--clients")?,
            "--messages" => a.messages = number(&mut it, "--messages")?,
            "-h" | "--help" => {
                return Err("usage: echo [--epoll | --both] [--clients N] [--messages M]".into())
            }
            _ => return Err(format!("unknown argument {arg} (try --help)")),
        }
    }
    Ok(a)
}

/// A connection: its socket and, while a write waits for room, the bytes left to write.
struct Conn {
    stream: TcpStream,
    pending: Option<Vec<u8>>,
    /// epoll server: whether the socket is registered for EPOLLOUT rather than EPOLLIN.
    want_out: bool,
}

/// The aiopoll event loop, until the `stop` eventfd is readable.
fn serve_aiopoll(listener: TcpListener, stop: OwnedFd, max_conns: usize) -> Result<u64, Errno> {
    // One request per connection, the listener's multishot events, the stop poll.
    let ctx = Context::new((max_conns * 2 + 64) as u32)?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = 0u64;
    let mut errors = 0u64;
    let arm_listener = |ctx: &Context| {
        ctx.submit(Op::poll_multishot(listener.as_fd(), PollEvents::IN).with_user_data(LISTENER))
            .map(|_| ())
            .map_err(|e| e.errno())
    };
    arm_listener(&ctx)?;
    ctx.submit(Op::poll(stop.as_fd(), PollEvents::IN).with_user_data(STOP))?;
    'run: loop {
        for c in ctx.wait(1, None)? {
            match c.user_data() {
                STOP => break 'run,
                LISTENER => {
                    if !c.more() {
                        // Ended (EOVERFLOW when the ring was full): arm it again.
                        arm_listener(&ctx)?;
                    }
                    loop {
                        let Some(stream) = accept_one(&listener, &mut errors) else {
                            break;
                        };
                        let id = next_id;
                        next_id += 1;
                        ctx.submit(Op::poll(stream.as_fd(), PollEvents::IN).with_user_data(id))?;
                        conns.insert(
                            id,
                            Conn {
                                stream,
                                pending: None,
                                want_out: false,
                            },
                        );
                    }
                }
                id => {
                    let Some(conn) = conns.get_mut(&id) else {
                        continue;
                    };
                    let fd = conn.stream.as_fd();
                    let next = match (c.opcode(), c.result()) {
                        // Ready: write what is pending, else read.
                        (Opcode::Poll, Ok(_)) => match conn.pending.take() {
                            Some(buf) => Some(Op::write(fd, buf)),
                            None => Some(Op::read(fd, vec![0; BUF_SIZE])),
                        },
                        (Opcode::Read, Ok(0)) => None, // the client closed
                        (Opcode::Read, Ok(n)) => {
                            let mut buf = c.into_buffers().into_single().unwrap_or_default();
                            buf.truncate(n);
                            Some(Op::write(fd, buf))
                        }
                        (Opcode::Read, Err(Errno::AGAIN)) => Some(Op::poll(fd, PollEvents::IN)),
                        (Opcode::Write, Ok(n)) => {
                            let mut buf = c.into_buffers().into_single().unwrap_or_default();
                            if n < buf.len() {
                                buf.drain(..n);
                                Some(Op::write(fd, buf))
                            } else {
                                Some(Op::poll(fd, PollEvents::IN))
                            }
                        }
                        (Opcode::Write, Err(Errno::AGAIN)) => {
                            conn.pending = c.into_buffers().into_single();
                            Some(Op::poll(fd, PollEvents::OUT))
                        }
                        (_, Err(e)) => {
                            if e != Errno::CONNRESET && e != Errno::PIPE {
                                eprintln!("connection {id}: {e}");
                                errors += 1;
                            }
                            None
                        }
                        (op, Ok(_)) => unreachable!("{op:?} is never submitted"),
                    };
                    let keep = match next {
                        Some(op) => {
                            match ctx.submit(op.with_user_data(id)).map_err(|e| e.errno()) {
                                Ok(_) => true,
                                Err(e) => {
                                    eprintln!("connection {id}: submit: {e}");
                                    errors += 1;
                                    false
                                }
                            }
                        }
                        None => false,
                    };
                    if !keep {
                        conns.remove(&id);
                    }
                }
            }
        }
    }
    // Dropping the context cancels the polls still armed and reaps them.
    drop(ctx);
    Ok(errors)
}

/// The same server on epoll, with read(2) and write(2).
fn serve_epoll(listener: TcpListener, stop: OwnedFd) -> Result<u64, Errno> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &ep,
        &listener,
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN,
    )?;
    epoll::add(
        &ep,
        &stop,
        epoll::EventData::new_u64(STOP),
        epoll::EventFlags::IN,
    )?;
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = 0u64;
    let mut errors = 0u64;
    let mut events = vec![
        epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        };
        256
    ];
    let mut buf = vec![0u8; BUF_SIZE];
    'run: loop {
        let n = match epoll::wait(&ep, &mut events[..], None) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        for ev in &events[..n] {
            match ev.data.u64() {
                STOP => break 'run,
                LISTENER => loop {
                    let Some(stream) = accept_one(&listener, &mut errors) else {
                        break;
                    };
                    let id = next_id;
                    next_id += 1;
                    epoll::add(
                        &ep,
                        &stream,
                        epoll::EventData::new_u64(id),
                        epoll::EventFlags::IN,
                    )?;
                    conns.insert(
                        id,
                        Conn {
                            stream,
                            pending: None,
                            want_out: false,
                        },
                    );
                },
                id => {
                    let Some(conn) = conns.get_mut(&id) else {
                        continue;
                    };
                    let mut close = false;
                    let mut pending = conn.pending.take();
                    if pending.is_none() {
                        match rustix::io::read(&conn.stream, &mut buf) {
                            Ok(0) => close = true,
                            Ok(n) => pending = Some(buf[..n].to_vec()),
                            Err(Errno::AGAIN) => {}
                            Err(Errno::CONNRESET) => close = true,
                            Err(e) => {
                                eprintln!("connection {id}: {e}");
                                errors += 1;
                                close = true;
                            }
                        }
                    }
                    if let Some(mut p) = pending.filter(|_| !close) {
                        while !p.is_empty() {
                            match rustix::io::write(&conn.stream, &p) {
                                Ok(n) => {
                                    p.drain(..n);
                                }
                                Err(Errno::AGAIN) => break,
                                Err(e) => {
                                    if e != Errno::PIPE && e != Errno::CONNRESET {
                                        eprintln!("connection {id}: {e}");
                                        errors += 1;
                                    }
                                    close = true;
                                    break;
                                }
                            }
                        }
                        if !p.is_empty() {
                            conn.pending = Some(p);
                        }
                    }
                    // Wait for room to write the rest, else for more input.
                    let want_out = conn.pending.is_some();
                    if !close && want_out != conn.want_out {
                        let flags = if want_out {
                            epoll::EventFlags::OUT
                        } else {
                            epoll::EventFlags::IN
                        };
                        epoll::modify(&ep, &conn.stream, epoll::EventData::new_u64(id), flags)?;
                        conn.want_out = want_out;
                    }
                    if close {
                        let _ = epoll::delete(&ep, &conn.stream);
                        conns.remove(&id);
                    }
                }
            }
        }
    }
    Ok(errors)
}

/// Runs the server in `mode` and the clients; the (served, errors, elapsed) of the run.
fn run(mode: Mode, clients: usize, messages: usize) -> Result<(u64, u64, Duration), String> {
    let (listener, addr) = listen()?;
    let stop = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
        .map_err(|e| format!("eventfd: {e}"))?;
    let stop_server = stop.try_clone().map_err(|e| e.to_string())?;
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let server = std::thread::spawn(move || match mode {
        Mode::Aiopoll => serve_aiopoll(listener, stop_server, clients),
        Mode::Epoll => serve_epoll(listener, stop_server),
    });
    run_clients(addr, clients, messages, &counters);
    rustix::io::write(&stop, &1u64.to_ne_bytes()).map_err(|e| format!("stop: {e}"))?;
    let server_errors = match server.join() {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return Err(format!("server: {e}")),
        Err(_) => return Err("server panicked".into()),
    };
    let elapsed = start.elapsed();
    Ok((
        counters.served.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed) + server_errors,
        elapsed,
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for mode in &args.modes {
        let name = match mode {
            Mode::Aiopoll => "aiopoll",
            Mode::Epoll => "epoll",
        };
        match run(*mode, args.clients, args.messages) {
            Ok((served, errors, elapsed)) => {
                println!(
                    "{name}: served {served} requests, {errors} errors in {:.1} ms",
                    elapsed.as_secs_f64() * 1e3
                );
                ok &= errors == 0 && served == (args.clients * args.messages) as u64;
            }
            Err(e) => {
                println!("{name}: failed: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
