//! The worker side of the typed layer: serving a transitions enum on a [`WorkerChannel`],
//! and the helpers generated code calls to decode inputs and encode outputs.

use super::protocol::{Context, Transitions, WorkerError};
use crate::buffer::WriteBuffer;
use crate::channel::{ChannelError, TransitionLabel, TransitionRequest, WorkerChannel};
use crate::codec::{
    decode_from, decode_from_into, decode_pod_slice, encode_into, Payload, PodPayload,
};

/// Plain-old-data elements read in place from the controller's buffer: the input of a
/// worker method for a `#[transition(input = Vec<E>, borrow)]`, with no copy and no
/// allocation (the worker's side of [`decode_pod_slice`](crate::codec::decode_pod_slice)).
///
/// # Which side may borrow
/// Only the worker, and only its input. A borrowed view is sound only while nobody writes
/// the bytes under it: the controller writes its buffer before it posts a transition and not
/// again until the worker has replied, so a worker that trusts its controller may read the
/// input in place for the duration of the method. The controller does not trust its worker
/// (it may be buggy or hostile and keep writing its reply), so it always copies the worker's
/// output into its own memory before it decodes it.
///
/// # Examples
/// A worker summing calorimeter hits where the controller wrote them:
/// ```
/// use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
/// use tandem::{ChannelError, Context, Payload, Transitions, TrustedSlice, WorkerError};
///
/// #[derive(Payload, IntoBytes, FromBytes, Immutable, Clone, Copy)]
/// #[zerocopy(crate = "tandem::zerocopy")]
/// #[payload(pod)]
/// #[repr(C)]
/// struct Hit {
///     cell: u32,
///     energy: f32,
/// }
///
/// #[derive(Transitions)]
/// enum Calorimeter {
///     #[transition(input = Vec<Hit>, output = f64, borrow)]
///     TotalEnergy,
/// }
///
/// struct Summer;
///
/// impl CalorimeterWorker for Summer {
///     fn total_energy(
///         &mut self,
///         _: &mut Context,
///         hits: TrustedSlice<'_, Hit>, // a view of the controller's buffer
///     ) -> Result<f64, WorkerError> {
///         Ok(hits.iter().map(|hit| f64::from(hit.energy)).sum())
///     }
/// }
///
/// // The controller sends a slice; no `Vec` is built on either side.
/// fn total(calorimeter: &mut CalorimeterController, hits: &[Hit]) -> Result<f64, ChannelError> {
///     Ok(calorimeter.total_energy(1, hits)?.output)
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TrustedSlice<'a, E> {
    items: &'a [E],
}

impl<'a, E> TrustedSlice<'a, E> {
    /// The elements, for the lifetime of the borrow (beyond the view itself).
    pub fn as_slice(&self) -> &'a [E] {
        self.items
    }
}

impl<E> std::ops::Deref for TrustedSlice<'_, E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        self.items
    }
}

/// Serves the worker side of `T`: decodes the setup payload, builds the worker with `make`,
/// answers setup, then dispatches every transition with `dispatch` until stopped.
///
/// `S` holds the values the `reuse` transitions keep between calls (nested pairs, `()`
/// without any); it lives here, for as long as the worker serves, and starts from
/// `Default::default()`.
#[doc(hidden)]
pub fn serve<T: Transitions, W, S: Default>(
    channel: &mut WorkerChannel,
    make: impl FnOnce(T::Setup) -> Result<W, WorkerError>,
    dispatch: fn(&mut W, &mut S, u32, &mut TransitionRequest<'_>) -> Result<(), WorkerError>,
) -> Result<(), ChannelError> {
    let setup = match channel.trusted_input() {
        Ok(bytes) => decode_from::<T::Setup>(bytes).map_err(|source| ChannelError::Decode {
            what: "setup payload".to_owned(),
            source,
        }),
        Err(error) => Err(error.into()),
    };
    let setup = match setup {
        Ok(setup) => setup,
        Err(error) => {
            channel.setup_failed(&error.to_string());
            return Err(error);
        }
    };
    let mut worker = match make(setup) {
        Ok(worker) => worker,
        Err(error) => {
            let message = format!("worker setup failed: {error}");
            channel.setup_failed(&message);
            return Err(ChannelError::WorkerFailed {
                transition: TransitionLabel::SETUP,
                message,
            });
        }
    };
    let mut kept = S::default();
    channel.handle_transitions(|request| {
        let kind = request.kind();
        dispatch(&mut worker, &mut kept, kind, request)
    })
}

/// Opens the channel named in the environment with `T`'s fingerprint and serves it; `Ok(false)`
/// if this process was not started as a worker.
#[doc(hidden)]
pub fn serve_from_env<T: Transitions, W, S: Default>(
    make: impl FnOnce(T::Setup) -> Result<W, WorkerError>,
    dispatch: fn(&mut W, &mut S, u32, &mut TransitionRequest<'_>) -> Result<(), WorkerError>,
) -> Result<bool, ChannelError> {
    match WorkerChannel::from_env(T::FINGERPRINT)? {
        None => Ok(false),
        Some(mut channel) => serve::<T, W, S>(&mut channel, make, dispatch).map(|()| true),
    }
}

/// Decodes a transition's input; the error names the transition.
#[doc(hidden)]
pub fn read_input<I: Payload>(
    request: &mut TransitionRequest<'_>,
    name: &'static str,
) -> Result<I, WorkerError> {
    let bytes = request.trusted_input()?;
    decode_from::<I>(bytes)
        .map_err(|error| format!("could not decode the input of `{name}`: {error}").into())
}

/// Decodes a transition's input into `input`, reusing its storage (a `reuse` transition);
/// the error names the transition. After an error `input` is a valid value, possibly
/// changed.
#[doc(hidden)]
pub fn read_input_into<I: Payload>(
    request: &mut TransitionRequest<'_>,
    name: &'static str,
    input: &mut I,
) -> Result<(), WorkerError> {
    let bytes = request.trusted_input()?;
    decode_from_into(bytes, input)
        .map_err(|error| format!("could not decode the input of `{name}`: {error}").into())
}

/// Borrows a transition's input in place as plain-old-data elements; the error names the
/// transition. Returns the reply buffer beside it.
#[doc(hidden)]
pub fn read_input_slice<'r, E>(
    request: &'r mut TransitionRequest<'_>,
    name: &'static str,
) -> Result<(TrustedSlice<'r, E>, &'r mut WriteBuffer), WorkerError>
where
    E: PodPayload,
{
    let (input, output) = request.trusted_input_and_output();
    let items = decode_pod_slice::<E>(input?)
        .map_err(|error| format!("could not decode the input of `{name}`: {error}"))?;
    Ok((TrustedSlice { items }, output))
}

/// Encodes a transition's output straight into the reply buffer `output`.
#[doc(hidden)]
pub fn write_output_into<O: Payload>(
    output_buffer: &mut WriteBuffer,
    output: &O,
) -> Result<(), WorkerError> {
    let len = output.encoded_len(0);
    output_buffer.write_with(len, |bytes| encode_into(output, bytes))?;
    Ok(())
}

/// Encodes a transition's output straight into the reply buffer.
#[doc(hidden)]
pub fn write_output<O: Payload>(
    request: &mut TransitionRequest<'_>,
    output: &O,
) -> Result<(), WorkerError> {
    write_output_into(request.output(), output)
}

/// A fresh context for one transition.
#[doc(hidden)]
pub fn context(request: &TransitionRequest<'_>, name: &'static str) -> Context {
    Context {
        id: request.id(),
        name,
        attempt: request.attempt(),
        keep: false,
    }
}

/// Hands the context's keep flag to the reply.
#[doc(hidden)]
pub fn finish(request: &mut TransitionRequest<'_>, context: &Context) {
    request.set_keep(context.keep);
}

/// The error for a kind the worker does not know.
#[doc(hidden)]
pub fn unknown_kind(kind: u32) -> WorkerError {
    format!("unknown transition kind {kind}: controller and worker disagree").into()
}
