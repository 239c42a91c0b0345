//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up; each module imports only from the layers below it:
//! - `sys` (private): every libc call and every `unsafe` block, function, impl and trait of
//!   the crate (a unit test scans the other modules' sources for the keyword), behind safe
//!   APIs: shared-memory segments, futexes, pidfds and the death watchers that sleep on
//!   them, signals and the fatal-signal handler's arguments.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding (pure Rust).
//! - [`buffer`]: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers, each
//!   described by a shared descriptor, and their error, [`BufferError`]; usable without a
//!   channel, one end handed to a child process through a [`buffer::BufferHandoff`].
//! - [`monitor`]: [`WorkerMonitor`], fatal-signal handling in the worker; [`crash`]: the
//!   crash report's backtrace.
//! - [`channel`]: [`ControllerChannel`] / [`WorkerChannel`], the control block (with the
//!   [`channel::ChannelConfig`] both sides share), the transition protocol, its waits
//!   ([`channel::WaitStats`]) and its error, [`ChannelError`].
//! - [`sandbox`]: [`Sandbox`], the opt-in worker sandbox (seccomp-bpf after setup, Landlock
//!   and resource limits at spawn) and its error.
//! - [`process`]: [`Controller`], which spawns a worker with its [`ProcessOptions`],
//!   captures its stderr, restarts it.
//! - [`typed`]: [`TypedController`] and the support of `#[derive(Transitions)]`; [`pool`]:
//!   [`Pool`], many workers of one protocol.
//! - `derive_support` (hidden, as `__private`): what the derives generate code against.
//! - `asynch` (feature `tokio`): `AsyncController`, `AsyncTypedController`, `AsyncPool`,
//!   calls awaited on tokio with no thread per call or channel.
//!
//! Each layer works without the ones above it, and each has a running example where a
//! reader looks first: the codec ([`codec`]), the monitor ([`monitor`]), a channel without
//! the process layer ([`ControllerChannel`]) and a buffer between a process and its child
//! without a channel ([`buffer::BufferHandoff`]; the repository's `docs/standalone-parts.md`).
//!
//! The items most programs name are re-exported here; the rest stay in their module
//! (`tandem::codec::Decoder`, `tandem::pool::PoolEvent`, `tandem::channel::WaitStats`,
//! `tandem::typed::SetupRetry`). The
//! list is pinned by `api/root.txt` at the repository's root, which a test compares with
//! this file.

#![warn(missing_docs, unreachable_pub)]

mod sys;

#[cfg(feature = "tokio")]
mod asynch;
pub mod buffer;
pub mod channel;
pub mod codec;
pub mod crash;
mod derive_support;
pub mod monitor;
pub mod pool;
pub mod process;
pub mod sandbox;
pub mod typed;

#[cfg(feature = "tokio")]
pub use asynch::{AsyncController, AsyncPool, AsyncTypedController, PooledWorker};
pub use buffer::{BufferError, ReadBuffer, WriteBuffer};
pub use channel::{ChannelError, ControllerChannel, Options, TransitionRequest, WorkerChannel};
pub use codec::{decode_from, encode_to_vec, DecodeError, Payload};
pub use monitor::WorkerMonitor;
pub use pool::{Pool, PoolError, PoolOptions};
pub use process::{Controller, ProcessOptions};
pub use sandbox::Sandbox;
pub use typed::{
    Context, Response, RestartPolicy, TimeoutPolicy, Transitions, TrustedSlice, TypedController,
    WorkerError,
};

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::__private::*;
    pub use crate::derive_support::*;
    // Everything generated code names, by its own path, so that the derives do not depend
    // on which items the crate's root re-exports.
    pub use crate::channel::{ChannelError, TransitionRequest, WorkerChannel};
    pub use crate::pool::{
        EndOutput, ItemResult, ItemTransition, Pool, PoolError, PoolEvent, PoolOptions, PoolStopper,
    };
    pub use crate::process::{ExitReason, ProcessOptions};
    pub use crate::typed::worker::{
        context, finish, read_input, read_input_into, read_input_slice, serve, serve_from_env,
        unknown_kind, write_output, write_output_into,
    };
    pub use crate::typed::{
        Context, Response, RestartPolicy, SetupRetry, Transitions, TrustedSlice, TypedController,
        WorkerError,
    };
    pub use ::core;
    pub use ::std;
}
