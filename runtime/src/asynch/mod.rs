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
//!
//! - this module: [`AsyncController`], untyped;
//! - `typed`: [`AsyncTypedController`], the transitions of a `#[derive(Transitions)]` enum,
//!   with the blocking typed controller's restart policy, replay and time-out policy;
//! - `pool`: [`AsyncPool`], workers lent to concurrent tasks.

mod pool;
mod typed;

pub use pool::{AsyncPool, PooledWorker};
pub use typed::AsyncTypedController;

use std::process::Command;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::buffer::WriteBuffer;
use crate::channel::controller::asynch::Registration;
use crate::channel::{ChannelError, Reply, UnusableReason};
use crate::process::{Controller, ExitReason, ProcessOptions};

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
    /// The channel's transition time-out, known while a restart holds the controller.
    transition_timeout: Duration,
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
        let transition_timeout = options.channel.transition_timeout;
        let base = base.to_owned();
        let runtime = tokio::runtime::Handle::current();
        let controller = tokio::task::spawn_blocking(move || {
            let mut controller =
                Controller::spawn_on_reactor(command, &base, id, options, setup, runtime)?;
            controller.set_transition_names(names);
            Ok::<_, ChannelError>(controller)
        })
        .await
        .map_err(join_error)??;
        let mut this = AsyncController {
            inner: Some(controller),
            restarting: None,
            registration: None,
            transition_timeout,
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
                .await_async(label, timeout, &mut || false, registration)
                .await;
            match drained {
                Ok(()) | Err(ChannelError::WorkerFailed { .. }) => {}
                Err(error) => return Err(complete(controller, error).await),
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
        let timeout = self.options_timeout();
        self.call_with(
            kind,
            id,
            |buffer| buffer.write(input).map_err(Into::into),
            read_reply,
            timeout,
            &mut || false,
        )
        .await
    }

    /// Settles what an abandoned call left, writes the input with `write`, posts the
    /// transition and awaits its reply, asking `retry` at each time-out of a live worker.
    pub(crate) async fn call_with<R>(
        &mut self,
        kind: u32,
        id: u64,
        write: impl FnOnce(&mut WriteBuffer) -> Result<(), ChannelError>,
        read_reply: impl FnOnce(Reply<'_>) -> R,
        timeout: Duration,
        retry: &mut (dyn FnMut() -> bool + Send),
    ) -> Result<R, ChannelError> {
        self.settle(self.options_timeout()).await?;
        let (Some(controller), Some(registration)) = (self.inner.as_mut(), &self.registration)
        else {
            unreachable!("settle returned Ok");
        };
        write(controller.to_worker())?;
        let channel = controller.channel_mut();
        let label = channel.start_async(kind, id)?;
        match channel
            .await_async(label, timeout, retry, registration)
            .await
        {
            Ok(()) => Ok(channel.read_reply(read_reply)),
            Err(error) => Err(complete(controller, error).await),
        }
    }

    /// The configured transition time-out.
    pub(crate) fn options_timeout(&self) -> Duration {
        self.transition_timeout
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

    /// Stops the worker as [`Controller::shutdown`] does (asks it to leave its loop, waits
    /// up to the shutdown grace, then kills it), on tokio's blocking pool. Returns how it
    /// ended.
    pub async fn shutdown(mut self) -> Option<ExitReason> {
        self.registration = None;
        if let Some(restarting) = self.restarting.take() {
            if let Ok((controller, _)) = restarting.await {
                self.inner = Some(controller);
            }
        }
        let controller = self.inner.take()?;
        tokio::task::spawn_blocking(move || controller.shutdown())
            .await
            .ok()
            .flatten()
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

/// Adds the worker's last stderr lines to `error`, once the reactor has read them.
async fn complete(controller: &Controller, error: ChannelError) -> ChannelError {
    controller.stderr_closed(&error).await;
    controller.with_stderr_tail(error)
}

fn join_error(error: tokio::task::JoinError) -> ChannelError {
    ChannelError::Os {
        operation: "running the worker's setup on tokio's blocking pool",
        source: std::io::Error::other(error),
    }
}
