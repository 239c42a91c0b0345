//! [`Reply`]: what a completed transition returned, as the controller reads it.

use super::error::{ChannelError, UnusableReason, Violation};
use crate::buffer::{BufferError, ReadBuffer};
use crate::sys::shared_bytes::SharedBytes;

/// What a completed transition returned: the worker's buffer and keep flag.
///
/// The worker's bytes come out only as copies ([`bytes`](Self::bytes),
/// [`to_vec`](Self::to_vec)): the controller does not trust its worker, which could rewrite
/// them at any moment.
#[derive(Debug)]
pub struct Reply<'a> {
    pub(super) from_worker: &'a mut ReadBuffer,
    pub(super) keep: bool,
    /// Set when the worker's buffer breaks the protocol: the channel's broken state.
    pub(super) broken: &'a mut Option<UnusableReason>,
}

impl Reply<'_> {
    /// The worker's message for this transition, as a copy-only view of its buffer.
    ///
    /// # Errors
    /// As [`ReadBuffer::bytes`]. A [`BufferError::TooLarge`] or
    /// [`BufferError::CorruptDescriptor`] means the worker broke the protocol: the channel
    /// is then unusable until the worker is restarted.
    pub fn bytes(&mut self) -> Result<SharedBytes<'_>, BufferError> {
        let broken = &mut *self.broken;
        self.from_worker.bytes().inspect_err(|error| {
            if error.is_peer_fault() {
                let violation = ChannelError::ProtocolViolation {
                    violation: Violation::Buffer(error.duplicate()),
                };
                *broken = Some(UnusableReason::after(&violation));
            }
        })
    }

    /// A private copy of the worker's message for this transition.
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes).
    pub fn to_vec(&mut self) -> Result<Vec<u8>, BufferError> {
        self.bytes().map(|bytes| bytes.to_vec())
    }

    /// The worker's buffer itself (to inspect its remapping). Test-only.
    #[cfg(feature = "testing")]
    pub fn buffer(&mut self) -> &mut ReadBuffer {
        self.from_worker
    }

    /// The keep flag the worker set during this transition.
    pub fn keep(&self) -> bool {
        self.keep
    }
}
