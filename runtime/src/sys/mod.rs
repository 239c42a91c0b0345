//! The only place where tandem talks to libc. Everything above this module is safe Rust.

pub(crate) mod signal;
