//! [`AsyncTypedController`]: the transitions of a `#[derive(Transitions)]` enum awaited on
//! tokio, with what the blocking [`TypedController`](crate::TypedController) does around a
//! call: per-transition time-outs, the time-out policy, restarts and replay.

use std::marker::PhantomData;
use std::process::Command;
use std::time::Duration;

use super::AsyncController;
use crate::channel::ChannelError;
use crate::codec::{decode_shared, encode_to_vec, DecodeError};
use crate::derive_support::{AsyncCall, BorrowedIo, TransitionIo};
use crate::process::{ExitReason, ProcessOptions};
use crate::sys::shared_bytes::SharedBytes;
use crate::typed::{
    EncodeInput, KindTimeouts, ReplayLog, Response, RestartPolicy, SliceInput, TimeoutPolicy,
    Transitions,
};

/// A controller of the transitions `T` (`#[derive(Transitions)]`) whose calls are awaited on
/// a tokio runtime: typed inputs and outputs, the setup payload and the protocol check at
/// spawn, per-transition time-outs and [`TimeoutPolicy`], and with a [`RestartPolicy`] a
/// lost worker restarted, the replayable transitions run again with their last inputs, and
/// the call retried, as the blocking [`TypedController`](crate::TypedController) does.
///
/// The derive's `<Enum>AsyncCalls` trait (in scope with a `use`) gives it one method per
/// transition, each typed as the enum declares it; [`call_kind`](Self::call_kind) runs a
/// transition named by its kind.
///
/// # Cancellation
/// Dropping a call's future is safe at any point (see [`AsyncController`]). A restart or a
/// replay interrupted by a drop is finished by the next call before its own work: a worker
/// is never handed a call before its state was replayed in full.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), tandem::ChannelError> {
/// use std::process::Command;
/// use tandem::{AsyncTypedController, Options, RestartPolicy, Transitions};
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u64, replay)]
///     BeginRun,
///     #[transition(output = Vec<f64>)]
///     Event,
/// }
///
/// let worker = Command::new("/opt/legacy/bin/generator-worker");
/// let mut generator =
///     AsyncTypedController::<Generator>::spawn(worker, 0, Options::default(), &()).await?;
/// generator.set_restart_policy(RestartPolicy { max_restarts: 3, ..RestartPolicy::NEVER });
/// // One method per transition, from the derive.
/// use GeneratorAsyncCalls as _;
/// generator.begin_run(1, &2026).await?;
/// let event = generator.event(1).await?;
/// println!("{} particles", event.output.len());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncTypedController<T: Transitions> {
    inner: AsyncController,
    replay: ReplayLog,
    /// Set from the start of a restart until its replay has run in full.
    replay_owed: bool,
    policy: RestartPolicy,
    timeout_policy: TimeoutPolicy,
    /// Time-out per kind, where one was set with [`set_timeout`](Self::set_timeout).
    timeouts: KindTimeouts,
    lost: Vec<ChannelError>,
    _transitions: PhantomData<fn() -> T>,
}

impl<T: Transitions> AsyncTypedController<T> {
    /// Spawns `command` as a worker of `T` for channel `id`, sends `setup` during the
    /// handshake and checks that the worker was built from the same definitions (see
    /// [`TypedController::spawn`](crate::TypedController::spawn)), the blocking part on
    /// tokio's blocking pool.
    ///
    /// # Errors
    /// As [`AsyncController::spawn`]; [`ChannelError::ProtocolMismatch`] for a worker built
    /// from other definitions.
    pub async fn spawn(
        command: Command,
        id: u32,
        options: impl Into<ProcessOptions>,
        setup: &T::Setup,
    ) -> Result<Self, ChannelError> {
        let mut options = options.into();
        options.channel = options.channel.protocol_fingerprint(T::FINGERPRINT);
        let inner = AsyncController::spawn_with_setup(
            command,
            T::BASE_NAME,
            id,
            options,
            Some(encode_to_vec(setup)),
            T::NAMES,
        )
        .await?;
        Ok(AsyncTypedController {
            inner,
            replay: ReplayLog::default(),
            replay_owed: false,
            policy: RestartPolicy::NEVER,
            timeout_policy: TimeoutPolicy::GIVE_UP,
            timeouts: KindTimeouts::new(T::NAMES.len()),
            lost: Vec::new(),
            _transitions: PhantomData,
        })
    }

    /// Sets when a lost worker is restarted on its own (none by default).
    pub fn set_restart_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// Sets how many more time-outs a live but late worker is granted.
    pub fn set_timeout_policy(&mut self, policy: TimeoutPolicy) {
        self.timeout_policy = policy;
    }

    /// Waits up to `timeout` for `transition` instead of the channel's transition time-out.
    pub fn set_timeout(&mut self, transition: T, timeout: Duration) {
        self.timeouts.set(transition.kind(), timeout);
    }

    fn timeout_of(&self, kind: u32) -> Duration {
        self.timeouts.of(kind, self.inner.options_timeout())
    }

    /// The worker losses the restart policy recovered from, oldest first.
    pub fn recovered_failures(&self) -> &[ChannelError] {
        &self.lost
    }

    /// How many times the worker was restarted.
    pub fn restarts(&self) -> u32 {
        self.inner.restarts()
    }

    /// The untyped controller, for its pid.
    pub fn untyped(&mut self) -> &mut AsyncController {
        &mut self.inner
    }

    /// Runs the transition of kind `KIND` (its variant's position in the enum) with `input`,
    /// typed as the enum declares it, and decodes its output. The derive's
    /// `<Enum>AsyncCalls` methods call this one.
    ///
    /// # Errors
    /// Those of [`AsyncController::transition`] ([`ChannelError::TransitionTimedOut`]
    /// counts the extra waits granted), and [`ChannelError::Decode`] if the output does not
    /// decode; a worker loss only once the restart policy is exhausted.
    pub async fn call_kind<const KIND: u32>(
        &mut self,
        id: u64,
        input: &<T as TransitionIo<KIND>>::Input,
    ) -> Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>
    where
        T: TransitionIo<KIND>,
    {
        self.call_within(KIND, id, input, decode_shared).await
    }

    /// As [`call_kind`](Self::call_kind), for a `borrow` transition whose input is sent
    /// from a slice.
    ///
    /// # Errors
    /// As [`call_kind`](Self::call_kind).
    pub async fn call_slice_kind<const KIND: u32>(
        &mut self,
        id: u64,
        input: &[<T as BorrowedIo<KIND>>::Element],
    ) -> Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>
    where
        T: BorrowedIo<KIND>,
    {
        self.call_within(KIND, id, &SliceInput(input), decode_shared)
            .await
    }

    async fn call_within<I: EncodeInput + ?Sized, O>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
        decode: fn(SharedBytes<'_>) -> Result<O, DecodeError>,
    ) -> Result<Response<O>, ChannelError> {
        loop {
            let result = match self.pay_replay().await {
                Ok(()) => self.call_once(kind, id, input, decode).await,
                Err(error) => Err(error),
            };
            match result {
                Err(error)
                    if error.requires_restart() && self.restarts() < self.policy.max_restarts =>
                {
                    self.lost.push(error);
                    tokio::time::sleep(self.policy.backoff).await;
                    self.replay_owed = true;
                    self.inner.restart().await?;
                }
                result => return result,
            }
        }
    }

    async fn call_once<I: EncodeInput + ?Sized, O>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
        decode: fn(SharedBytes<'_>) -> Result<O, DecodeError>,
    ) -> Result<Response<O>, ChannelError> {
        let timeout = self.timeout_of(kind);
        let extra_waits = self.timeout_policy.extra_waits;
        let mut granted = 0;
        let mut keep_waiting = move || {
            granted += 1;
            granted <= extra_waits
        };
        let label = T::NAMES.get(kind as usize).copied().unwrap_or("?");
        let response = self
            .inner
            .call_with(
                kind,
                id,
                |buffer| {
                    buffer
                        .write_with(input.input_len(), |bytes| input.encode_input(bytes))
                        .map(drop)
                        .map_err(Into::into)
                },
                |mut reply| {
                    let keep = reply.keep();
                    decode(reply.bytes()?)
                        .map(|output| Response { output, keep })
                        .map_err(|source| ChannelError::Decode {
                            what: format!("output of transition {label} ({id})"),
                            source,
                        })
                },
                timeout,
                &mut keep_waiting,
            )
            .await??;
        self.replay.record::<T, _>(kind, id, input);
        Ok(response)
    }

    /// Replaces the worker by a new process, repeats the setup handshake with the same
    /// setup payload, then replays the last input of every replayable transition, in the
    /// order they were declared (see [`TypedController::restart`](crate::TypedController::restart)).
    /// If this future is dropped, the next call finishes the restart and the replay first.
    ///
    /// # Errors
    /// As [`AsyncController::restart`] and the replayed transitions.
    pub async fn restart(&mut self) -> Result<(), ChannelError> {
        self.replay_owed = true;
        self.inner.restart().await?;
        self.pay_replay().await
    }

    /// Runs the recorded inputs again if a restart left them owed.
    async fn pay_replay(&mut self) -> Result<(), ChannelError> {
        if !self.replay_owed {
            return Ok(());
        }
        for index in 0..self.replay.entries().len() {
            let recorded = &self.replay.entries()[index];
            let (kind, id) = (recorded.kind, recorded.id);
            let timeout = self.timeout_of(kind);
            let input = &self.replay.entries()[index].input;
            self.inner
                .call_with(
                    kind,
                    id,
                    |buffer| buffer.write(input).map_err(Into::into),
                    |_reply| (),
                    timeout,
                    &mut || false,
                )
                .await?;
        }
        self.replay_owed = false;
        Ok(())
    }

    /// Stops the worker and waits for it (see [`AsyncController::shutdown`]).
    pub async fn shutdown(self) -> Option<ExitReason> {
        self.inner.shutdown().await
    }
}

impl<T: Transitions> AsyncCall<T> for AsyncTypedController<T> {
    async fn __call<const KIND: u32>(
        &mut self,
        id: u64,
        input: &<T as TransitionIo<KIND>>::Input,
    ) -> Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>
    where
        T: TransitionIo<KIND>,
    {
        self.call_kind::<KIND>(id, input).await
    }

    async fn __call_slice<const KIND: u32>(
        &mut self,
        id: u64,
        input: &[<T as BorrowedIo<KIND>>::Element],
    ) -> Result<Response<<T as TransitionIo<KIND>>::Output>, ChannelError>
    where
        T: BorrowedIo<KIND>,
    {
        self.call_slice_kind::<KIND>(id, input).await
    }
}
