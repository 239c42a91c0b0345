//! [`Encoder`]: writes an encoding straight into a preallocated buffer.

use super::padding;

/// Writes an encoding into a preallocated byte slice, usually the shared-memory buffer itself.
///
/// Positions are absolute: the encoder starts at position 0 of `bytes`, and alignment padding
/// is computed from that position, so `bytes` should start at an address aligned to at least
/// the largest plain-old-data alignment in use (a page-aligned mapping always is).
///
/// Writing is infallible because the caller sized the buffer with
/// [`Payload::encoded_len`](super::Payload::encoded_len).
///
/// # Panics
///
/// Every `put_*` method panics if the buffer is too small, which means an `encoded_len`
/// implementation disagrees with its `encode`: a bug, not a data error.
#[derive(Debug)]
pub struct Encoder<'a> {
    bytes: &'a mut [u8],
    position: usize,
}

impl<'a> Encoder<'a> {
    /// Starts writing at the beginning of `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Encoder { bytes, position: 0 }
    }

    /// Bytes written so far, which is also the absolute offset of the next byte.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes still available.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Appends raw bytes.
    #[inline]
    pub fn put_bytes(&mut self, data: &[u8]) {
        let end = self.position + data.len();
        self.bytes[self.position..end].copy_from_slice(data);
        self.position = end;
    }

    /// Appends one byte.
    #[inline]
    pub fn put_u8(&mut self, value: u8) {
        self.put_bytes(&[value]);
    }

    /// Appends a `u32` in little-endian order.
    #[inline]
    pub fn put_u32(&mut self, value: u32) {
        self.put_bytes(&value.to_le_bytes());
    }

    /// Appends a `u64` in little-endian order.
    #[inline]
    pub fn put_u64(&mut self, value: u64) {
        self.put_bytes(&value.to_le_bytes());
    }

    /// Appends a length prefix (`u64` little-endian).
    #[inline]
    pub fn put_len(&mut self, len: usize) {
        // `usize` is at most 64 bits on every supported target.
        self.put_u64(len as u64);
    }

    /// Appends zero bytes until the position is a multiple of `align` (a power of two).
    #[inline]
    pub fn pad_to(&mut self, align: usize) {
        let end = self.position + padding(self.position, align);
        self.bytes[self.position..end].fill(0);
        self.position = end;
    }
}
