//! [`TypedController`]: a [`Controller`] speaking the transitions `T`, with typed payloads
//! encoded straight into the shared buffers, replay of the state-establishing transitions
//! after a restart, and the restart and time-out policies.

use std::fmt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::input::{EncodeInput, EncodedInput, SliceInput};
use super::policies::{
    KindTimeouts, OnTimeout, RestartPolicy, SetupRetry, SlowTransition, TimeoutPolicy,
};
use super::protocol::{Response, Transitions};
use super::replay::ReplayLog;
use crate::channel::{ChannelError, ExitReason, WaitStats};
use crate::codec::{
    decode_shared, decode_shared_into, encode_to_vec, DecodeError, Payload, PodPayload,
};
use crate::process::Controller;
use crate::process::ProcessOptions;
use crate::sys::process::PidFd;
use crate::sys::shared_bytes::SharedBytes;

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
///     digitizer.call_unchecked::<String, ()>(Digitizer::LoadCalibration, 1, &"ecal-2026".to_owned())?;
///     let adc_counts: Vec<u16> = vec![812, 4095, 17];
///     let energies = digitizer.call_unchecked::<_, Vec<f32>>(Digitizer::Digitize, 1, &adc_counts)?;
///     println!("{:?} ({:?})", energies.output, digitizer.wait_stats());
///     digitizer.shutdown();
///     Ok(())
/// }
/// ```
pub struct TypedController<T: Transitions> {
    controller: Controller,
    setup_retry: SetupRetry,
    replay: ReplayLog,
    policy: RestartPolicy,
    on_timeout: OnTimeout,
    /// Time-out per kind, where one was set with [`set_timeout`](Self::set_timeout).
    timeouts: KindTimeouts,
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
        options: impl Into<ProcessOptions>,
        setup: &T::Setup,
    ) -> Result<Self, ChannelError> {
        Self::spawn_encoded(
            command,
            id,
            options.into(),
            encode_to_vec(setup),
            SetupRetry::GIVE_UP,
        )
    }

    /// As [`spawn`](Self::spawn), with a worker that may take longer than the setup time-out
    /// ([`Options::setup_timeout`](crate::Options::setup_timeout)) to set up: at each time-out of a live worker, `retry`
    /// decides whether to wait another one (the reference's `setupWorker` with its retry
    /// callback). Restarts use it too.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn); [`ChannelError::SetupTimedOut`] (counting the extra waits)
    /// once `retry` gives up.
    ///
    /// # Examples
    /// ```no_run
    /// use std::process::Command;
    /// use std::time::Duration;
    /// use tandem::{Options, Transitions, TypedController, typed::SetupRetry};
    ///
    /// #[derive(Transitions)]
    /// enum Generator {
    ///     #[transition(output = Vec<f64>)]
    ///     Event,
    /// }
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     // The generator loads its tables at setup: allow 10 s, and up to 3 × 10 s more.
    ///     let options = Options::default().setup_timeout(Duration::from_secs(10));
    ///     let retry = SetupRetry::ask(|slow| {
    ///         eprintln!("setup still running after {:?}", slow.waited);
    ///         slow.retries < 3
    ///     });
    ///     let command = Command::new("/opt/gen/bin/generator-worker");
    ///     let generator =
    ///         TypedController::<Generator>::spawn_with_setup_retry(command, 0, options, &(), retry)?;
    ///     generator.shutdown();
    ///     Ok(())
    /// }
    /// ```
    pub fn spawn_with_setup_retry(
        command: Command,
        id: u32,
        options: impl Into<ProcessOptions>,
        setup: &T::Setup,
        retry: SetupRetry,
    ) -> Result<Self, ChannelError> {
        Self::spawn_encoded(command, id, options.into(), encode_to_vec(setup), retry)
    }

    /// As [`spawn_with_setup_retry`](Self::spawn_with_setup_retry), with the setup payload
    /// encoded already.
    pub(crate) fn spawn_encoded(
        command: Command,
        id: u32,
        mut options: ProcessOptions,
        setup_bytes: Vec<u8>,
        setup_retry: SetupRetry,
    ) -> Result<Self, ChannelError> {
        options.channel = options.channel.protocol_fingerprint(T::FINGERPRINT);
        let mut controller = Controller::spawn_with_setup(
            command,
            T::BASE_NAME,
            id,
            options,
            Some(setup_bytes),
            &mut setup_waits(&setup_retry),
        )?;
        controller.set_transition_names(T::NAMES);
        Ok(TypedController {
            controller,
            setup_retry,
            replay: ReplayLog::default(),
            policy: RestartPolicy::NEVER,
            on_timeout: OnTimeout::Policy(TimeoutPolicy::GIVE_UP),
            timeouts: KindTimeouts::new(T::NAMES.len()),
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
    /// [`Options::transition_timeout`](crate::Options::transition_timeout) (e.g. a long one for a begin-run that initialises a
    /// generator, a short one for events). Replayed transitions use it too.
    pub fn set_timeout(&mut self, transition: T, timeout: Duration) {
        self.timeouts.set(transition.kind(), timeout);
    }

    /// The time-out a call of `kind` waits for.
    fn timeout_of(&self, kind: u32) -> Duration {
        let default = self.controller.channel().options().transition_timeout;
        self.timeouts.of(kind, default)
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

    /// Runs `transition` with `input` and decodes its output as `O`.
    ///
    /// # Unchecked types
    /// `I` and `O` are not checked against the types the enum declares for `transition`:
    /// `input` is encoded as an `I` and the reply decoded as an `O`, whatever the worker
    /// expects and sends. With the wrong types the worker fails to decode its input
    /// ([`ChannelError::WorkerFailed`]), the reply fails to decode
    /// ([`ChannelError::Decode`]), or, where the encodings happen to agree, a wrong value
    /// comes back. The typed calls are the generated `<Enum>Controller`'s methods, one per
    /// transition with its declared types; this one is for transitions chosen at run time.
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
    pub fn call_unchecked<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
    ) -> Result<Response<O>, ChannelError> {
        let kind = transition.kind();
        let timeout = self.timeout_of(kind);
        self.call_within(kind, id, input, timeout, decode_shared::<O>)
    }

    /// As [`call_unchecked`](Self::call_unchecked), types unchecked likewise, waiting
    /// `timeout` for this call only.
    ///
    /// # Errors
    /// As [`call`](Self::call_unchecked).
    pub fn call_unchecked_with_timeout<I: Payload, O: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
        timeout: Duration,
    ) -> Result<Response<O>, ChannelError> {
        self.call_within(transition.kind(), id, input, timeout, decode_shared::<O>)
    }

    /// As [`call_unchecked`](Self::call_unchecked), types unchecked likewise, decoding the
    /// output into `output` instead of a new value, reusing its storage (see
    /// [`Payload::decode_into`]); returns the worker's keep flag.
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
    ///             .call_into_unchecked(Digitizer::Waveform, event, &event, &mut samples)?;
    ///         if keep {
    ///             println!("event {event}: peak {}", samples.iter().copied().fold(0.0, f32::max));
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`call`](Self::call_unchecked). After an error `output` is a valid value, possibly changed
    /// (part of it may hold a reply that failed to decode).
    pub fn call_into_unchecked<I: Payload, O: Payload>(
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

    /// As [`call_unchecked`](Self::call_unchecked), types unchecked likewise, for a
    /// transition whose input is a `Vec<E>` of plain-old-data
    /// elements, sent from a slice without building a `Vec` (the worker may borrow it in
    /// place: see [`TrustedSlice`](crate::TrustedSlice)).
    ///
    /// # Errors
    /// As [`call`](Self::call_unchecked).
    pub fn call_slice_unchecked<E: PodPayload, O: Payload>(
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

    /// Marks the next call as attempt `attempt` at the same work (see [`Context::attempt`](crate::Context::attempt)).
    pub fn set_attempt(&mut self, attempt: u32) {
        self.controller.set_attempt(attempt);
    }

    /// Forgets the replayable inputs of kind `kind` and later kinds: their block ended, so a
    /// restarted worker must not be put back into it.
    pub(crate) fn close_block(&mut self, kind: u32) {
        self.replay.close_block(kind);
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
        self.replay.record::<T, _>(kind, id, input);
        Ok(response)
    }

    /// Replaces the worker by a new process, repeats the setup handshake with the same
    /// setup payload, then replays the last input of every replayable transition, in the
    /// order they were declared.
    ///
    /// # Errors
    /// As [`Controller::restart`] and the replayed transitions.
    pub fn restart(&mut self) -> Result<(), ChannelError> {
        self.controller
            .restart_with_setup_retry(&mut setup_waits(&self.setup_retry))?;
        self.replay_state()
    }

    /// Replaces a worker that is still well by a new process, stopping the old one
    /// gracefully (see [`Controller::recycle`]), then repeats the setup and replays the
    /// state as [`restart`](Self::restart) does.
    ///
    /// # Errors
    /// As [`restart`](Self::restart).
    pub fn recycle(&mut self) -> Result<(), ChannelError> {
        self.controller
            .recycle_with_setup_retry(&mut setup_waits(&self.setup_retry))?;
        self.replay_state()
    }

    /// The worker's pid, as the kernel gave it at spawn.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.controller.pid()
    }

    /// The worker process as a pidfd (see [`Controller`]'s `process`).
    pub(crate) fn process(&self) -> Option<Arc<PidFd>> {
        self.controller.process()
    }

    /// Runs the last input of every replayable transition again, in declaration order.
    fn replay_state(&mut self) -> Result<(), ChannelError> {
        for recorded in self.replay.entries() {
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

/// The setup retry callback of one (re)start: counts the extra waits and the time since
/// the start, and asks `retry` at each setup time-out.
fn setup_waits(retry: &SetupRetry) -> impl FnMut() -> bool + '_ {
    let started = std::time::Instant::now();
    let mut retries = 0;
    move || {
        let slow = SlowTransition {
            transition: crate::channel::TransitionLabel::SETUP,
            waited: started.elapsed(),
            retries,
        };
        retries += 1;
        retry.keep_waiting(&slow)
    }
}

impl<T: Transitions> fmt::Debug for TypedController<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedController")
            .field("transitions", &T::NAMES)
            .field("controller", &self.controller)
            .field("replayable", &self.replay.entries().len())
            .field("policy", &self.policy)
            .field("on_timeout", &self.on_timeout)
            .finish()
    }
}
