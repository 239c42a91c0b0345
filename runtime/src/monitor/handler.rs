//! The fatal-signal handler and the process-wide state it reads.
//!
//! Everything in this file runs, or may run, inside a signal handler: it is
//! **async-signal-safe only**. Anything else belongs in `mod.rs` or `helper.rs`. See the module
//! documentation of [`crate::monitor`] for the protocol and its ordering rules.
//!
//! # What the handler does, and why each step is async-signal-safe
//! A signal can interrupt a thread anywhere, including inside `malloc`, inside a `Mutex` it
//! holds or half-way through a `core::fmt` call, so the handler may only do what cannot
//! re-enter such a state or wait for it:
//!
//! | step | what it uses | why it is safe here |
//! |------|--------------|---------------------|
//! | save and restore `errno` | `__errno_location` | a thread-local slot, no lock; restoring it keeps the interrupted code's `errno` intact |
//! | claim the crash, borrow the crash hook, load the pipe ends | `static` atomics (the hook's slot, `sys::signal::HandlerSlot`, is two of them) | lock-free on every supported target (32-bit and pointer-sized atomics are native instructions), so never a lock the interrupted thread could hold |
//! | the crash hook | a closure behind [`CRASH_HOOK`] | async-signal-safe by the [`CrashHook`](super::CrashHook) contract; the channel's hook stores to atomics in shared memory and makes a `futex` wake syscall |
//! | the stack-overflow line | [`LineBuf`] (128 bytes on the stack) + `write(2)` | no heap, no `core::fmt`: bytes and hex digits are copied by hand |
//! | wake the helper, wait for it | `write(2)`, `poll(2)`, `clock_gettime(2)` | on POSIX's list of async-signal-safe functions; the wait is bounded, so a stuck helper cannot keep the process alive |
//! | die of the signal | `sigaction`, `pthread_sigmask`, `raise`, `_exit` | on POSIX's list (`pthread_sigmask` is a bare `rt_sigprocmask` on Linux) |
//!
//! No code path here can panic: there is no `unwrap`/`expect`, no indexing or slicing that
//! could be out of bounds (`get` instead, with a silent fallback), and no arithmetic that could
//! overflow (saturating, wrapping or checked operations, shift amounts below the width). A
//! panic would be worse than useless: unwinding out of an `extern "C"` function aborts with
//! `SIGABRT`, which hides the signal the controller must see. In a release build the only
//! panicking call in the code [`FatalSignalHandler`] reaches (the crash hook aside, which its
//! contract covers) is that abort-on-unwind guard itself; a
//! debug build adds `core`'s checks for undefined behaviour (null or misaligned dereference),
//! which abort without unwinding and cannot fire on the kernel's arguments.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};

use libc::c_int;

use crate::sys::signal::{self as sys, HandlerSlot, SignalFrame, SignalHandler};

/// `0` while no fatal signal has been handled; otherwise the number of the first one. Set
/// once by the first crashing thread, never reset (the process is dying).
pub(super) static CRASHING: AtomicI32 = AtomicI32::new(0);

/// Write end of the wake pipe of the helper thread, `-1` while no helper runs.
pub(super) static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// Read end of the acknowledgement pipe, `-1` while no helper runs. Never drained: once the
/// helper wrote its byte, every crashing thread sees it readable.
pub(super) static ACK_FD: AtomicI32 = AtomicI32::new(-1);

/// How long a crashing thread waits for the acknowledgement, in milliseconds.
pub(super) static ACK_TIMEOUT_MS: AtomicU32 = AtomicU32::new(2000);

/// Kernel thread id of the helper thread, `0` while no helper runs.
pub(super) static HELPER_TID: AtomicI32 = AtomicI32::new(0);

/// The crash hook, empty when none is set. `set_crash_hook` replaces it; its slot frees a
/// replaced hook only once no handler is running it.
pub(super) static CRASH_HOOK: HandlerSlot<super::CrashHook> = HandlerSlot::new();

/// A fault this close below the interrupted stack pointer counts as a stack overflow: a
/// `call`/`push` faults at `sp - 8` on x86_64, a pre-indexed `stp` at `sp - 16` on aarch64,
/// stack probes at `sp`.
const OVERFLOW_SLACK_BELOW: usize = 4096;
/// ... and this far above it: a frame that was reserved (`sub sp, sp, n`) and is written from
/// the top without probes.
const OVERFLOW_SLACK_ABOVE: usize = 64 * 1024;

/// The handler installed for every monitored signal (behind `sys::signal`'s `SA_SIGINFO`
/// trampoline).
pub(super) struct FatalSignalHandler;

impl SignalHandler for FatalSignalHandler {
    /// Never returns: it ends by re-raising `signal` with the default disposition.
    fn handle(signal: c_int, frame: SignalFrame<'_>) {
        on_fatal_signal(signal, frame)
    }
}

fn on_fatal_signal(signal: c_int, frame: SignalFrame<'_>) -> ! {
    let saved_errno = sys::errno();

    if CRASHING.compare_exchange(0, signal, SeqCst, SeqCst).is_ok() {
        // First crasher. 0. A seccomp violation: the refused call, for the crash hook.
        if signal == libc::SIGSYS {
            super::trap::record(frame);
        }
        // 1. The crash hook: it must run even if the helper is stuck.
        CRASH_HOOK.with(|hook| hook.run(signal, frame));
        // 2. A diagnosis only the handler can make.
        if signal == libc::SIGSEGV || signal == libc::SIGBUS {
            report_stack_overflow(frame.fault_addresses());
        }
        // 3. Flag set above, now wake the helper (set flag, then write).
        let wake = WAKE_FD.load(SeqCst);
        if wake >= 0 && sys::write_all(wake, &[1]) {
            wait_for_ack();
        }
    } else if sys::gettid() != HELPER_TID.load(SeqCst) {
        // A later crasher (another thread, or SIGTERM during a crash): let the first one's
        // action finish, within the same bound, then die of our own signal. The helper thread
        // itself (a crash inside the action) must not wait for its own acknowledgement.
        wait_for_ack();
    }

    sys::set_errno(saved_errno);
    sys::die_of(signal)
}

/// Waits, bounded by [`ACK_TIMEOUT_MS`], until the helper acknowledged the action.
fn wait_for_ack() {
    let ack = ACK_FD.load(SeqCst);
    if ack >= 0 {
        sys::wait_readable(ack, ACK_TIMEOUT_MS.load(SeqCst));
    }
}

/// Writes a stack-overflow diagnosis to stderr when the fault address lies at the interrupted
/// stack pointer. This replaces the message of Rust's own SIGSEGV handler, which the monitor
/// displaced. A heuristic: it can neither see guard pages nor thread names from here.
fn report_stack_overflow(addresses: Option<(usize, usize)>) {
    let Some((addr, sp)) = addresses else { return };
    let low = sp.saturating_sub(OVERFLOW_SLACK_BELOW);
    let high = sp.saturating_add(OVERFLOW_SLACK_ABOVE);
    if addr < low || addr > high {
        return;
    }
    let mut line = LineBuf::new();
    line.push(b"\ntandem: a thread has overflowed its stack (fault address 0x");
    line.push_hex(addr);
    line.push(b")\n");
    sys::write_all(libc::STDERR_FILENO, line.as_bytes());
}

/// A fixed-size, panic-free line builder for messages written from the handler.
struct LineBuf {
    buf: [u8; 128],
    len: usize,
}

impl LineBuf {
    fn new() -> Self {
        LineBuf {
            buf: [0; 128],
            len: 0,
        }
    }

    /// Appends `bytes`, silently truncating at the capacity.
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len = self.len.wrapping_add(1);
            }
        }
    }

    /// Appends `value` in lowercase hexadecimal without leading zeros.
    fn push_hex(&mut self, value: usize) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in (0..usize::BITS / 4).rev() {
            // `shift < BITS / 4`: neither the product nor the shift can overflow; the wrapping
            // forms keep the compiler from emitting a panicking check in debug builds anyway.
            let nibble = value.wrapping_shr(shift.wrapping_mul(4)) & 0xf;
            if nibble != 0 || started || shift == 0 {
                started = true;
                if let Some(&digit) = DIGITS.get(nibble) {
                    self.push(&[digit]);
                }
            }
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::LineBuf;

    #[test]
    fn line_buf_formats_hex_and_truncates() {
        let mut line = LineBuf::new();
        line.push(b"0x");
        line.push_hex(0x7ffd_1234_00a0);
        assert_eq!(line.as_bytes(), b"0x7ffd123400a0");

        let mut zero = LineBuf::new();
        zero.push_hex(0);
        assert_eq!(zero.as_bytes(), b"0");

        let mut full = LineBuf::new();
        full.push(&[b'x'; 200]);
        assert_eq!(full.as_bytes().len(), 128);
    }
}
