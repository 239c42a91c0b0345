//! Tests that drive workers in real processes through real shared memory, one module per area,
//! in one libtest binary so that `cargo test` links one executable rather than one per file.
//!
//! A test starts its workers by re-running this binary with `TANDEM_TEST_ROLE` set and the
//! name of an ignored entry test, `module::worker_entry` (`support::role_command`), which
//! serves as the worker when the role is set and returns at once otherwise.

#[path = "../support/mod.rs"]
mod support;

#[path = "../generator_types/mod.rs"]
mod generator_types;
mod pool_job;

mod channel;
mod config;
mod decode_into;
mod hostile;
mod hostile_peer;
mod hostile_rewrite;
mod pool;
mod segments;
mod standalone_buffers;
mod typed_borrow;
mod typed_e2e;
mod typed_reuse;
