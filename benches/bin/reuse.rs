//! The typed echoes and the codec's reused-storage decode: each refills the caller's value
//! (`TypedController::call_into`, `decode_from_into`), so a large message costs no page
//! faults after the first.

use tandem::{codec::decode_from_into, Payload};

use crate::peer::{Bench, BenchController};

/// Echoes `input` through `Bench::EchoBytes`, refilling `out`.
pub fn echo_bytes(controller: &mut BenchController, id: u64, input: &Vec<u8>, out: &mut Vec<u8>) {
    controller
        .typed_mut()
        .call_into_unchecked(Bench::EchoBytes, id, input, out)
        .expect("typed echo");
}

/// Echoes `input` through `Bench::EchoWords`, refilling `out`.
pub fn echo_words(controller: &mut BenchController, id: u64, input: &Vec<u64>, out: &mut Vec<u64>) {
    controller
        .typed_mut()
        .call_into_unchecked(Bench::EchoWords, id, input, out)
        .expect("typed echo");
}

/// Decodes `bytes` into `out`, reusing its storage.
pub fn decode_reused<T: Payload>(bytes: &[u8], out: &mut T) {
    decode_from_into(bytes, out).expect("decode");
}
