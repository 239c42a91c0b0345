//! [`MonitorError`]: what can go wrong installing, running or stopping the monitor.

use std::io;

/// Errors of the [`WorkerMonitor`](super::WorkerMonitor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `start` was called while another monitor runs in this process.
    #[error(
        "a WorkerMonitor is already running in this process: stop or drop it before starting \
         another, or use the running one"
    )]
    AlreadyRunning,
    /// A pipe between the signal handler and the helper thread could not be created.
    #[error("cannot create the monitor's {which} pipe (too many open files?)")]
    Pipe {
        /// Which pipe: "wake" or "acknowledgement".
        which: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `sigaction` refused to install the handler for a signal.
    #[error("cannot install the fatal-signal handler for {signal}: sigaction failed")]
    InstallHandler {
        /// The signal name, e.g. "SIGSEGV".
        signal: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `sigaction` refused to put back the handler that was there before the monitor.
    #[error("cannot restore the previous handler for {signal}: sigaction failed")]
    RestoreHandler {
        /// The signal name, e.g. "SIGSEGV".
        signal: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The fatal signals could not be blocked for the helper thread.
    #[error("cannot block the fatal signals for the monitor's helper thread")]
    SignalMask {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The helper thread could not be spawned.
    #[error("cannot spawn the monitor's helper thread")]
    SpawnHelper {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No alternate signal stack could be mapped or installed for the current thread.
    #[error(
        "cannot install an alternate signal stack for the current thread (needed to handle \
         stack overflows)"
    )]
    AltStack {
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl MonitorError {
    /// A copy, for a channel's broken state (see `ChannelError::duplicate`).
    pub(crate) fn duplicate(&self) -> MonitorError {
        use crate::sys::os_error::duplicate as duplicate_io;
        use MonitorError as E;
        match self {
            E::AlreadyRunning => E::AlreadyRunning,
            E::Pipe { which, source } => E::Pipe {
                which,
                source: duplicate_io(source),
            },
            E::InstallHandler { signal, source } => E::InstallHandler {
                signal,
                source: duplicate_io(source),
            },
            E::RestoreHandler { signal, source } => E::RestoreHandler {
                signal,
                source: duplicate_io(source),
            },
            E::SignalMask { source } => E::SignalMask {
                source: duplicate_io(source),
            },
            E::SpawnHelper { source } => E::SpawnHelper {
                source: duplicate_io(source),
            },
            E::AltStack { source } => E::AltStack {
                source: duplicate_io(source),
            },
        }
    }
}
