//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up:
//! - `sys` (private): every libc call and every `unsafe` block of the crate.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding.
//! - [`buffer`]: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers that share a
//!   descriptor in the control block.
//! - [`channel`]: [`ControllerChannel`] / [`WorkerChannel`], the control block and the
//!   transition protocol.
//! - [`monitor`]: [`WorkerMonitor`], fatal-signal handling in the worker.
//! - [`process`]: [`Controller`], which spawns a worker, notices its death, restarts it.
//! - [`typed`]: [`TypedController`] and the support of `#[derive(Transitions)]`.

#![warn(missing_docs, unreachable_pub)]

mod sys;

pub mod buffer;
pub mod channel;
pub mod codec;
mod error;
pub mod monitor;
pub mod process;
pub mod typed;

pub use buffer::{ReadBuffer, WriteBuffer};
pub use channel::{
    remove_stale_segments, ControllerChannel, Options, Reply, TransitionRequest, WorkerChannel,
    CHANNEL_ENV,
};
pub use codec::{
    decode_from, decode_pod_slice, encode_into, encode_to_vec, DecodeError, Decoder, Encoder,
    Fingerprint, Payload,
};
pub use error::{BufferError, ChannelError, TransitionLabel};
pub use monitor::{signal_name, FatalSignal, MonitorBuilder, MonitorError, WorkerMonitor};
pub use process::{Controller, ExitReason};
pub use typed::{
    Context, Response, RestartPolicy, SlowTransition, TimeoutPolicy, Transitions, TrustedSlice,
    TypedController, WorkerError,
};

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::__private::*;
    pub use crate::typed::{
        context, finish, read_input, read_input_slice, serve, serve_from_env, unknown_kind,
        write_output, write_output_into,
    };
    pub use ::core;
    pub use ::std;
}
