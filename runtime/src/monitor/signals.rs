//! The fatal signals the monitor handles, and the names of Linux signals.

use std::fmt;

/// The signals the monitor handles, in installation order.
pub(super) const MONITORED: [FatalSignal; 7] = [
    FatalSignal::Abort,
    FatalSignal::IllegalInstruction,
    FatalSignal::Bus,
    FatalSignal::SegmentationFault,
    FatalSignal::FloatingPointException,
    FatalSignal::Terminate,
    FatalSignal::BadSystemCall,
];

/// [`MONITORED`] as raw numbers (the signal mask of the handlers and the helper thread).
pub(super) const MONITORED_RAW: [i32; 7] = [
    libc::SIGABRT,
    libc::SIGILL,
    libc::SIGBUS,
    libc::SIGSEGV,
    libc::SIGFPE,
    libc::SIGTERM,
    libc::SIGSYS,
];

/// A signal the [`WorkerMonitor`](super::WorkerMonitor) handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FatalSignal {
    /// `SIGABRT`: `abort()`, failed C assertions, Rust aborts.
    Abort,
    /// `SIGILL`: illegal instruction (also `ud2`, e.g. from `core::intrinsics::abort`).
    IllegalInstruction,
    /// `SIGBUS`: bus error, e.g. touching a truncated memory-mapped file.
    Bus,
    /// `SIGSEGV`: invalid memory access, including stack overflow.
    SegmentationFault,
    /// `SIGFPE`: arithmetic exception, e.g. integer division by zero.
    FloatingPointException,
    /// `SIGTERM`: polite termination request from outside.
    Terminate,
    /// `SIGSYS`: a system call the worker's seccomp filter refuses (see
    /// [`Sandbox`](crate::Sandbox)), or a bad system call number.
    BadSystemCall,
}

impl FatalSignal {
    /// The signal for a raw number, if it is one the monitor handles.
    pub fn from_raw(signal: i32) -> Option<FatalSignal> {
        MONITORED.into_iter().find(|s| s.as_raw() == signal)
    }

    /// The raw signal number (`SIGSEGV` is 11 on Linux).
    pub fn as_raw(self) -> i32 {
        match self {
            FatalSignal::Abort => libc::SIGABRT,
            FatalSignal::IllegalInstruction => libc::SIGILL,
            FatalSignal::Bus => libc::SIGBUS,
            FatalSignal::SegmentationFault => libc::SIGSEGV,
            FatalSignal::FloatingPointException => libc::SIGFPE,
            FatalSignal::Terminate => libc::SIGTERM,
            FatalSignal::BadSystemCall => libc::SIGSYS,
        }
    }

    /// The conventional name, e.g. `"SIGSEGV"`.
    pub fn name(self) -> &'static str {
        signal_name(self.as_raw())
    }
}

impl fmt::Display for FatalSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The conventional name of a Linux signal number, e.g. `signal_name(11) == "SIGSEGV"`;
/// `"unknown signal"` for numbers without one (real-time signals included).
///
/// Meant for `Display` impls of other layers, e.g. "worker 3 was killed by SIGSEGV".
///
/// # Examples
/// ```
/// assert_eq!(tandem::monitor::signal_name(6), "SIGABRT");
/// assert_eq!(tandem::monitor::signal_name(9), "SIGKILL");
/// ```
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => "unknown signal",
    }
}
