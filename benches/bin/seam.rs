//! The one place that calls APIs being added in parallel (decoding into reused storage,
//! issue 10). Until they land, each function does what the current API allows, so the
//! figures measure the library as it is on this branch; when they land, change only the
//! marked lines here.

use tandem::{decode_from, Payload};

use crate::peer::{Bench, BenchController};

/// Whether the typed echoes and `decode_reused` reuse the caller's storage (`false`: they
/// decode into a fresh value and replace it, the only way before `call_into`/`decode_into`).
pub const DECODES_INTO_REUSED_STORAGE: bool = false;

/// Echoes `input` through `Bench::EchoBytes`, leaving the reply in `out`.
pub fn echo_bytes(controller: &mut BenchController, id: u64, input: &Vec<u8>, out: &mut Vec<u8>) {
    // SEAM(call_into): `controller.typed_mut().call_into(Bench::EchoBytes, id, input, out)`.
    *out = controller
        .typed_mut()
        .call::<Vec<u8>, Vec<u8>>(Bench::EchoBytes, id, input)
        .expect("typed echo")
        .output;
}

/// Echoes `input` through `Bench::EchoWords`, leaving the reply in `out`.
pub fn echo_words(controller: &mut BenchController, id: u64, input: &Vec<u64>, out: &mut Vec<u64>) {
    // SEAM(call_into): `controller.typed_mut().call_into(Bench::EchoWords, id, input, out)`.
    *out = controller
        .typed_mut()
        .call::<Vec<u64>, Vec<u64>>(Bench::EchoWords, id, input)
        .expect("typed echo")
        .output;
}

/// Decodes `bytes` into `out`, reusing its storage where the codec can.
pub fn decode_reused<T: Payload>(bytes: &[u8], out: &mut T) {
    // SEAM(decode_into): `tandem::decode_into(bytes, out).expect("decode")`.
    *out = decode_from::<T>(bytes).expect("decode");
}
