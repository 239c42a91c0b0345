//! One transition as the worker's serve loop hands it to the code that serves it.

use super::wait::WaitStats;
use crate::buffer::{BufferError, ReadBuffer, WriteBuffer};

/// One transition the worker is asked to run.
#[derive(Debug)]
pub struct TransitionRequest<'a> {
    pub(super) kind: u32,
    pub(super) id: u64,
    pub(super) attempt: u32,
    pub(super) keep: bool,
    pub(super) stats: WaitStats,
    pub(super) to_worker: &'a mut ReadBuffer,
    pub(super) from_worker: &'a mut WriteBuffer,
}

impl TransitionRequest<'_> {
    /// Which attempt at the same work this is: 1 for the first, more when the controller
    /// retries it (e.g. after a crash of the previous worker), as it set with
    /// [`ControllerChannel::set_attempt`](crate::ControllerChannel::set_attempt).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The transition kind.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The transition id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The controller's input for this transition, borrowed in place in the controller's
    /// buffer. The worker trusts its controller: it writes its buffer before it posts a
    /// transition and not again until this worker has replied, so the bytes do not change
    /// while the borrow lives. (The controller gives its worker no such trust: it reads
    /// replies through copies only.)
    ///
    /// # Errors
    /// As [`ReadBuffer::bytes`].
    pub fn trusted_input(&mut self) -> Result<&[u8], BufferError> {
        self.to_worker.trusted_bytes()
    }

    /// [`trusted_input`](Self::trusted_input) and the buffer the reply goes into, borrowed
    /// together, so that a view of the input can live while the reply is written.
    ///
    /// # Errors
    /// As [`ReadBuffer::bytes`], in the first element.
    pub fn trusted_input_and_output(&mut self) -> (Result<&[u8], BufferError>, &mut WriteBuffer) {
        (self.to_worker.trusted_bytes(), self.from_worker)
    }

    /// The controller's buffer itself (to inspect its remapping). Test-only.
    #[cfg(feature = "testing")]
    pub fn input_buffer(&mut self) -> &mut ReadBuffer {
        self.to_worker
    }

    /// The buffer the reply goes into.
    pub fn output(&mut self) -> &mut WriteBuffer {
        self.from_worker
    }

    /// Sets the keep flag the controller reads with the reply (false unless set).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// This worker's wait statistics up to this request, the wait that delivered it
    /// included (the channel itself is borrowed while a request is served).
    pub fn wait_stats(&self) -> WaitStats {
        self.stats
    }
}
