//! Growable shared-memory buffers: a [`WriteBuffer`] in one process, its [`ReadBuffer`] in the
//! other, sharing a descriptor in the control block, or, for a buffer on its own
//! ([`WriteBuffer::create`], [`ReadBuffer::create`], see the `standalone` submodule), in a
//! memfd of its own handed over with the data through a [`BufferHandoff`].
//!
//! In a channel, each direction is one memfd, created (empty) by the controller before the worker exists.
//! The writer owns its contents. When a message does not fit, the writer grows the memfd in
//! place: `fallocate` extends it and reserves the memory (a memory limit is an error here,
//! [`BufferError::OutOfMemory`], never a `SIGBUS` later), `mremap` grows its mapping, and the
//! new size is published as the descriptor's `capacity`. Each message also records its exact
//! `length`. The reader loads both once, checks them against its own `max_buffer_bytes`
//! and each other, and when the capacity grew `mremap`s its read-only mapping, never beyond
//! the memfd's size as `fstat` reports it. Sizes never shrink (the memfd is sealed with
//! `F_SEAL_SHRINK`), so no mapping ever exceeds its file.
//!
//! Turn-taking: the writer writes only while it holds the turn (before it posts the request
//! or reply word), the reader reads only after it has seen that post. The controller does
//! not rely on its worker following that rule: it reads the worker's buffer through
//! [`SharedBytes`], which only copies out. The worker trusts its controller and may borrow
//! its input in place ([`TransitionRequest::trusted_input`](crate::TransitionRequest::trusted_input)).

use std::sync::atomic::Ordering;
use std::sync::Arc;

mod descriptor;
mod error;
mod standalone;

pub(crate) use descriptor::{BufferDescriptor, DescriptorHome, Direction};
pub use error::BufferError;
pub use standalone::BufferHandoff;

use crate::sys::memfd::{Segment, WriterSegment, PAGE};
use crate::sys::shared_bytes::SharedBytes;

/// The shortest message whose reader first checks that the writer really wrote it: below
/// this, a sparse message costs the reader at most this many bytes of zero pages, and the
/// check (one `lseek`) would cost more than the copy.
const HOLE_CHECK_MIN: usize = 64 << 10;

/// The writing end of a buffer.
#[derive(Debug)]
pub struct WriteBuffer {
    home: Arc<dyn DescriptorHome>,
    direction: Direction,
    max_bytes: usize,
    segment: WriterSegment,
    generation: u32,
    /// Length of the last message, as this side wrote it (the published one is the peer's
    /// to scribble on).
    length: usize,
}

impl WriteBuffer {
    /// A writer of `segment` (a memfd mapped read-write) for `direction`'s descriptor.
    pub(crate) fn new(
        home: Arc<dyn DescriptorHome>,
        direction: Direction,
        segment: WriterSegment,
        max_bytes: usize,
    ) -> Self {
        let descriptor = home.descriptor(direction);
        let generation = descriptor.generation.load(Ordering::Acquire);
        if segment.len() > 0 {
            // A segment created mapped (the controller's input): its first page is usable,
            // up to the limit the reader enforces.
            let usable = segment.len().min(max_bytes);
            descriptor.capacity.store(usable as u64, Ordering::Release);
        }
        WriteBuffer {
            home,
            direction,
            max_bytes,
            segment,
            generation,
            length: 0,
        }
    }

    /// Writes `old`'s last message into this buffer (a restarted worker gets fresh memory
    /// with the same input).
    pub(crate) fn carry_over(&mut self, old: &mut WriteBuffer) -> Result<(), BufferError> {
        let len = old.length;
        // Only `old`'s own mapping writes it (`WriterSegment`), so its last message is intact
        // whatever its peer did.
        let bytes = old.segment.bytes_mut();
        self.write(&bytes[..len])
    }

    fn descriptor(&self) -> &BufferDescriptor {
        self.home.descriptor(self.direction)
    }

    /// Copies `bytes` into the buffer as the next message.
    ///
    /// # Errors
    /// [`BufferError::TooLarge`] above the configured limit, [`BufferError::OutOfMemory`]
    /// when the memory for a larger buffer cannot be reserved (a memory limit),
    /// [`BufferError::Segment`] when the larger buffer cannot be mapped.
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
                name: self.segment.label().to_owned(),
                len,
                max: self.max_bytes,
            });
        }
        if len > self.segment.len() {
            self.grow(len)?;
        }
        // The writer holds the turn (module docs): the peer reads no byte of it until the
        // length below is published.
        let bytes = self.segment.bytes_mut();
        let result = fill(&mut bytes[..len]);
        self.length = len;
        self.descriptor()
            .length
            .store(len as u64, Ordering::Release);
        Ok(result)
    }

    /// Grows the memfd in place for a message of `len` bytes and publishes the new size.
    fn grow(&mut self, len: usize) -> Result<(), BufferError> {
        let old = self.segment.len();
        let capacity = len
            .max(old.saturating_add(old / 2))
            .checked_next_multiple_of(PAGE)
            .unwrap_or(len)
            .min(self.max_bytes)
            .max(len);
        self.segment
            .grow(capacity)
            .map_err(|failure| BufferError::segment(self.segment.label(), capacity, failure))?;
        self.generation = self.generation.wrapping_add(1).max(1);
        let descriptor = self.descriptor();
        descriptor
            .capacity
            .store(capacity as u64, Ordering::Release);
        descriptor
            .generation
            .store(self.generation, Ordering::Release);
        Ok(())
    }

    /// How large a message fits without growing the buffer: the part of its memfd that is
    /// reserved and mapped here, up to the limit (0 before the first message, except for
    /// the controller's input, which has its first page from the start).
    pub fn capacity(&self) -> usize {
        self.segment.len().min(self.max_bytes)
    }

    // Test-only inspection (tests and misbehaving test workers): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// How many times this buffer has grown.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    // Test-only inspection (misbehaving test workers): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// The buffer's memfd, for tests that try to resize it under the reader.
    pub fn raw_fd(&self) -> i32 {
        self.segment.raw_fd()
    }

    // Test-only inspection (misbehaving test workers): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// Publishes `length` and `capacity` as they are, unchecked: a misbehaving writer.
    pub fn publish_unchecked(&mut self, length: u64, capacity: u64) {
        let descriptor = self.descriptor();
        descriptor.capacity.store(capacity, Ordering::Release);
        descriptor.length.store(length, Ordering::Release);
    }
}

/// The reading end of a buffer.
///
/// On the controller's side it hands out only copies ([`bytes`](Self::bytes),
/// [`read_to_vec`](Self::read_to_vec)): the worker may rewrite its buffer at any moment, so
/// no view that claims the bytes cannot change leaves this type.
#[derive(Debug)]
pub struct ReadBuffer {
    home: Arc<dyn DescriptorHome>,
    direction: Direction,
    segment: Segment,
    max_bytes: usize,
    remaps: u64,
}

impl ReadBuffer {
    /// A reader of `segment` (a memfd this process maps read-only) for `direction`'s
    /// descriptor, refusing anything published above `max_bytes`.
    pub(crate) fn new(
        home: Arc<dyn DescriptorHome>,
        direction: Direction,
        segment: Segment,
        max_bytes: usize,
    ) -> Self {
        ReadBuffer {
            home,
            direction,
            segment,
            max_bytes,
            remaps: 0,
        }
    }

    // Test-only inspection (tests and misbehaving test workers): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// Whether the writer grew the buffer since this reader last looked (the reference's
    /// `mustGetBufferAgain`).
    pub fn must_remap(&self) -> bool {
        let descriptor = self.home.descriptor(self.direction);
        descriptor.capacity.load(Ordering::Acquire) != self.segment.len() as u64
    }

    /// Loads the published length and capacity once, checks them, and maps the capacity if
    /// it grew. Returns the length, which then fits the mapping.
    fn sync(&mut self) -> Result<usize, BufferError> {
        let descriptor = self.home.descriptor(self.direction);
        let capacity = descriptor.capacity.load(Ordering::Acquire);
        let length = descriptor.length.load(Ordering::Acquire);
        let max = self.max_bytes;
        let too_large = |len: u64| BufferError::TooLarge {
            name: self.segment.label().to_owned(),
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max,
        };
        // Both are checked against our own limit before anything is mapped.
        if length > max as u64 {
            return Err(too_large(length));
        }
        if capacity > max as u64 {
            return Err(too_large(capacity));
        }
        let (length, capacity) = (length as usize, capacity as usize);
        if length > capacity {
            return Err(self.corrupt(format!(
                "length {length} exceeds the published capacity {capacity}"
            )));
        }
        let mapped = self.segment.len();
        if capacity < mapped {
            return Err(self.corrupt(format!(
                "capacity {capacity} is below the {mapped} bytes already published"
            )));
        }
        if capacity > mapped {
            match self.segment.file_size() {
                Ok(size) if size >= capacity => {}
                Ok(size) => {
                    return Err(self.corrupt(format!(
                        "capacity {capacity} exceeds the segment's {size} bytes"
                    )))
                }
                Err(failure) => {
                    return Err(BufferError::segment(
                        self.segment.label(),
                        capacity,
                        failure,
                    ))
                }
            }
            self.segment
                .remap(capacity)
                .map_err(|failure| BufferError::segment(self.segment.label(), capacity, failure))?;
            self.remaps += 1;
        }
        Ok(length)
    }

    /// The last message, exactly as long as it was written, as a copy-only view of the
    /// shared memory: nothing read from it can change after it was copied.
    ///
    /// # Errors
    /// [`BufferError::TooLarge`] if the peer published a length or capacity above this
    /// side's `max_buffer_bytes`, [`BufferError::CorruptDescriptor`] if it published one
    /// that does not fit its segment, [`BufferError::Segment`] if the segment cannot be
    /// mapped.
    pub fn bytes(&mut self) -> Result<SharedBytes<'_>, BufferError> {
        let length = self.sync()?;
        if length >= HOLE_CHECK_MIN {
            self.check_written(length)?;
        }
        let mapped = self.segment.len();
        // `sync` checked `length <= capacity == mapped`.
        self.segment.shared(length).ok_or_else(|| {
            corrupt(
                self.segment.label(),
                format!("length {length} exceeds the {mapped}-byte mapping"),
            )
        })
    }

    /// Checks that the writer wrote the first `length` bytes: a page nobody wrote is a
    /// hole, which reading through the mapping would allocate in this process. A writer
    /// that publishes a sparse file (e.g. grown with `ftruncate`) would otherwise make its
    /// reader fault in up to `max_buffer_bytes` of zero pages.
    fn check_written(&self, length: usize) -> Result<(), BufferError> {
        let hole = self
            .segment
            .first_hole()
            .map_err(|failure| BufferError::segment(self.segment.label(), length, failure))?;
        if hole < length as u64 {
            return Err(self.corrupt(format!(
                "a message of {length} bytes whose bytes from {hole} on were never written \
                 (a sparse file)"
            )));
        }
        Ok(())
    }

    /// A private copy of the last message.
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes).
    pub fn read_to_vec(&mut self) -> Result<Vec<u8>, BufferError> {
        self.bytes().map(|bytes| bytes.to_vec())
    }

    /// The last message, borrowed in place: only for a reader that trusts its writer (the
    /// worker, reading its controller's input).
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes).
    pub(crate) fn trusted_bytes(&mut self) -> Result<&[u8], BufferError> {
        let length = self.sync()?;
        // Only the worker calls this, on its controller's input, during its turn (module
        // docs); `sys` refuses any other buffer.
        let bytes = self.segment.trusted_bytes(length);
        bytes.ok_or_else(|| {
            corrupt(
                self.segment.label(),
                format!(
                    "length {length} exceeds the mapping, or the buffer is not a worker's input"
                ),
            )
        })
    }

    /// The buffer's memfd (to hand to the writer).
    pub(crate) fn raw_fd(&self) -> i32 {
        self.segment.raw_fd()
    }

    fn corrupt(&self, detail: String) -> BufferError {
        corrupt(self.segment.label(), detail)
    }

    // Test-only inspection (tests and misbehaving test workers): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// How many times this reader has grown its mapping.
    pub fn remap_count(&self) -> u64 {
        self.remaps
    }

    // Test-only inspection (tests): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// How many bytes of the peer's buffer this reader maps.
    pub fn mapped_capacity(&self) -> usize {
        self.segment.len()
    }

    // Test-only inspection (tests): behind the `testing` feature.
    #[cfg(feature = "testing")]
    /// The buffer's label (`tandem:<base>:<id>:<c2w|w2c>`).
    pub fn label(&self) -> &str {
        self.segment.label()
    }
}

fn corrupt(label: &str, detail: String) -> BufferError {
    BufferError::CorruptDescriptor {
        name: label.to_owned(),
        detail,
    }
}
