//! [`Decoder`]: reads and validates an encoding, reading every input byte once.

use super::budget::Budget;
use super::{padding, DecodeError, Payload, MAX_DEPTH};
use crate::sys::shared_bytes::ReadString;
use crate::sys::shared_bytes::SharedBytes;

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
/// Hostile input is bounded four ways: derived types may nest at most [`MAX_DEPTH`] levels
/// (the stack), a length prefix must fit in the bytes left (the count), every element of a
/// sequence is charged against a budget of [`BUDGET_PER_BYTE`](super::BUDGET_PER_BYTE)
/// elements per input byte plus [`BUDGET_BASE`](super::BUDGET_BASE) (the work), and every
/// allocation the input drives is charged, before it is made, against a budget of
/// [`MEMORY_PER_BYTE`](super::MEMORY_PER_BYTE) bytes per input byte plus
/// [`MEMORY_BASE`](super::MEMORY_BASE) (the memory), then made fallibly; see [Decoding and
/// memory](super#decoding-and-memory).
#[derive(Debug)]
pub struct Decoder<'a> {
    source: SharedBytes<'a>,
    // INVARIANT: `position <= source.len()`.
    position: usize,
    depth: u32,
    budget: Budget,
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
            budget: Budget::for_input(source.len()),
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
        self.budget.elements_left()
    }

    /// Bytes of memory that may still be reserved before
    /// [`DecodeError::MemoryBudgetExceeded`].
    pub fn memory_left(&self) -> usize {
        self.budget.memory_left()
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
    /// them. Always inlined: `read` is a copy of a few bytes, and a call would return its
    /// value through memory.
    #[inline(always)]
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

    /// Consumes `len` bytes as a new `String`: copied once into its own allocation, then
    /// validated as UTF-8 there (see [`SharedBytes::read_string`]). The length is already
    /// checked and charged.
    #[inline(always)]
    pub(super) fn read_string(&mut self, len: usize) -> Result<String, DecodeError> {
        let offset = self.position;
        match self.source.read_string(offset, len) {
            Some(ReadString::Text(text)) => {
                self.position += len;
                Ok(text)
            }
            Some(ReadString::NotUtf8(error)) => Err(DecodeError::InvalidUtf8 {
                offset,
                source: error.utf8_error(),
            }),
            Some(ReadString::OutOfMemory(source)) => Err(self.out_of_memory(len, "u8", source)),
            None => Err(self.unexpected_end(len, "u8")),
        }
    }

    /// Checks that `len` bytes of `what` are left, without consuming them.
    #[inline]
    pub(super) fn ensure(&self, len: usize, what: &'static str) -> Result<(), DecodeError> {
        if len > self.remaining() {
            return Err(self.unexpected_end(len, what));
        }
        Ok(())
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

    /// Charges `elements` elements of `what` against the decode element budget; a
    /// hand-written [`Payload`] that decodes a sequence without [`Decoder::get_len`] calls
    /// this with its element count before decoding them.
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
        if self.budget.take_elements(elements) {
            Ok(())
        } else {
            Err(self.budget_exceeded(offset, elements, what))
        }
    }

    #[cold]
    fn budget_exceeded(&self, offset: usize, elements: u64, what: &'static str) -> DecodeError {
        DecodeError::BudgetExceeded {
            offset,
            what,
            elements,
            left: self.budget.elements_left(),
            len: self.source.len(),
        }
    }

    /// Charges `bytes` of memory for `what` against the decode memory budget; a hand-written
    /// [`Payload`] calls this before it allocates memory whose size the input decides (beyond
    /// the `len × size_of::<T>()` that [`Decoder::get_len`] charges), then allocates
    /// fallibly (see [`Decoder::reserve`]). What is charged is never refunded: the sum of the
    /// charges bounds the decode's peak heap.
    ///
    /// # Errors
    ///
    /// [`DecodeError::MemoryBudgetExceeded`] if fewer bytes are left in the budget.
    #[inline]
    pub fn charge_memory(&mut self, bytes: usize, what: &'static str) -> Result<(), DecodeError> {
        self.charge_memory_at(self.position, bytes, what)
    }

    /// [`Decoder::charge_memory`] for a value announced at `offset`.
    #[inline]
    fn charge_memory_at(
        &mut self,
        offset: usize,
        bytes: usize,
        what: &'static str,
    ) -> Result<(), DecodeError> {
        if self.budget.take_memory(bytes) {
            Ok(())
        } else {
            Err(self.memory_budget_exceeded(offset, bytes, what))
        }
    }

    #[cold]
    fn memory_budget_exceeded(
        &self,
        offset: usize,
        bytes: usize,
        what: &'static str,
    ) -> DecodeError {
        DecodeError::MemoryBudgetExceeded {
            offset,
            what,
            bytes,
            left: self.budget.memory_left(),
            len: self.source.len(),
        }
    }

    /// Reserves room for exactly `additional` more elements in `vec`, reporting an
    /// allocation the allocator refuses as [`DecodeError::OutOfMemory`] instead of aborting
    /// the process. It charges nothing: charge the memory first ([`Decoder::get_len`] charges
    /// a `Vec<T>`'s `len × size_of::<T>()`, [`Decoder::charge_memory`] anything else).
    ///
    /// # Errors
    ///
    /// [`DecodeError::OutOfMemory`] if the allocation fails.
    #[inline]
    pub fn reserve<T>(&self, vec: &mut Vec<T>, additional: usize) -> Result<(), DecodeError> {
        vec.try_reserve_exact(additional).map_err(|source| {
            self.out_of_memory(
                additional.saturating_mul(core::mem::size_of::<T>()),
                core::any::type_name::<T>(),
                source,
            )
        })
    }

    /// A new `Vec` with room for exactly `len` elements (already charged), allocated
    /// fallibly: [`Decoder::reserve`] on an empty `Vec`, in one call to the allocator.
    #[inline]
    pub(super) fn vec_with_capacity<T>(&self, len: usize) -> Result<Vec<T>, DecodeError> {
        crate::sys::alloc::try_with_capacity(len).map_err(|source| {
            self.out_of_memory(
                len.saturating_mul(core::mem::size_of::<T>()),
                core::any::type_name::<T>(),
                source,
            )
        })
    }

    /// The error for an allocation of `bytes` for `what` that the allocator refused.
    #[cold]
    pub(super) fn out_of_memory(
        &self,
        bytes: usize,
        what: &'static str,
        source: std::collections::TryReserveError,
    ) -> DecodeError {
        DecodeError::OutOfMemory {
            offset: self.position,
            what,
            bytes,
            source,
        }
    }

    /// Reads the length prefix of a sequence of `T` and checks it: the remaining bytes must
    /// be able to hold that many elements of at least `T::MIN_ENCODED_LEN` bytes each. Then
    /// charges the elements against the element budget (see [`Decoder::charge`]) and their
    /// memory in a `Vec<T>`, `len × size_of::<T>()` bytes, against the memory budget (see
    /// [`Decoder::charge_memory`]), so that room for them can be reserved at once.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`], [`DecodeError::LengthTooLarge`],
    /// [`DecodeError::BudgetExceeded`] or [`DecodeError::MemoryBudgetExceeded`].
    #[inline]
    pub fn get_len<T: Payload>(&mut self) -> Result<usize, DecodeError> {
        self.get_len_charging::<T>(|len| len.saturating_mul(core::mem::size_of::<T>()))
    }

    /// [`Decoder::get_len`] for a collection whose storage for `len` elements of `T` takes
    /// `memory(len)` bytes (a hash table, a B-tree).
    #[inline]
    pub(super) fn get_len_charging<T: Payload>(
        &mut self,
        memory: impl FnOnce(usize) -> usize,
    ) -> Result<usize, DecodeError> {
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
        let what = core::any::type_name::<T>();
        self.charge_at(offset, len, what)?;
        // Charged, so at most the budget, a `usize`.
        let len = len as usize;
        self.charge_memory_at(offset, memory(len), what)?;
        Ok(len)
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
    #[inline]
    fn skip_padding_bytes(&mut self, len: usize) -> Result<(), DecodeError> {
        // Most padding is a few bytes (before a `Vec<u32>` after a string): read them in one
        // go, in registers.
        match self.source.read_le_bytes(self.position, len) {
            Some(0) => {
                self.position += len;
                Ok(())
            }
            // The first non-zero byte, found in what was read: the bytes are not read again.
            Some(bytes) => Err(DecodeError::NonZeroPadding {
                offset: self.position + bytes.trailing_zeros() as usize / 8,
            }),
            None => self.skip_padding_slow(len),
        }
    }

    /// [`Decoder::skip_padding_bytes`] for long padding (a page alignment), or to find the
    /// error.
    #[cold]
    fn skip_padding_slow(&mut self, len: usize) -> Result<(), DecodeError> {
        let start = self.position;
        if len > self.remaining() {
            return Err(self.unexpected_end(len, "alignment padding"));
        }
        let mut pad = [0u8; 64];
        let mut done = 0;
        while done < len {
            let chunk = (len - done).min(pad.len());
            let bytes = &mut pad[..chunk];
            self.copy_to(bytes, "alignment padding")?;
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
