//! The worker's half of a crash report: what the fatal-signal handler does with the crash
//! segment. Like `monitor/handler.rs`, everything here runs inside a signal handler and is
//! **async-signal-safe only**:
//!
//! | step | what it uses | why it is safe here |
//! |------|--------------|---------------------|
//! | claim the capture | compare-and-swap on `state` in shared memory | lock-free atomic; a second crashing thread finds it taken and leaves |
//! | registers, fault address | reads of the kernel's `ucontext_t` / `siginfo_t` | plain loads of memory the kernel wrote for this handler |
//! | thread id, stack end | `gettid(2)`, `static` atomics written at serve start | a syscall and lock-free loads; no TLS (lazily allocated TLS can call `malloc`) |
//! | the stack copy | `pwrite(2)` from the stack into the segment's fd | on POSIX's AS-safe list; the *kernel* reads our stack, so an unmapped page ends the copy with `EFAULT` instead of a second fault |
//! | publish, then wait for the acknowledgement | `Release` store; `futex(FUTEX_WAIT)` with a time-out, `clock_gettime(2)` | syscalls, bounded by `ack_timeout_ms` |
//!
//! Nothing allocates, locks, formats or unwinds; there is no indexing that could panic and
//! no arithmetic that could overflow (saturating or wrapping forms throughout).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use super::area::{
    CrashArea, CAPTURING, EMPTY, FLAG_CLAMPED_TO_STACK, FLAG_COPY_SHORT, FLAG_FAULT_ADDRESS,
    FLAG_SERVING_THREAD, FLAG_TRUNCATED, PUBLISHED, STACK_OFFSET,
};
use crate::sys::crash as sys;
use crate::sys::memfd::PAGE;
use crate::sys::signal::SignalFrame;

/// Kernel thread id of the thread serving transitions, 0 before it started.
static SERVING_TID: AtomicI32 = AtomicI32::new(0);
/// One past the highest address of that thread's stack, 0 when unknown.
static SERVING_STACK_END: AtomicUsize = AtomicUsize::new(0);

/// How many pages above an unreadable stack pointer the copy tries before it gives up (a
/// stack overflow may leave `sp` inside the guard page, with the frames just above it).
const SKIP_PAGES: usize = 4;

/// Records the calling thread as the one serving transitions, with its stack's end, so a
/// crash on it copies exactly its stack. Ordinary code (not AS-safe): call it before serving.
pub(crate) fn record_serving_thread() {
    let end = sys::current_thread_stack().map_or(0, |(_, high)| high);
    SERVING_STACK_END.store(end, Ordering::SeqCst);
    SERVING_TID.store(crate::sys::signal::gettid(), Ordering::SeqCst);
}

/// The worker's view of its crash segment, with the controller's settings read once.
#[derive(Debug)]
pub(crate) struct WorkerCrashArea {
    area: CrashArea,
    fd: RawFd,
    // INVARIANT: read once at open and never again from shared memory: a later rewrite of
    // the header cannot make the handler write beyond the segment.
    stack_capacity: usize,
    ack_timeout_ms: u32,
}

impl WorkerCrashArea {
    /// Takes the settings out of a compatible header. The segment is at least
    /// `segment_len(stack_capacity)` long (the caller checked its size).
    pub(crate) fn new(area: CrashArea) -> WorkerCrashArea {
        let header = area.header();
        let stack_capacity = header.stack_capacity.load(Ordering::Acquire) as usize;
        let ack_timeout_ms = header.ack_timeout_ms.load(Ordering::Acquire);
        let fd = area.segment().raw_fd();
        WorkerCrashArea {
            area,
            fd,
            stack_capacity,
            ack_timeout_ms,
        }
    }

    /// The stack area's size, as the controller configured it (0: capture disabled).
    pub(crate) fn stack_capacity(&self) -> usize {
        self.stack_capacity
    }

    /// AS-safe. Captures the interrupted thread into the segment and publishes it. Returns
    /// whether this call published a capture (the first crashing thread with capture
    /// enabled); only then should the caller [`wait_for_ack`](Self::wait_for_ack).
    pub(crate) fn capture(&self, signal: i32, frame: SignalFrame<'_>) -> bool {
        if self.stack_capacity == 0 {
            return false;
        }
        let header = self.area.header();
        if header
            .state
            .compare_exchange(EMPTY, CAPTURING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        let tid = crate::sys::signal::gettid();
        let (code, fault) = frame.fault();
        let mut flags = 0;
        if let Some(address) = fault {
            header.fault_address.store(address, Ordering::Relaxed);
            flags |= FLAG_FAULT_ADDRESS;
        }
        if let Some(regs) = frame.machine_registers() {
            header.arch.store(regs.arch, Ordering::Relaxed);
            header.pc.store(regs.pc, Ordering::Relaxed);
            header.sp.store(regs.sp, Ordering::Relaxed);
            header.fp.store(regs.fp, Ordering::Relaxed);
            header.lr.store(regs.lr, Ordering::Relaxed);
            header.register_count.store(regs.count, Ordering::Relaxed);
            for (slot, value) in header.registers.iter().zip(regs.all.iter()) {
                slot.store(*value, Ordering::Relaxed);
            }
            flags |= self.copy_stack(regs.sp as usize, tid);
        }
        header.signal.store(signal as u32, Ordering::Relaxed);
        header.si_code.store(code as u32, Ordering::Relaxed);
        header.tid.store(tid as u32, Ordering::Relaxed);
        header.flags.store(flags, Ordering::Relaxed);
        // Publish: everything above happens-before a reader's `Acquire` load of PUBLISHED.
        header.state.store(PUBLISHED, Ordering::Release);
        true
    }

    /// AS-safe. Copies the stack from `sp` upwards into the segment (clamped to the serving
    /// thread's stack end when `tid` serves, to the capacity otherwise) and records where the
    /// copy starts and how long it is. Returns the `FLAG_*` bits describing the copy.
    fn copy_stack(&self, sp: usize, tid: i32) -> u32 {
        let header = self.area.header();
        let mut flags = 0;
        let mut want = self.stack_capacity;
        if tid == SERVING_TID.load(Ordering::SeqCst) {
            flags |= FLAG_SERVING_THREAD;
            let end = SERVING_STACK_END.load(Ordering::SeqCst);
            if end > sp {
                let left = end.wrapping_sub(sp);
                if left <= want {
                    want = left;
                    flags |= FLAG_CLAMPED_TO_STACK;
                } else {
                    flags |= FLAG_TRUNCATED;
                }
            }
        }
        let mut start = sp;
        let mut copied = sys::copy_memory_to_fd(self.fd, STACK_OFFSET, start, want);
        // An overflow can leave `sp` in the guard page: retry from the next page boundaries.
        let mut skipped = 0;
        while copied == 0 && skipped < SKIP_PAGES {
            skipped = skipped.wrapping_add(1);
            let next = (sp | (PAGE - 1))
                .wrapping_add(1)
                .wrapping_add(skipped.wrapping_sub(1).wrapping_mul(PAGE));
            let Some(skip) = next.checked_sub(sp) else {
                break;
            };
            if skip >= want {
                break;
            }
            start = next;
            copied = sys::copy_memory_to_fd(self.fd, STACK_OFFSET, start, want.wrapping_sub(skip));
        }
        if copied < want && flags & FLAG_CLAMPED_TO_STACK != 0 {
            flags |= FLAG_COPY_SHORT;
        }
        if copied == want && flags & FLAG_SERVING_THREAD == 0 {
            flags |= FLAG_TRUNCATED;
        }
        header.stack_start.store(start as u64, Ordering::Relaxed);
        header.stack_len.store(copied as u64, Ordering::Relaxed);
        flags
    }

    /// AS-safe. Waits, bounded by the controller's `ack_timeout_ms`, until the controller
    /// acknowledged the capture (it reads this process's memory map meanwhile).
    pub(crate) fn wait_for_ack(&self) {
        sys::futex_wait_bounded(&self.area.header().ack, 0, self.ack_timeout_ms);
    }
}
