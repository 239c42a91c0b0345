//! What a backtrace is made of: the [`Capture`] the controller copied out of the worker, and
//! the [`Frame`]s and [`Symbol`]s it resolves into. Both the report and the resolvers use
//! them, so they live apart from either.

use std::sync::Arc;
use std::time::Duration;

use super::maps;

/// One frame of a [`CrashBacktrace`](crate::crash::CrashBacktrace): a code address in the worker, the module it lies in and
/// the functions at it (several when calls were inlined there, innermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub(crate) address: u64,
    pub(crate) module: Option<String>,
    pub(crate) symbols: Vec<Symbol>,
}

impl Frame {
    /// The instruction address (frame 0) or return address (callers) in the worker.
    pub fn address(&self) -> u64 {
        self.address
    }

    /// The path of the module (executable or shared library) the address lies in, as the
    /// worker's memory map named it.
    pub fn module(&self) -> Option<&str> {
        self.module.as_deref()
    }

    /// The functions at this address, innermost (inlined) first; empty when nothing could
    /// be symbolized.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The name of the innermost function, when known.
    pub fn function(&self) -> Option<&str> {
        self.symbols.first().and_then(Symbol::name)
    }
}

/// A function at a [`Frame`]'s address, with its source location when debug info has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub(crate) name: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) column: Option<u32>,
}

impl Symbol {
    /// The demangled function name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The source file.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The source line.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The source column.
    pub fn column(&self) -> Option<u32> {
        self.column
    }
}

/// What the controller copied out of the crash segment and the worker's `/proc`, private to
/// it (the worker cannot change it any more).
#[derive(Debug)]
#[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
pub(crate) struct Capture {
    pub(crate) arch: u32,
    pub(crate) pc: u64,
    pub(crate) sp: u64,
    pub(crate) fp: u64,
    pub(crate) lr: u64,
    pub(crate) tid: u32,
    pub(crate) flags: u32,
    pub(crate) stack_start: u64,
    pub(crate) stack: Vec<u8>,
    /// The text of `/proc/<pid>/maps`, read while the worker was parked, or at setup.
    pub(crate) maps: Arc<str>,
    /// Whether `maps` is the snapshot taken at setup (the worker was gone already).
    pub(crate) maps_from_setup: bool,
}

/// Frames and any note about how resolving them went.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    pub(crate) frames: Vec<Frame>,
    /// Why the list may be incomplete (unwinding stopped, time bound hit, ...).
    pub(crate) note: Option<String>,
}

/// At most this many frames are unwound.
#[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
pub(crate) const MAX_FRAMES: usize = 128;
/// How long resolving a backtrace may take before the report settles for less.
#[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
pub(crate) const RESOLVE_TIME_BOUND: Duration = Duration::from_secs(10);

/// The program counter as the only frame, with its module, and `note`.
pub(crate) fn pc_only(capture: &Capture, note: Option<String>) -> Resolution {
    let entries = maps::parse(&capture.maps);
    let module = maps::find(&entries, capture.pc)
        .filter(|entry| !entry.path.is_empty())
        .map(|entry| entry.path.clone());
    Resolution {
        frames: vec![Frame {
            address: capture.pc,
            module,
            symbols: Vec::new(),
        }],
        note,
    }
}
