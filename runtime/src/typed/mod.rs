//! The typed layer under `#[derive(Transitions)]`: payloads encoded straight into the shared
//! buffers, a protocol fingerprint checked at setup, replay of state-establishing
//! transitions after a restart.
//!
//! The derive generates, for an enum `Generator`, an impl of [`Transitions`], a
//! `GeneratorWorker` trait (one method per transition) and a `GeneratorController`
//! (one method per transition) built on [`TypedController`].

use std::fmt;
use std::process::Command;
use std::time::Duration;

use crate::channel::{
    ChannelError, ExitReason, Options, TransitionLabel, TransitionRequest, WaitStats, WorkerChannel,
};
use crate::codec::{decode_from, encode_into, encode_to_vec, Payload};
use crate::process::Controller;

/// What a worker method returns on failure: any error, sent to the controller as text
/// ([`ChannelError::WorkerFailed`]). `"message".into()` and `?` on most errors both work.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A set of transitions, implemented by `#[derive(Transitions)]` on a fieldless enum.
pub trait Transitions: 'static {
    /// The setup payload delivered to the worker during the handshake.
    type Setup: Payload;
    /// Transition names (snake case) indexed by kind.
    const NAMES: &'static [&'static str];
    /// Whether each kind re-establishes worker state and is replayed after a restart.
    const REPLAY: &'static [bool];
    /// Fingerprint of the transitions and of every payload type they use.
    const FINGERPRINT: u64;
    /// Prefix of the channel's segment names.
    const BASE_NAME: &'static str;
    /// The kind sent over the channel.
    fn kind(&self) -> u32;
}

/// What a worker method sees besides its input.
#[derive(Debug)]
pub struct Context {
    id: u64,
    name: &'static str,
    keep: bool,
}

impl Context {
    /// The transition id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The transition's name.
    pub fn transition(&self) -> &'static str {
        self.name
    }

    /// Sets the keep flag returned with the output (false unless set).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }
}

/// A transition's output with the keep flag the worker set.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<O> {
    /// The decoded output.
    pub output: O,
    /// The worker's keep flag for this transition.
    pub keep: bool,
}

/// When and how a [`TypedController`] restarts a lost worker on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// How many restarts in total before an error is returned.
    pub max_restarts: u32,
    /// Pause before each restart.
    pub backoff: Duration,
}

impl RestartPolicy {
    /// Never restart: every worker loss is returned as an error (the default).
    pub const NEVER: RestartPolicy = RestartPolicy {
        max_restarts: 0,
        backoff: Duration::ZERO,
    };
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy::NEVER
    }
}

#[derive(Debug)]
struct Recorded {
    kind: u32,
    id: u64,
    input: Vec<u8>,
}

/// A controller speaking the transitions `T`: typed inputs and outputs, setup payload,
/// replay and restart. The derive wraps it in a struct with one method per transition.
pub struct TypedController<T: Transitions> {
    controller: Controller,
    replay: Vec<Recorded>,
    policy: RestartPolicy,
    lost: Vec<ChannelError>,
    _transitions: std::marker::PhantomData<T>,
}

impl<T: Transitions> TypedController<T> {
    /// Spawns `command` as a worker for channel `id`, sends `setup` during the handshake
    /// and checks that the worker was built from the same definitions.
    ///
    /// # Errors
    /// As [`Controller::spawn`]; [`ChannelError::ProtocolMismatch`] for a worker built from
    /// other definitions.
    pub fn spawn(
        command: Command,
        id: u32,
        options: Options,
        setup: &T::Setup,
    ) -> Result<Self, ChannelError> {
        let setup_bytes = encode_to_vec(setup);
        let options = options.protocol_fingerprint(T::FINGERPRINT);
        let mut controller =
            Controller::spawn_with_setup(command, T::BASE_NAME, id, options, Some(setup_bytes))?;
        controller.set_transition_names(T::NAMES);
        Ok(TypedController {
            controller,
            replay: Vec::new(),
            policy: RestartPolicy::NEVER,
            lost: Vec::new(),
            _transitions: std::marker::PhantomData,
        })
    }

    /// Sets the automatic restart policy (default: [`RestartPolicy::NEVER`]).
    pub fn set_restart_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// The worker losses that automatic restarts recovered from, oldest first.
    pub fn recovered_failures(&self) -> &[ChannelError] {
        &self.lost
    }

    /// The untyped controller underneath.
    pub fn controller(&mut self) -> &mut Controller {
        &mut self.controller
    }

    /// How many times the worker was restarted.
    pub fn restarts(&self) -> u32 {
        self.controller.restarts()
    }

    /// How the controller's waits for the worker went so far (see [`WaitStats`]).
    pub fn wait_stats(&self) -> WaitStats {
        self.controller.wait_stats()
    }

    /// Runs `transition` with `input` and decodes its output.
    ///
    /// With a [`RestartPolicy`], a lost worker (crash, death, time-out) is restarted, the
    /// replayable transitions are run again with their last inputs, and the call is retried.
    ///
    /// # Errors
    /// Every [`ChannelError`] of [`Controller::do_transition`],
    /// and [`ChannelError::Decode`] if the output does not decode.
    pub fn call<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
    ) -> Result<Response<O>, ChannelError> {
        let kind = transition.kind();
        loop {
            match self.call_once(kind, id, input) {
                Err(error)
                    if error.is_worker_lost() && self.restarts() < self.policy.max_restarts =>
                {
                    self.lost.push(error);
                    std::thread::sleep(self.policy.backoff);
                    self.restart()?;
                }
                result => return result,
            }
        }
    }

    fn call_once<I: Payload, O: Payload>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
    ) -> Result<Response<O>, ChannelError> {
        let len = input.encoded_len(0);
        self.controller
            .to_worker()
            .write_with(len, |bytes| encode_into(input, bytes))?;
        let label = self.controller.channel().label(kind, id);
        let response = self.controller.do_transition(kind, id, |mut reply| {
            let keep = reply.keep();
            let bytes = reply.read()?;
            decode_from::<O>(bytes)
                .map(|output| Response { output, keep })
                .map_err(|source| ChannelError::Decode {
                    what: format!("output of transition {label}"),
                    source,
                })
        })??;
        if T::REPLAY.get(kind as usize).copied().unwrap_or(false) {
            // Later transitions of the same kind supersede earlier ones (a new begin-lumi
            // replaces the previous one); earlier kinds stay, in order.
            self.replay.retain(|recorded| recorded.kind < kind);
            self.replay.push(Recorded {
                kind,
                id,
                input: encode_to_vec(input),
            });
        }
        Ok(response)
    }

    /// Replaces the worker by a new process, repeats the setup handshake with the same
    /// setup payload, then replays the last input of every replayable transition, in the
    /// order they were declared.
    ///
    /// # Errors
    /// As [`Controller::restart`] and the replayed transitions.
    pub fn restart(&mut self) -> Result<(), ChannelError> {
        self.controller.restart()?;
        for recorded in &self.replay {
            self.controller.to_worker().write(&recorded.input)?;
            self.controller
                .do_transition(recorded.kind, recorded.id, |_| ())?;
        }
        Ok(())
    }

    /// Stops the worker and waits for it (see [`Controller::shutdown`]).
    pub fn shutdown(self) -> Option<ExitReason> {
        self.controller.shutdown()
    }
}

impl<T: Transitions> fmt::Debug for TypedController<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedController")
            .field("transitions", &T::NAMES)
            .field("controller", &self.controller)
            .field("replayable", &self.replay.len())
            .field("policy", &self.policy)
            .finish()
    }
}

/// Serves the worker side of `T`: decodes the setup payload, builds the worker with `make`,
/// answers setup, then dispatches every transition with `dispatch` until stopped.
#[doc(hidden)]
pub fn serve<T: Transitions, W>(
    channel: &mut WorkerChannel,
    make: impl FnOnce(T::Setup) -> Result<W, WorkerError>,
    dispatch: fn(&mut W, u32, &mut TransitionRequest<'_>) -> Result<(), WorkerError>,
) -> Result<(), ChannelError> {
    let setup = match channel.to_worker().read() {
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
    channel.handle_transitions(|request| {
        let kind = request.kind();
        dispatch(&mut worker, kind, request)
    })
}

/// Opens the channel named in the environment with `T`'s fingerprint and serves it; `Ok(false)`
/// if this process was not started as a worker.
#[doc(hidden)]
pub fn serve_from_env<T: Transitions, W>(
    make: impl FnOnce(T::Setup) -> Result<W, WorkerError>,
    dispatch: fn(&mut W, u32, &mut TransitionRequest<'_>) -> Result<(), WorkerError>,
) -> Result<bool, ChannelError> {
    match WorkerChannel::from_env(T::FINGERPRINT)? {
        None => Ok(false),
        Some(mut channel) => serve::<T, W>(&mut channel, make, dispatch).map(|()| true),
    }
}

/// Decodes a transition's input; the error names the transition.
#[doc(hidden)]
pub fn read_input<I: Payload>(
    request: &mut TransitionRequest<'_>,
    name: &'static str,
) -> Result<I, WorkerError> {
    let bytes = request.input()?;
    decode_from::<I>(bytes)
        .map_err(|error| format!("could not decode the input of `{name}`: {error}").into())
}

/// Encodes a transition's output straight into the reply buffer.
#[doc(hidden)]
pub fn write_output<O: Payload>(
    request: &mut TransitionRequest<'_>,
    output: &O,
) -> Result<(), WorkerError> {
    let len = output.encoded_len(0);
    request
        .output()
        .write_with(len, |bytes| encode_into(output, bytes))?;
    Ok(())
}

/// A fresh context for one transition.
#[doc(hidden)]
pub fn context(request: &TransitionRequest<'_>, name: &'static str) -> Context {
    Context {
        id: request.id(),
        name,
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
