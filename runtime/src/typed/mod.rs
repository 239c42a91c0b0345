//! The typed layer under `#[derive(Transitions)]`: payloads encoded straight into the shared
//! buffers, a protocol fingerprint checked at setup, replay of state-establishing
//! transitions after a restart.
//!
//! The derive generates, for an enum `Generator`, an impl of [`Transitions`], a
//! `GeneratorWorker` trait (one method per transition) and a `GeneratorController`
//! (one method per transition) built on [`TypedController`]; with an `item` transition
//! also an impl of [`ItemTransition`] and a `GeneratorPool` (one method per role) built on
//! [`Pool`](crate::Pool).
//!
//! - `protocol`: what the derive implements and generated code names ([`Transitions`],
//!   [`ItemTransition`]) and what worker methods see and return ([`Context`],
//!   [`Response`], [`WorkerError`]);
//! - `controller`: [`TypedController`], the controller side;
//! - `policies`: what it does when a worker is lost or slow, at setup or in a transition;
//! - `worker`: the worker side, serving the transitions, and what generated code calls.

mod controller;
mod input;
mod policies;
mod protocol;
mod replay;
pub(crate) mod worker;

pub use controller::TypedController;
#[cfg(feature = "tokio")]
pub(crate) use input::{EncodeInput, SliceInput};
#[cfg(feature = "tokio")]
pub(crate) use policies::KindTimeouts;
pub use policies::{RestartPolicy, SetupRetry, SlowTransition, TimeoutPolicy};
pub use protocol::{Context, ItemTransition, Response, Transitions, WorkerError};
#[cfg(feature = "tokio")]
pub(crate) use replay::ReplayLog;
pub use worker::TrustedSlice;
pub(crate) use worker::{
    read_input, read_input_into, read_input_slice, write_output, write_output_into,
};
