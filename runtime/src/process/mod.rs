//! Worker processes: spawning them with the channel they serve, capturing the tail of their
//! stderr (added here to the errors that report their death), stopping and restarting them.
//! Their death itself is noticed by the channel's death watcher (`sys::watch`).

mod options;
mod stderr;

pub use crate::channel::WorkerStatus;
pub use crate::sys::process::ExitReason;
pub use options::ProcessOptions;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use stderr::StderrCapture;
pub(crate) use stderr::StderrPump;

use crate::buffer::WriteBuffer;
use crate::channel::{ChannelError, ControllerChannel, Reply, WaitStats};
use crate::sandbox::{Sandbox, SandboxStatus};
use crate::sys::process::PidFd;

/// How long an error report waits for a dead worker's stderr to close, so that its last
/// words are in the tail.
const STDERR_CLOSE_WAIT: Duration = Duration::from_millis(30);

/// A worker process driven through a [`ControllerChannel`]: spawned with the channel's
/// descriptors and token (see [`ControllerChannel::prepare_command`]), set up, watched, and
/// stopped (or killed) on drop.
///
/// Transitions go through [`to_worker`](Self::to_worker) and
/// [`do_transition`](Self::do_transition); the errors that report the worker's death carry
/// the last lines of its stderr. [`channel`](Self::channel) shows the channel itself.
///
/// # Examples
/// One untyped binary, controller and worker (the typed way is `#[derive(Transitions)]`):
/// ```no_run
/// use std::process::Command;
/// use tandem::{BufferError, Controller, Options, WorkerChannel};
///
/// const EVENT: u32 = 1;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if let Some(mut worker) = WorkerChannel::from_env(0)? {
///         worker.handle_transitions(|request| -> Result<(), BufferError> {
///             let reply: Vec<u8> = request.trusted_input()?.iter().rev().copied().collect();
///             request.output().write(&reply)
///         })?;
///         return Ok(());
///     }
///     let worker = Command::new(std::env::current_exe()?);
///     let mut controller = Controller::spawn(worker, "echo", 0, Options::default())?;
///     controller.to_worker().write(b"event 2")?;
///     let (bytes, keep) =
///         controller.do_transition(EVENT, 2, |mut reply| (reply.to_vec(), reply.keep()))?;
///     assert_eq!(bytes?, b"2 tneve");
///     assert!(!keep);
///     controller.shutdown(); // or drop it: the worker is stopped, then killed after a grace
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct Controller {
    channel: ControllerChannel,
    process: ProcessOptions,
    stderr: Option<Arc<StderrCapture>>,
    /// Who reads each worker's stderr: a thread, or the reactor of an async controller.
    stderr_pump: StderrPump,
    recipe: CommandRecipe,
    setup_payload: Option<Vec<u8>>,
    first_command: Option<Command>,
    child: Option<Child>,
    /// A pidfd of `child`, opened while it was unreaped: it names that process and no other,
    /// even after it was reaped, so another thread may signal it at any time.
    process_fd: Option<Arc<PidFd>>,
    restarts: u32,
}

impl Controller {
    /// Creates a channel named from `base` and `id`, starts `command` as its worker and
    /// completes the setup handshake. `options` are the channel's [`Options`](crate::Options)
    /// or, to set the process's own settings too, [`ProcessOptions`].
    ///
    /// The worker finds its channel with [`WorkerChannel::from_env`](crate::WorkerChannel::from_env),
    /// which makes the one-binary pattern easy: pass `std::env::current_exe()` as the
    /// command, and the program acts as worker when that variable is set.
    ///
    /// # Errors
    /// Those of [`ControllerChannel::create`] and
    /// [`ControllerChannel::setup_worker`], plus [`ChannelError::Spawn`].
    pub fn spawn(
        command: Command,
        base: &str,
        id: u32,
        options: impl Into<ProcessOptions>,
    ) -> Result<Controller, ChannelError> {
        Self::spawn_with_setup(command, base, id, options.into(), None, &mut || false)
    }

    /// As [`spawn`](Self::spawn), with `setup` as the raw setup payload the worker reads
    /// from its `to_worker` buffer before it calls `setup_done`, sent again on each restart.
    /// Test-only: programs send a typed setup payload through [`TypedController`](crate::TypedController).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    #[cfg(feature = "testing")]
    pub fn spawn_with_raw_setup(
        command: Command,
        base: &str,
        id: u32,
        options: impl Into<ProcessOptions>,
        setup: Vec<u8>,
    ) -> Result<Controller, ChannelError> {
        Self::spawn_with_setup(command, base, id, options.into(), Some(setup), &mut || {
            false
        })
    }

    /// As [`spawn`](Self::spawn), with a setup payload the worker reads from its
    /// `to_worker` buffer before it calls `setup_done` (the typed layer encodes it), kept
    /// and sent again on [`restart`](Self::restart); asking `retry` at each setup time-out
    /// whether to wait another one (see [`ControllerChannel::setup_worker_with_retry`]).
    pub(crate) fn spawn_with_setup(
        command: Command,
        base: &str,
        id: u32,
        options: ProcessOptions,
        setup_payload: Option<Vec<u8>>,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<Controller, ChannelError> {
        Self::spawn_with_pump(
            command,
            base,
            id,
            options,
            setup_payload,
            StderrPump::Thread,
            retry,
        )
    }

    /// As [`spawn_with_setup`](Self::spawn_with_setup), the worker's stderr read by a task
    /// on `runtime`'s reactor instead of a thread (async controllers).
    #[cfg(feature = "tokio")]
    pub(crate) fn spawn_on_reactor(
        command: Command,
        base: &str,
        id: u32,
        options: ProcessOptions,
        setup_payload: Option<Vec<u8>>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Controller, ChannelError> {
        Self::spawn_with_pump(
            command,
            base,
            id,
            options,
            setup_payload,
            StderrPump::Reactor(runtime),
            &mut || false,
        )
    }

    /// The one way a `Controller` is made: the channel, then the worker with its stderr read
    /// by `stderr_pump`, asking `retry` at each setup time-out.
    fn spawn_with_pump(
        command: Command,
        base: &str,
        id: u32,
        options: ProcessOptions,
        setup_payload: Option<Vec<u8>>,
        stderr_pump: StderrPump,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<Controller, ChannelError> {
        let channel = ControllerChannel::create(base, id, options.channel.clone())?;
        let mut controller = Controller {
            channel,
            process: options,
            stderr: None,
            stderr_pump,
            recipe: CommandRecipe::of(&command),
            setup_payload,
            first_command: Some(command),
            child: None,
            process_fd: None,
            restarts: 0,
        };
        controller.start_worker(retry)?;
        Ok(controller)
    }

    fn start_worker(&mut self, retry: &mut dyn FnMut() -> bool) -> Result<(), ChannelError> {
        if let Some(payload) = &self.setup_payload {
            self.channel.to_worker().write(payload)?;
        }
        self.channel.begin_setup();
        // The caller's own command the first time (with its stdio settings), a copy of its
        // program, arguments, environment and directory for restarts.
        let mut command = self
            .first_command
            .take()
            .unwrap_or_else(|| self.recipe.build());
        self.channel
            .prepare_command(&mut command)
            .stdin(Stdio::null());
        if self.process.own_process_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let capture = self.process.capture_stderr;
        if capture {
            command.stderr(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|source| ChannelError::Spawn {
            command: self.recipe.program.to_string_lossy().into_owned(),
            source,
        })?;
        if capture {
            if let Some(stderr) = child.stderr.take() {
                let lines = self.process.stderr_tail_lines;
                self.stderr =
                    StderrCapture::start(stderr, lines, child.id(), &self.stderr_pump).ok();
            }
        }
        let watched = self.channel.watch_child(&child);
        self.process_fd = PidFd::of_child(&child).ok().map(Arc::new);
        self.child = Some(child);
        if let Err(error) = watched {
            self.kill_worker();
            return Err(error);
        }
        if let Err(error) = self.channel.finish_setup(retry) {
            let error = self.with_stderr_tail(error);
            self.kill_worker();
            return Err(error);
        }
        Ok(())
    }

    /// Waits, without blocking the thread, for a dead worker's stderr to close when the
    /// reactor reads it, so that [`with_stderr_tail`](Self::with_stderr_tail) finds its last
    /// words without waiting itself.
    #[cfg(feature = "tokio")]
    pub(crate) async fn stderr_closed(&self, error: &ChannelError) {
        let reports_death = matches!(
            error,
            ChannelError::WorkerCrashed { .. }
                | ChannelError::WorkerDied { .. }
                | ChannelError::SandboxViolation { .. }
                | ChannelError::ResourceLimitExceeded { .. }
        );
        if let (true, Some(capture)) = (reports_death, &self.stderr) {
            capture.closed_within(STDERR_CLOSE_WAIT).await;
        }
    }

    /// Adds the worker's last stderr lines to an error that reports its death.
    pub(crate) fn with_stderr_tail(&self, mut error: ChannelError) -> ChannelError {
        if let ChannelError::WorkerCrashed { stderr_tail, .. }
        | ChannelError::WorkerDied { stderr_tail, .. }
        | ChannelError::SandboxViolation { stderr_tail, .. }
        | ChannelError::ResourceLimitExceeded { stderr_tail, .. } = &mut error
        {
            if stderr_tail.is_none() {
                *stderr_tail = self
                    .stderr
                    .as_ref()
                    .map(|capture| capture.tail_after_exit(STDERR_CLOSE_WAIT));
            }
        }
        self.data_limit_hit(error)
    }

    /// Under a sandbox with a data-size limit, a worker that aborted after Rust's "memory
    /// allocation of N bytes failed" (the only trace `RLIMIT_DATA` leaves: the allocation
    /// fails, and Rust aborts) hit that limit. Needs the stderr tail (captured by default).
    fn data_limit_hit(&self, error: ChannelError) -> ChannelError {
        let limited = self
            .process
            .channel
            .sandbox
            .as_ref()
            .is_some_and(Sandbox::limits_data);
        match error {
            ChannelError::WorkerCrashed {
                pid,
                signal: libc::SIGABRT,
                transition,
                while_idle: false,
                stderr_tail: Some(tail),
                ..
            } if limited && tail.contains("memory allocation of") => {
                ChannelError::ResourceLimitExceeded {
                    pid,
                    limit: "data size",
                    signal: libc::SIGABRT,
                    transition,
                    stderr_tail: Some(tail),
                }
            }
            error => error,
        }
    }

    /// The buffer the next transition's input goes into (see
    /// [`ControllerChannel::to_worker`]).
    pub fn to_worker(&mut self) -> &mut WriteBuffer {
        self.channel.to_worker()
    }

    /// Runs one transition (see [`ControllerChannel::do_transition`]).
    ///
    /// # Errors
    /// As [`ControllerChannel::do_transition`]; [`ChannelError::WorkerCrashed`] and
    /// [`ChannelError::WorkerDied`] carry the worker's last stderr lines when they were
    /// captured ([`ProcessOptions::capture_stderr`]).
    pub fn do_transition<R>(
        &mut self,
        kind: u32,
        id: u64,
        read_reply: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R, ChannelError> {
        self.do_transition_with_retry(kind, id, read_reply, || false)
    }

    /// As [`do_transition`](Self::do_transition), but on each time-out asks `retry` whether
    /// to keep waiting for another transition time-out.
    ///
    /// # Errors
    /// As [`do_transition`](Self::do_transition).
    pub fn do_transition_with_retry<R>(
        &mut self,
        kind: u32,
        id: u64,
        read_reply: impl FnOnce(Reply<'_>) -> R,
        retry: impl FnMut() -> bool,
    ) -> Result<R, ChannelError> {
        self.channel
            .do_transition_with_retry(kind, id, read_reply, retry)
            .map_err(|error| self.with_stderr_tail(error))
    }

    /// As [`do_transition_with_retry`](Self::do_transition_with_retry), waiting `timeout`
    /// instead of the configured transition time-out for this transition only (see
    /// [`ControllerChannel::do_transition_with_timeout`]).
    ///
    /// # Errors
    /// As [`do_transition`](Self::do_transition).
    pub fn do_transition_with_timeout<R>(
        &mut self,
        kind: u32,
        id: u64,
        timeout: Duration,
        read_reply: impl FnOnce(Reply<'_>) -> R,
        retry: impl FnMut() -> bool,
    ) -> Result<R, ChannelError> {
        self.channel
            .do_transition_with_timeout(kind, id, timeout, read_reply, retry)
            .map_err(|error| self.with_stderr_tail(error))
    }

    /// Marks the next transition as attempt `attempt` (see
    /// [`ControllerChannel::set_attempt`]).
    pub fn set_attempt(&mut self, attempt: u32) {
        self.channel.set_attempt(attempt);
    }

    /// Names transitions by kind (index = kind) in error messages.
    pub fn set_transition_names(&mut self, names: &'static [&'static str]) {
        self.channel.set_transition_names(names);
    }

    /// The channel token (see [`ControllerChannel::token`]).
    pub fn token(&self) -> &str {
        self.channel.token()
    }

    /// How the controller's waits for the worker went so far (see [`WaitStats`]).
    pub fn wait_stats(&self) -> WaitStats {
        self.channel.wait_stats()
    }

    /// The worker's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How many times the worker was restarted (a [`recycle`](Self::recycle) does not
    /// count: it replaces a worker that was not lost).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The worker process, as a pidfd another thread may keep to kill it (a pool does, to
    /// end a busy worker on drop): a pidfd names that process and no other, so a kill
    /// after the worker was replaced reaches nobody.
    pub(crate) fn process(&self) -> Option<Arc<PidFd>> {
        self.process_fd.clone()
    }

    /// The channel to the worker, to inspect it: its token, options, shared
    /// [`config`](ControllerChannel::config), keep flag, wait statistics. Transitions go
    /// through the controller's own methods, which complete the errors they return.
    pub fn channel(&self) -> &ControllerChannel {
        &self.channel
    }

    /// The channel, for the async calls (which post and wait themselves).
    #[cfg(feature = "tokio")]
    pub(crate) fn channel_mut(&mut self) -> &mut ControllerChannel {
        &mut self.channel
    }

    /// The worker's sandbox and how far it is in force (see
    /// [`ControllerChannel::sandbox_status`]); `None` without a sandbox in the options.
    pub fn sandbox_status(&self) -> Option<SandboxStatus> {
        self.channel.sandbox_status()
    }

    /// Whether the worker process runs, and how it ended if it did.
    pub fn worker_status(&self) -> WorkerStatus {
        self.channel.worker_status()
    }

    /// Replaces the worker by a fresh process of the same command (killing the old one if it
    /// still runs), with fresh shared memory, and repeats the setup handshake with the same
    /// setup payload. The new
    /// process gets the command's program, arguments, environment and directory; its stdin is
    /// null, its stderr captured as configured, its stdout inherited.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn restart(&mut self) -> Result<(), ChannelError> {
        self.restart_with_setup_retry(&mut || false)
    }

    /// As [`restart`](Self::restart), asking `retry` at each setup time-out whether to wait
    /// another one.
    pub(crate) fn restart_with_setup_retry(
        &mut self,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<(), ChannelError> {
        self.kill_worker();
        self.restarts += 1;
        self.start_fresh_worker(retry)
    }

    /// Replaces a worker that is still well by a fresh process, as [`restart`](Self::restart)
    /// does, but stops the old one first the way [`shutdown`](Self::shutdown) does: it is
    /// asked to leave its transition loop, so the code after its serve loop runs (a legacy
    /// library's exit-time flush), and it is killed only if it has not exited after
    /// [`ProcessOptions::shutdown_grace`]. For workers replaced proactively (leaky code).
    ///
    /// # Errors
    /// As [`restart`](Self::restart).
    pub fn recycle(&mut self) -> Result<(), ChannelError> {
        self.recycle_with_setup_retry(&mut || false)
    }

    /// As [`recycle`](Self::recycle), asking `retry` at each setup time-out whether to wait
    /// another one.
    pub(crate) fn recycle_with_setup_retry(
        &mut self,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<(), ChannelError> {
        self.stop_and_reap();
        self.start_fresh_worker(retry)
    }

    fn start_fresh_worker(&mut self, retry: &mut dyn FnMut() -> bool) -> Result<(), ChannelError> {
        self.stderr = None;
        self.channel.reset_for_new_worker()?;
        self.start_worker(retry)
    }

    /// Stops the worker: asks it to leave its loop, waits up to the shutdown grace, then
    /// kills it. Returns how it ended.
    pub fn shutdown(mut self) -> Option<ExitReason> {
        self.stop_and_reap()
    }

    fn stop_and_reap(&mut self) -> Option<ExitReason> {
        let process = self.process_fd.take();
        let mut child = self.child.take()?;
        if self.channel.is_ready() {
            self.channel.stop_worker();
        }
        let grace = self.process.shutdown_grace;
        let exited = match process {
            Some(pidfd) => pidfd.wait_exit(None, Some(grace)).unwrap_or(false),
            None => PidFd::of_child(&child)
                .and_then(|pidfd| pidfd.wait_exit(None, Some(grace)))
                .unwrap_or(false),
        };
        if !exited {
            let _ = child.kill();
        }
        child.wait().ok().map(|status| {
            use std::os::unix::process::ExitStatusExt;
            match status.signal() {
                Some(signal) => ExitReason::Signaled(signal),
                None => ExitReason::Exited(status.code().unwrap_or(-1)),
            }
        })
    }

    fn kill_worker(&mut self) {
        self.process_fd = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What restarts need of the caller's `Command`, which cannot be cloned: program,
/// arguments, environment changes and directory (not its stdio settings).
#[derive(Debug)]
struct CommandRecipe {
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)>,
    current_dir: Option<std::path::PathBuf>,
}

impl CommandRecipe {
    fn of(command: &Command) -> Self {
        CommandRecipe {
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(ToOwned::to_owned),
        }
    }

    fn build(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop_and_reap();
    }
}
