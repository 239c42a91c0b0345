//! The crash report's backtrace as the controller holds it: a [`CrashBacktrace`] owns a private
//! copy of what the worker captured (registers, stack bytes) and of the worker's memory map,
//! and resolves it into [`Frame`]s only when first asked (its `Display`, or
//! [`CrashBacktrace::frames`]), so that a crash costs the restart path one copy, not a
//! symbolization.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::frames::{Capture, Frame, Resolution};
use crate::monitor::signal_name;

/// Why a crash report carries no backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoBacktrace {
    /// The channel was created with [`CrashCapture::disabled`](crate::crash::CrashCapture::disabled).
    Disabled,
    /// The worker's handler published nothing: it died before its handler could run, or
    /// another thread's crash was being captured.
    NotCaptured,
    /// The crash happened on an architecture whose machine context tandem does not read.
    UnknownArchitecture,
}

impl fmt::Display for NoBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoBacktrace::Disabled => "crash capture is disabled for this channel",
            NoBacktrace::NotCaptured => {
                "the worker's handler published no capture (it died before the handler ran)"
            }
            NoBacktrace::UnknownArchitecture => {
                "tandem cannot read this architecture's machine context"
            }
        })
    }
}

#[derive(Debug)]
struct Inner {
    signal: i32,
    fault_address: Option<u64>,
    capture: Result<Capture, NoBacktrace>,
    resolved: OnceLock<Resolution>,
}

/// The backtrace of a worker's crashed thread, as [`ChannelError::WorkerCrashed`]
/// carries it: unwound and symbolized in the controller, on first use.
///
/// The worker's fatal-signal handler copied the thread's registers and a bounded slice of
/// its stack into memory shared with the controller; the controller copied them out, with
/// the worker's memory map, before the process died. Unwinding (DWARF CFI, frame pointers as
/// fallback) and symbolizing (function, file and line, inlined frames) happen the first time
/// [`frames`](Self::frames) or `Display` is called, not on the restart path; modules are
/// parsed once per process and reused (see `docs/crash-reports.md`). Cloning is cheap.
///
/// `Display` prints it like Rust's own backtraces:
/// ```text
/// fault address: 0x0
/// stack backtrace (thread 4242):
///    0:     0x5603f1c3a0f4 - crash_backtrace::level_c
///                              at ./tests/crash_backtrace.rs:61:5
///    1:     0x5603f1c3a133 - crash_backtrace::level_b
/// ```
///
/// [`ChannelError::WorkerCrashed`]: crate::ChannelError::WorkerCrashed
#[derive(Clone)]
pub struct CrashBacktrace {
    inner: Arc<Inner>,
}

impl CrashBacktrace {
    pub(crate) fn captured(signal: i32, fault_address: Option<u64>, capture: Capture) -> Self {
        Self::new(signal, fault_address, Ok(capture))
    }

    pub(crate) fn missing(signal: i32, fault_address: Option<u64>, why: NoBacktrace) -> Self {
        Self::new(signal, fault_address, Err(why))
    }

    fn new(signal: i32, fault_address: Option<u64>, capture: Result<Capture, NoBacktrace>) -> Self {
        CrashBacktrace {
            inner: Arc::new(Inner {
                signal,
                fault_address,
                capture,
                resolved: OnceLock::new(),
            }),
        }
    }

    /// The faulting address (`si_addr`) of a SIGSEGV, SIGBUS, SIGILL or SIGFPE raised by the
    /// hardware; `None` for signals sent by a process (e.g. `abort`).
    pub fn fault_address(&self) -> Option<u64> {
        self.inner.fault_address
    }

    /// Why there is no backtrace, or `None` when one was captured.
    pub fn missing_reason(&self) -> Option<&NoBacktrace> {
        self.inner.capture.as_ref().err()
    }

    /// Kernel thread id of the crashed thread, when captured.
    pub fn thread_id(&self) -> Option<u32> {
        self.inner.capture.as_ref().ok().map(|capture| capture.tid)
    }

    /// How many bytes of the crashed thread's stack were copied.
    pub fn stack_bytes(&self) -> usize {
        self.inner
            .capture
            .as_ref()
            .map_or(0, |capture| capture.stack.len())
    }

    /// Whether the frames were resolved already (by an earlier call or `Display`).
    pub fn is_resolved(&self) -> bool {
        self.inner.resolved.get().is_some()
    }

    /// The frames, innermost first: unwinds and symbolizes on the first call (bounded in
    /// frames and time; see the module docs), then returns the same frames. Empty when there
    /// is no backtrace.
    pub fn frames(&self) -> &[Frame] {
        &self.resolution().frames
    }

    fn resolution(&self) -> &Resolution {
        self.inner
            .resolved
            .get_or_init(|| match &self.inner.capture {
                Ok(capture) => super::resolve::resolve(capture),
                Err(_) => Resolution::default(),
            })
    }
}

impl fmt::Debug for CrashBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never resolves: `Debug` of an error must stay cheap.
        let mut debug = f.debug_struct("CrashBacktrace");
        debug.field("signal", &self.inner.signal);
        debug.field("fault_address", &self.inner.fault_address);
        match &self.inner.capture {
            Ok(capture) => debug
                .field("pc", &format_args!("{:#x}", capture.pc))
                .field("sp", &format_args!("{:#x}", capture.sp))
                .field("tid", &capture.tid)
                .field("stack_bytes", &capture.stack.len()),
            Err(why) => debug.field("missing", why),
        };
        if let Some(resolution) = self.inner.resolved.get() {
            debug.field("frames", &resolution.frames.len());
        }
        debug.finish_non_exhaustive()
    }
}

impl fmt::Display for CrashBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(address) = self.inner.fault_address {
            writeln!(f, "fault address: {address:#x}")?;
        }
        let capture = match &self.inner.capture {
            Ok(capture) => capture,
            Err(why) => return write!(f, "no backtrace: {why}"),
        };
        let resolution = self.resolution();
        write!(f, "stack backtrace (thread {}", capture.tid)?;
        if capture.maps_from_setup {
            f.write_str(", memory map from setup")?;
        }
        f.write_str("):")?;
        for (index, frame) in resolution.frames.iter().enumerate() {
            write_frame(f, index, frame)?;
        }
        if resolution.frames.is_empty() {
            write!(
                f,
                "\n  (no frame could be unwound from pc {:#x} after {})",
                capture.pc,
                signal_name(self.inner.signal)
            )?;
        }
        if let Some(note) = &resolution.note {
            write!(f, "\n  note: {note}")?;
        }
        if capture.flags & super::area::FLAG_TRUNCATED != 0 && resolution.frames.len() > 1 {
            write!(
                f,
                "\n  note: {} bytes of stack copied (the bound): outer frames may be missing",
                capture.stack.len()
            )?;
        }
        if capture.stack.is_empty() {
            f.write_str("\n  note: no byte of the stack could be read: the faulting frame only")?;
        }
        Ok(())
    }
}

/// One frame, as `std`'s full backtraces print it.
fn write_frame(f: &mut fmt::Formatter<'_>, index: usize, frame: &Frame) -> fmt::Result {
    const INDENT: &str = "                             ";
    if frame.symbols.is_empty() {
        write!(f, "\n{index:>4}: {:#18x} - <unknown>", frame.address)?;
        if let Some(module) = &frame.module {
            write!(f, " in {module}")?;
        }
        return Ok(());
    }
    for (depth, symbol) in frame.symbols.iter().enumerate() {
        let name = symbol.name.as_deref().unwrap_or("<unknown>");
        if depth == 0 {
            write!(f, "\n{index:>4}: {:#18x} - {name}", frame.address)?;
        } else {
            // A caller the function above was inlined into: same address, no index (as
            // `std` prints it).
            write!(f, "\n{:>4}  {:>18}   {name}", "", "")?;
        }
        if let Some(file) = &symbol.file {
            write!(f, "\n{INDENT}at {file}")?;
            if let Some(line) = symbol.line {
                write!(f, ":{line}")?;
                if let Some(column) = symbol.column {
                    write!(f, ":{column}")?;
                }
            }
        } else if depth == 0 {
            if let Some(module) = &frame.module {
                write!(f, "\n{INDENT}in {module}")?;
            }
        }
    }
    Ok(())
}
