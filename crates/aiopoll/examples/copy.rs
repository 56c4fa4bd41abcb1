// SPDX-License-Identifier: MIT OR Apache-2.0
//! Copies a file with several aiopoll reads and writes in flight, then fsyncs the copy.
//!
//! ```text
//! copy SRC DST [--depth N] [--block-size BYTES]
//! copied 1048576 bytes in 12.3 ms (depth 8, blocks of 65536)
//! ```
//!
//! Each block is read into an owned buffer; the read's completion gives the buffer back, and
//! the same buffer is then written at the same offset of DST. Short reads and writes are
//! continued where they stopped. The exit status is 0 when the copy and the fsync succeeded.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Instant;

use aiopoll::{Context, Op, Opcode};

struct Args {
    src: String,
    dst: String,
    depth: usize,
    block: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: copy SRC DST [--depth N] [--block-size BYTES]";
    let mut paths = Vec::new();
    let (mut depth, mut block) = (8, 64 * 1024);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--depth" => depth = num("--depth")?,
            "--block-size" => block = num("--block-size")?,
            "-h" | "--help" => return Err(usage.into()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{usage}")),
            _ => paths.push(arg),
        }
    }
    match <[String; 2]>::try_from(paths) {
        Ok([src, dst]) => Ok(Args {
            src,
            dst,
            depth,
            block,
        }),
        Err(_) => Err(usage.into()),
    }
}

fn copy(a: &Args) -> Result<u64, String> {
    let src = File::open(&a.src).map_err(|e| format!("{}: {e}", a.src))?;
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&a.dst)
        .map_err(|e| format!("{}: {e}", a.dst))?;
    let size = src.metadata().map_err(|e| format!("{}: {e}", a.src))?.len();
    let ctx = Context::new(a.depth as u32 + 1).map_err(|e| format!("aiopoll: {e}"))?;
    let depth = a.depth.min(ctx.capacity());

    // Byte ranges still to read, and buffers to reuse.
    let mut to_read: VecDeque<(u64, usize)> = (0..size)
        .step_by(a.block)
        .map(|off| (off, (size - off).min(a.block as u64) as usize))
        .collect();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut written = 0u64;
    while written < size {
        // Keep `depth` requests in flight.
        while ctx.in_flight() < depth {
            let Some((off, len)) = to_read.pop_front() else {
                break;
            };
            let mut buf = spare.pop().unwrap_or_default();
            buf.resize(len, 0);
            ctx.submit(
                Op::read(src.as_fd(), buf)
                    .with_offset(off)
                    .with_user_data(off),
            )
            .map_err(|e| format!("submit read: {}", e.errno()))?;
        }
        if ctx.in_flight() == 0 {
            return Err(format!("{}: shorter than its size {size}", a.src));
        }
        for c in ctx.wait(1, None).map_err(|e| format!("wait: {e}"))? {
            let off = c.user_data();
            let op = c.opcode();
            let n = c
                .result()
                .map_err(|e| format!("{op:?} at offset {off}: {e}"))?;
            let mut buf = c.into_buffers().into_single().unwrap_or_default();
            match op {
                Opcode::Read if n == 0 => {
                    return Err(format!("{}: end of file at {off} of {size}", a.src))
                }
                Opcode::Read => {
                    if n < buf.len() {
                        // A short read: the rest of the range later.
                        to_read.push_front((off + n as u64, buf.len() - n));
                        buf.truncate(n);
                    }
                    ctx.submit(
                        Op::write(dst.as_fd(), buf)
                            .with_offset(off)
                            .with_user_data(off),
                    )
                    .map_err(|e| format!("submit write: {}", e.errno()))?;
                }
                Opcode::Write => {
                    written += n as u64;
                    if n < buf.len() {
                        buf.drain(..n);
                        let off = off + n as u64;
                        ctx.submit(
                            Op::write(dst.as_fd(), buf)
                                .with_offset(off)
                                .with_user_data(off),
                        )
                        .map_err(|e| format!("submit write: {}", e.errno()))?;
                    } else {
                        spare.push(buf);
                    }
                }
                _ => unreachable!("only reads and writes are submitted here"),
            }
        }
    }
    ctx.submit(Op::fsync(dst.as_fd()))
        .map_err(|e| format!("submit fsync: {}", e.errno()))?;
    let c = ctx.wait(1, None).map_err(|e| format!("wait: {e}"))?;
    c[0].result().map_err(|e| format!("fsync {}: {e}", a.dst))?;
    Ok(written)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    match copy(&args) {
        Ok(n) => {
            println!(
                "copied {n} bytes in {:.1} ms (depth {}, blocks of {})",
                start.elapsed().as_secs_f64() * 1e3,
                args.depth,
                args.block
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("copy: {e}");
            ExitCode::FAILURE
        }
    }
}
