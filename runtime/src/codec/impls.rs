//! [`Payload`] for the standard types; the encoding is described in the module docs.

use super::{padding, DecodeError, Decoder, Encoder, Fingerprint, Payload, PodOps};

macro_rules! pod_primitives {
    ($($ty:ident)*) => {$(
        impl Payload for $ty {
            const FINGERPRINT: u64 = Fingerprint::new(stringify!($ty)).finish();
            const MIN_ENCODED_LEN: usize = core::mem::size_of::<$ty>();
            const POD: Option<PodOps<Self>> = Some(PodOps::new());

            #[inline]
            fn encoded_len(&self, _offset: usize) -> usize {
                core::mem::size_of::<$ty>()
            }

            #[inline]
            fn encode(&self, encoder: &mut Encoder<'_>) {
                encoder.put_bytes(&self.to_le_bytes());
            }

            #[inline]
            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                decoder.take_array(stringify!($ty)).map($ty::from_le_bytes)
            }
        }
        impl super::pod::PodPayload for $ty {}
    )*};
}

pod_primitives!(u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 f32 f64);

macro_rules! sized_as_64 {
    ($($ty:ident as $wide:ident),*) => {$(
        impl Payload for $ty {
            const FINGERPRINT: u64 = Fingerprint::new(stringify!($ty)).finish();
            const MIN_ENCODED_LEN: usize = 8;

            #[inline]
            fn encoded_len(&self, _offset: usize) -> usize {
                8
            }

            #[inline]
            fn encode(&self, encoder: &mut Encoder<'_>) {
                // Lossless: only 64-bit targets are supported.
                encoder.put_bytes(&(*self as $wide).to_le_bytes());
            }

            #[inline]
            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                let offset = decoder.position();
                let wide = $wide::from_le_bytes(decoder.take_array(stringify!($ty))?);
                $ty::try_from(wide).map_err(|_| DecodeError::OutOfRange {
                    offset,
                    type_name: stringify!($ty),
                    value: wide as u64,
                })
            }
        }
    )*};
}

sized_as_64!(usize as u64, isize as i64);

impl Payload for bool {
    const FINGERPRINT: u64 = Fingerprint::new("bool").finish();
    const MIN_ENCODED_LEN: usize = 1;

    #[inline]
    fn encoded_len(&self, _offset: usize) -> usize {
        1
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        encoder.put_u8(u8::from(*self));
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = decoder.position();
        match decoder.get_u8("bool")? {
            0 => Ok(false),
            1 => Ok(true),
            found => Err(DecodeError::InvalidBool { offset, found }),
        }
    }
}

impl Payload for char {
    const FINGERPRINT: u64 = Fingerprint::new("char").finish();
    const MIN_ENCODED_LEN: usize = 4;

    #[inline]
    fn encoded_len(&self, _offset: usize) -> usize {
        4
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        encoder.put_u32(u32::from(*self));
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = decoder.position();
        let found = decoder.get_u32("char")?;
        char::from_u32(found).ok_or(DecodeError::InvalidChar { offset, found })
    }
}

impl Payload for () {
    const FINGERPRINT: u64 = Fingerprint::new("tuple").u64(0).finish();

    #[inline]
    fn encoded_len(&self, _offset: usize) -> usize {
        0
    }

    #[inline]
    fn encode(&self, _encoder: &mut Encoder<'_>) {}

    #[inline]
    fn decode(_decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(())
    }
}

macro_rules! tuples {
    ($(($($name:ident)+))*) => {$(
        impl<$($name: Payload),+> Payload for ($($name,)+) {
            const FINGERPRINT: u64 = Fingerprint::new("tuple")
                .u64([$(stringify!($name)),+].len() as u64)
                $(.u64($name::FINGERPRINT))+
                .finish();
            const MIN_ENCODED_LEN: usize = 0usize $(.saturating_add($name::MIN_ENCODED_LEN))+;

            #[inline]
            #[allow(non_snake_case)]
            fn encoded_len(&self, offset: usize) -> usize {
                let ($($name,)+) = self;
                let mut end = offset;
                $(end += $name.encoded_len(end);)+
                end - offset
            }

            #[inline]
            #[allow(non_snake_case)]
            fn encode(&self, encoder: &mut Encoder<'_>) {
                let ($($name,)+) = self;
                $($name.encode(encoder);)+
            }

            #[inline]
            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                Ok(($($name::decode(decoder)?,)+))
            }

            #[inline]
            #[allow(non_snake_case)]
            fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
                let ($($name,)+) = self;
                $($name.decode_into(decoder)?;)+
                Ok(())
            }
        }
    )*};
}

tuples! {
    (A)
    (A B)
    (A B C)
    (A B C D)
    (A B C D E)
    (A B C D E F)
    (A B C D E F G)
    (A B C D E F G H)
    (A B C D E F G H I)
    (A B C D E F G H I J)
    (A B C D E F G H I J K)
    (A B C D E F G H I J K L)
}

impl<T: Payload> Payload for Option<T> {
    const FINGERPRINT: u64 = Fingerprint::new("Option").u64(T::FINGERPRINT).finish();
    const MIN_ENCODED_LEN: usize = 1;

    #[inline]
    fn encoded_len(&self, offset: usize) -> usize {
        match self {
            None => 1,
            Some(value) => 1 + value.encoded_len(offset + 1),
        }
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        match self {
            None => encoder.put_u8(0),
            Some(value) => {
                encoder.put_u8(1);
                value.encode(encoder);
            }
        }
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = decoder.position();
        match decoder.get_u8("Option tag")? {
            0 => Ok(None),
            1 => T::decode(decoder).map(Some),
            found => Err(DecodeError::InvalidOptionTag { offset, found }),
        }
    }

    #[inline]
    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        let offset = decoder.position();
        match (decoder.get_u8("Option tag")?, self.as_mut()) {
            (0, _) => *self = None,
            (1, Some(value)) => value.decode_into(decoder)?,
            (1, None) => *self = Some(T::decode(decoder)?),
            (found, _) => return Err(DecodeError::InvalidOptionTag { offset, found }),
        }
        Ok(())
    }
}

/// `Box<T>` encodes exactly like `T` and shares its fingerprint.
impl<T: Payload> Payload for Box<T> {
    const FINGERPRINT: u64 = T::FINGERPRINT;
    const MIN_ENCODED_LEN: usize = T::MIN_ENCODED_LEN;

    #[inline]
    fn encoded_len(&self, offset: usize) -> usize {
        (**self).encoded_len(offset)
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        (**self).encode(encoder);
    }

    /// Charges the box's allocation, `size_of::<T>()` bytes, before decoding `T`: a `Box`
    /// cannot report a failed allocation on stable Rust, so it is bounded before it is made.
    #[inline]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        decoder.charge_memory(core::mem::size_of::<T>(), core::any::type_name::<T>())?;
        T::decode(decoder).map(Box::new)
    }

    /// Charged as [`decode`](Payload::decode), so that both succeed or fail alike.
    #[inline]
    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        decoder.charge_memory(core::mem::size_of::<T>(), core::any::type_name::<T>())?;
        (**self).decode_into(decoder)
    }
}

impl Payload for String {
    const FINGERPRINT: u64 = Fingerprint::new("String").finish();
    const MIN_ENCODED_LEN: usize = 8;

    #[inline]
    fn encoded_len(&self, _offset: usize) -> usize {
        8 + self.len()
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        encoder.put_len(self.len());
        encoder.put_bytes(self.as_bytes());
    }

    // Inlined for the reason `decode_vec` is.
    #[inline(always)]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let len = decoder.get_len::<u8>()?;
        // Copied into the string's own buffer, then validated there: the bytes checked are
        // the bytes kept, whatever the peer writes meanwhile.
        decoder.read_string(len)
    }

    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        let len = decoder.get_len::<u8>()?;
        let offset = decoder.position();
        let mut bytes = core::mem::take(self).into_bytes();
        bytes.clear();
        // As in `decode`: copied into the string's own buffer, validated there.
        let copied = PodOps::<u8>::new().decode_vec_into(decoder, len, &mut bytes);
        let (error, mut bytes) = match copied {
            Err(error) => (error, bytes),
            Ok(()) => match crate::sys::alloc::string_from_utf8(bytes) {
                Ok(string) => {
                    *self = string;
                    return Ok(());
                }
                Err(error) => (
                    DecodeError::InvalidUtf8 {
                        offset,
                        source: error.utf8_error(),
                    },
                    error.into_bytes(),
                ),
            },
        };
        // Keep the buffer for the next decode, empty: a valid string.
        bytes.clear();
        *self = String::from_utf8(bytes).unwrap_or_default();
        Err(error)
    }
}

/// Bytes of `items` written without a length prefix, starting at `offset`.
#[inline]
pub(super) fn seq_encoded_len<T: Payload>(items: &[T], offset: usize) -> usize {
    match T::POD {
        Some(ops) => padding(offset, ops.align) + core::mem::size_of_val(items),
        None => {
            let mut end = offset;
            for item in items {
                end += item.encoded_len(end);
            }
            end - offset
        }
    }
}

/// Writes `items` without a length prefix: one copy after padding for plain old data.
#[inline]
pub(super) fn encode_seq<T: Payload>(items: &[T], encoder: &mut Encoder<'_>) {
    match T::POD {
        Some(ops) => {
            encoder.pad_to(ops.align);
            encoder.put_bytes(ops.as_bytes(items));
        }
        None => {
            for item in items {
                item.encode(encoder);
            }
        }
    }
}

/// Reads `len` elements (the length is already checked, and the elements and their memory
/// charged) into one allocation of exactly `len` elements, reserved fallibly first
/// (plain-old-data elements after the check that their bytes are there).
///
/// Inlined for plain old data (a few checks and one copy), so that the caller receives the
/// `Vec` in registers: a `Vec` returned through memory and copied at once by the caller
/// with wider loads than the callee's stores stalls on store forwarding.
#[inline]
fn decode_vec<T: Payload>(decoder: &mut Decoder<'_>, len: usize) -> Result<Vec<T>, DecodeError> {
    match T::POD {
        Some(ops) => {
            decoder.skip_padding(ops.align)?;
            ops.decode_vec(decoder, len)
        }
        None => decode_elements(decoder, len),
    }
}

/// [`decode_vec`] for elements that are not plain old data: one at a time, each built in
/// its place in the `Vec` ([`Payload::decode_in_place`]).
fn decode_elements<T: Payload>(
    decoder: &mut Decoder<'_>,
    len: usize,
) -> Result<Vec<T>, DecodeError> {
    let mut vec = decoder.vec_with_capacity(len)?;
    crate::sys::alloc::extend_in_place(&mut vec, len, |slot| T::decode_in_place(decoder, slot))?;
    Ok(vec)
}

impl<T: Payload> Payload for Vec<T> {
    const FINGERPRINT: u64 = Fingerprint::new("Vec").u64(T::FINGERPRINT).finish();
    const MIN_ENCODED_LEN: usize = 8;

    #[inline]
    fn encoded_len(&self, offset: usize) -> usize {
        8 + seq_encoded_len(self, offset + 8)
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        encoder.put_len(self.len());
        encode_seq(self, encoder);
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let len = decoder.get_len::<T>()?;
        decode_vec(decoder, len)
    }

    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        let len = decoder.get_len::<T>()?;
        match T::POD {
            Some(ops) => {
                decoder.skip_padding(ops.align)?;
                self.clear();
                ops.decode_vec_into(decoder, len, self)
            }
            None => {
                self.truncate(len);
                // Charged by `get_len` as a fresh decode's allocation.
                decoder.reserve(self, len - self.len())?;
                for item in self.iter_mut() {
                    item.decode_into(decoder)?;
                }
                for _ in self.len()..len {
                    self.push(T::decode(decoder)?);
                }
                Ok(())
            }
        }
    }
}

impl<T: Payload, const N: usize> Payload for [T; N] {
    const FINGERPRINT: u64 = Fingerprint::new("array")
        .u64(N as u64)
        .u64(T::FINGERPRINT)
        .finish();
    const MIN_ENCODED_LEN: usize = N.saturating_mul(T::MIN_ENCODED_LEN);

    #[inline]
    fn encoded_len(&self, offset: usize) -> usize {
        seq_encoded_len(self, offset)
    }

    #[inline]
    fn encode(&self, encoder: &mut Encoder<'_>) {
        encode_seq(self, encoder);
    }

    /// Charges `N` elements, and for elements that are not plain old data the `Vec` of `N`
    /// elements they are decoded into before they are moved into the array.
    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        decoder.charge(N as u64, core::any::type_name::<T>())?;
        if let Some(ops) = T::POD {
            decoder.skip_padding(ops.align)?;
            return ops.decode_array::<N>(decoder);
        }
        let offset = decoder.position();
        decoder.ensure(Self::MIN_ENCODED_LEN, core::any::type_name::<Self>())?;
        decoder.charge_memory(core::mem::size_of::<Self>(), core::any::type_name::<Self>())?;
        let vec = decode_vec::<T>(decoder, N)?;
        // `decode_vec` returned exactly `N` elements, so the conversion cannot fail.
        <[T; N]>::try_from(vec).map_err(|vec| DecodeError::UnexpectedEnd {
            offset,
            what: core::any::type_name::<Self>(),
            needed: N,
            available: vec.len(),
        })
    }

    /// Charged as [`decode`](Payload::decode), so that both succeed or fail alike.
    fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
        decoder.charge(N as u64, core::any::type_name::<T>())?;
        if let Some(ops) = T::POD {
            decoder.skip_padding(ops.align)?;
            return ops.decode_slice_into(decoder, self);
        }
        decoder.ensure(Self::MIN_ENCODED_LEN, core::any::type_name::<Self>())?;
        decoder.charge_memory(core::mem::size_of::<Self>(), core::any::type_name::<Self>())?;
        for item in self {
            item.decode_into(decoder)?;
        }
        Ok(())
    }
}
