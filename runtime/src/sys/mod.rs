//! The only place where tandem talks to libc. Everything above this module is safe Rust.
//!
//! Each submodule wraps one kernel facility behind a small safe API and owns its resources
//! (mappings, file descriptors) through RAII types:
//! - [`memfd`]: sealed anonymous shared-memory files (memfd) and their mappings;
//! - [`spawn`]: handing a channel's descriptors to one worker process;
//! - [`futex`]: waiting on and waking a 32-bit word in shared memory;
//! - [`process`]: pidfds, exit statuses, signals sent to other processes;
//! - [`watch`]: death watchers, a thread asleep on a peer's pidfd until it exits;
//! - [`sched`]: the CPUs a thread may run on and runs on, for the wait path;
//! - [`shared_bytes`]: copying out of memory the peer may rewrite while we read it;
//! - [`signal`]: async-signal-safe primitives for the worker monitor.

pub(crate) mod futex;
pub(crate) mod memfd;
pub(crate) mod process;
pub(crate) mod sched;
pub(crate) mod shared_bytes;
pub(crate) mod signal;
pub(crate) mod spawn;
pub(crate) mod watch;

use std::io;

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
