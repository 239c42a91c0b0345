//! The decoder fuzz target (libFuzzer; `cargo +nightly fuzz run decode_nested`): the checks
//! of `checks/decode_nested.rs` on every input. CI runs the same checks on stable for a
//! bounded time (`tests/fuzz_decode/main.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/decode_nested.rs"]
mod checks;

#[global_allocator]
static ALLOCATOR: checks::Counting = checks::Counting;

fuzz_target!(|data: &[u8]| checks::check(data));
