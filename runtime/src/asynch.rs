//! Async controllers (feature `tokio`): calls awaited on a tokio runtime, with no thread
//! blocked per call or per channel.
//!
//! A call posts its request as the blocking path does, then parks its task: the worker's
//! reply rings the channel's doorbell (an eventfd) because the controller announced in the
//! control block that it waits asynchronously, and the worker's death makes its pidfd
//! readable; both are registered with the reactor (see `channel::controller::asynch`). The
//! death-watcher thread of a blocking channel is replaced by that pidfd once the worker is set
//! up. Spawning and restarting run the blocking setup handshake on tokio's blocking pool.
//!
//! # Cancellation
//! Dropping a call's future is safe at any point. A request already posted stays pending:
//! the next call first waits for its reply (within its own time-out) and discards it, then
//! writes its input. So no call reads another call's reply, and no input is overwritten while
//! the worker may still read it. A restart whose future was dropped goes on on the blocking
//! pool, and the next call waits for it.

use std::process::Command;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::channel::controller::asynch::Registration;
use crate::channel::{ChannelError, Reply, UnusableReason};
use crate::codec::{decode_shared, encode_into, Payload};
use crate::process::Controller;
use crate::process::ProcessOptions;
use crate::typed::Response;
use crate::typed::Transitions;

/// A [`Controller`] whose transitions are awaited on a tokio runtime.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), tandem::ChannelError> {
/// use std::process::Command;
/// use tandem::{AsyncController, Options};
///
/// const EVENT: u32 = 1;
/// let worker = Command::new("/opt/daq/bin/digi-worker");
/// let mut controller = AsyncController::spawn(worker, "digi", 0, Options::default()).await?;
/// let reply = controller.transition(EVENT, 17, b"raw event 17", |mut r| r.to_vec()).await??;
/// println!("{} bytes back", reply.len());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncController {
    /// `None` while a spawn or restart runs on the blocking pool.
    inner: Option<Controller>,
    /// A restart still running on the blocking pool (its future was dropped).
    restarting: Option<JoinHandle<(Controller, Result<(), ChannelError>)>>,
    registration: Option<Registration>,
}

impl AsyncController {
    /// Spawns `command` as the worker of channel `base`/`id` (see [`Controller::spawn`]),
    /// running the setup handshake on tokio's blocking pool. Call it within a tokio runtime.
    ///
    /// # Errors
    /// As [`Controller::spawn`], and [`ChannelError::Os`] if the channel's descriptors cannot
    /// be registered with the reactor.
    pub async fn spawn(
        command: Command,
        base: &str,
        id: u32,
        options: impl Into<ProcessOptions>,
    ) -> Result<AsyncController, ChannelError> {
        Self::spawn_with_setup(command, base, id, options.into(), None, &[]).await
    }

    pub(crate) async fn spawn_with_setup(
        command: Command,
        base: &str,
        id: u32,
        options: ProcessOptions,
        setup: Option<Vec<u8>>,
        names: &'static [&'static str],
    ) -> Result<AsyncController, ChannelError> {
        let base = base.to_owned();
        let controller = tokio::task::spawn_blocking(move || {
            let mut controller =
                Controller::spawn_with_setup(command, &base, id, options, setup, &mut || false)?;
            controller.set_transition_names(names);
            Ok::<_, ChannelError>(controller)
        })
        .await
        .map_err(join_error)??;
        let mut this = AsyncController {
            inner: Some(controller),
            restarting: None,
            registration: None,
        };
        this.adopt_worker()?;
        Ok(this)
    }

    /// Swaps the death-watcher thread for the pidfd and registers both descriptors.
    fn adopt_worker(&mut self) -> Result<(), ChannelError> {
        let Some(controller) = self.inner.as_mut() else {
            return Ok(());
        };
        if let Some(pidfd) = controller.process() {
            controller.channel_mut().watch_without_thread(pidfd);
        }
        let os = |source| ChannelError::Os {
            operation: "registering the channel with the tokio reactor",
            source,
        };
        match &mut self.registration {
            Some(registration) => controller
                .channel()
                .register_worker(registration)
                .map_err(os)?,
            None => self.registration = Some(controller.channel().register().map_err(os)?),
        }
        Ok(())
    }

    /// Finishes a restart left running and waits out a call left pending by a dropped future.
    async fn settle(&mut self, timeout: Duration) -> Result<(), ChannelError> {
        if let Some(restarting) = self.restarting.as_mut() {
            let (controller, result) = restarting.await.map_err(join_error)?;
            self.restarting = None;
            self.inner = Some(controller);
            result?;
            self.adopt_worker()?;
        }
        let (Some(controller), Some(registration)) = (self.inner.as_mut(), &self.registration)
        else {
            return Err(ChannelError::Unusable {
                reason: UnusableReason::RestartFailed,
            });
        };
        if let Some(label) = controller.channel().pending() {
            let drained = controller
                .channel_mut()
                .await_async(label, timeout, registration)
                .await;
            match drained {
                Ok(()) | Err(ChannelError::WorkerFailed { .. }) => {}
                Err(error) => return Err(controller.with_stderr_tail(error)),
            }
        }
        Ok(())
    }

    /// Runs transition `kind`/`id` with `input` and hands the reply to `read_reply`, like
    /// [`Controller::do_transition`] (same errors, crash reports and stderr tails), without
    /// blocking the thread. Waits first for a call whose future was dropped.
    ///
    /// # Errors
    /// As [`Controller::do_transition`]; [`ChannelError::Unusable`] after a failed restart.
    pub async fn transition<R>(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        read_reply: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R, ChannelError> {
        self.call_with(
            kind,
            id,
            |buffer| buffer.write(input).map_err(Into::into),
            read_reply,
        )
        .await
    }

    async fn call_with<R>(
        &mut self,
        kind: u32,
        id: u64,
        write: impl FnOnce(&mut crate::WriteBuffer) -> Result<(), ChannelError>,
        read_reply: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R, ChannelError> {
        let timeout = self.options_timeout();
        self.settle(timeout).await?;
        let (Some(controller), Some(registration)) = (self.inner.as_mut(), &self.registration)
        else {
            unreachable!("settle returned Ok");
        };
        write(controller.to_worker())?;
        let channel = controller.channel_mut();
        let label = channel.start_async(kind, id)?;
        match channel.await_async(label, timeout, registration).await {
            Ok(()) => Ok(channel.read_reply(read_reply)),
            Err(error) => Err(controller.with_stderr_tail(error)),
        }
    }

    fn options_timeout(&self) -> Duration {
        self.inner
            .as_ref()
            .map_or(Duration::MAX, |c| c.channel().options().transition_timeout)
    }

    /// Replaces the worker by a fresh process (see [`Controller::restart`]), the blocking
    /// part on tokio's blocking pool. If this future is dropped the restart goes on, and the
    /// next call waits for it.
    ///
    /// # Errors
    /// As [`Controller::restart`].
    pub async fn restart(&mut self) -> Result<(), ChannelError> {
        if self.restarting.is_none() {
            let Some(mut controller) = self.inner.take() else {
                return Err(ChannelError::Unusable {
                    reason: UnusableReason::RestartFailed,
                });
            };
            if let Some(registration) = &mut self.registration {
                registration.forget_worker();
            }
            self.restarting = Some(tokio::task::spawn_blocking(move || {
                let result = controller.restart();
                (controller, result)
            }));
        }
        self.settle(Duration::MAX).await
    }

    /// The worker's process id.
    pub fn pid(&self) -> Option<u32> {
        self.inner.as_ref().and_then(Controller::pid)
    }

    /// How many times the worker was restarted.
    pub fn restarts(&self) -> u32 {
        self.inner.as_ref().map_or(0, Controller::restarts)
    }
}

impl Drop for AsyncController {
    fn drop(&mut self) {
        // Stopping the worker may wait up to the shutdown grace: not on the executor.
        self.registration = None;
        if let Some(controller) = self.inner.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                drop(handle.spawn_blocking(move || drop(controller)));
            }
        }
    }
}

/// The typed face of an [`AsyncController`] for the transitions `T` (`#[derive(Transitions)]`):
/// `call::<KIND>` is typed by the derive's `TransitionIo<KIND>` impls, which exist whatever
/// the features, so the derive's output does not depend on this one.
#[derive(Debug)]
pub struct AsyncTypedController<T: Transitions> {
    inner: AsyncController,
    _transitions: std::marker::PhantomData<fn() -> T>,
}

impl<T: Transitions> AsyncTypedController<T> {
    /// Spawns `command` as a worker of `T` for channel `id`, with `setup` for its handshake
    /// (see [`TypedController::spawn`](crate::TypedController::spawn)).
    ///
    /// # Errors
    /// As [`AsyncController::spawn`].
    pub async fn spawn(
        command: Command,
        id: u32,
        options: impl Into<ProcessOptions>,
        setup: &T::Setup,
    ) -> Result<Self, ChannelError> {
        let mut options = options.into();
        options.channel = options.channel.protocol_fingerprint(T::FINGERPRINT);
        let setup = crate::codec::encode_to_vec(setup);
        let inner = AsyncController::spawn_with_setup(
            command,
            T::BASE_NAME,
            id,
            options,
            Some(setup),
            T::NAMES,
        )
        .await?;
        Ok(AsyncTypedController {
            inner,
            _transitions: std::marker::PhantomData,
        })
    }

    /// Runs the transition of kind `KIND` (its variant's index in the enum) with `input`,
    /// typed as the enum declares it, and decodes its output.
    ///
    /// # Errors
    /// As [`AsyncController::transition`], and [`ChannelError::Decode`] if the output does
    /// not decode.
    pub async fn call<const KIND: u32>(
        &mut self,
        id: u64,
        input: &<T as crate::__private::TransitionIo<KIND>>::Input,
    ) -> Result<Response<<T as crate::__private::TransitionIo<KIND>>::Output>, ChannelError>
    where
        T: crate::__private::TransitionIo<KIND>,
    {
        type Out<T, const K: u32> = <T as crate::__private::TransitionIo<K>>::Output;
        let decoded = self
            .inner
            .call_with(
                KIND,
                id,
                |buffer| {
                    let len = input.encoded_len(0);
                    buffer
                        .write_with(len, |bytes| encode_into(input, bytes))
                        .map(|_| ())
                        .map_err(Into::into)
                },
                |mut reply| {
                    let keep = reply.keep();
                    decode_shared::<Out<T, KIND>>(reply.bytes()?)
                        .map(|output| Response { output, keep })
                        .map_err(|source| ChannelError::Decode {
                            what: format!("output of transition kind {KIND}"),
                            source,
                        })
                },
            )
            .await?;
        decoded
    }

    /// The untyped controller, to restart it or read its pid.
    pub fn untyped(&mut self) -> &mut AsyncController {
        &mut self.inner
    }
}

fn join_error(error: tokio::task::JoinError) -> ChannelError {
    ChannelError::Os {
        operation: "running the worker's setup on tokio's blocking pool",
        source: std::io::Error::other(error),
    }
}
