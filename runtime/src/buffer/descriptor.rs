//! The shared buffer descriptor: where a buffer's current segment is and how much of it the
//! last message used. The channel's control block embeds one per direction; buffers reach
//! theirs through a [`DescriptorHome`], without knowing what embeds it.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64};

use zerocopy::{FromBytes, IntoBytes, KnownLayout};

/// Where a buffer's current segment is, and how much of it the last message used.
#[repr(C)]
#[derive(Debug, FromBytes, IntoBytes, KnownLayout)]
pub(crate) struct BufferDescriptor {
    /// Bumped on every new segment; 0 means "no segment yet".
    pub(crate) identifier: AtomicU32,
    /// Which of the two names (`.0` / `.1`) holds the current segment.
    pub(crate) index: AtomicU32,
    /// Length of the last message.
    pub(crate) length: AtomicU64,
    /// Size of the current segment.
    pub(crate) capacity: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<BufferDescriptor>() == 24);

/// Which of a channel's two buffers: the controller writes one, the worker the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Written by the controller, read by the worker.
    ToWorker,
    /// Written by the worker, read by the controller.
    FromWorker,
}

impl Direction {
    /// The part of the segment names that tells the two buffers apart.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Direction::ToWorker => "c2w",
            Direction::FromWorker => "w2c",
        }
    }
}

/// Shared memory that holds the descriptors of both directions and stays mapped as long as
/// this value lives (the channel's control segment).
pub(crate) trait DescriptorHome: fmt::Debug + Send + Sync {
    /// The descriptor of `direction`'s buffer.
    fn descriptor(&self, direction: Direction) -> &BufferDescriptor;
}

/// The name of one of a buffer's two segments (`<base>.0` or `<base>.1`).
pub(crate) fn buffer_segment_name(base: &str, index: u32) -> String {
    format!("{base}.{index}")
}
