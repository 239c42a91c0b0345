//! Growable shared-memory buffers: a [`WriteBuffer`] in one process, its [`ReadBuffer`] in the
//! other, sharing a descriptor in the control block.
//!
//! The writer owns the data segment. When a message does not fit, it creates a new segment
//! under the *other* of two names (`<base>.0` / `<base>.1`), sized for the message and at
//! least 1.5 times the old capacity, drops the old one, flips the descriptor's `index` and
//! bumps its `identifier`. Each message also records its exact `length`. The reader maps the
//! segment read-only and remaps only when the identifier changed since its last look.
//!
//! Turn-taking: the writer writes only while it holds the turn (before it posts the request
//! or reply word), the reader reads only after it has seen that post, so the bytes never
//! change under a reader that follows the protocol.

use std::sync::atomic::Ordering;
use std::sync::Arc;

mod descriptor;
mod error;

pub(crate) use descriptor::{buffer_segment_name, BufferDescriptor, DescriptorHome, Direction};
pub use error::BufferError;

use crate::sys::shm::{self, Access, Segment};

/// The writing end of a buffer.
#[derive(Debug)]
pub struct WriteBuffer {
    home: Arc<dyn DescriptorHome>,
    direction: Direction,
    base: String,
    max_bytes: usize,
    segment: Option<Segment>,
    identifier: u32,
    index: u32,
}

impl WriteBuffer {
    /// A writer for `direction`'s descriptor. It continues the descriptor's numbering, so a
    /// restarted writer never reuses an identifier its reader has seen.
    pub(crate) fn new(
        home: Arc<dyn DescriptorHome>,
        direction: Direction,
        base: String,
        max_bytes: usize,
    ) -> Self {
        let descriptor = home.descriptor(direction);
        let identifier = descriptor.identifier.load(Ordering::Acquire);
        let index = descriptor.index.load(Ordering::Acquire) & 1;
        WriteBuffer {
            home,
            direction,
            base,
            max_bytes,
            segment: None,
            identifier,
            index,
        }
    }

    fn descriptor(&self) -> &BufferDescriptor {
        self.home.descriptor(self.direction)
    }

    /// Copies `bytes` into the buffer as the next message.
    ///
    /// # Errors
    /// [`BufferError::TooLarge`] above the configured limit, [`BufferError::Segment`] when a
    /// larger segment cannot be created (e.g. `/dev/shm` is full).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BufferError> {
        self.write_with(bytes.len(), |target| target.copy_from_slice(bytes))
    }

    /// Makes room for a message of exactly `len` bytes and lets `fill` write it in place,
    /// with no intermediate copy.
    ///
    /// # Errors
    /// As [`write`](Self::write); `fill` is not called on error.
    pub fn write_with<R>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, BufferError> {
        if len > self.max_bytes {
            return Err(BufferError::TooLarge {
                name: self.base.clone(),
                len,
                max: self.max_bytes,
            });
        }
        let segment = match self.segment.take() {
            Some(segment) if segment.len() >= len => self.segment.insert(segment),
            old => self.grow(old, len)?,
        };
        // SAFETY: the writer holds the turn (module docs), and the peer maps this segment
        // read-only, so nothing else touches these bytes while the slice lives.
        let bytes = unsafe { segment.bytes_mut() };
        let result = fill(&mut bytes[..len]);
        self.descriptor()
            .length
            .store(len as u64, Ordering::Release);
        Ok(result)
    }

    /// Replaces `old` by a new segment for a message of `len` bytes.
    fn grow(&mut self, old: Option<Segment>, len: usize) -> Result<&mut Segment, BufferError> {
        let old_capacity = old.as_ref().map_or(0, Segment::len);
        let capacity = len
            .max(old_capacity.saturating_add(old_capacity / 2))
            .min(self.max_bytes.max(len))
            .max(1);
        let index = if self.identifier == 0 {
            0
        } else {
            self.index ^ 1
        };
        let name = buffer_segment_name(&self.base, index);
        // A leftover under this name can only come from an earlier writer of this channel
        // that died (names hold our pid and random bits): remove it.
        let _ = shm::unlink(&name);
        let segment = match Segment::create(&name, capacity) {
            Ok(segment) => segment,
            Err(failure) => {
                // The old segment stays current: a message that fits still works.
                self.segment = old;
                return Err(BufferError::segment(&name, capacity, failure));
            }
        };
        if let Some(old) = old {
            let _ = shm::unlink(old.name());
        }
        self.identifier = self.identifier.wrapping_add(1).max(1);
        self.index = index;
        let descriptor = self.descriptor();
        descriptor.index.store(index, Ordering::Relaxed);
        descriptor
            .capacity
            .store(capacity as u64, Ordering::Relaxed);
        descriptor
            .identifier
            .store(self.identifier, Ordering::Release);
        Ok(self.segment.insert(segment))
    }

    /// Size of the current segment (0 before the first message).
    pub fn capacity(&self) -> usize {
        self.segment.as_ref().map_or(0, Segment::len)
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// Name of the current segment, if any.
    pub fn segment_name(&self) -> Option<&str> {
        self.segment.as_ref().map(Segment::name)
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// The descriptor's identifier: how many segments this buffer has had.
    pub fn identifier(&self) -> u32 {
        self.identifier
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// The descriptor's index: which of the two names holds the current segment.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for WriteBuffer {
    fn drop(&mut self) {
        if let Some(segment) = &self.segment {
            let _ = shm::unlink(segment.name());
        }
    }
}

/// The reading end of a buffer.
#[derive(Debug)]
pub struct ReadBuffer {
    home: Arc<dyn DescriptorHome>,
    direction: Direction,
    base: String,
    segment: Option<Segment>,
    identifier: u32,
    remaps: u64,
}

impl ReadBuffer {
    pub(crate) fn new(home: Arc<dyn DescriptorHome>, direction: Direction, base: String) -> Self {
        ReadBuffer {
            home,
            direction,
            base,
            segment: None,
            identifier: 0,
            remaps: 0,
        }
    }

    /// Forgets the current mapping, so the next read maps the segment afresh (after the
    /// writer was restarted).
    pub(crate) fn reset(&mut self) {
        self.segment = None;
        self.identifier = 0;
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// Whether the writer moved to a new segment since this reader last looked
    /// (the reference's `mustGetBufferAgain`).
    pub fn must_remap(&self) -> bool {
        let descriptor = self.home.descriptor(self.direction);
        descriptor.identifier.load(Ordering::Acquire) != self.identifier
    }

    /// The last message, exactly as long as it was written.
    ///
    /// The slice borrows the shared mapping: read it during your turn (before the next
    /// transition), copy what you keep.
    ///
    /// # Errors
    /// [`BufferError::CorruptDescriptor`] if the peer published a descriptor that does not
    /// fit its segment, [`BufferError::Segment`] if the segment cannot be mapped.
    pub fn read(&mut self) -> Result<&[u8], BufferError> {
        let descriptor = self.home.descriptor(self.direction);
        let identifier = descriptor.identifier.load(Ordering::Acquire);
        let index = descriptor.index.load(Ordering::Relaxed);
        let length = descriptor.length.load(Ordering::Acquire);
        if identifier == 0 {
            if length == 0 {
                return Ok(&[]);
            }
            return Err(self.corrupt(format!("length {length} without a segment")));
        }
        if index > 1 {
            return Err(self.corrupt(format!("segment index {index}")));
        }
        let segment = match self.segment.take() {
            Some(segment) if identifier == self.identifier => segment,
            stale => {
                drop(stale);
                let name = buffer_segment_name(&self.base, index);
                let segment = Segment::open(&name, Access::ReadOnly)
                    .map_err(|f| BufferError::segment(&name, 0, f))?;
                self.identifier = identifier;
                self.remaps += 1;
                segment
            }
        };
        let mapped = segment.len();
        let fitting = usize::try_from(length).ok().filter(|&l| l <= mapped);
        let segment = &*self.segment.insert(segment);
        // SAFETY: we read during our turn (module docs); the writer does not touch the
        // segment until we post. `bytes` checks the length against the mapping.
        let bytes = fitting.and_then(|length| unsafe { segment.bytes(length) });
        bytes.ok_or_else(|| {
            corrupt(
                &self.base,
                format!("length {length} exceeds the {mapped}-byte segment"),
            )
        })
    }

    fn corrupt(&self, detail: String) -> BufferError {
        corrupt(&self.base, detail)
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// How many times this reader has mapped a new segment.
    pub fn remap_count(&self) -> u64 {
        self.remaps
    }

    // Test-only inspection (tests and misbehaving test workers): hidden from the docs.
    #[doc(hidden)]
    /// Name of the segment currently mapped, if any.
    pub fn segment_name(&self) -> Option<&str> {
        self.segment.as_ref().map(Segment::name)
    }
}

fn corrupt(base: &str, detail: String) -> BufferError {
    BufferError::CorruptDescriptor {
        name: base.to_owned(),
        detail,
    }
}
