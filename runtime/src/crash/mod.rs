//! Crash reports that say where: the faulting thread's backtrace, captured in the worker's
//! fatal-signal handler and unwound and symbolized in the controller.
//!
//! # Protocol
//! 1. The controller creates a crash segment per worker process (`area.rs`: a sealed memfd,
//!    `tandem:<base>:<id>:crash`, a header page and a stack area of
//!    [`CrashCapture::max_stack_bytes`]), hands it over with the channel's other descriptors
//!    and, after the handshake, keeps a snapshot of the worker's `/proc/<pid>/maps`.
//! 2. The worker records the serving thread's stack bounds when it starts serving.
//! 3. On a fatal signal, the first crashing thread's handler (`capture.rs`, async-signal-safe)
//!    copies the registers, the fault address and `[sp, min(sp + bound, stack end))` into the
//!    segment, publishes it (`Release`), then the channel's crash hook records the signal and
//!    wakes the controller; the handler then waits, bounded, for the acknowledgement.
//! 4. The controller, woken in its transition wait, copies the capture out (lengths clamped to
//!    what it allocated), reads the worker's memory map while the worker is parked (falling
//!    back to the setup snapshot when it is gone already), and acknowledges: the worker
//!    re-raises its signal and dies as before.
//! 5. The [`CrashBacktrace`] in [`ChannelError::WorkerCrashed`](crate::ChannelError::WorkerCrashed)
//!    is resolved into frames only when first displayed or asked for (`resolve.rs`,
//!    `unwind.rs`), on a symbolizer thread that caches parsed modules.
//!
//! `docs/crash-reports.md` gives the async-signal-safety argument and the bounds in full.

mod area;
mod capture;
mod frames;
mod maps;
mod report;
mod resolve;
#[cfg(feature = "backtrace")]
mod unwind;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use area::{segment_len, CrashArea};
pub(crate) use capture::{record_serving_thread, WorkerCrashArea};
pub use frames::{Frame, Symbol};
pub use report::{CrashBacktrace, NoBacktrace};

use area::{FLAG_FAULT_ADDRESS, PUBLISHED, STACK_OFFSET};
use frames::Capture;

/// The largest stack slice a worker may copy: 1 MiB.
pub const MAX_STACK_BYTES: u32 = 1 << 20;

/// Settings of crash capture for one channel: whether a crashing worker copies its faulting
/// thread's registers and stack for a backtrace, how much stack, and how long it waits for
/// the controller. Given to the channel's [`Options::crash_capture`]; the controller writes
/// them into the crash segment, where the worker reads them.
///
/// The default captures up to 64 KiB of stack and waits up to 1 s for the controller's
/// acknowledgement.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tandem::crash::CrashCapture;
///
/// let deep = CrashCapture::new().max_stack_bytes(256 << 10).ack_timeout(Duration::from_millis(500));
/// assert!(deep.is_enabled());
/// let off = CrashCapture::disabled();
/// assert!(!off.is_enabled());
/// ```
///
/// [`Options::crash_capture`]: crate::Options::crash_capture
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct CrashCapture {
    pub(crate) max_stack_bytes: u32,
    ack_timeout: Duration,
}

impl Default for CrashCapture {
    fn default() -> Self {
        CrashCapture {
            max_stack_bytes: 64 << 10,
            ack_timeout: Duration::from_secs(1),
        }
    }
}

impl CrashCapture {
    /// Capture enabled, with the default bounds (64 KiB of stack, 1 s acknowledgement wait).
    pub fn new() -> Self {
        Self::default()
    }

    /// No capture: a crash report says "no backtrace: crash capture is disabled".
    pub fn disabled() -> Self {
        CrashCapture {
            max_stack_bytes: 0,
            ..Self::default()
        }
    }

    /// How many bytes of the faulting thread's stack, from its stack pointer up, the worker
    /// copies (less when the thread's stack ends sooner). Deeper stacks are cut there: the
    /// backtrace then ends early. At most [`MAX_STACK_BYTES`] (larger values are clamped); 0
    /// disables capture.
    pub fn max_stack_bytes(mut self, bytes: u32) -> Self {
        self.max_stack_bytes = bytes.min(MAX_STACK_BYTES);
        self
    }

    /// How long a crashing worker waits, parked in its signal handler, for the controller to
    /// read its memory map (default 1 s). The controller acknowledges at once when it is
    /// waiting for a transition; a crash between transitions waits the whole bound.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Whether a crashing worker captures anything.
    pub fn is_enabled(&self) -> bool {
        self.max_stack_bytes > 0
    }

    pub(crate) fn ack_timeout_ms(&self) -> u32 {
        u32::try_from(self.ack_timeout.as_millis()).unwrap_or(u32::MAX)
    }
}

/// The controller's half after a crash: copies the capture out of `area` (never more than
/// `capture.max_stack_bytes`), reads the memory map of `pid` (an unreaped child, so the pid
/// is still the worker's) or falls back to `setup_maps`, then acknowledges so the worker may
/// die. Cheap: one copy of at most the stack bound and one read of the map; nothing is
/// parsed here.
pub(crate) fn collect(
    area: &CrashArea,
    settings: &CrashCapture,
    signal: i32,
    pid: Option<u32>,
    setup_maps: Option<&Arc<str>>,
) -> CrashBacktrace {
    let header = area.header();
    if header.state.load(Ordering::Acquire) != PUBLISHED {
        let why = if settings.is_enabled() {
            NoBacktrace::NotCaptured
        } else {
            NoBacktrace::Disabled
        };
        return CrashBacktrace::missing(signal, None, why);
    }
    let flags = header.flags.load(Ordering::Relaxed);
    let fault_address =
        (flags & FLAG_FAULT_ADDRESS != 0).then(|| header.fault_address.load(Ordering::Relaxed));
    let arch = header.arch.load(Ordering::Relaxed);
    let capacity = settings.max_stack_bytes as usize;
    // Read the length once, clamp it to what this side allocated, then copy.
    let len = usize::try_from(header.stack_len.load(Ordering::Relaxed))
        .unwrap_or(usize::MAX)
        .min(capacity);
    let mut stack = vec![0u8; len];
    let read =
        crate::sys::crash::read_at(area.segment().raw_fd(), STACK_OFFSET, &mut stack).unwrap_or(0);
    stack.truncate(read);
    let live_maps = pid
        .and_then(|pid| crate::sys::crash::read_maps(pid, maps::MAX_MAPS_BYTES).ok())
        .filter(|text| !text.is_empty());
    // The worker may go now: everything it wrote has been copied.
    header.ack.store(1, Ordering::SeqCst);
    crate::sys::futex::wake_all(&header.ack);
    if arch == crate::sys::crash::ARCH_UNKNOWN {
        return CrashBacktrace::missing(signal, fault_address, NoBacktrace::UnknownArchitecture);
    }
    let (maps, maps_from_setup) = match live_maps {
        Some(text) => (Arc::from(text), false),
        None => (setup_maps.cloned().unwrap_or_else(|| Arc::from("")), true),
    };
    CrashBacktrace::captured(
        signal,
        fault_address,
        Capture {
            arch,
            pc: header.pc.load(Ordering::Relaxed),
            sp: header.sp.load(Ordering::Relaxed),
            fp: header.fp.load(Ordering::Relaxed),
            lr: header.lr.load(Ordering::Relaxed),
            tid: header.tid.load(Ordering::Relaxed),
            flags,
            stack_start: header.stack_start.load(Ordering::Relaxed),
            stack,
            maps,
            maps_from_setup,
        },
    )
}

/// Reads the memory map of the worker `pid` after its handshake, as the fallback for a
/// crash the controller learns of only after the worker is gone.
pub(crate) fn setup_snapshot(pid: u32) -> Option<Arc<str>> {
    crate::sys::crash::read_maps(pid, maps::MAX_MAPS_BYTES)
        .ok()
        .map(Arc::from)
}
