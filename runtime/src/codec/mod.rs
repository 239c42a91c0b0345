//! INTERFACE CONTRACT (temporary file, replaced wholesale by the codec branch).
//!
//! The channel layer relies only on the items below.

use std::fmt;

/// A type that can cross the process boundary.
pub trait Payload: Sized {
    /// Structural fingerprint of the type.
    const FINGERPRINT: u64;
    /// Exact number of bytes `encode` writes when it starts at `offset` from the buffer start
    /// (offset matters only for alignment padding of plain-old-data slices).
    fn encoded_len(&self, offset: usize) -> usize;
    /// Writes the encoding; the encoder has room for `encoded_len(encoder.position())` bytes.
    fn encode(&self, encoder: &mut Encoder<'_>);
    /// Reads one value, validating every byte.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError>;
}

/// Writes into a preallocated byte slice.
pub struct Encoder<'a> {
    bytes: &'a mut [u8],
    position: usize,
}

impl<'a> Encoder<'a> {
    /// Starts writing at the beginning of `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Encoder { bytes, position: 0 }
    }
    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.position
    }
    /// Appends raw bytes.
    pub fn put(&mut self, data: &[u8]) {
        self.bytes[self.position..self.position + data.len()].copy_from_slice(data);
        self.position += data.len();
    }
}

/// Reads from a byte slice.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, position: 0 }
    }
}

/// Why bytes could not be decoded.
#[derive(Debug)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DecodeError {}

/// Encodes `value` into `bytes`, which must hold `value.encoded_len(0)` bytes; returns the
/// number written.
pub fn encode_into<T: Payload>(value: &T, bytes: &mut [u8]) -> usize {
    let mut encoder = Encoder::new(bytes);
    value.encode(&mut encoder);
    encoder.position()
}

/// Decodes exactly one `T` that must span all of `bytes`.
pub fn decode_from<T: Payload>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut decoder = Decoder::new(bytes);
    let value = T::decode(&mut decoder)?;
    if decoder.position != bytes.len() {
        return Err(DecodeError("trailing bytes".into()));
    }
    Ok(value)
}

impl Payload for () {
    const FINGERPRINT: u64 = 1;
    fn encoded_len(&self, _offset: usize) -> usize {
        0
    }
    fn encode(&self, _encoder: &mut Encoder<'_>) {}
    fn decode(_decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(())
    }
}

#[doc(hidden)]
pub mod __private {}
