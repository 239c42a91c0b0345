//! The only place where tandem talks to libc, and the only place with `unsafe` code:
//! everything above this module is safe Rust, which `unsafe_boundary` (a unit test that scans
//! the other modules' sources) checks. Every libc call goes through [`cvt`] (no wrapper
//! crate: one idiom for all of them). The safe APIs here rest on two documented facts about
//! the peer, both from the trust model (a worker trusts its controller, never the reverse):
//! - a buffer's writer holds `&mut [u8]` over its mapping (`memfd::WriterSegment`) because no
//!   other mapping writes the file: the kernel enforces it for the controller's input
//!   (`F_SEAL_FUTURE_WRITE`); for a worker's reply, its controller maps it read-only;
//! - a worker borrows its input in place (`memfd::Segment::trusted_bytes`) because its
//!   controller writes the input only outside the worker's turn.
//!
//! Shared structures are declared made of atomics with `memfd::atomics_only!`, which checks
//! it at compile time; the fatal-signal handler sees the kernel's arguments only as a
//! `signal::SignalFrame`, and its crash hook sits in a `signal::HandlerSlot`.
//!
//! Each submodule wraps one kernel facility behind a small safe API and owns its resources
//! (mappings, file descriptors) through RAII types:
//! - [`alloc`]: fallible exact allocation and UTF-8 conversion for the decoder;
//! - [`memfd`]: sealed anonymous shared-memory files (memfd) and their mappings;
//! - [`spawn`]: handing descriptors to one child process (a channel's, a standalone buffer's);
//! - [`futex`]: waiting on and waking a 32-bit word in shared memory;
//! - [`process`]: pidfds, exit statuses, signals sent to other processes;
//! - [`watch`]: death watchers, a thread asleep on a peer's pidfd until it exits;
//! - [`sched`]: the CPUs a thread may run on and runs on, for the wait path;
//! - [`shared_bytes`]: copying out of memory the peer may rewrite while we read it;
//! - [`signal`]: async-signal-safe primitives for the worker monitor;
//! - [`crash`]: registers and stack of a crashed thread, the serving thread's stack bounds,
//!   `/proc/<pid>/maps` (crash reports);
//! - [`sandbox`]: `no_new_privs`, resource limits and Landlock at spawn, and the refused
//!   system call of a seccomp `SIGSYS`.

pub(crate) mod alloc;
pub(crate) mod crash;
pub(crate) mod doorbell;
pub(crate) mod futex;
pub(crate) mod memfd;
pub(crate) mod os_error;
pub(crate) mod process;
#[cfg(feature = "tokio")]
pub(crate) mod reactor;
pub(crate) mod sandbox;
pub(crate) mod sched;
pub(crate) mod shared_bytes;
pub(crate) mod signal;
pub(crate) mod spawn;
pub(crate) mod watch;

#[cfg(test)]
mod unsafe_boundary;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Maps the C convention "-1 means failure, errno says why" to `io::Result`: the one funnel
/// of every libc call here. `io::Error::last_os_error` only reads `errno` and does not
/// allocate, so this is async-signal-safe too.
pub(crate) fn cvt<T: MinusOne + PartialEq + Copy>(ret: T) -> io::Result<T> {
    if ret == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Integer types returned by system calls.
pub(crate) trait MinusOne {
    const MINUS_ONE: Self;
}

impl MinusOne for libc::c_int {
    const MINUS_ONE: Self = -1;
}

impl MinusOne for libc::c_long {
    const MINUS_ONE: Self = -1;
}

impl MinusOne for libc::ssize_t {
    const MINUS_ONE: Self = -1;
}

/// `fd`, moved above the standard streams if it landed on one (a process started with a
/// stream closed): a spawned worker's stdio setup would overwrite descriptors 0 to 2
/// before its `pre_exec` runs.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC duplicates our own open fd to the lowest number >= 3.
    let raw = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns; the
    // original is closed when `fd` drops.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
