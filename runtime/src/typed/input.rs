//! A transition's input as the typed controllers (blocking and async) encode it into the
//! shared buffer, and record it for replay.

use crate::codec::{encode_into, encode_slice_into, slice_encoded_len, Payload};

/// A transition's input as the typed controller encodes it: a [`Payload`] value, or a slice
/// of plain-old-data elements encoded as a `Vec` of them.
pub(crate) trait EncodeInput {
    fn input_len(&self) -> usize;
    fn encode_input(&self, bytes: &mut [u8]) -> usize;
}

impl<P: Payload> EncodeInput for P {
    fn input_len(&self) -> usize {
        self.encoded_len(0)
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        encode_into(self, bytes)
    }
}

/// An input encoded already.
pub(crate) struct EncodedInput<'a>(pub(crate) &'a [u8]);

impl EncodeInput for EncodedInput<'_> {
    fn input_len(&self) -> usize {
        self.0.len()
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        bytes[..self.0.len()].copy_from_slice(self.0);
        self.0.len()
    }
}

pub(crate) struct SliceInput<'a, E>(pub(crate) &'a [E]);

impl<E: Payload> EncodeInput for SliceInput<'_, E> {
    fn input_len(&self) -> usize {
        slice_encoded_len(self.0)
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        encode_slice_into(self.0, bytes)
    }
}
