//! How the controller learns that its worker died: a watcher thread for blocking waits, or
//! the pidfd an async wait registers with its reactor.

use std::sync::Arc;

use crate::sys::process::{ExitReason, PidFd};
use crate::sys::watch::DeathWatcher;

/// How the controller learns that its worker died.
#[derive(Debug)]
pub(super) enum Watch {
    /// A death-watcher thread raises `PEER_GONE` (and wakes the futex) the moment it dies:
    /// what blocking waits need.
    Thread(DeathWatcher),
    /// No thread: an async wait registers the pidfd with its reactor and raises `PEER_GONE`
    /// itself when the pidfd turns readable.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Pidfd {
        pid: i32,
        pidfd: Arc<PidFd>,
        exit: std::sync::OnceLock<Option<ExitReason>>,
    },
}

impl Watch {
    pub(super) fn pid(&self) -> i32 {
        match self {
            Watch::Thread(watcher) => watcher.pid(),
            Watch::Pidfd { pid, .. } => *pid,
        }
    }

    pub(super) fn exit(&self) -> Option<Option<ExitReason>> {
        match self {
            Watch::Thread(watcher) => watcher.exit(),
            Watch::Pidfd { pidfd, exit, .. } => {
                exit.get().copied().or_else(|| pidfd.peek_exit().map(Some))
            }
        }
    }
}

/// Whether a worker process runs, and how it ended if it did ([`Controller::worker_status`](crate::Controller::worker_status)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerStatus {
    /// No worker was started yet, or it still runs.
    Running,
    /// It ended, as its status says.
    Ended(ExitReason),
    /// It ended, but its status cannot be read (it was not a child of this process).
    EndedUnknown,
}

impl WorkerStatus {
    /// Whether it ended, whatever the status.
    pub fn has_ended(self) -> bool {
        self != WorkerStatus::Running
    }

    /// How it ended, when known.
    pub fn exit_reason(self) -> Option<ExitReason> {
        match self {
            WorkerStatus::Ended(reason) => Some(reason),
            _ => None,
        }
    }
}
