//! What a pool hands back: each item's [`ItemResult`], each worker's [`EndOutput`], the
//! [`PoolEvent`]s of failures, restarts and recycling, and its error, [`PoolError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

#[cfg(doc)]
use super::{options::PoolOptions, Pool, PoolStopper};
use crate::channel::ChannelError;

/// A pool failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PoolError {
    /// No worker could be started, or every worker was retired by its breaker.
    #[error("no worker left: {source}")]
    NoWorkers {
        /// The last start failure.
        #[source]
        source: Arc<ChannelError>,
    },
    /// An item failed on every attempt.
    #[error("item {id} failed on all {attempts} attempts: {source}")]
    ItemFailed {
        /// The item's id.
        id: u64,
        /// How many attempts it got.
        attempts: u32,
        /// The last attempt's error (also in that attempt's [`PoolEvent`]).
        #[source]
        source: Arc<ChannelError>,
    },
    /// [`PoolStopper::stop`] interrupted a run; the items still in flight are abandoned:
    /// drop the pool, which ends its workers at once.
    #[error("the pool was stopped before every item was finished")]
    Interrupted,
    /// A worker's thread could not be started.
    #[error("worker {worker} is unusable: {detail}")]
    WorkerGone {
        /// The worker's index.
        worker: usize,
        /// What happened.
        detail: String,
    },
}

/// One item's result, in submission order.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult<O> {
    /// The item's id, as submitted.
    pub id: u64,
    /// The decoded output.
    pub output: O,
    /// The worker's keep flag.
    pub keep: bool,
    /// Which attempt succeeded (1 for the first).
    pub attempt: u32,
    /// Which worker (0-based index) served it.
    pub worker: usize,
    /// The controller-side round trip of the successful attempt.
    pub round_trip: Duration,
}

/// One worker's output of an end-of-block transition.
///
/// A worker's own totals (events counted in the worker, say) cover only what its current
/// process served: a process replaced during the block (a crash restart, a recycling) took
/// its share with it. `processes` says whether that happened: a summary is complete only
/// when it is 1. Summaries that must survive restarts are kept on the controller's side,
/// from the [`ItemResult`]s.
#[derive(Debug)]
pub struct EndOutput<O> {
    /// The worker's index.
    pub worker: usize,
    /// How many processes served this worker's share of the block: 1, plus one for each
    /// restart or recycling since the worker began the block.
    pub processes: u32,
    /// Its output, or why it has none (also in a [`PoolEvent`]).
    pub output: Result<O, Arc<ChannelError>>,
}

impl<O> EndOutput<O> {
    /// Whether one process served the whole block, so that a summary it kept is complete.
    pub fn is_complete(&self) -> bool {
        self.processes == 1 && self.output.is_ok()
    }
}

/// Something that happened to a worker, for the caller's report.
#[derive(Debug, Clone)]
pub struct PoolEvent {
    /// The worker's index.
    pub worker: usize,
    /// The worker process concerned, by the pid the kernel gave it when it was spawned
    /// (none if no process was running).
    pub process: Option<u32>,
    /// The item concerned, if any.
    pub item: Option<u64>,
    /// What happened.
    pub kind: PoolEventKind,
}

/// What a [`PoolEvent`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PoolEventKind {
    /// An attempt at a transition failed: an item, a replayed begin or an end. Every failed
    /// attempt is one event, the last one of an item that fails on every attempt too.
    Failed {
        /// The transition's name.
        transition: &'static str,
        /// Which attempt (1 for the first).
        attempt: u32,
        /// Why.
        error: Arc<ChannelError>,
    },
    /// The worker was replaced by a fresh process after it was lost (or silent too long).
    Restarted,
    /// The worker was replaced proactively, its old process stopped gracefully.
    Recycled {
        /// Why.
        reason: RecycleReason,
    },
    /// A (re)start of the worker failed.
    StartFailed {
        /// Why.
        error: Arc<ChannelError>,
    },
    /// The worker failed to start too often in a row and was retired.
    Retired,
}

/// Why a worker was recycled (see [`PoolOptions::recycle_after_items`] and
/// [`PoolOptions::recycle_above_rss`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecycleReason {
    /// Its process served this many items.
    Items(u64),
    /// Its process's resident memory, in bytes, passed the limit.
    Memory {
        /// The resident memory.
        resident: u64,
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for RecycleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecycleReason::Items(items) => write!(f, "served {items} items"),
            RecycleReason::Memory { resident, limit } => {
                write!(f, "resident memory {resident} bytes over {limit}")
            }
        }
    }
}

impl fmt::Display for PoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {}", self.worker)?;
        if let Some(pid) = self.process {
            write!(f, " (pid {pid})")?;
        }
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        match &self.kind {
            PoolEventKind::Failed {
                transition,
                attempt,
                error,
            } => write!(f, ": `{transition}` attempt {attempt} failed: {error}"),
            PoolEventKind::Restarted => f.write_str(": restarted"),
            PoolEventKind::Recycled { reason } => write!(f, ": recycled ({reason})"),
            PoolEventKind::StartFailed { error } => write!(f, ": start failed: {error}"),
            PoolEventKind::Retired => f.write_str(": retired after repeated start failures"),
        }
    }
}
