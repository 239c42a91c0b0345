//! The [`Payload`] trait and its fixed, validated binary encoding.
//!
//! Values cross the process boundary as bytes written by [`Encoder`] straight into a shared
//! buffer and read back by [`Decoder`]. The encoding is decided by the Rust type alone (there
//! is no self-description in the bytes), so both processes must agree on the type; they check
//! that with [`Payload::FINGERPRINT`] before exchanging data.
//!
//! # Encoding
//!
//! All numbers are little-endian; tandem supports only little-endian 64-bit targets (it fails
//! to compile elsewhere), so the same type encodes to the same bytes in every build.
//!
//! | type | bytes |
//! | --- | --- |
//! | `()`, unit structs | nothing |
//! | `bool` | 1 byte, 0 or 1 (anything else is an error) |
//! | `u8`..`u128`, `i8`..`i128`, `f32`, `f64` | their little-endian bytes, no alignment |
//! | `usize`, `isize` | 8 bytes as `u64` / `i64`; checked to fit when decoded |
//! | `char` | 4 bytes as `u32`; must be a Unicode scalar value |
//! | `Option<T>` | tag byte 0 (`None`) or 1 (`Some`) then `T` |
//! | `Box<T>` | `T` |
//! | tuples, structs | their fields in order, no padding, no field names |
//! | enums | variant tag `u32` (0, 1, ... in declaration order; explicit discriminants are ignored) then the variant's fields |
//! | `String` | length `u64` (bytes) then the UTF-8 bytes, validated |
//! | `Vec<T>` | length `u64` (elements) then the elements, see below |
//! | `[T; N]` | the `N` elements, see below; no length |
//! | `BTreeMap`, `HashMap` | length `u64` then `(key, value)` pairs in iteration order |
//! | `BTreeSet`, `HashSet` | length `u64` then the keys in iteration order |
//!
//! Maps and sets reject a key seen twice, and accept entries in any order: a `BTreeMap` and
//! a `HashMap` with the same key and value types encode alike and share a fingerprint, so
//! either side may pick either. `BTreeMap`/`BTreeSet` encode in key order; `HashMap`/`HashSet`
//! iteration order is not deterministic, so equal hash maps may encode to different (equally
//! valid) bytes.
//!
//! ## Plain old data
//!
//! A type is *plain old data* (POD) when its memory is its encoding: the primitive integers
//! and floats, and structs marked `#[payload(pod)]`, which must derive zerocopy's `IntoBytes`,
//! `FromBytes` and `Immutable` (so `#[repr(C)]`, no padding, every bit pattern valid). A POD
//! value alone is written as its memory bytes with no padding. A `Vec<T>` or `[T; N]` of POD
//! `T` is written as zero padding up to the next multiple of `align_of::<T>()` (counted from
//! the buffer start, which is page-aligned in shared memory), then all elements in one copy.
//! Decoding copies them into one allocation of exactly the right size, straight from the
//! input (no zero-fill first), or borrows them in place from private or trusted bytes with
//! [`decode_pod_slice`]. Whether a derived type is POD, its size and its alignment are part
//! of its fingerprint. `[T; N]` itself is not POD: a `Vec<[f32; 3]>` is a sequence of
//! arrays, each copied in bulk; wrap the array in a `#[payload(pod)]` struct to get one copy
//! for the whole vector.
//!
//! # Reading shared memory once
//!
//! The controller decodes its worker's reply where the worker wrote it, and a buggy or
//! hostile worker may keep rewriting it meanwhile. [`decode_shared`] and
//! [`Decoder::from_shared`] read from [`SharedBytes`], which lends no
//! reference into that memory, and follow the kernel's `copy_from_user` discipline: every
//! length prefix, tag and scalar is loaded once into a local and validated there; payload
//! bytes are copied once, straight into their final allocation (the `Vec`'s or `String`'s
//! buffer), and validated in that copy (UTF-8). No interleaving of concurrent writes can
//! therefore produce an invalid `String`, `char`, `bool` or enum value, or make a check and a
//! use see different bytes: the decoded value is some valid value, or the decode fails. No
//! value decoded from `SharedBytes` borrows from it; borrowing in place ([`decode_pod_slice`])
//! takes a `&[u8]`, which is a promise that nobody writes the bytes while it lives.
//! [`decode_from`] decodes private bytes through the same code.
//!
//! # Decoding into reused storage
//!
//! [`Payload::decode_into`], [`decode_shared_into`] and [`decode_from_into`] decode into an
//! existing value instead of a new one, with the same validation and the same result as a
//! fresh decode. A `Vec` of plain old data is cleared and refilled by one copy into the
//! capacity it has (growing it only if it is too small); a `Vec` of other elements decodes
//! into the elements it holds, drops the ones past the new length and appends the missing
//! ones; `String`s keep their buffer; hash maps and sets are cleared and refilled, keeping
//! their table; `Option`, `Box`, arrays, tuples and derived structs decode field by field;
//! a derived enum decodes in place when the new value has the same variant, and replaces
//! the old value otherwise. A caller that decodes a large message at every transition into
//! the previous message's storage thus allocates and faults its memory in only once (see
//! [`TypedController::call_into_unchecked`](crate::TypedController::call_into_unchecked)).
//!
//! When the decode fails, the value is left valid, but it may be changed: part of it may
//! hold the new bytes, and a vector may be shorter than before.
//!
//! # Validation and limits
//!
//! For every byte sequence, decoding returns a value or a [`DecodeError`] naming the byte
//! offset and, through [`DecodeError::InField`], the field path. It never panics and never
//! aborts the process, and the memory it reserves and the work it does are bounded by a
//! multiple of the input's length, for every type the derive accepts (recursive types,
//! elements that encode to nothing and elements far larger than their encoding included):
//! - a length prefix is checked against the remaining bytes divided by the minimum encoded
//!   size of one element before anything is allocated (for recursive types the derive counts
//!   what every reference back costs: a `Vec<Self>`'s length prefix, an `Option`'s tag);
//! - every element of a sequence (`Vec`, array, map, set, `String` bytes) is charged against
//!   an *element budget* of [`BUDGET_PER_BYTE`] elements per input byte plus
//!   [`BUDGET_BASE`], counted over the whole value and charged when the length is read,
//!   before the elements are decoded; a value that needs more is refused with
//!   [`DecodeError::BudgetExceeded`]. This bounds the work: a `Vec<()>` announcing 2^60
//!   elements is refused before the first one. Every element that takes input bytes takes at
//!   least one, so a valid value exceeds the budget only if it holds thousands of elements
//!   that encode to nothing (`()`, unit structs, `[T; 0]`) or fixed-size arrays nested eight
//!   deep;
//! - every allocation the input drives is charged against a *memory budget* of
//!   [`MEMORY_PER_BYTE`] bytes per input byte plus [`MEMORY_BASE`], with the bytes it takes,
//!   before it is made, then made fallibly; see [Decoding and memory](#decoding-and-memory);
//! - derived types may nest at most [`MAX_DEPTH`] levels deep, so recursive types cannot
//!   overflow the stack;
//! - padding bytes must be zero and [`decode_from`] rejects trailing bytes, so every value has
//!   exactly one encoding, except that map and set entries may come in any order.
//!
//! # Decoding and memory
//!
//! **A decode of `n` input bytes holds at most `K × n + C` bytes of heap at once, with
//! `K` = [`MEMORY_PER_BYTE`] = 32 and `C` = [`MEMORY_BASE`] + 16 KiB = 80 KiB**, whatever the
//! bytes (not counting the input itself, nor the storage a value decoded into already held).
//! The charges per collection, made once when its length is read, not per element:
//!
//! | allocation | charged |
//! | --- | --- |
//! | `Vec<T>` (and a `String`'s bytes) | `len × size_of::<T>()`, then exactly that is reserved with `try_reserve_exact` |
//! | `Box<T>` | `size_of::<T>()`, before the box is made (it cannot fail gracefully) |
//! | `[T; N]` of non-plain-old-data `T` | `size_of::<[T; N]>()`: the `Vec` it is decoded into first |
//! | `HashMap`, `HashSet` | the table for `len` entries (buckets × (entry + 1) + control bytes), reserved with `try_reserve` |
//! | `BTreeMap`, `BTreeSet` | `(1 + len / 5)` nodes of 11 entries (nodes are made as entries are inserted and cannot fail gracefully) |
//!
//! Charges depend only on the bytes and the type, never on storage a value already holds, so
//! [`Payload::decode_into`] succeeds or fails exactly as [`Payload::decode`] does. Nothing
//! charged is refunded, so the sum of the reservations, and therefore the peak, stays within
//! the budget; `C` adds 16 KiB for the error path (at most [`MAX_DEPTH`] boxed
//! [`DecodeError::InField`] contexts). A value that needs more is refused with
//! [`DecodeError::MemoryBudgetExceeded`]; an allocation the system refuses within the
//! budget (a process near its `ulimit -v`) is [`DecodeError::OutOfMemory`], never an abort.
//!
//! `K` = 32 covers the usual shapes with room to spare (a `Vec<String>` takes 3 bytes of
//! memory per input byte, a recursive tree 3 to 4, a `Vec<Option<String>>` of `None`s 24).
//! A valid value is refused only when it is mostly elements far larger in memory than in
//! their encoding: a `Vec<Option<[u8; 4096]>>` of `None`s (4097 bytes per input byte), an
//! enum whose unit variants sit beside a large one. Box the large part: an
//! `Option<Box<[u8; 4096]>>` takes 8 bytes when `None`, and its 4096 bytes only when they
//! are in the input. The file `docs/decoding.md` of the repository explains the bound in
//! full.
//!
//! # Fingerprints
//!
//! [`Payload::FINGERPRINT`] is a 64-bit FNV-1a hash computed at compile time over a
//! structural description: for derived types the kind (struct, enum), the type name (without
//! its module path), field and variant names in order, and the field types' fingerprints;
//! for containers their name and their parameters' fingerprints. Renaming, reordering or
//! retyping anything changes it. A field whose type mentions the deriving type itself (such as
//! `Vec<Tree>` inside `Tree`) contributes a self-reference marker and its type as written
//! instead; types that are recursive only through *another* type (`A` holds `B` holds `A`)
//! are not supported and fail to compile with a cycle error.
//!
//! # Examples
//!
//! The codec works on its own, without a channel or a second process: derive [`Payload`],
//! encode to bytes (for a file, a socket, a buffer of your own), decode them back. Decoding
//! checks everything it reads, so truncated or altered bytes are an error, never a panic.
//!
//! ```
//! use tandem::{decode_from, encode_to_vec, DecodeError, Payload};
//!
//! #[derive(Payload, Debug, PartialEq)]
//! enum Hit {
//!     Pixel { x: u16, y: u16 },
//!     Strip(u32),
//! }
//!
//! #[derive(Payload, Debug, PartialEq)]
//! struct Event {
//!     id: u64,
//!     hits: Vec<Hit>,
//!     note: Option<String>,
//! }
//!
//! let event = Event {
//!     id: 17,
//!     hits: vec![Hit::Pixel { x: 3, y: 4 }, Hit::Strip(9)],
//!     note: Some("calibration".to_owned()),
//! };
//! let bytes = encode_to_vec(&event);
//! assert_eq!(decode_from::<Event>(&bytes)?, event);
//!
//! // Cut short, or read as another type: an error.
//! assert!(decode_from::<Event>(&bytes[..bytes.len() - 1]).is_err());
//! assert!(decode_from::<Hit>(&bytes).is_err());
//! // Two programs check that they agree on the type before exchanging bytes.
//! assert_ne!(Event::FINGERPRINT, Hit::FINGERPRINT);
//! # Ok::<(), DecodeError>(())
//! ```
//!
//! Any `Payload` encodes into a buffer of exactly [`Payload::encoded_len`] bytes:
//!
//! ```
//! use tandem::{Payload, codec::encode_into, decode_from};
//!
//! let value = (7u32, String::from("seven"), vec![Some(true), None]);
//! let mut buffer = vec![0; value.encoded_len(0)];
//! assert_eq!(encode_into(&value, &mut buffer), buffer.len());
//! assert_eq!(decode_from::<(u32, String, Vec<Option<bool>>)>(&buffer).unwrap(), value);
//! ```

#[cfg(not(all(target_endian = "little", target_pointer_width = "64")))]
compile_error!("tandem's codec supports only little-endian 64-bit targets");

mod budget;
mod decoder;
mod encoder;
mod error;
mod fingerprint;
mod impls;
mod maps;
mod pod;
#[cfg(test)]
mod tests;

pub use crate::sys::shared_bytes::SharedBytes;
pub use decoder::Decoder;
pub use encoder::Encoder;
pub use error::DecodeError;
pub use fingerprint::Fingerprint;
pub use pod::PodPayload;

use crate::sys::alloc::{Filled, Slot};
use pod::PodOps;

/// The deepest nesting of derived types that [`Decoder`] accepts.
pub const MAX_DEPTH: u32 = 256;

/// Elements a decode may charge per input byte, on top of [`BUDGET_BASE`]: the element
/// budget, which bounds the work; see [Validation and limits](self#validation-and-limits).
/// Every element that takes input bytes takes at least one, so 8 leaves room for fixed-size
/// arrays nested inside sequences and values whose elements encode to nothing, while
/// bounding hostile input to 8 elements' work per byte.
pub const BUDGET_PER_BYTE: usize = 8;

/// Elements a decode may charge whatever the input's length: room for a few thousand
/// elements that encode to nothing (`Vec<()>`, `[Unit; 64]`) in a small message.
pub const BUDGET_BASE: usize = 4096;

/// Bytes of memory a decode may reserve per input byte, on top of [`MEMORY_BASE`]: the
/// memory budget, `K` in the bound "peak heap ≤ K × input bytes + C" (see [Decoding and
/// memory](self#decoding-and-memory)). 32 covers the values whose memory is largest next to
/// their encoding among the usual shapes: a `Vec<Option<String>>` of `None`s takes 24 bytes
/// per encoded byte, a `BTreeMap` of one-byte entries up to 25.
pub const MEMORY_PER_BYTE: usize = 32;

/// Bytes of memory a decode may reserve whatever the input's length (64 KiB): room for
/// small messages whose values are large next to their few bytes (a `Box<[u64; 512]>` of
/// zeros, a one-entry map, a handful of `Option<[u8; 4096]>`).
pub const MEMORY_BASE: usize = 64 * 1024;

/// A type that can cross the process boundary: it has a fixed binary encoding and a
/// structural fingerprint.
///
/// Derive it with `#[derive(tandem::Payload)]`; the module documentation describes the
/// encoding. Implementing it by hand is possible: `encoded_len` must return exactly the
/// number of bytes `encode` writes, and `decode` must read exactly those bytes back. To stay
/// within the decode's budgets (see [Decoding and memory](self#decoding-and-memory)), read a
/// sequence's length with [`Decoder::get_len`] (which charges its elements and a
/// `Vec`'s memory for them; or charge elements with [`Decoder::charge`]), charge any other
/// memory whose size the input decides with [`Decoder::charge_memory`] before allocating
/// it, and allocate fallibly ([`Decoder::reserve`]), so that a hostile input is an error,
/// not an abort. `decode_into` must charge what `decode` charges.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `Payload`",
    label = "not a `Payload`",
    note = "derive it with `#[derive(tandem::Payload)]`, or use an owned type tandem supports: bool, integers, floats, char, String, Vec, Option, Box, arrays, tuples, maps and sets",
    note = "a value is copied into the other process: for `Arc`, `Rc`, `Cell`, `RefCell`, `Mutex` or atomics, send the value inside"
)]
pub trait Payload: Sized {
    /// Structural fingerprint of the type; see the [module documentation](self#fingerprints).
    const FINGERPRINT: u64;

    /// A lower bound of the bytes any value encodes to, padding not counted. Bounds the
    /// element count a length prefix may announce.
    #[doc(hidden)]
    const MIN_ENCODED_LEN: usize = 0;

    /// `Some` for plain-old-data types: the memory of a value is its encoding.
    #[doc(hidden)]
    const POD: Option<PodOps<Self>> = None;

    /// Exact number of bytes `encode` writes when it starts at absolute `offset` from the
    /// buffer start (the offset matters only for alignment padding of plain-old-data
    /// sequences).
    fn encoded_len(&self, offset: usize) -> usize;

    /// Writes the encoding; the encoder has room for `encoded_len(encoder.position())` bytes.
    fn encode(&self, encoder: &mut Encoder<'_>);

    /// Reads one value, validating every byte.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] if the bytes are not a valid encoding of `Self`.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// Reads one value into `slot` and returns the proof that it did: what a `Vec` of `Self`
    /// decodes its elements with, so that each is built in the `Vec`'s buffer instead of
    /// being returned and moved there. Validates exactly what [`decode`](Self::decode)
    /// does; the default calls it. The derive builds the value in the slot.
    #[doc(hidden)]
    #[inline]
    fn decode_in_place<'id>(
        decoder: &mut Decoder<'_>,
        slot: Slot<'_, 'id, Self>,
    ) -> Result<Filled<'id>, DecodeError> {
        Self::decode(decoder).map(|value| slot.write(value))
    }

    /// Reads one value into `self`, reusing its storage where it can: the allocations of
    /// vectors, strings, boxes and hash tables, and the fields of the same enum variant.
    /// The result equals what [`decode`](Self::decode) returns for the same bytes.
    ///
    /// A caller that receives a large value every transition decodes it into the previous
    /// one (see [Decoding into reused storage](self#decoding-into-reused-storage)), so that
    /// memory is allocated and faulted in once, not at every call.
    ///
    /// The default decodes a fresh value and replaces `self` with it; implement it for a
    /// type that holds an allocation. The derive implements it field by field.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode). On error `self` is left a valid value, but possibly
    /// neither the old one nor the new one (part of it may have been decoded already).
    #[inline]
    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        *self = Self::decode(decoder)?;
        Ok(())
    }
}

/// Encodes `value` at the start of `bytes`, which must hold at least `value.encoded_len(0)`
/// bytes; returns the number of bytes written.
///
/// # Panics
///
/// If `bytes` is shorter than `value.encoded_len(0)`.
pub fn encode_into<T: Payload>(value: &T, bytes: &mut [u8]) -> usize {
    let mut encoder = Encoder::new(bytes);
    value.encode(&mut encoder);
    encoder.position()
}

/// Encodes `value` into a new `Vec` of exactly `value.encoded_len(0)` bytes (convenient for
/// tests; the channel layer encodes straight into shared memory with [`encode_into`]).
pub fn encode_to_vec<T: Payload>(value: &T) -> Vec<u8> {
    let mut bytes = vec![0; value.encoded_len(0)];
    encode_into(value, &mut bytes);
    bytes
}

/// Length of `items` encoded exactly as a `Vec<T>` holding them.
pub(crate) fn slice_encoded_len<T: Payload>(items: &[T]) -> usize {
    8 + impls::seq_encoded_len(items, 8)
}

/// Encodes `items` exactly as a `Vec<T>` holding them, at the start of `bytes` (at least
/// [`slice_encoded_len`] long); returns the number of bytes written.
pub(crate) fn encode_slice_into<T: Payload>(items: &[T], bytes: &mut [u8]) -> usize {
    let mut encoder = Encoder::new(bytes);
    encoder.put_len(items.len());
    impls::encode_seq(items, &mut encoder);
    encoder.position()
}

/// Borrows the plain-old-data elements of a `Vec<T>` encoding that spans all of `bytes`, in
/// place, without copying.
///
/// A `&[u8]` promises that nobody writes the bytes while the result lives: pass only private
/// bytes, or memory of a peer you trust not to write it meanwhile (a worker reading its
/// controller's input). To read memory a peer may rewrite, decode a `Vec<T>` with
/// [`decode_shared`] instead, which copies.
///
/// # Errors
///
/// The errors of [`Decoder::get_len`] and [`Decoder::skip_padding`],
/// [`DecodeError::Misaligned`] if the elements are not aligned for `T` in memory (`bytes`
/// must start at an address aligned for `T`, as a shared-memory mapping does), and
/// [`DecodeError::TrailingBytes`] if bytes are left after them.
pub fn decode_pod_slice<T>(bytes: &[u8]) -> Result<&[T], DecodeError>
where
    T: Payload + zerocopy::FromBytes + zerocopy::Immutable,
{
    const {
        assert!(
            T::POD.is_some(),
            "`decode_pod_slice` needs a plain-old-data `Payload` type"
        )
    };
    // The prefix and padding are read (copied) by a decoder; only the elements are lent.
    let mut decoder = Decoder::new(bytes);
    let len = decoder.get_len::<T>()?;
    decoder.skip_padding(core::mem::align_of::<T>())?;
    let offset = decoder.position();
    let size = len.saturating_mul(core::mem::size_of::<T>());
    decoder.skip(size, core::any::type_name::<T>())?;
    if decoder.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.position(),
            len: bytes.len(),
        });
    }
    let elements = bytes.get(offset..).unwrap_or_default();
    <[T] as zerocopy::FromBytes>::ref_from_bytes(elements).map_err(|_| DecodeError::Misaligned {
        offset,
        align: core::mem::align_of::<T>(),
    })
}

/// Decodes exactly one `T` that must span all of `bytes`, memory another process may
/// rewrite meanwhile: every byte is read once, and the value is validated in private memory
/// (see [Reading shared memory once](self#reading-shared-memory-once)).
///
/// # Examples
///
/// ```
/// use tandem::{codec::{SharedBytes, decode_shared}, encode_to_vec};
///
/// let bytes = encode_to_vec(&(String::from("reply"), vec![1u32, 2]));
/// // In the controller the bytes are the worker's reply buffer; here, private ones.
/// let (text, numbers): (String, Vec<u32>) =
///     decode_shared(SharedBytes::from_private(&bytes)).unwrap();
/// assert_eq!((text.as_str(), numbers.as_slice()), ("reply", &[1, 2][..]));
/// ```
///
/// # Errors
///
/// A [`DecodeError`] if the bytes are not a valid encoding of `T`, including
/// [`DecodeError::TrailingBytes`] if bytes are left after it.
pub fn decode_shared<T: Payload>(bytes: SharedBytes<'_>) -> Result<T, DecodeError> {
    let mut decoder = Decoder::from_shared(bytes);
    let value = T::decode(&mut decoder)?;
    if decoder.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.position(),
            len: bytes.len(),
        });
    }
    Ok(value)
}

/// Decodes exactly one `T` that must span all of `bytes` into `out`, reusing its storage
/// (see [`Payload::decode_into`]); otherwise as [`decode_shared`].
///
/// # Examples
///
/// ```
/// use tandem::{codec::{SharedBytes, decode_shared_into}, encode_to_vec};
///
/// let mut samples: Vec<f32> = Vec::new();
/// for event in 0..3 {
///     let bytes = encode_to_vec(&vec![event as f32; 1000]);
///     // The first call allocates; the later ones refill the same buffer.
///     decode_shared_into(SharedBytes::from_private(&bytes), &mut samples).unwrap();
///     assert_eq!(samples, vec![event as f32; 1000]);
/// }
/// ```
///
/// # Errors
///
/// As [`decode_shared`]. On error `out` is a valid value, possibly changed.
pub fn decode_shared_into<T: Payload>(
    bytes: SharedBytes<'_>,
    out: &mut T,
) -> Result<(), DecodeError> {
    let mut decoder = Decoder::from_shared(bytes);
    out.decode_into(&mut decoder)?;
    if decoder.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.position(),
            len: bytes.len(),
        });
    }
    Ok(())
}

/// Decodes exactly one `T` that must span all of `bytes`, private bytes of this process,
/// into `out`, reusing its storage (see [`Payload::decode_into`]).
///
/// # Errors
///
/// As [`decode_from`]. On error `out` is a valid value, possibly changed.
pub fn decode_from_into<T: Payload>(bytes: &[u8], out: &mut T) -> Result<(), DecodeError> {
    decode_shared_into(SharedBytes::from_private(bytes), out)
}

/// Decodes exactly one `T` that must span all of `bytes`, private bytes of this process.
///
/// # Errors
///
/// A [`DecodeError`] if the bytes are not a valid encoding of `T`, including
/// [`DecodeError::TrailingBytes`] if bytes are left after it.
pub fn decode_from<T: Payload>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_shared(SharedBytes::from_private(bytes))
}

/// Zero bytes needed after `offset` to reach a multiple of `align` (a power of two).
#[inline]
pub(crate) const fn padding(offset: usize, align: usize) -> usize {
    offset.wrapping_neg() & (align - 1)
}

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use super::pod::{Pod, PodOps};
    pub use super::{DecodeError, Decoder, Encoder, Fingerprint, Payload, PodPayload, MAX_DEPTH};
    pub use crate::sys::alloc::{Filled, Slot};
    pub use zerocopy;

    /// Stands for the deriving type in its own fields when the derive computes
    /// `MIN_ENCODED_LEN`: `Vec<Tree>` inside `Tree` is measured as `Vec<SelfRef>` (8 bytes,
    /// its length prefix), `Option<Box<Tree>>` as `Option<Box<SelfRef>>` (1 byte, its tag),
    /// without the const cycle that `Tree`'s own constant would make. Counting the reference
    /// back as 0 bytes gives a lower bound, which is all a minimum has to be. Uninhabited: it
    /// is measured, never encoded or decoded (decoding it fails like an enum without
    /// variants). It implements what the standard collections ask of their elements, so that
    /// `BTreeSet<Tree>` or `HashMap<Tree, u8>` can stand as `BTreeSet<SelfRef>`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum SelfRef {}

    impl Payload for SelfRef {
        const FINGERPRINT: u64 = Fingerprint::new("self-reference").finish();

        fn encoded_len(&self, _offset: usize) -> usize {
            match *self {}
        }

        fn encode(&self, _encoder: &mut Encoder<'_>) {
            match *self {}
        }

        fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
            let offset = decoder.position();
            let found = decode_tag(decoder, "SelfRef")?;
            Err(invalid_variant(offset, "SelfRef", 0, found))
        }
    }

    /// Adds the context "in field `field` of `type_name`" to `error`.
    #[cold]
    pub fn in_field(
        error: DecodeError,
        type_name: &'static str,
        field: &'static str,
    ) -> DecodeError {
        error.in_field(type_name, field)
    }

    /// Reads an enum's variant tag (validated by the caller's `match`).
    #[inline]
    pub fn decode_tag(
        decoder: &mut Decoder<'_>,
        type_name: &'static str,
    ) -> Result<u32, DecodeError> {
        decoder.get_u32(type_name)
    }

    /// The error for a tag that names no variant.
    #[cold]
    pub fn invalid_variant(
        offset: usize,
        type_name: &'static str,
        variants: u32,
        found: u32,
    ) -> DecodeError {
        DecodeError::InvalidVariant {
            offset,
            type_name,
            variants,
            found,
        }
    }

    /// The smallest of `lens` (0 for none), for an enum's `MIN_ENCODED_LEN`.
    pub const fn min_len(lens: &[usize]) -> usize {
        if lens.is_empty() {
            return 0;
        }
        let mut min = lens[0];
        let mut i = 1;
        while i < lens.len() {
            if lens[i] < min {
                min = lens[i];
            }
            i += 1;
        }
        min
    }

    /// Size and alignment of a plain-old-data type, for its fingerprint.
    pub const fn pod_layout<T: Pod>(fingerprint: Fingerprint) -> Fingerprint {
        fingerprint
            .str("pod")
            .u64(core::mem::size_of::<T>() as u64)
            .u64(core::mem::align_of::<T>() as u64)
    }
}
