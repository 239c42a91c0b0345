//! [`Decoder`]: reads and validates an encoding, reading every input byte once.

use super::{padding, DecodeError, Payload, BUDGET_BASE, BUDGET_PER_BYTE, MAX_DEPTH};
use crate::SharedBytes;

/// Reads an encoding, validating every byte.
///
/// The source is [`SharedBytes`]: memory the peer may rewrite while it is read. The decoder
/// loads every length prefix, tag and scalar once into a local and copies payload bytes
/// straight into the value's own allocation before validating them there, so no interleaving
/// of concurrent writes can make it produce an invalid value: at worst it decodes bytes the
/// peer wrote in between, or returns an error. Nothing it returns borrows the source.
///
/// Like [`Encoder`](super::Encoder), positions are absolute from the start of the source,
/// which decides the alignment padding before plain-old-data sequences.
///
/// Hostile input is bounded three ways: derived types may nest at most [`MAX_DEPTH`] levels
/// (the stack), a length prefix must fit in the bytes left (the count), and every element of
/// a sequence is charged against a budget of [`BUDGET_PER_BYTE`] elements per input byte plus
/// [`BUDGET_BASE`] (the work and the memory); see the [module documentation](super).
#[derive(Debug)]
pub struct Decoder<'a> {
    source: SharedBytes<'a>,
    // INVARIANT: `position <= source.len()`.
    position: usize,
    depth: u32,
    /// Elements that may still be decoded.
    budget: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `bytes`, private bytes of this process.
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder::from_shared(SharedBytes::from_private(bytes))
    }

    /// Starts reading at the beginning of `source`, which the peer may rewrite meanwhile.
    pub fn from_shared(source: SharedBytes<'a>) -> Self {
        Decoder {
            source,
            position: 0,
            depth: 0,
            budget: source
                .len()
                .saturating_mul(BUDGET_PER_BYTE)
                .saturating_add(BUDGET_BASE),
        }
    }

    /// Bytes consumed so far, which is also the absolute offset of the next byte.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.source.len() - self.position
    }

    /// Elements that may still be decoded before [`DecodeError::BudgetExceeded`].
    pub fn budget_left(&self) -> usize {
        self.budget
    }

    /// The error for `needed` bytes of `what` when fewer are left.
    #[cold]
    fn unexpected_end(&self, needed: usize, what: &'static str) -> DecodeError {
        DecodeError::UnexpectedEnd {
            offset: self.position,
            what,
            needed,
            available: self.remaining(),
        }
    }

    /// Hands the next `len` bytes to `read` (which must copy them all out), then consumes
    /// them.
    #[inline]
    pub(super) fn read_with<R>(
        &mut self,
        len: usize,
        what: &'static str,
        read: impl FnOnce(SharedBytes<'a>) -> Option<R>,
    ) -> Result<R, DecodeError> {
        let value = self.source.range(self.position, len).and_then(read);
        match value {
            Some(value) => {
                self.position += len;
                Ok(value)
            }
            None => Err(self.unexpected_end(len, what)),
        }
    }

    /// Consumes `len` bytes without reading them.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than `len` bytes are left; `what` names the
    /// value being skipped in that message.
    #[inline]
    pub fn skip(&mut self, len: usize, what: &'static str) -> Result<(), DecodeError> {
        if len > self.remaining() {
            return Err(self.unexpected_end(len, what));
        }
        self.position += len;
        Ok(())
    }

    /// Consumes `out.len()` bytes, copying them into `out`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer bytes are left; `what` names the value being
    /// read in that message.
    #[inline]
    pub fn copy_to(&mut self, out: &mut [u8], what: &'static str) -> Result<(), DecodeError> {
        if !self.source.copy_to(self.position, out) {
            return Err(self.unexpected_end(out.len(), what));
        }
        self.position += out.len();
        Ok(())
    }

    /// Consumes `N` bytes and returns a copy of them.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if fewer than `N` bytes are left.
    #[inline]
    pub fn take_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        match self.source.array::<N>(self.position) {
            Some(array) => {
                self.position += N;
                Ok(array)
            }
            None => Err(self.unexpected_end(N, what)),
        }
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

    /// Charges `elements` elements of `what` against the decode budget; a hand-written
    /// [`Payload`] that decodes a sequence without [`Decoder::get_len`] calls this with its
    /// element count before decoding them.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BudgetExceeded`] if fewer elements are left in the budget.
    #[inline]
    pub fn charge(&mut self, elements: u64, what: &'static str) -> Result<(), DecodeError> {
        self.charge_at(self.position, elements, what)
    }

    /// [`Decoder::charge`] for elements announced at `offset`.
    #[inline]
    fn charge_at(
        &mut self,
        offset: usize,
        elements: u64,
        what: &'static str,
    ) -> Result<(), DecodeError> {
        match usize::try_from(elements) {
            Ok(elements) if elements <= self.budget => {
                self.budget -= elements;
                Ok(())
            }
            _ => Err(self.budget_exceeded(offset, elements, what)),
        }
    }

    #[cold]
    fn budget_exceeded(&self, offset: usize, elements: u64, what: &'static str) -> DecodeError {
        DecodeError::BudgetExceeded {
            offset,
            what,
            elements,
            left: self.budget,
            len: self.source.len(),
        }
    }

    /// Reads the length prefix of a sequence of `T` and checks it: the remaining bytes must
    /// be able to hold that many elements of at least `T::MIN_ENCODED_LEN` bytes each, and
    /// the elements are charged against the decode budget (see [`Decoder::charge`]).
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`], [`DecodeError::LengthTooLarge`] or
    /// [`DecodeError::BudgetExceeded`].
    #[inline]
    pub fn get_len<T: Payload>(&mut self) -> Result<usize, DecodeError> {
        let offset = self.position;
        let len = self.get_u64("length prefix")?;
        let available = self.remaining();
        if let Some(max) = (available as u64).checked_div(T::MIN_ENCODED_LEN as u64) {
            if len > max {
                return Err(DecodeError::LengthTooLarge {
                    offset,
                    what: core::any::type_name::<T>(),
                    len,
                    available,
                    max,
                });
            }
        }
        self.charge_at(offset, len, core::any::type_name::<T>())?;
        // Charged, so at most the budget, a `usize`.
        Ok(len as usize)
    }

    /// Capacity worth reserving for `len` elements of `T` just announced: at most one per
    /// byte left (per `T::MIN_ENCODED_LEN` bytes where that is more than 1), so that a
    /// prefix announcing elements that are not there reserves no more than the input's size
    /// in elements, and together with the budget every nested sequence's reservation stays
    /// within a multiple of the input's length.
    #[inline]
    pub(super) fn capacity_for<T: Payload>(&self, len: usize) -> usize {
        len.min(self.remaining() / T::MIN_ENCODED_LEN.max(1))
    }

    /// Skips the zero padding up to a multiple of `align` (a power of two).
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`], or [`DecodeError::NonZeroPadding`] if a padding byte
    /// is not zero (so every value has exactly one encoding).
    #[inline]
    pub fn skip_padding(&mut self, align: usize) -> Result<(), DecodeError> {
        let len = padding(self.position, align);
        if len == 0 {
            return Ok(());
        }
        self.skip_padding_bytes(len)
    }

    /// Reads `len` padding bytes and checks they are zero.
    fn skip_padding_bytes(&mut self, len: usize) -> Result<(), DecodeError> {
        let start = self.position;
        if len > self.remaining() {
            return Err(self.unexpected_end(len, "alignment padding"));
        }
        // Most padding is a few bytes: read one at a time (a variable-length copy then a
        // wider load of it stalls on store forwarding), in chunks when it is long (a page
        // alignment).
        let mut pad = [0u8; 64];
        let mut done = 0;
        while done < len {
            let chunk = (len - done).min(pad.len());
            let bytes = &mut pad[..chunk];
            if chunk < 16 {
                for byte in bytes.iter_mut() {
                    *byte = self.get_u8("alignment padding")?;
                }
            } else {
                self.copy_to(bytes, "alignment padding")?;
            }
            if let Some(index) = bytes.iter().position(|&byte| byte != 0) {
                return Err(DecodeError::NonZeroPadding {
                    offset: start + done + index,
                });
            }
            done += chunk;
        }
        Ok(())
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
