//! Derive macros of tandem. Use them through the `tandem` crate, which re-exports them.
#![forbid(unsafe_code)]
