//! The system call a seccomp filter refused, as the fatal-signal handler read it from its
//! `SIGSYS`: kept in process-wide atomics for the crash hook, which runs next in the same
//! handler. **Async-signal-safe only**, like `handler.rs`.
//!
//! Ordering: the handler stores the number, the architecture and the arguments, then sets
//! [`RECORDED`] (`SeqCst`); [`recorded`] reads [`RECORDED`] first. Only the first crasher
//! records (it owns `CRASHING`), so nothing is written twice.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};

use crate::sys::sandbox::SyscallTrap;
use crate::sys::signal::SignalFrame;

static RECORDED: AtomicBool = AtomicBool::new(false);
static NUMBER: AtomicI32 = AtomicI32::new(0);
static ARCH: AtomicU32 = AtomicU32::new(0);
static ARGS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// AS-safe. Records the refused system call of a seccomp `SIGSYS`; does nothing for any
/// other signal.
pub(super) fn record(frame: SignalFrame<'_>) {
    let Some(trap) = frame.syscall_trap() else {
        return;
    };
    NUMBER.store(trap.number, SeqCst);
    ARCH.store(trap.arch, SeqCst);
    for (slot, arg) in ARGS.iter().zip(trap.args) {
        slot.store(arg, SeqCst);
    }
    RECORDED.store(true, SeqCst);
}

/// AS-safe. The system call a seccomp filter refused in this process, if the fatal-signal
/// handler recorded one (for the crash hook).
pub(crate) fn recorded() -> Option<SyscallTrap> {
    if !RECORDED.load(SeqCst) {
        return None;
    }
    let mut args = [0u64; 6];
    for (arg, slot) in args.iter_mut().zip(&ARGS) {
        *arg = slot.load(SeqCst);
    }
    Some(SyscallTrap {
        number: NUMBER.load(SeqCst),
        arch: ARCH.load(SeqCst),
        args,
    })
}
