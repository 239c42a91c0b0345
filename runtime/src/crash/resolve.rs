//! Turning a [`Capture`] into frames, in the controller, off the restart path.
//!
//! With the `backtrace` feature (default) the work runs on one symbolizer thread per
//! controller process (`tandem-symbolize`, started on first use), which owns the parsed
//! modules: unwind tables and debug info are read once per file (keyed by path, device and
//! inode, so a rebuilt binary is read again) and reused for every later crash. The caller
//! waits for the answer at most [`RESOLVE_TIME_BOUND`](super::frames::RESOLVE_TIME_BOUND); past it, it reports the program
//! counter alone and a note (the thread finishes in the background and keeps what it
//! parsed). Without the feature, the report names the program counter and its module.
//!
//! Bounds against a hostile worker, whose registers and stack bytes are only numbers to
//! look up: at most [`MAX_FRAMES`](super::frames::MAX_FRAMES) frames, stack reads only inside the copy the controller
//! owns, modules only from the kernel's memory map (regular files, at most
//! `MAX_CACHED_MODULES` kept), and the time bound above.

use super::frames::{Capture, Resolution};

/// Resolves `capture` into frames (see the module docs).
pub(crate) fn resolve(capture: &Capture) -> Resolution {
    #[cfg(feature = "backtrace")]
    {
        super::unwind::resolve(capture)
    }
    #[cfg(not(feature = "backtrace"))]
    {
        super::frames::pc_only(
            capture,
            Some("built without tandem's `backtrace` feature: program counter only".to_owned()),
        )
    }
}
