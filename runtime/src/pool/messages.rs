//! What the caller's thread and the worker threads send each other: [`Job`]s one way,
//! [`Report`]s the other. Inputs travel encoded; item outputs travel decoded (`O`, the
//! item transition's output type, decoded by the worker thread), end outputs encoded, to be
//! decoded by the caller with the end transition's type.

use std::sync::Arc;
use std::time::Duration;

use super::events::{PoolError, PoolEvent};
use crate::channel::ChannelError;

/// The begins in force, in order (shared, so that an item carries them for the price of a
/// pointer).
pub(crate) type Begins = Arc<Vec<Arc<Begin>>>;

/// A state-establishing input, numbered so that workers can tell which ones they have seen.
#[derive(Debug)]
pub(crate) struct Begin {
    pub(crate) serial: u64,
    pub(crate) kind: u32,
    pub(crate) id: u64,
    pub(crate) input: Vec<u8>,
}

/// An item on its way to a worker.
#[derive(Debug)]
pub(crate) struct PendingItem {
    /// Its place in submission order.
    pub(crate) seq: u64,
    pub(crate) id: u64,
    pub(crate) input: Arc<Vec<u8>>,
    /// The attempt it starts at (more than 1 when a retired worker handed it back).
    pub(crate) attempt: u32,
    /// The begins the worker must have run before this item.
    pub(crate) begins: Begins,
}

/// Work for a worker thread.
#[derive(Debug)]
pub(crate) enum Job {
    Item(PendingItem),
    /// An end-of-block transition, for one worker.
    End {
        kind: u32,
        id: u64,
        input: Arc<Vec<u8>>,
        /// The replay kind whose block it closes, if any.
        closes: Option<u32>,
    },
}

/// An item served.
#[derive(Debug)]
pub(crate) struct Finished<O> {
    pub(crate) output: O,
    pub(crate) keep: bool,
    pub(crate) attempt: u32,
    pub(crate) round_trip: Duration,
}

/// What a worker thread tells the caller's.
#[derive(Debug)]
pub(crate) enum Report<O> {
    Started {
        worker: usize,
        result: Result<(), Arc<ChannelError>>,
    },
    Done {
        worker: usize,
        seq: u64,
        id: u64,
        /// The begins the worker had run for this item.
        synced: Begins,
        result: Result<Finished<O>, PoolError>,
    },
    Event(PoolEvent),
    Ended {
        worker: usize,
        processes: u32,
        result: Result<Vec<u8>, Arc<ChannelError>>,
    },
    /// The worker will serve nothing more; the item it held is back in the queue.
    Retired {
        worker: usize,
        error: Arc<ChannelError>,
    },
    Interrupt,
}

impl<O> Report<O> {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Report::Done { .. })
    }

    /// Whether the caller must see it at once (an event waits for the next wake-up).
    pub(crate) fn is_urgent(&self) -> bool {
        !matches!(self, Report::Done { .. } | Report::Event(_))
    }
}
