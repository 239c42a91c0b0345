//! The crash segment: one memfd per worker process, created and sealed by the controller next
//! to the control block, into which the worker's fatal-signal handler writes what the
//! controller needs to unwind the faulting thread.
//!
//! Layout: page 0 holds the [`CrashHeader`] (atomics only, mapped by both sides); the stack
//! area follows from [`STACK_OFFSET`] on, `stack_capacity` bytes, which neither side maps:
//! the worker writes it with `pwrite(2)` (a copy that cannot fault, see
//! `sys::crash::copy_memory_to_fd`) and the controller reads it with `pread(2)`.
//!
//! Who writes what, and when:
//! - the controller writes `magic`, `layout_version`, `stack_capacity` and `ack_timeout_ms`
//!   once, at creation, before any worker exists; the worker reads them when it opens the
//!   channel and caches them (a hostile rewrite later cannot enlarge its copy);
//! - the worker's handler claims `state` (`EMPTY` → `CAPTURING`, once per process), writes
//!   the registers, fault and stack fields, then publishes with `state = PUBLISHED`
//!   (`Release`); only after that does the crash hook raise `PEER_GONE`, which wakes the
//!   controller;
//! - the controller reads the fields after it saw `PUBLISHED` (`Acquire`), copies the stack
//!   bytes and the worker's memory map, then stores `ack = 1` and wakes the futex the worker
//!   sleeps on (bounded by `ack_timeout_ms`).
//!
//! A restarted worker gets a fresh segment, so a report can never be taken from an earlier
//! crash; and nothing here is trusted by the controller beyond "bytes to look at": lengths
//! are clamped to what it allocated itself.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use zerocopy::{FromBytes, IntoBytes, KnownLayout};

use crate::sys::crash::REGISTER_SLOTS;
use crate::sys::memfd::{atomics_only, SharedView, PAGE};

/// "TNDMCRSH", little-endian.
pub(crate) const CRASH_MAGIC: u64 = u64::from_le_bytes(*b"TNDMCRSH");
/// Bumped whenever the layout of [`CrashHeader`] changes.
pub(crate) const CRASH_LAYOUT_VERSION: u32 = 1;
/// Where the stack copy starts in the segment.
pub(crate) const STACK_OFFSET: u64 = PAGE as u64;

/// `state`: nothing captured.
pub(crate) const EMPTY: u32 = 0;
/// `state`: a handler is writing the capture.
pub(crate) const CAPTURING: u32 = 1;
/// `state`: the capture is complete and may be read.
pub(crate) const PUBLISHED: u32 = 2;

/// `flags`: `fault_address` holds the signal's `si_addr`.
pub(crate) const FLAG_FAULT_ADDRESS: u32 = 1;
/// `flags`: the stack copy was clamped to the serving thread's known stack end.
pub(crate) const FLAG_CLAMPED_TO_STACK: u32 = 1 << 1;
/// `flags`: the copy stopped at an unreadable page before the size bound.
pub(crate) const FLAG_COPY_SHORT: u32 = 1 << 2;
/// `flags`: the crash happened on the thread that serves transitions.
pub(crate) const FLAG_SERVING_THREAD: u32 = 1 << 3;
/// `flags`: the copy hit the size bound before the stack's end (the backtrace may be cut).
pub(crate) const FLAG_TRUNCATED: u32 = 1 << 4;

/// The crash segment's header. See the module docs for who writes what.
#[repr(C)]
#[derive(Debug, FromBytes, IntoBytes, KnownLayout)]
pub(crate) struct CrashHeader {
    pub(crate) magic: AtomicU64,
    pub(crate) layout_version: AtomicU32,
    /// Size of the stack area, in bytes (0: capture disabled for this channel).
    pub(crate) stack_capacity: AtomicU32,
    /// How long the worker waits for `ack`, in milliseconds.
    pub(crate) ack_timeout_ms: AtomicU32,
    pub(crate) state: AtomicU32,
    /// Futex word: 0 until the controller acknowledged the capture.
    pub(crate) ack: AtomicU32,
    pub(crate) signal: AtomicU32,
    pub(crate) si_code: AtomicU32,
    /// Kernel thread id of the crashing thread.
    pub(crate) tid: AtomicU32,
    pub(crate) flags: AtomicU32,
    /// `sys::crash::ARCH_*`.
    pub(crate) arch: AtomicU32,
    pub(crate) register_count: AtomicU32,
    pub(crate) reserved: AtomicU32,
    pub(crate) fault_address: AtomicU64,
    pub(crate) pc: AtomicU64,
    pub(crate) sp: AtomicU64,
    pub(crate) fp: AtomicU64,
    pub(crate) lr: AtomicU64,
    /// Address (in the worker) of the first byte of the stack copy.
    pub(crate) stack_start: AtomicU64,
    /// Bytes of the stack copy.
    pub(crate) stack_len: AtomicU64,
    pub(crate) registers: [AtomicU64; REGISTER_SLOTS],
}

const _: () = assert!(std::mem::size_of::<CrashHeader>() == 112 + 8 * REGISTER_SLOTS);
const _: () = assert!(std::mem::size_of::<CrashHeader>() <= PAGE);

atomics_only!(CrashHeader {
    magic,
    layout_version,
    stack_capacity,
    ack_timeout_ms,
    state,
    ack,
    signal,
    si_code,
    tid,
    flags,
    arch,
    register_count,
    reserved,
    fault_address,
    pc,
    sp,
    fp,
    lr,
    stack_start,
    stack_len,
    registers,
});

/// A mapped crash header (the first page of the crash segment).
#[derive(Debug)]
pub(crate) struct CrashArea {
    view: SharedView<CrashHeader>,
}

impl CrashArea {
    /// Wraps a read-write mapping at least as large as a header; `None` otherwise.
    pub(crate) fn new(segment: crate::sys::memfd::Segment) -> Option<CrashArea> {
        SharedView::new(segment).map(|view| CrashArea { view })
    }

    /// The memfd behind the area.
    pub(crate) fn segment(&self) -> &crate::sys::memfd::Segment {
        self.view.segment()
    }

    /// The header. No failure path (the crash hook calls this in a signal handler).
    pub(crate) fn header(&self) -> &CrashHeader {
        self.view.get()
    }

    /// Writes the settings of a fresh segment and publishes `magic` last.
    pub(crate) fn initialise(&self, stack_capacity: u32, ack_timeout_ms: u32) {
        let header = self.header();
        header
            .layout_version
            .store(CRASH_LAYOUT_VERSION, Ordering::Relaxed);
        header
            .stack_capacity
            .store(stack_capacity, Ordering::Relaxed);
        header
            .ack_timeout_ms
            .store(ack_timeout_ms, Ordering::Relaxed);
        header.magic.store(CRASH_MAGIC, Ordering::Release);
    }

    /// Whether the header was written by a controller of this layout.
    pub(crate) fn is_compatible(&self) -> bool {
        let header = self.header();
        header.magic.load(Ordering::Acquire) == CRASH_MAGIC
            && header.layout_version.load(Ordering::Acquire) == CRASH_LAYOUT_VERSION
    }
}

/// The size of a crash segment whose stack area holds `stack_capacity` bytes.
pub(crate) fn segment_len(stack_capacity: u32) -> usize {
    PAGE + (stack_capacity as usize).div_ceil(PAGE) * PAGE
}
