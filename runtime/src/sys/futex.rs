//! Waiting on a 32-bit word of shared memory, and waking its waiters.
//!
//! A futex keeps no state of its own in the kernel between calls, so a process that dies while
//! another waits leaves nothing locked behind: the waiter is woken by whoever changes the word
//! next, or by its own time-out. Time-outs are relative (`FUTEX_WAIT` takes a duration), so no
//! absolute deadline can overflow into an invalid `timespec`.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Why [`wait`] returned. Every outcome means "look at the word again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// Woken by [`wake`] (or spuriously).
    Woken,
    /// The word no longer held the expected value when the call started.
    ValueChanged,
    /// The time-out elapsed.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
}

/// Sleeps while `word` holds `expected`, at most `timeout` (forever if `None`).
///
/// The word must live in memory shared with the waking process (not `FUTEX_PRIVATE`).
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let timespec = timeout.map(|t| libc::timespec {
        // Saturate instead of wrapping: a wait of 2^63 seconds is "forever" anyway.
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let timespec_ptr = timespec
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the call;
    // `timespec_ptr` is null or points to a live `timespec` with `tv_nsec < 1e9`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            timespec_ptr,
        )
    };
    if ret == 0 {
        return WaitOutcome::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => WaitOutcome::ValueChanged,
        Some(libc::ETIMEDOUT) => WaitOutcome::TimedOut,
        Some(libc::EINTR) => WaitOutcome::Interrupted,
        // EFAULT/EINVAL cannot happen for a valid aligned word; treat as a spurious wake so
        // the caller re-checks its condition and its own deadline.
        _ => WaitOutcome::Woken,
    }
}

/// Wakes every process sleeping on `word`.
///
/// Async-signal-safe: a single system call, no allocation, no lock.
pub(crate) fn wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE only reads its address.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}
