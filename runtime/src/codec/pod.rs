//! Plain old data: types whose memory *is* their encoding, copied in bulk.

use super::{DecodeError, Decoder, Encoder};
use zerocopy::{FromBytes, Immutable, IntoBytes};

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
    read_vec: fn(&[u8], usize) -> Vec<T>,
    read_one: fn(&[u8]) -> T,
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
            read_vec: read_vec::<T>,
            read_one: read_one::<T>,
        }
    }
}

impl<T: Pod> Default for PodOps<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// One allocation, one `memcpy`. `bytes` holds exactly `len` elements (checked by the caller).
fn read_vec<T: Pod>(bytes: &[u8], len: usize) -> Vec<T> {
    let mut vec = Vec::with_capacity(len);
    vec.resize_with(len, T::new_zeroed);
    let target = vec.as_mut_slice().as_mut_bytes();
    if let Some(source) = bytes.get(..target.len()) {
        target.copy_from_slice(source);
    }
    vec
}

/// An unaligned copy of one element. `bytes` holds exactly one (checked by the caller).
fn read_one<T: Pod>(bytes: &[u8]) -> T {
    T::read_from_prefix(bytes).map_or_else(|_| T::new_zeroed(), |(value, _)| value)
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

    /// Reads one value: `size_of::<T>()` bytes, without padding.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedEnd`] if the input is too short.
    #[inline]
    pub fn decode_one(&self, decoder: &mut Decoder<'_>) -> Result<T, DecodeError> {
        let bytes = decoder.take(core::mem::size_of::<T>(), core::any::type_name::<T>())?;
        Ok((self.read_one)(bytes))
    }

    /// Reads `len` elements from `bytes`, which holds exactly that many.
    #[inline]
    pub(crate) fn read_vec(&self, bytes: &[u8], len: usize) -> Vec<T> {
        (self.read_vec)(bytes, len)
    }

    /// Reads one element from `bytes`, which holds exactly one.
    #[inline]
    pub(crate) fn read_one(&self, bytes: &[u8]) -> T {
        (self.read_one)(bytes)
    }
}
