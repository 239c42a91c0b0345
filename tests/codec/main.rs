//! Tests without workers: the codec (properties, bounds on the memory and work of a decode,
//! fingerprints), the derives' hygiene and compile-time behaviour. One libtest binary so that
//! `cargo test` links one executable rather than one per file.

mod counting_alloc;

mod api;
mod codec_props;
mod decode_bounds;
mod decode_memory;
mod decode_rlimit;
mod fingerprint;
mod hygiene;
mod hygiene_transitions;
mod ui;

/// Counts each thread's allocations for `decode_bounds` and `decode_memory` (per thread, so
/// the other tests running beside them do not disturb the counts).
#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;
