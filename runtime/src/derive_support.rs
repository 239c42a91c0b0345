//! What `#[derive(Payload)]` and `#[derive(Transitions)]` generate code against, re-exported
//! through the hidden `__private` module: not public API, no stability guarantees.
//!
//! It sits above the typed layer, the pool and the async controllers, since its traits
//! route each transition to all three.

use std::future::Future;

use crate::buffer::WriteBuffer;
use crate::channel::{ChannelError, TransitionRequest};
use crate::codec::{Payload, PodPayload};
use crate::pool::{EndOutput, Pool};
use crate::typed::{
    ItemTransition, Response, Transitions, TrustedSlice, TypedController, WorkerError,
};

/// The payload types of transition `KIND`, implemented by `#[derive(Transitions)]`.
///
/// The impl is the one place the derive names them, so the `Payload` bounds are checked
/// there, at the types the user wrote. Generated code uses them only through the provided
/// items below, whose bodies rely on the trait's bounds: a type that is not a `Payload`
/// is reported once, not at every use.
pub trait TransitionIo<const KIND: u32>: Transitions + Sized {
    /// The input payload, `()` for none.
    type Input: Payload;
    /// The output payload, `()` for none.
    type Output: Payload;

    /// The fingerprints of the input and output types.
    const FINGERPRINTS: [u64; 2] = [
        <Self::Input as Payload>::FINGERPRINT,
        <Self::Output as Payload>::FINGERPRINT,
    ];

    /// Decodes the input of a request for this transition.
    fn read_input(
        request: &mut TransitionRequest<'_>,
        name: &'static str,
    ) -> Result<Self::Input, WorkerError> {
        crate::typed::read_input::<Self::Input>(request, name)
    }

    /// Encodes the output of this transition into the reply.
    fn write_output(
        request: &mut TransitionRequest<'_>,
        output: &Self::Output,
    ) -> Result<(), WorkerError> {
        crate::typed::write_output::<Self::Output>(request, output)
    }

    /// Records this replay transition's input in `pool`, for every worker's next item.
    fn pool_begin(pool: &mut Pool<Self>, id: u64, input: &<Self as TransitionIo<KIND>>::Input)
    where
        Self: ItemTransition,
    {
        pool.begin(KIND, id, input);
    }

    /// Runs this end transition on every worker of `pool` that took part in the block.
    fn pool_end(
        pool: &mut Pool<Self>,
        id: u64,
        input: &<Self as TransitionIo<KIND>>::Input,
    ) -> Vec<EndOutput<<Self as TransitionIo<KIND>>::Output>>
    where
        Self: ItemTransition,
    {
        pool.end::<<Self as TransitionIo<KIND>>::Input, <Self as TransitionIo<KIND>>::Output>(
            KIND, id, input,
        )
    }

    /// Runs this transition through `controller`.
    fn call(
        controller: &mut TypedController<Self>,
        transition: Self,
        id: u64,
        input: &Self::Input,
    ) -> Result<Response<Self::Output>, ChannelError> {
        controller.call_unchecked::<Self::Input, Self::Output>(transition, id, input)
    }
}

/// The element type of a `borrow` transition's `Vec<E>` input, named once (like
/// [`TransitionIo`]) so that an element that is not plain old data is reported at the type.
pub trait BorrowedIo<const KIND: u32>: TransitionIo<KIND> {
    /// The plain-old-data element the worker borrows in place.
    type Element: PodPayload;

    /// Borrows the input of a request for this transition, with the reply buffer.
    #[allow(clippy::type_complexity)]
    fn read_input_slice<'r>(
        request: &'r mut TransitionRequest<'_>,
        name: &'static str,
    ) -> Result<(TrustedSlice<'r, Self::Element>, &'r mut WriteBuffer), WorkerError> {
        crate::typed::read_input_slice::<Self::Element>(request, name)
    }

    /// Encodes the output of this transition into the reply buffer.
    fn write_output_into(
        buffer: &mut WriteBuffer,
        output: &Self::Output,
    ) -> Result<(), WorkerError> {
        crate::typed::write_output_into::<Self::Output>(buffer, output)
    }

    /// Runs this transition through `controller`, its input sent from a slice.
    fn call_slice(
        controller: &mut TypedController<Self>,
        transition: Self,
        id: u64,
        input: &[Self::Element],
    ) -> Result<Response<Self::Output>, ChannelError> {
        controller.call_slice_unchecked::<Self::Element, Self::Output>(transition, id, input)
    }
}

/// The payloads a `reuse` transition's serve loop keeps, named once (like
/// [`TransitionIo`]) so that a type without `Default` is reported once, at the type. A
/// side that is not kept (no such payload, or a borrowed input) is `()`.
///
/// `serve` owns an `(Option<Input>, Option<Output>)` pair per `reuse` transition, which
/// has a `Default` whatever the types; [`kept`](Self::kept) fills it on first use.
pub trait ReuseIo<const KIND: u32>: Transitions + Sized {
    /// The input decoded into the kept value, `()` if not kept.
    type Input: Payload + Default;
    /// The output refilled by the worker and encoded from the kept value, `()` if not kept.
    type Output: Payload + Default;

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
        request: &mut TransitionRequest<'_>,
        name: &'static str,
        input: &mut Self::Input,
    ) -> Result<(), WorkerError> {
        crate::typed::read_input_into::<Self::Input>(request, name, input)
    }

    /// Encodes the kept output into the reply.
    fn write_output(
        request: &mut TransitionRequest<'_>,
        output: &Self::Output,
    ) -> Result<(), WorkerError> {
        crate::typed::write_output::<Self::Output>(request, output)
    }

    /// Encodes the kept output into the reply buffer (a `borrow` transition, whose input
    /// view holds the request).
    fn write_output_into(
        buffer: &mut WriteBuffer,
        output: &Self::Output,
    ) -> Result<(), WorkerError> {
        crate::typed::write_output_into::<Self::Output>(buffer, output)
    }
}

/// The fingerprint of `T`'s setup type, through `T`'s bound rather than the concrete type
/// (see [`TransitionIo`]).
pub const fn setup_fingerprint<T: Transitions>() -> u64 {
    <T::Setup as Payload>::FINGERPRINT
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

/// The async typed calls that the derive's `<Enum>AsyncCalls` trait forwards to, one
/// generic method per shape of input. With the feature `tokio`,
/// [`AsyncTypedController`](crate::AsyncTypedController) implements it; the trait exists
/// without the feature so that the derive's output does not depend on the user's features.
pub trait AsyncCall<T: Transitions> {
    /// Runs transition `KIND` with `input` and decodes its output.
    fn __call<const KIND: u32>(
        &mut self,
        id: u64,
        input: &<T as TransitionIo<KIND>>::Input,
    ) -> impl Future<Output = Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>>
    where
        T: TransitionIo<KIND>;

    /// Runs `borrow` transition `KIND` with its input sent from a slice.
    fn __call_slice<const KIND: u32>(
        &mut self,
        id: u64,
        input: &[<T as BorrowedIo<KIND>>::Element],
    ) -> impl Future<Output = Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>>
    where
        T: BorrowedIo<KIND>;
}
