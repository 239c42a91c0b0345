//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up:
//! - [`sys`](crate::sys) (private): every libc call and every `unsafe` block of the crate.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding.
//! - [`buffer`]: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers that share a
//!   descriptor in the control block.
//! - [`channel`]: [`ControllerChannel`] / [`WorkerChannel`], the control block and the
//!   transition protocol.
//! - [`monitor`]: [`WorkerMonitor`], fatal-signal handling in the worker.
//! - [`process`]: spawning workers, noticing their death, restarting them.

#![warn(missing_docs)]

mod sys;

pub mod codec;

pub use codec::{
    decode_from, encode_into, encode_to_vec, DecodeError, Decoder, Encoder, Fingerprint, Payload,
};

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::__private::*;
    pub use ::core;
    pub use ::std;
}
