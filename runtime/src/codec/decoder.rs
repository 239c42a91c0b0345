//! [`Decoder`]: reads and validates an encoding.

use super::{padding, DecodeError, Payload, MAX_DEPTH, MAX_ZERO_SIZED_ELEMENTS};

/// Reads an encoding from a byte slice, validating every byte.
///
/// Like [`Encoder`](super::Encoder), positions are absolute from the start of `bytes`, which
/// decides the alignment padding before plain-old-data sequences.
///
/// The decoder also counts how deeply derived types are nested, so that hostile input cannot
/// overflow the stack through a recursive type; see [`MAX_DEPTH`].
#[derive(Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
    depth: u32,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            position: 0,
            depth: 0,
        }
    }

    /// Bytes consumed so far, which is also the absolute offset of the next byte.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Consumes `len` bytes and returns them.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than `len` bytes are left; `what` names the
    /// value being read in that message.
    #[inline]
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let bytes: &'a [u8] = self.bytes;
        match bytes.get(self.position..).and_then(|rest| rest.get(..len)) {
            Some(taken) => {
                self.position += len;
                Ok(taken)
            }
            None => Err(DecodeError::UnexpectedEnd {
                offset: self.position,
                what,
                needed: len,
                available: self.remaining(),
            }),
        }
    }

    /// Consumes `N` bytes and returns them as an array.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than `N` bytes are left.
    #[inline]
    pub fn take_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let taken = self.take(N, what)?;
        let mut array = [0; N];
        array.copy_from_slice(taken);
        Ok(array)
    }

    /// Reads one byte.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] at the end of the input.
    #[inline]
    pub fn get_u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>(what)?[0])
    }

    /// Reads a little-endian `u32`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than 4 bytes are left.
    #[inline]
    pub fn get_u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.take_array(what).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than 8 bytes are left.
    #[inline]
    pub fn get_u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.take_array(what).map(u64::from_le_bytes)
    }

    /// Reads the length prefix of a sequence of `T` and checks it against the input: the
    /// remaining bytes must be able to hold that many elements of at least
    /// `T::MIN_ENCODED_LEN` bytes each, and a sequence of elements that encode to nothing may
    /// have at most [`MAX_ZERO_SIZED_ELEMENTS`] elements.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`], [`DecodeError::LengthTooLarge`] or
    /// [`DecodeError::TooManyZeroSized`].
    pub fn get_len<T: Payload>(&mut self) -> Result<usize, DecodeError> {
        let offset = self.position;
        let len = self.get_u64("length prefix")?;
        let what = core::any::type_name::<T>();
        let min = T::MIN_ENCODED_LEN as u64;
        let available = self.remaining();
        match (available as u64).checked_div(min) {
            None if len > MAX_ZERO_SIZED_ELEMENTS => {
                return Err(DecodeError::TooManyZeroSized {
                    offset,
                    what,
                    len,
                    limit: MAX_ZERO_SIZED_ELEMENTS,
                })
            }
            Some(max) if len > max => {
                return Err(DecodeError::LengthTooLarge {
                    offset,
                    what,
                    len,
                    available,
                    max,
                })
            }
            _ => {}
        }
        // Bounded by the input length (or MAX_ZERO_SIZED_ELEMENTS), so it fits in `usize`.
        Ok(len as usize)
    }

    /// Skips the zero padding up to a multiple of `align` (a power of two).
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`], or [`DecodeError::NonZeroPadding`] if a padding byte
    /// is not zero (so every value has exactly one encoding).
    pub fn skip_padding(&mut self, align: usize) -> Result<(), DecodeError> {
        let start = self.position;
        let pad = self.take(padding(start, align), "alignment padding")?;
        match pad.iter().position(|&byte| byte != 0) {
            Some(index) => Err(DecodeError::NonZeroPadding {
                offset: start + index,
            }),
            None => Ok(()),
        }
    }

    /// Reads a `Vec<T>` of plain-old-data `T` as a slice borrowed from the input, without
    /// copying: the length prefix, the padding, then `len` elements.
    ///
    /// The encoding is the same as `Vec<T>`'s, so this reads what the sender wrote as a
    /// `Vec<T>` (or `[T]` through [`Encoder`](super::Encoder)).
    ///
    /// # Errors
    ///
    /// The errors of [`Decoder::get_len`] and [`Decoder::skip_padding`], and
    /// [`DecodeError::Misaligned`] if the input's memory is not aligned for `T` (the offset
    /// within the input always is; the input itself must start at an aligned address, as a
    /// shared-memory mapping does).
    pub fn pod_slice<T>(&mut self) -> Result<&'a [T], DecodeError>
    where
        T: Payload + zerocopy::FromBytes + zerocopy::Immutable,
    {
        const {
            assert!(
                T::POD.is_some(),
                "`Decoder::pod_slice` needs a plain-old-data `Payload` type"
            )
        };
        let len = self.get_len::<T>()?;
        self.skip_padding(core::mem::align_of::<T>())?;
        let offset = self.position;
        let size = core::mem::size_of::<T>();
        let bytes = self.take(len * size, core::any::type_name::<T>())?;
        <[T] as zerocopy::FromBytes>::ref_from_bytes(bytes).map_err(|_| DecodeError::Misaligned {
            offset,
            align: core::mem::align_of::<T>(),
        })
    }

    /// Runs `f` one nesting level deeper; derived impls decode through this.
    ///
    /// # Errors
    ///
    /// [`DecodeError::TooDeep`] past [`MAX_DEPTH`] levels, or whatever `f` returns.
    #[doc(hidden)]
    #[inline]
    pub fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                offset: self.position,
                limit: MAX_DEPTH,
            });
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }
}
