//! The buffer layer's error.

use std::io;

use thiserror::Error;

use crate::sys::memfd::ShmFailure;

/// A failure of a shared-memory buffer or segment. Segments have no name in any file
/// system; errors name them by label, `tandem:<base>:<id>:<part>` (`ctl`, `c2w`, `w2c`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BufferError {
    /// A segment could not be created, checked or mapped.
    #[error("shared-memory segment `{name}` ({size} bytes): {operation} failed: {source}")]
    Segment {
        /// Segment label.
        name: String,
        /// Requested size in bytes (0 when opening).
        size: usize,
        /// System call that failed.
        operation: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The memory for a segment could not be reserved: the kernel refused it (ENOSPC,
    /// ENOMEM), which is how a memory limit (a cgroup's `memory.max`, a container's limit)
    /// shows up. Nothing was sent; the previous, smaller buffer still works.
    #[error("shared-memory segment `{name}`: cannot reserve {size} bytes: {source}; shared buffers count against the job's memory limit (cgroup `memory.max`, the container's limit): raise it, or send less")]
    OutOfMemory {
        /// Segment label.
        name: String,
        /// Requested size in bytes.
        size: usize,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A message is larger than `Options::max_buffer_bytes`: refused by its writer before
    /// anything is allocated, or by its reader, before anything is mapped, when the peer
    /// published it.
    #[error("message of {len} bytes exceeds the limit of {max} bytes for buffer `{name}`: raise `Options::max_buffer_bytes` or send less")]
    TooLarge {
        /// Buffer label.
        name: String,
        /// Requested or published length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// A standalone buffer's name is not usable: it becomes part of the segments' labels
    /// and of the token (see [`WriteBuffer::create`](crate::WriteBuffer::create)).
    #[error("invalid buffer name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A standalone buffer's token is not one this end can open: malformed, or handing
    /// over the other end (see [`BufferHandoff`](crate::buffer::BufferHandoff)).
    #[error("buffer token `{token}`: {reason}")]
    InvalidToken {
        /// The token as received.
        token: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The peer published a buffer descriptor that does not fit its segment.
    #[error("buffer `{name}`: the peer published an invalid descriptor ({detail})")]
    CorruptDescriptor {
        /// Buffer label.
        name: String,
        /// What was wrong.
        detail: String,
    },
}

impl BufferError {
    /// The error for a segment operation that failed on `name` (`size` 0 when opening).
    pub(crate) fn segment(name: &str, size: usize, failure: ShmFailure) -> Self {
        if failure.is_out_of_memory() {
            return BufferError::OutOfMemory {
                name: name.to_owned(),
                size,
                source: failure.error,
            };
        }
        BufferError::Segment {
            name: name.to_owned(),
            size,
            operation: failure.operation,
            source: failure.error,
        }
    }

    /// Whether the peer caused this error by what it published (a protocol violation).
    pub(crate) fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            BufferError::TooLarge { .. } | BufferError::CorruptDescriptor { .. }
        )
    }

    /// A copy, for a channel's broken state (see `ChannelError::duplicate`).
    pub(crate) fn duplicate(&self) -> BufferError {
        use crate::sys::os_error::duplicate as duplicate_io;
        match self {
            BufferError::Segment {
                name,
                size,
                operation,
                source,
            } => BufferError::Segment {
                name: name.clone(),
                size: *size,
                operation,
                source: duplicate_io(source),
            },
            BufferError::OutOfMemory { name, size, source } => BufferError::OutOfMemory {
                name: name.clone(),
                size: *size,
                source: duplicate_io(source),
            },
            BufferError::TooLarge { name, len, max } => BufferError::TooLarge {
                name: name.clone(),
                len: *len,
                max: *max,
            },
            BufferError::CorruptDescriptor { name, detail } => BufferError::CorruptDescriptor {
                name: name.clone(),
                detail: detail.clone(),
            },
            BufferError::InvalidName { name, reason } => BufferError::InvalidName {
                name: name.clone(),
                reason,
            },
            BufferError::InvalidToken { token, reason } => BufferError::InvalidToken {
                token: token.clone(),
                reason,
            },
        }
    }
}
