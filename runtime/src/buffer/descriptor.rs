//! The shared buffer descriptor: how large a buffer's memfd is and how much of it the last
//! message used. The channel's control block embeds one per direction, a standalone buffer
//! has a memfd of its own for it; buffers reach theirs through a [`DescriptorHome`], without
//! knowing what embeds it.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64};

use zerocopy::{FromBytes, IntoBytes, KnownLayout};

use crate::sys::memfd::atomics_only;

/// How large a buffer's memfd is, and how much of it the last message used. Written by the
/// buffer's writer only; its reader checks every value before it maps or reads anything.
#[repr(C)]
#[derive(Debug, FromBytes, IntoBytes, KnownLayout)]
pub(crate) struct BufferDescriptor {
    /// Bumped each time the writer grows the memfd; 0 before the first growth.
    pub(crate) generation: AtomicU32,
    /// Unused; keeps the 8-byte fields aligned.
    pub(crate) reserved: AtomicU32,
    /// Length of the last message.
    pub(crate) length: AtomicU64,
    /// Size of the memfd the writer has reserved and maps; never decreases.
    pub(crate) capacity: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<BufferDescriptor>() == 24);

atomics_only!(BufferDescriptor {
    generation,
    reserved,
    length,
    capacity,
});

/// Which of a channel's two buffers: the controller writes one, the worker the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Written by the controller, read by the worker.
    ToWorker,
    /// Written by the worker, read by the controller.
    FromWorker,
}

impl Direction {
    /// The part of a buffer's label that tells the two apart.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Direction::ToWorker => "c2w",
            Direction::FromWorker => "w2c",
        }
    }
}

/// Shared memory that holds the descriptors of both directions and stays mapped as long as
/// this value lives (the channel's control block).
pub(crate) trait DescriptorHome: fmt::Debug + Send + Sync {
    /// The descriptor of `direction`'s buffer.
    fn descriptor(&self, direction: Direction) -> &BufferDescriptor;
}
