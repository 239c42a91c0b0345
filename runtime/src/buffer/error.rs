//! The buffer layer's error.

use std::io;

use thiserror::Error;

use crate::sys::shm::ShmFailure;

/// A failure of a shared-memory buffer or segment.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BufferError {
    /// A segment could not be created, sized or mapped.
    #[error("shared-memory segment `{name}` ({size} bytes): {operation} failed: {source}{hint}",
        hint = if source.raw_os_error() == Some(libc::ENOSPC) {
            "; /dev/shm is full: free space there or lower the payload size"
        } else { "" })]
    Segment {
        /// Segment name.
        name: String,
        /// Requested size in bytes (0 when opening).
        size: usize,
        /// System call that failed.
        operation: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A message is larger than `Options::max_buffer_bytes`; nothing was allocated.
    #[error("message of {len} bytes exceeds the limit of {max} bytes for buffer `{name}`: raise `Options::max_buffer_bytes` or send less")]
    TooLarge {
        /// Buffer base name.
        name: String,
        /// Requested length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The peer published a buffer descriptor that does not fit its segment.
    #[error("buffer `{name}`: the peer published an invalid descriptor ({detail})")]
    CorruptDescriptor {
        /// Buffer base name.
        name: String,
        /// What was wrong.
        detail: String,
    },
}

impl BufferError {
    /// The error for a segment operation that failed on `name` (`size` 0 when opening).
    pub(crate) fn segment(name: &str, size: usize, failure: ShmFailure) -> Self {
        BufferError::Segment {
            name: name.to_owned(),
            size,
            operation: failure.operation,
            source: failure.error,
        }
    }
}
