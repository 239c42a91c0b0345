//! Runtime of tandem: everything that moves bytes and turns between a controller process and
//! its worker processes.
//!
//! The layers, from the bottom up; each module imports only from the layers below it:
//! - `sys` (private): every libc call and every `unsafe` block of the crate: shared-memory
//!   segments, futexes, pidfds and the death watchers that sleep on them, signals.
//! - [`codec`]: the [`Payload`] trait and its fixed, validated binary encoding (pure Rust).
//! - `buffer`: [`WriteBuffer`] / [`ReadBuffer`], growable shared-memory buffers, each
//!   described by a shared descriptor, and their error, [`BufferError`].
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
mod buffer;
pub mod channel;
pub mod codec;
pub mod crash;
pub mod monitor;
pub mod pool;
pub mod process;
pub mod sandbox;
pub mod typed;

#[cfg(feature = "tokio")]
pub use asynch::{AsyncController, AsyncTypedController};
pub use buffer::{BufferError, ReadBuffer, WriteBuffer};
pub use channel::{
    ChannelError, ControllerChannel, Options, Reply, TransitionRequest, WorkerChannel,
};
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

    /// The payload types of transition `KIND`, implemented by `#[derive(Transitions)]`.
    ///
    /// The impl is the one place the derive names them, so the `Payload` bounds are checked
    /// there, at the types the user wrote. Generated code uses them only through the provided
    /// items below, whose bodies rely on the trait's bounds: a type that is not a `Payload`
    /// is reported once, not at every use.
    pub trait TransitionIo<const KIND: u32>: crate::Transitions + Sized {
        /// The input payload, `()` for none.
        type Input: crate::Payload;
        /// The output payload, `()` for none.
        type Output: crate::Payload;

        /// The fingerprints of the input and output types.
        const FINGERPRINTS: [u64; 2] = [
            <Self::Input as crate::Payload>::FINGERPRINT,
            <Self::Output as crate::Payload>::FINGERPRINT,
        ];

        /// Decodes the input of a request for this transition.
        fn read_input(
            request: &mut crate::TransitionRequest<'_>,
            name: &'static str,
        ) -> Result<Self::Input, crate::WorkerError> {
            crate::typed::read_input::<Self::Input>(request, name)
        }

        /// Encodes the output of this transition into the reply.
        fn write_output(
            request: &mut crate::TransitionRequest<'_>,
            output: &Self::Output,
        ) -> Result<(), crate::WorkerError> {
            crate::typed::write_output::<Self::Output>(request, output)
        }

        /// Records this replay transition's input in `pool`, for every worker's next item.
        fn pool_begin(
            pool: &mut crate::Pool<Self>,
            id: u64,
            input: &<Self as TransitionIo<KIND>>::Input,
        ) where
            Self: crate::pool::ItemTransition,
        {
            pool.begin(KIND, id, input);
        }

        /// Runs this end transition on every worker of `pool` that took part in the block.
        fn pool_end(
            pool: &mut crate::Pool<Self>,
            id: u64,
            input: &<Self as TransitionIo<KIND>>::Input,
        ) -> Vec<crate::pool::EndOutput<<Self as TransitionIo<KIND>>::Output>>
        where
            Self: crate::pool::ItemTransition,
        {
            pool.end::<<Self as TransitionIo<KIND>>::Input, <Self as TransitionIo<KIND>>::Output>(
                KIND, id, input,
            )
        }

        /// Runs this transition through `controller`.
        fn call(
            controller: &mut crate::TypedController<Self>,
            transition: Self,
            id: u64,
            input: &Self::Input,
        ) -> Result<crate::Response<Self::Output>, crate::ChannelError> {
            controller.call_unchecked::<Self::Input, Self::Output>(transition, id, input)
        }
    }

    /// The element type of a `borrow` transition's `Vec<E>` input, named once (like
    /// [`TransitionIo`]) so that an element that is not plain old data is reported at the type.
    pub trait BorrowedIo<const KIND: u32>: TransitionIo<KIND> {
        /// The plain-old-data element the worker borrows in place.
        type Element: crate::codec::PodPayload;

        /// Borrows the input of a request for this transition, with the reply buffer.
        #[allow(clippy::type_complexity)]
        fn read_input_slice<'r>(
            request: &'r mut crate::TransitionRequest<'_>,
            name: &'static str,
        ) -> Result<
            (
                crate::TrustedSlice<'r, Self::Element>,
                &'r mut crate::WriteBuffer,
            ),
            crate::WorkerError,
        > {
            crate::typed::read_input_slice::<Self::Element>(request, name)
        }

        /// Encodes the output of this transition into the reply buffer.
        fn write_output_into(
            buffer: &mut crate::WriteBuffer,
            output: &Self::Output,
        ) -> Result<(), crate::WorkerError> {
            crate::typed::write_output_into::<Self::Output>(buffer, output)
        }

        /// Runs this transition through `controller`, its input sent from a slice.
        fn call_slice(
            controller: &mut crate::TypedController<Self>,
            transition: Self,
            id: u64,
            input: &[Self::Element],
        ) -> Result<crate::Response<Self::Output>, crate::ChannelError> {
            controller.call_slice_unchecked::<Self::Element, Self::Output>(transition, id, input)
        }
    }

    /// The payloads a `reuse` transition's serve loop keeps, named once (like
    /// [`TransitionIo`]) so that a type without `Default` is reported once, at the type. A
    /// side that is not kept (no such payload, or a borrowed input) is `()`.
    ///
    /// `serve` owns an `(Option<Input>, Option<Output>)` pair per `reuse` transition, which
    /// has a `Default` whatever the types; [`kept`](Self::kept) fills it on first use.
    pub trait ReuseIo<const KIND: u32>: crate::Transitions + Sized {
        /// The input decoded into the kept value, `()` if not kept.
        type Input: crate::Payload + Default;
        /// The output refilled by the worker and encoded from the kept value, `()` if not kept.
        type Output: crate::Payload + Default;

        /// The kept values, `Default::default()` the first time.
        #[allow(clippy::type_complexity)]
        fn kept(
            pair: &mut (Option<Self::Input>, Option<Self::Output>),
        ) -> (&mut Self::Input, &mut Self::Output) {
            let (input, output) = pair;
            (
                input.get_or_insert_with(Default::default),
                output.get_or_insert_with(Default::default),
            )
        }

        /// Decodes the input of a request into `input`, reusing its storage.
        fn read_input_into(
            request: &mut crate::TransitionRequest<'_>,
            name: &'static str,
            input: &mut Self::Input,
        ) -> Result<(), crate::WorkerError> {
            crate::typed::read_input_into::<Self::Input>(request, name, input)
        }

        /// Encodes the kept output into the reply.
        fn write_output(
            request: &mut crate::TransitionRequest<'_>,
            output: &Self::Output,
        ) -> Result<(), crate::WorkerError> {
            crate::typed::write_output::<Self::Output>(request, output)
        }

        /// Encodes the kept output into the reply buffer (a `borrow` transition, whose input
        /// view holds the request).
        fn write_output_into(
            buffer: &mut crate::WriteBuffer,
            output: &Self::Output,
        ) -> Result<(), crate::WorkerError> {
            crate::typed::write_output_into::<Self::Output>(buffer, output)
        }
    }

    /// The fingerprint of `T`'s setup type, through `T`'s bound rather than the concrete type
    /// (see [`TransitionIo`]).
    pub const fn setup_fingerprint<T: crate::Transitions>() -> u64 {
        <T::Setup as crate::Payload>::FINGERPRINT
    }

    /// Every variant of a transitions enum. Naming them in generated code keeps an enum used
    /// only on the worker side, where no variant is constructed, free of dead-code warnings.
    pub trait Variants: Sized + 'static {
        /// The variants in declaration order.
        const ALL: &'static [Self];
    }

    /// The setup payload `S` that a generated controller's `spawn` takes, as a bound, so that
    /// the wrong type gets a message naming the `setup` key rather than a bare type mismatch.
    #[diagnostic::on_unimplemented(
        message = "`spawn` expects the setup payload `&{S}`, found `&{Self}`",
        label = "not the setup payload of these transitions",
        note = "the setup type is declared on the enum with `#[transitions(setup = T)]`; without that key it is `()`, so pass `&()`"
    )]
    pub trait SetupOf<S> {
        /// The setup payload itself.
        fn as_setup(&self) -> &S;
    }

    impl<S> SetupOf<S> for S {
        fn as_setup(&self) -> &S {
            self
        }
    }
}
