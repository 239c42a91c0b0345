//! Plain old data: types whose memory *is* their encoding, copied in bulk.

use super::{DecodeError, Decoder, Encoder};
use crate::sys::shared_bytes::SharedBytes;
use std::collections::TryReserveError;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A new `Vec` read from shared bytes: `None` if they are not all there, `Some(Err)` if the
/// allocator refuses.
type ReadVec<T> = Option<Result<Vec<T>, TryReserveError>>;

/// Plain old data as zerocopy proves it: every byte pattern is a valid value, the value has no
/// padding, and no interior mutability. Implemented for every such type; `#[payload(pod)]`
/// requires it (a missing zerocopy derive is reported by zerocopy's own message). Users derive
/// zerocopy's traits through the facade's re-export, `tandem::zerocopy`, with
/// `#[zerocopy(crate = "tandem::zerocopy")]`, and need no zerocopy dependency of their own.
pub trait Pod: IntoBytes + FromBytes + Immutable {}

impl<T: IntoBytes + FromBytes + Immutable> Pod for T {}

/// A plain-old-data [`Payload`](super::Payload): its encoding is its memory, so a sequence
/// of it can be read in place. Implemented for the primitive numbers and by
/// `#[derive(Payload)]` with `#[payload(pod)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plain-old-data payload",
    label = "a borrowed input needs plain-old-data elements",
    note = "derive `Payload` with `#[payload(pod)]` on a `#[repr(C)]` struct (with zerocopy's `IntoBytes`, `FromBytes` and `Immutable`, through `tandem::zerocopy`), or use a primitive number type"
)]
pub trait PodPayload: super::Payload + Pod {}

/// The bulk operations of a plain-old-data [`Payload`](super::Payload) type, as function
/// pointers so that the trait can carry them in an associated constant without specialization.
#[derive(Debug)]
pub struct PodOps<T> {
    /// `align_of::<T>()`: sequences of `T` are padded to it.
    pub align: usize,
    as_bytes: fn(&[T]) -> &[u8],
    read_one: fn(SharedBytes<'_>, usize) -> Option<T>,
    zeroed: fn() -> T,
    fill: fn(SharedBytes<'_>, &mut [T]) -> bool,
    append: fn(SharedBytes<'_>, usize, &mut Vec<T>) -> bool,
    to_vec: fn(SharedBytes<'_>, usize) -> ReadVec<T>,
}

impl<T> Clone for PodOps<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for PodOps<T> {}

impl<T: Pod> PodOps<T> {
    /// The operations of `T`, implemented with zerocopy.
    pub const fn new() -> Self {
        PodOps {
            align: core::mem::align_of::<T>(),
            as_bytes: <[T]>::as_bytes,
            read_one: read_one::<T>,
            zeroed: T::new_zeroed,
            fill: fill::<T>,
            append: append::<T>,
            to_vec: to_vec::<T>,
        }
    }
}

impl<T: Pod> Default for PodOps<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// An unaligned copy of the element at `offset`.
// Called through `PodOps`' pointers: inlined where the pointer is a known constant.
#[inline(always)]
fn read_one<T: Pod>(source: SharedBytes<'_>, offset: usize) -> Option<T> {
    source.read(offset)
}

/// Appends `len` elements copied from the start of `source` to `vec`: one copy into its
/// spare capacity (reserved by the caller, so that a failure is an error, not an abort).
// Called through `PodOps`' pointers: inlined where the pointer is a known constant.
#[inline(always)]
fn append<T: Pod>(source: SharedBytes<'_>, len: usize, vec: &mut Vec<T>) -> bool {
    source.append_to(0, len, vec)
}

/// A new `Vec` of exactly `len` elements copied from the start of `source`, allocated
/// fallibly once the bytes are known to be there.
// Called through `PodOps`' pointers: inlined where the pointer is a known constant.
#[inline(always)]
fn to_vec<T: Pod>(source: SharedBytes<'_>, len: usize) -> Option<Result<Vec<T>, TryReserveError>> {
    source.read_vec(0, len)
}

/// Overwrites `items` with a copy of the bytes at the start of `source`.
// Called through `PodOps`' pointers: inlined where the pointer is a known constant.
#[inline(always)]
fn fill<T: Pod>(source: SharedBytes<'_>, items: &mut [T]) -> bool {
    source.copy_to(0, items.as_mut_bytes())
}

impl<T> PodOps<T> {
    /// The memory of `items`.
    #[inline]
    pub fn as_bytes<'a>(&self, items: &'a [T]) -> &'a [u8] {
        (self.as_bytes)(items)
    }

    /// Writes one value: its bytes, without padding.
    #[inline]
    pub fn encode_one(&self, value: &T, encoder: &mut Encoder<'_>) {
        encoder.put_bytes((self.as_bytes)(core::slice::from_ref(value)));
    }

    /// Reads one value: `size_of::<T>()` bytes, without padding, copied once.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if the input is too short.
    #[inline]
    pub fn decode_one(&self, decoder: &mut Decoder<'_>) -> Result<T, DecodeError> {
        let read_one = self.read_one;
        decoder.read_with(
            core::mem::size_of::<T>(),
            core::any::type_name::<T>(),
            |bytes| read_one(bytes, 0),
        )
    }

    /// Reads `len` elements (the length is already checked and charged) into one new
    /// allocation of exactly `len` elements, filled by one copy straight from the input (no
    /// zero-fill first), without padding.
    #[inline]
    pub(crate) fn decode_vec(
        &self,
        decoder: &mut Decoder<'_>,
        len: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let what = core::any::type_name::<T>();
        let offset = decoder.position();
        let size = len.saturating_mul(core::mem::size_of::<T>());
        let to_vec = self.to_vec;
        // The bytes are checked to be there before anything is allocated.
        decoder
            .read_with(size, what, |bytes| to_vec(bytes, len))?
            .map_err(|source| DecodeError::OutOfMemory {
                offset,
                what,
                bytes: size,
                source,
            })
    }

    /// Appends `len` elements (the length is already checked and charged) to `vec`,
    /// without padding: one copy into the capacity `vec` has, grown (fallibly) only if too
    /// small, and only once the input is known to hold the elements.
    #[inline]
    pub(crate) fn decode_vec_into(
        &self,
        decoder: &mut Decoder<'_>,
        len: usize,
        vec: &mut Vec<T>,
    ) -> Result<(), DecodeError> {
        let what = core::any::type_name::<T>();
        let size = len.saturating_mul(core::mem::size_of::<T>());
        decoder.ensure(size, what)?;
        decoder.reserve(vec, len)?;
        let append = self.append;
        decoder.read_with(size, what, |bytes| append(bytes, len, vec).then_some(()))
    }

    /// Overwrites `items` (the count is already charged) with one copy, without padding.
    #[inline]
    pub(crate) fn decode_slice_into(
        &self,
        decoder: &mut Decoder<'_>,
        items: &mut [T],
    ) -> Result<(), DecodeError> {
        let fill = self.fill;
        let size = core::mem::size_of_val(items);
        decoder.read_with(size, core::any::type_name::<T>(), |bytes| {
            fill(bytes, items).then_some(())
        })
    }

    /// Reads `N` elements, each copied once, without padding.
    #[inline]
    pub(crate) fn decode_array<const N: usize>(
        &self,
        decoder: &mut Decoder<'_>,
    ) -> Result<[T; N], DecodeError> {
        let mut items: [T; N] = core::array::from_fn(|_| (self.zeroed)());
        let fill = self.fill;
        let size = core::mem::size_of::<T>().saturating_mul(N);
        decoder.read_with(size, core::any::type_name::<T>(), |bytes| {
            fill(bytes, &mut items).then_some(())
        })?;
        Ok(items)
    }
}
