//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up; each module imports only from the layers below it:
//! - `sys` (private): every libc call and every `unsafe` block of the crate: shared-memory
//!   segments, futexes, pidfds and the death watchers that sleep on them, signals.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding (pure Rust).
//! - `buffer`: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers, each
//!   described by a shared descriptor, and their error, [`BufferError`].
//! - [`monitor`]: [`WorkerMonitor`], fatal-signal handling in the worker.
//! - `channel`: [`ControllerChannel`] / [`WorkerChannel`], the control block (with the
//!   [`ChannelConfig`] both sides share), the transition protocol, its waits
//!   ([`WaitStats`]) and its error, [`ChannelError`].
//! - `process`: [`Controller`], which spawns a worker, captures its stderr, restarts it.
//! - `typed`: [`TypedController`] and the support of `#[derive(Transitions)]`.
//!
//! Everything a user names is re-exported here, flat. Only two modules are public, for
//! their documentation: [`codec`] (the wire format) and [`monitor`] (the signal-handling
//! protocol).

#![warn(missing_docs, unreachable_pub)]

mod sys;

mod buffer;
mod channel;
pub mod codec;
pub mod monitor;
mod process;
mod typed;

pub use buffer::{BufferError, ReadBuffer, WriteBuffer};
pub use channel::{
    remove_stale_segments, ChannelConfig, ChannelError, ControllerChannel, ExitReason, Options,
    Reply, TransitionLabel, TransitionRequest, WaitStats, WorkerChannel, CHANNEL_ENV,
    CONTROLLER_GONE_EXIT_STATUS,
};
pub use codec::{
    decode_from, encode_into, encode_to_vec, DecodeError, Decoder, Encoder, Fingerprint, Payload,
};
pub use monitor::{signal_name, FatalSignal, MonitorBuilder, MonitorError, WorkerMonitor};
pub use process::Controller;
pub use typed::{Context, Response, RestartPolicy, Transitions, TypedController, WorkerError};

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::__private::*;
    pub use crate::typed::{
        context, finish, read_input, serve, serve_from_env, unknown_kind, write_output,
    };
    pub use ::core;
    pub use ::std;
}
