//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up; each module imports only from the layers below it:
//! - `sys` (private): every libc call and every `unsafe` block, function, impl and trait of
//!   the crate (a unit test scans the other modules' sources for the keyword), behind safe
//!   APIs: shared-memory segments, futexes, pidfds and the death watchers that sleep on
//!   them, signals and the fatal-signal handler's arguments.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding (pure Rust).
//! - `buffer`: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers, each
//!   described by a shared descriptor, and their error, [`BufferError`]; usable without a
//!   channel, one end handed to a child process through a [`BufferHandoff`].
//! - [`monitor`]: [`WorkerMonitor`], fatal-signal handling in the worker.
//! - `channel`: [`ControllerChannel`] / [`WorkerChannel`], the control block (with the
//!   [`ChannelConfig`] both sides share), the transition protocol, its waits
//!   ([`WaitStats`]) and its error, [`ChannelError`].
//! - `sandbox`: [`Sandbox`], the opt-in worker sandbox (seccomp-bpf after setup, Landlock
//!   and resource limits at spawn) and its error, [`SandboxError`].
//! - `process`: [`Controller`], which spawns a worker, captures its stderr, restarts it.
//! - `typed`: [`TypedController`] and the support of `#[derive(Transitions)]`.
//!
//! Each layer works without the ones above it, and each has a running example where a
//! reader looks first: the codec ([`codec`]), the monitor ([`monitor`]), a channel without
//! the process layer ([`ControllerChannel`]) and a buffer between a process and its child
//! without a channel ([`BufferHandoff`]; the repository's `docs/standalone-parts.md`).
//!
//! Everything a user names is re-exported here, flat. Only two modules are public, for
//! their documentation: [`codec`] (the wire format) and [`monitor`] (the signal-handling
//! protocol).

#![warn(missing_docs, unreachable_pub)]

mod sys;

#[cfg(feature = "tokio")]
mod asynch;
mod buffer;
mod channel;
pub mod codec;
pub mod crash;
mod derive_support;
pub mod monitor;
mod pool;
mod process;
mod sandbox;
mod typed;

#[cfg(feature = "tokio")]
pub use asynch::{AsyncController, AsyncPool, AsyncTypedController, PooledWorker};
pub use buffer::{BufferError, BufferHandoff, ReadBuffer, WriteBuffer};
pub use channel::{
    ChannelConfig, ChannelError, ControllerChannel, ExitReason, Options, Reply, Syscall,
    TransitionLabel, TransitionRequest, WaitStats, WorkerChannel, CHANNEL_ENV,
    CONTROLLER_GONE_EXIT_STATUS,
};
pub use codec::{
    decode_from, decode_from_into, decode_pod_slice, decode_shared, decode_shared_into,
    encode_into, encode_to_vec, DecodeError, Decoder, Encoder, Fingerprint, Payload, PodPayload,
};
pub use crash::{CrashBacktrace, CrashCapture};
pub use monitor::{signal_name, FatalSignal, MonitorBuilder, MonitorError, WorkerMonitor};
pub use pool::{
    EndOutput, ItemResult, Pool, PoolError, PoolEvent, PoolEventKind, PoolOptions, PoolStopper,
    RecycleReason,
};
pub use process::Controller;
pub use sandbox::{LandlockEnforcement, Sandbox, SandboxError, SandboxStatus, SANDBOX_ENV};
pub use sys::shared_bytes::SharedBytes;
pub use typed::{
    Context, ItemTransition, Response, RestartPolicy, SetupRetry, SlowTransition, TimeoutPolicy,
    Transitions, TrustedSlice, TypedController, WorkerError,
};

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::__private::*;
    pub use crate::derive_support::*;
    pub use crate::typed::{
        context, finish, read_input, read_input_into, read_input_slice, serve, serve_from_env,
        unknown_kind, write_output, write_output_into,
    };
    pub use ::core;
    pub use ::std;
}
