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

use crate::buffer::WriteBuffer;
use crate::channel::{
    ChannelError, ExitReason, Options, TransitionLabel, TransitionRequest, WaitStats, WorkerChannel,
};
use crate::codec::{
    decode_from, decode_from_into, decode_pod_slice, decode_shared, decode_shared_into,
    encode_into, encode_slice_into, encode_to_vec, slice_encoded_len, DecodeError, Payload,
    PodPayload,
};
use crate::process::Controller;
use crate::sys::shared_bytes::SharedBytes;

/// What a worker method returns on failure: any error, sent to the controller as text
/// ([`ChannelError::WorkerFailed`]). `"message".into()` and `?` on most errors both work.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A set of transitions, implemented by `#[derive(Transitions)]` on a fieldless enum.
///
/// # Examples
/// ```
/// use tandem::Transitions;
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u64, replay)]
///     BeginRun,
///     #[transition(output = Vec<f64>)]
///     Event,
/// }
///
/// assert_eq!(Generator::NAMES, ["begin_run", "event"]);
/// assert_eq!(Generator::REPLAY, [true, false]);
/// assert_eq!(Generator::Event.kind(), 1);
/// ```
pub trait Transitions: 'static {
    /// The setup payload delivered to the worker during the handshake.
    type Setup: Payload;
    /// Transition names (snake case) indexed by kind.
    const NAMES: &'static [&'static str];
    /// Whether each kind re-establishes worker state and is replayed after a restart
    /// (`#[transition(replay)]`): a [`Pool`](crate::Pool) sends these to every worker before
    /// its next item.
    const REPLAY: &'static [bool];
    /// The kind of the per-item transition a [`Pool`](crate::Pool) distributes
    /// (`#[transition(item)]`), if one is marked.
    const ITEM: Option<u32> = None;
    /// Whether each kind ends a block (`#[transition(end)]`): a [`Pool`](crate::Pool) sends
    /// it to every worker that took part in the block, after the block's last item.
    const END: &'static [bool] = &[];
    /// The fingerprints of each kind's input and output types, so that a
    /// [`Pool`](crate::Pool) can check the types it is given (empty: unchecked).
    const IO_FINGERPRINTS: &'static [[u64; 2]] = &[];
    /// Fingerprint of the transitions and of every payload type they use.
    const FINGERPRINT: u64;
    /// Prefix of the channel's segment names.
    const BASE_NAME: &'static str;
    /// The kind sent over the channel.
    fn kind(&self) -> u32;
}

/// What a worker method sees besides its input: the transition's id and name, and the keep
/// flag it returns with its output.
///
/// # Examples
/// ```
/// use tandem::{Context, Transitions, WorkerError};
///
/// #[derive(Transitions)]
/// enum Skim {
///     #[transition(input = Vec<f64>, output = f64)]
///     Event,
/// }
///
/// struct MuonSkim;
///
/// impl SkimWorker for MuonSkim {
///     fn event(&mut self, context: &mut Context, pts: Vec<f64>) -> Result<f64, WorkerError> {
///         if pts.iter().any(|pt| pt.is_nan()) {
///             // Sent to the controller as `ChannelError::WorkerFailed`; the worker serves on.
///             return Err(format!("event {}: a muon pt is NaN", context.id()).into());
///         }
///         let leading = pts.iter().copied().fold(0.0, f64::max);
///         // Keep the event only with a muon above 24 GeV; the controller reads `Response::keep`.
///         context.set_keep(leading > 24.0);
///         Ok(leading)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Context {
    id: u64,
    name: &'static str,
    attempt: u32,
    keep: bool,
}

impl Context {
    /// The transition id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Which attempt at the same work this is: 1 for the first, 2 and more when the
    /// controller retries it after the previous worker was lost (a [`Pool`](crate::Pool)
    /// does). A generator that must behave the same on every attempt ignores it; a test
    /// that injects a failure on the first attempt only reads it.
    pub fn attempt(&self) -> u32 {
        self.attempt
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
///
/// # Examples
/// ```
/// use tandem::Response;
///
/// /// The outputs of the events their worker decided to keep.
/// fn kept<O>(responses: Vec<Response<O>>) -> Vec<O> {
///     responses.into_iter().filter(|r| r.keep).map(|r| r.output).collect()
/// }
///
/// let responses = vec![
///     Response { output: 101_u64, keep: true },
///     Response { output: 102, keep: false },
/// ];
/// assert_eq!(kept(responses), [101]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response<O> {
    /// The decoded output.
    pub output: O,
    /// The worker's keep flag for this transition.
    pub keep: bool,
}

/// When and how a [`TypedController`] restarts a lost worker on its own.
///
/// # Examples
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use tandem::{Options, RestartPolicy, Transitions};
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u64, replay)]
///     BeginLumi,
///     #[transition(output = Vec<f64>)]
///     Event,
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let worker = Command::new("/opt/legacy/bin/generator-worker");
///     let mut generator = GeneratorController::spawn(worker, 0, Options::default(), &())?;
///     // Up to three crashes per job, each answered by a respawn, a replay of the last
///     // `begin_lumi`, then the failed call again.
///     generator.set_restart_policy(RestartPolicy {
///         max_restarts: 3,
///         backoff: Duration::from_millis(100),
///     });
///     generator.begin_lumi(1, &2026)?;
///     for event in 1..=1000 {
///         generator.event(event)?;
///     }
///     for failure in generator.recovered_failures() {
///         eprintln!("recovered: {failure}");
///     }
///     Ok(())
/// }
/// ```
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

/// What a typed call does when a transition's time-out expires while its worker is still
/// alive: a slow worker, not a lost one (a dead worker is reported at once, whatever the
/// time-out). The reference system met generators that were slow but healthy and solved it
/// by raising its time-outs; this lets a job keep a short time-out and still wait for them.
///
/// # Examples
/// ```
/// use tandem::TimeoutPolicy;
///
/// // Wait up to three more transition time-outs before giving up on a live worker.
/// let policy = TimeoutPolicy::wait_longer(3);
/// assert_eq!(policy.extra_waits, 3);
/// assert_eq!(TimeoutPolicy::default(), TimeoutPolicy::GIVE_UP);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPolicy {
    /// How many more time-outs to wait, each as long as the first, before the call fails
    /// with [`ChannelError::TransitionTimedOut`] (whose `retries` counts them).
    pub extra_waits: u32,
}

impl TimeoutPolicy {
    /// Fail at the first time-out (the default).
    pub const GIVE_UP: TimeoutPolicy = TimeoutPolicy { extra_waits: 0 };

    /// Keep waiting for a live worker for up to `extra_waits` more time-outs.
    pub const fn wait_longer(extra_waits: u32) -> TimeoutPolicy {
        TimeoutPolicy { extra_waits }
    }
}

impl Default for TimeoutPolicy {
    fn default() -> Self {
        TimeoutPolicy::GIVE_UP
    }
}

/// A transition whose time-out expired while its worker was still alive, as shown to the
/// callback of [`TypedController::on_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowTransition {
    /// The transition that is late.
    pub transition: TransitionLabel,
    /// How long the call has waited so far.
    pub waited: Duration,
    /// How many extra time-outs were granted before this one.
    pub retries: u32,
}

/// The decision taken at each time-out of a live worker.
enum OnTimeout {
    Policy(TimeoutPolicy),
    Callback(Box<dyn FnMut(&SlowTransition) -> bool + Send>),
}

impl OnTimeout {
    fn keep_waiting(&mut self, slow: &SlowTransition) -> bool {
        match self {
            OnTimeout::Policy(policy) => slow.retries < policy.extra_waits,
            OnTimeout::Callback(callback) => callback(slow),
        }
    }
}

impl fmt::Debug for OnTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnTimeout::Policy(policy) => policy.fmt(f),
            OnTimeout::Callback(_) => f.write_str("OnTimeout::Callback"),
        }
    }
}

#[derive(Debug)]
struct Recorded {
    kind: u32,
    id: u64,
    input: Vec<u8>,
}

/// A controller speaking the transitions `T`: typed inputs and outputs, setup payload,
/// replay and restart. The derive wraps it in a struct with one method per transition
/// (`<Enum>Controller`, whose `typed` / `typed_mut` reach this one); use it directly to
/// drive transitions chosen at run time, or for what the generated methods do not cover:
/// time-outs per transition and per call, the time-out policy or callback, wait statistics.
///
/// # Examples
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use tandem::{Options, Transitions, TypedController};
///
/// #[derive(Transitions, Clone, Copy)]
/// enum Digitizer {
///     #[transition(input = String, replay)]
///     LoadCalibration,
///     #[transition(input = Vec<u16>, output = Vec<f32>)]
///     Digitize,
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let worker = Command::new("/opt/daq/bin/digitizer-worker");
///     let mut digitizer = TypedController::<Digitizer>::spawn(
///         worker, 3, Options::default(), &(),
///     )?;
///     // Loading the calibration may take minutes; an event, milliseconds.
///     digitizer.set_timeout(Digitizer::LoadCalibration, Duration::from_secs(600));
///     digitizer.on_timeout(|slow| {
///         eprintln!("{} still running after {:?}", slow.transition, slow.waited);
///         slow.retries < 5
///     });
///     digitizer.call::<String, ()>(Digitizer::LoadCalibration, 1, &"ecal-2026".to_owned())?;
///     let adc_counts: Vec<u16> = vec![812, 4095, 17];
///     let energies = digitizer.call::<_, Vec<f32>>(Digitizer::Digitize, 1, &adc_counts)?;
///     println!("{:?} ({:?})", energies.output, digitizer.wait_stats());
///     digitizer.shutdown();
///     Ok(())
/// }
/// ```
pub struct TypedController<T: Transitions> {
    controller: Controller,
    replay: Vec<Recorded>,
    policy: RestartPolicy,
    on_timeout: OnTimeout,
    /// Time-out per kind, where one was set with [`set_timeout`](Self::set_timeout).
    timeouts: Vec<Option<Duration>>,
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
        Self::spawn_encoded(command, id, options, encode_to_vec(setup))
    }

    /// As [`spawn`](Self::spawn), with the setup payload encoded already.
    pub(crate) fn spawn_encoded(
        command: Command,
        id: u32,
        options: Options,
        setup_bytes: Vec<u8>,
    ) -> Result<Self, ChannelError> {
        let options = options.protocol_fingerprint(T::FINGERPRINT);
        let mut controller =
            Controller::spawn_with_setup(command, T::BASE_NAME, id, options, Some(setup_bytes))?;
        controller.set_transition_names(T::NAMES);
        Ok(TypedController {
            controller,
            replay: Vec::new(),
            policy: RestartPolicy::NEVER,
            on_timeout: OnTimeout::Policy(TimeoutPolicy::GIVE_UP),
            timeouts: vec![None; T::NAMES.len()],
            lost: Vec::new(),
            _transitions: std::marker::PhantomData,
        })
    }

    /// Sets the automatic restart policy (default: [`RestartPolicy::NEVER`]). A call restarts
    /// the worker when it is lost (crash, death) or when it stayed silent past its time-out
    /// and every extra wait the [`TimeoutPolicy`] granted.
    pub fn set_restart_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// Sets what a call does when its time-out expires while the worker is alive (default:
    /// [`TimeoutPolicy::GIVE_UP`]). Replaces a callback set with [`on_timeout`](Self::on_timeout).
    pub fn set_timeout_policy(&mut self, policy: TimeoutPolicy) {
        self.on_timeout = OnTimeout::Policy(policy);
    }

    /// Asks `keep_waiting` at each time-out of a live worker whether to wait another
    /// time-out (e.g. to log the slow transition and wait on); the call fails with
    /// [`ChannelError::TransitionTimedOut`] when it says no. Replaces the [`TimeoutPolicy`].
    pub fn on_timeout(
        &mut self,
        keep_waiting: impl FnMut(&SlowTransition) -> bool + Send + 'static,
    ) {
        self.on_timeout = OnTimeout::Callback(Box::new(keep_waiting));
    }

    /// Sets the time-out of every later call of `transition`, in place of
    /// [`Options::transition_timeout`] (e.g. a long one for a begin-run that initialises a
    /// generator, a short one for events). Replayed transitions use it too.
    pub fn set_timeout(&mut self, transition: T, timeout: Duration) {
        if let Some(slot) = self.timeouts.get_mut(transition.kind() as usize) {
            *slot = Some(timeout);
        }
    }

    /// The time-out a call of `kind` waits for.
    fn timeout_of(&self, kind: u32) -> Duration {
        self.timeouts
            .get(kind as usize)
            .copied()
            .flatten()
            .unwrap_or_else(|| self.controller.channel().options().get_transition_timeout())
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
    /// A worker that is alive but late is given the extra time the [`TimeoutPolicy`] (or
    /// [`on_timeout`](Self::on_timeout) callback) grants. With a [`RestartPolicy`], a worker
    /// that is lost or stays silent past all of that is restarted, the replayable transitions
    /// are run again with their last inputs, and the call is retried.
    ///
    /// # Errors
    /// Every [`ChannelError`] of [`Controller::do_transition`]
    /// ([`ChannelError::TransitionTimedOut`] counts the extra waits granted), and
    /// [`ChannelError::Decode`] if the output does not decode.
    pub fn call<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
    ) -> Result<Response<O>, ChannelError> {
        let kind = transition.kind();
        let timeout = self.timeout_of(kind);
        self.call_within(kind, id, input, timeout, decode_shared::<O>)
    }

    /// As [`call`](Self::call), waiting `timeout` for this call only.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn call_with_timeout<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
        timeout: Duration,
    ) -> Result<Response<O>, ChannelError> {
        self.call_within(transition.kind(), id, input, timeout, decode_shared::<O>)
    }

    /// As [`call`](Self::call), decoding the output into `output` instead of a new value,
    /// reusing its storage (see [`Payload::decode_into`]); returns the worker's keep flag.
    ///
    /// Pass the previous call's output: a transition that returns a large value every
    /// time then allocates and faults in its memory once, at the first call, and later
    /// calls copy the reply into the pages already there. The derived controller's methods
    /// return fresh values; reach this one through its `typed_mut()`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::process::Command;
    /// use tandem::{Options, Transitions};
    ///
    /// #[derive(Transitions, Clone, Copy)]
    /// enum Digitizer {
    ///     #[transition(input = u64, output = Vec<f32>)]
    ///     Waveform,
    /// }
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let worker = Command::new("/opt/daq/bin/digitizer-worker");
    ///     let mut digitizer = DigitizerController::spawn(worker, 0, Options::default(), &())?;
    ///     let mut samples: Vec<f32> = Vec::new();
    ///     for event in 1..=1000 {
    ///         // 64 MiB per event, decoded into the same buffer every time.
    ///         let keep = digitizer
    ///             .typed_mut()
    ///             .call_into(Digitizer::Waveform, event, &event, &mut samples)?;
    ///         if keep {
    ///             println!("event {event}: peak {}", samples.iter().copied().fold(0.0, f32::max));
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`call`](Self::call). After an error `output` is a valid value, possibly changed
    /// (part of it may hold a reply that failed to decode).
    pub fn call_into<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
        output: &mut O,
    ) -> Result<bool, ChannelError> {
        let kind = transition.kind();
        let timeout = self.timeout_of(kind);
        let response = self.call_within(kind, id, input, timeout, |bytes| {
            decode_shared_into(bytes, output)
        })?;
        Ok(response.keep)
    }

    /// As [`call`](Self::call) for a transition whose input is a `Vec<E>` of plain-old-data
    /// elements, sent from a slice without building a `Vec` (the worker may borrow it in
    /// place: see [`TrustedSlice`]).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn call_slice<E: PodPayload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &[E],
    ) -> Result<Response<O>, ChannelError> {
        let kind = transition.kind();
        let timeout = self.timeout_of(kind);
        self.call_within(kind, id, &SliceInput(input), timeout, decode_shared::<O>)
    }

    /// Runs transition `kind` with an input encoded already, and decodes its output with
    /// `decode` (the pool's worker threads, which know the transitions but not the types).
    pub(crate) fn call_encoded<O>(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        decode: fn(SharedBytes<'_>) -> Result<O, DecodeError>,
    ) -> Result<Response<O>, ChannelError> {
        let timeout = self.timeout_of(kind);
        self.call_within(kind, id, &EncodedInput(input), timeout, decode)
    }

    /// Marks the next call as attempt `attempt` at the same work (see [`Context::attempt`]).
    pub fn set_attempt(&mut self, attempt: u32) {
        self.controller.set_attempt(attempt);
    }

    /// Forgets the replayable inputs of kind `kind` and later kinds: their block ended, so a
    /// restarted worker must not be put back into it.
    pub(crate) fn close_block(&mut self, kind: u32) {
        self.replay.retain(|recorded| recorded.kind < kind);
    }

    fn call_within<I: EncodeInput + ?Sized, O>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
        timeout: Duration,
        mut decode: impl FnMut(SharedBytes<'_>) -> Result<O, DecodeError>,
    ) -> Result<Response<O>, ChannelError> {
        loop {
            match self.call_once(kind, id, input, timeout, &mut decode) {
                Err(error)
                    if error.requires_restart() && self.restarts() < self.policy.max_restarts =>
                {
                    self.lost.push(error);
                    std::thread::sleep(self.policy.backoff);
                    self.restart()?;
                }
                result => return result,
            }
        }
    }

    fn call_once<I: EncodeInput + ?Sized, O>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
        timeout: Duration,
        decode: &mut impl FnMut(SharedBytes<'_>) -> Result<O, DecodeError>,
    ) -> Result<Response<O>, ChannelError> {
        let len = input.input_len();
        self.controller
            .to_worker()
            .write_with(len, |bytes| input.encode_input(bytes))?;
        let label = self.controller.channel().label(kind, id);
        let on_timeout = &mut self.on_timeout;
        let started = std::time::Instant::now();
        let mut retries = 0;
        let keep_waiting = || {
            let slow = SlowTransition {
                transition: label,
                waited: started.elapsed(),
                retries,
            };
            retries += 1;
            on_timeout.keep_waiting(&slow)
        };
        let response = self.controller.do_transition_with_timeout(
            kind,
            id,
            timeout,
            |mut reply| {
                let keep = reply.keep();
                // Decoded straight from the worker's buffer, each byte read once into the
                // output's own memory and validated there.
                decode(reply.bytes()?)
                    .map(|output| Response { output, keep })
                    .map_err(|source| ChannelError::Decode {
                        what: format!("output of transition {label}"),
                        source,
                    })
            },
            keep_waiting,
        )??;
        if T::REPLAY.get(kind as usize).copied().unwrap_or(false) {
            // Later transitions of the same kind supersede earlier ones (a new begin-lumi
            // replaces the previous one); earlier kinds stay, in order.
            self.replay.retain(|recorded| recorded.kind < kind);
            let mut bytes = vec![0; input.input_len()];
            input.encode_input(&mut bytes);
            self.replay.push(Recorded {
                kind,
                id,
                input: bytes,
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
        self.replay_state()
    }

    /// Replaces a worker that is still well by a new process, stopping the old one
    /// gracefully (see [`Controller::recycle`]), then repeats the setup and replays the
    /// state as [`restart`](Self::restart) does.
    ///
    /// # Errors
    /// As [`restart`](Self::restart).
    pub fn recycle(&mut self) -> Result<(), ChannelError> {
        self.controller.recycle()?;
        self.replay_state()
    }

    /// The worker process as a pidfd (see [`Controller`]'s `process`).
    pub(crate) fn process(&self) -> Option<std::sync::Arc<crate::sys::process::PidFd>> {
        self.controller.process()
    }

    /// Runs the last input of every replayable transition again, in declaration order.
    fn replay_state(&mut self) -> Result<(), ChannelError> {
        for recorded in &self.replay {
            let timeout = self.timeout_of(recorded.kind);
            self.controller.to_worker().write(&recorded.input)?;
            self.controller.do_transition_with_timeout(
                recorded.kind,
                recorded.id,
                timeout,
                |_| (),
                || false,
            )?;
        }
        Ok(())
    }

    /// Stops the worker and waits for it (see [`Controller::shutdown`]).
    pub fn shutdown(self) -> Option<ExitReason> {
        self.controller.shutdown()
    }
}

/// A transition's input as the typed controller encodes it: a [`Payload`] value, or a slice
/// of plain-old-data elements encoded as a `Vec` of them.
trait EncodeInput {
    fn input_len(&self) -> usize;
    fn encode_input(&self, bytes: &mut [u8]) -> usize;
}

impl<P: Payload> EncodeInput for P {
    fn input_len(&self) -> usize {
        self.encoded_len(0)
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        encode_into(self, bytes)
    }
}

/// An input encoded already.
struct EncodedInput<'a>(&'a [u8]);

impl EncodeInput for EncodedInput<'_> {
    fn input_len(&self) -> usize {
        self.0.len()
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        bytes[..self.0.len()].copy_from_slice(self.0);
        self.0.len()
    }
}

struct SliceInput<'a, E>(&'a [E]);

impl<E: Payload> EncodeInput for SliceInput<'_, E> {
    fn input_len(&self) -> usize {
        slice_encoded_len(self.0)
    }

    fn encode_input(&self, bytes: &mut [u8]) -> usize {
        encode_slice_into(self.0, bytes)
    }
}

/// Plain-old-data elements read in place from the controller's buffer: the input of a
/// worker method for a `#[transition(input = Vec<E>, borrow)]`, with no copy and no
/// allocation (the worker's side of [`decode_pod_slice`](crate::decode_pod_slice)).
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

impl<T: Transitions> fmt::Debug for TypedController<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedController")
            .field("transitions", &T::NAMES)
            .field("controller", &self.controller)
            .field("replayable", &self.replay.len())
            .field("policy", &self.policy)
            .field("on_timeout", &self.on_timeout)
            .finish()
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
