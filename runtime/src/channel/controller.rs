//! The controller's end of a channel.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::control::{ControlBlock, ControlSegment, Outcome, PEER_GONE, SEQUENCE_MASK};
use super::error::{UnusableReason, Violation};
use super::memory::Memory;
use super::reply::Reply;
use super::wait::{self, WaitStats, Waiter};
use super::{ChannelConfig, ChannelError, Options, TransitionLabel, CHANNEL_ENV, SETUP_KIND};
use crate::buffer::{ReadBuffer, WriteBuffer};
use crate::crash::{self, CrashArea, CrashCapture};
use crate::sandbox::Prepared;
use crate::sys::doorbell::Doorbell;
use crate::sys::process::PidFd;
use crate::sys::spawn::inherit_fds;
use crate::sys::watch::DeathWatcher;

#[cfg(feature = "tokio")]
pub(crate) mod asynch;
mod confinement;
mod lost;
mod watch;

use watch::Watch;
pub use watch::WorkerStatus;

/// The controller's end of a channel: creates the shared memory, starts transitions and
/// waits for their completion. It launches no process itself
/// ([`Controller`](crate::Controller) does, and captures its stderr): start the worker
/// with a `Command` that [`prepare_command`](Self::prepare_command) has prepared, which
/// hands it the channel's descriptors and token.
///
/// # Examples
/// A channel alone, without the [`Controller`](crate::Controller) process layer: this
/// program starts itself again as the worker, which opens its end with
/// [`WorkerChannel::from_env`](crate::WorkerChannel::from_env) and answers each request
/// with its input reversed. The worker may be any other program too; the launcher returns
/// the `Child` it spawned, and the channel watches that very process.
/// ```
/// use std::process::Command;
/// use tandem::{BufferError, ControllerChannel, Options, WorkerChannel};
///
/// const REVERSE: u32 = 1;
///
/// // The worker: this same program, started by the controller below.
/// if let Some(mut worker) = WorkerChannel::from_env(0)? {
///     worker.handle_transitions(|request| -> Result<(), BufferError> {
///         let reply: Vec<u8> = request.trusted_input()?.iter().rev().copied().collect();
///         request.output().write(&reply)
///     })?;
///     return Ok(()); // the controller stopped this worker
/// }
///
/// let mut channel = ControllerChannel::create("digi", 0, Options::default())?;
/// let mut worker = channel.setup_worker(|channel| {
///     let mut command = Command::new(std::env::current_exe()?);
///     channel.prepare_command(&mut command);
///     command.spawn()
/// })?;
/// channel.to_worker().write(b"raw event 17")?;
/// let reply = channel.do_transition(REVERSE, 17, |mut reply| reply.to_vec())??;
/// assert_eq!(reply, b"71 tneve war");
/// channel.stop_worker();
/// assert!(worker.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ControllerChannel {
    label: String,
    token: String,
    control: Arc<ControlSegment>,
    to_worker: WriteBuffer,
    from_worker: ReadBuffer,
    /// The worker's descriptor of `to_worker`: read-only. The memfd's seals, not this
    /// descriptor's mode, keep the worker from writing or resizing what the controller
    /// writes (see `WriterSegment::create_input`).
    to_worker_for_peer: OwnedFd,
    /// A pidfd of this process, handed to the worker, which watches its controller through
    /// it.
    controller_pidfd: PidFd,
    options: Options,
    config: ChannelConfig,
    sequence: u32,
    setup_complete: bool,
    /// Why the channel refuses transitions until its worker is restarted, with the error
    /// that broke it.
    broken: Option<UnusableReason>,
    keep: bool,
    waiter: Waiter,
    transition_names: &'static [&'static str],
    watcher: Option<Watch>,
    /// The attempt number the next request carries (see [`set_attempt`](Self::set_attempt)).
    next_attempt: u32,
    /// The sandbox of the workers, prepared once (its Landlock ruleset) from the options.
    sandbox: Option<Prepared>,
    /// Whether the current worker's sandbox was seen in force after its setup.
    sandbox_verified: bool,
    /// Crash capture settings, written into each worker's crash segment.
    crash_capture: CrashCapture,
    /// The current worker's crash segment.
    crash: CrashArea,
    /// The worker's memory map right after its handshake: the fallback for a crash noticed
    /// only after the worker is gone.
    setup_maps: Option<Arc<str>>,
    /// The eventfd every worker of this channel rings when its reply finds the controller
    /// parked asynchronously (see `sys::doorbell`). One per channel, kept across restarts:
    /// a ring from an old worker's leftover child only causes a spurious look.
    doorbell: Arc<Doorbell>,
    /// The program of the last command [`prepare_command`](Self::prepare_command) prepared:
    /// what a launcher that fails to spawn it is reported with.
    prepared_program: Mutex<Option<String>>,
    /// The transition an async call posted and whose reply nobody consumed yet (its future
    /// was dropped): the next call must wait for it first, since the worker may still read
    /// its input in place.
    pending: Option<TransitionLabel>,
}

fn validate_base(base: &str) -> Result<(), ChannelError> {
    let reason = if base.is_empty() {
        "it is empty"
    } else if base.len() > 32 {
        "it is longer than 32 bytes"
    } else if !base
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        "only ASCII letters, digits, `_` and `-` are allowed"
    } else {
        return Ok(());
    };
    Err(ChannelError::InvalidName {
        name: base.to_owned(),
        reason,
    })
}

impl ControllerChannel {
    /// Creates the channel's shared memory: the control block and both buffers, three
    /// sealed memfds labelled `tandem:<base>:<id>:<part>` (labels only name them in errors
    /// and in `/proc/<pid>/fd`: they exist in no file system).
    ///
    /// The settings that concern both sides ([`ChannelConfig`]) are written into the
    /// control block here, for the worker to read when it opens the channel.
    ///
    /// # Errors
    /// [`ChannelError::InvalidName`] for a bad `base`, [`ChannelError::InvalidConfig`] for
    /// an out-of-range setting, [`ChannelError::Buffer`] if a memfd cannot be created.
    pub fn create(
        base: &str,
        id: u32,
        options: Options,
    ) -> Result<ControllerChannel, ChannelError> {
        validate_base(base)?;
        let config = ChannelConfig::from_options(&options)?;
        let sandbox = options.sandbox.as_ref().map(Prepared::new).transpose()?;
        let label = format!("tandem:{base}:{id}");
        let crash_capture = options.crash_capture;
        let memory = Memory::create(&label, config, options.protocol_fingerprint, &crash_capture)?;
        let doorbell = Arc::new(Doorbell::new().map_err(|source| ChannelError::Os {
            operation: "creating the channel's doorbell (eventfd)",
            source,
        })?);
        Ok(ControllerChannel {
            token: memory.token(&label, &doorbell),
            doorbell,
            pending: None,
            prepared_program: Mutex::new(None),
            label,
            control: memory.control,
            to_worker: memory.to_worker,
            from_worker: memory.from_worker,
            to_worker_for_peer: memory.to_worker_for_peer,
            controller_pidfd: memory.controller_pidfd,
            options,
            config,
            sequence: 0,
            next_attempt: 1,
            setup_complete: false,
            broken: None,
            keep: false,
            waiter: Waiter::new(config.spin),
            transition_names: &[],
            watcher: None,
            sandbox,
            sandbox_verified: false,
            crash_capture,
            crash: memory.crash,
            setup_maps: None,
        })
    }

    /// The crash capture settings (see [`Options::crash_capture`]).
    pub fn crash_capture(&self) -> CrashCapture {
        self.crash_capture
    }

    /// Prepares `command` to start this channel's worker: puts the token in its
    /// [`CHANNEL_ENV`] environment variable and makes the started process (and no other)
    /// inherit the channel's six descriptors (four memfds, a pidfd of this process and the
    /// doorbell eventfd). The worker opens its end with
    /// [`WorkerChannel::from_env`](crate::WorkerChannel::from_env). Spawn the command
    /// while this channel lives, and only once per worker: a restart needs fresh memory.
    ///
    /// With a [`Sandbox`](crate::Sandbox) in the options, the started process also gets
    /// `no_new_privs`, the sandbox's resource limits and Landlock rules before its `exec`,
    /// and the seccomp policy it installs after setup in [`SANDBOX_ENV`](crate::sandbox::SANDBOX_ENV).
    pub fn prepare_command<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        if let Some(sandbox) = &self.sandbox {
            sandbox.prepare(command);
        }
        command.env(CHANNEL_ENV, &self.token);
        *self
            .prepared_program
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(command.get_program().to_string_lossy().into_owned());
        inherit_fds(
            command,
            [
                self.control.segment().raw_fd(),
                self.to_worker_for_peer.as_raw_fd(),
                self.from_worker.raw_fd(),
                self.controller_pidfd.raw_fd(),
                self.crash.segment().raw_fd(),
                self.doorbell.raw_fd(),
            ],
        );
        command
    }

    /// The token a worker needs to open this channel: its label and the numbers of the
    /// descriptors the worker inherits (`tandem:<base>:<id>:<ctl>,<c2w>,<w2c>,<pidfd>`). It is
    /// useful only to a process started with [`prepare_command`](Self::prepare_command),
    /// which also sets it in the worker's environment.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The channel's label, `tandem:<base>:<id>`, which prefixes its segments' labels.
    pub fn channel_label(&self) -> &str {
        &self.label
    }

    /// The options this channel was created with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The settings this channel shares with its worker, as written into the control
    /// block (the worker's [`WorkerChannel::config`](crate::WorkerChannel::config) reads
    /// the same values).
    pub fn config(&self) -> ChannelConfig {
        self.config
    }

    /// How this side's waits for the worker went so far (see [`WaitStats`]).
    pub fn wait_stats(&self) -> WaitStats {
        self.waiter.stats()
    }

    /// Names transitions by kind (index = kind) for error messages.
    pub fn set_transition_names(&mut self, names: &'static [&'static str]) {
        self.transition_names = names;
    }

    /// The buffer the controller writes the next transition's input into.
    pub fn to_worker(&mut self) -> &mut WriteBuffer {
        &mut self.to_worker
    }

    /// The buffer holding the worker's last reply.
    pub fn from_worker(&mut self) -> &mut ReadBuffer {
        &mut self.from_worker
    }

    /// The keep flag the worker set during the last completed transition.
    pub fn keep(&self) -> bool {
        self.keep
    }

    /// The pid of the worker process this channel watches: the process its launcher
    /// spawned, as the kernel named it (never a value the worker wrote), or `None` before
    /// a worker was launched.
    pub fn worker_pid(&self) -> Option<u32> {
        self.watcher.as_ref().map(|watcher| watcher.pid() as u32)
    }

    /// Whether setup completed and no failure has broken the channel since.
    pub fn is_ready(&self) -> bool {
        self.setup_complete && self.broken.is_none()
    }

    fn block(&self) -> &ControlBlock {
        self.control.block()
    }

    /// The label of transition `kind`/`id`, named after [`set_transition_names`](Self::set_transition_names).
    pub(crate) fn label(&self, kind: u32, id: u64) -> TransitionLabel {
        if kind == SETUP_KIND {
            return TransitionLabel::SETUP;
        }
        TransitionLabel {
            kind,
            name: self.transition_names.get(kind as usize).copied(),
            id,
        }
    }

    /// Marks the next transition as attempt `attempt` (1 for the first) at the same work,
    /// e.g. the retry of an event after its worker crashed; the worker reads it with
    /// [`TransitionRequest::attempt`](crate::TransitionRequest::attempt). Every later
    /// transition is attempt 1 again unless this is called before it.
    pub fn set_attempt(&mut self, attempt: u32) {
        self.next_attempt = attempt.max(1);
    }

    /// Starts watching the worker process `child`, so that its death ends any wait at
    /// once. The pidfd is opened while `child` is unreaped, so it refers to that process
    /// and no other, whatever the worker later writes into shared memory.
    pub(crate) fn watch_child(&mut self, child: &Child) -> Result<(), ChannelError> {
        let watch_error = |source| ChannelError::Watch {
            peer: "worker",
            pid: child.id(),
            source,
        };
        let pidfd = PidFd::of_child(child).map_err(watch_error)?;
        let control = Arc::clone(&self.control);
        let watcher = DeathWatcher::start(pidfd, child.id() as i32, move |_| {
            wait::raise_flag(&control.block().reply, PEER_GONE);
        })
        .map_err(watch_error)?;
        self.watcher = Some(Watch::Thread(watcher));
        Ok(())
    }

    /// Launches the worker with `launch` (given this channel, whose
    /// [`prepare_command`](Self::prepare_command) prepares the worker's `Command`), starts
    /// watching the `Child` it returns, and waits up to the setup time-out for its
    /// `setup_done`. The channel's idea of its worker ([`worker_pid`](Self::worker_pid),
    /// the pid in errors, the death watch) is that child, as the kernel names it.
    ///
    /// If setup fails, the child is killed and reaped (a worker that never opened its
    /// channel would otherwise hold the channel's memory until it exits).
    ///
    /// # Errors
    /// [`ChannelError::SetupTimedOut`], [`ChannelError::ProtocolMismatch`] if the worker was
    /// built from other definitions, [`ChannelError::WorkerFailed`] if its setup failed,
    /// [`ChannelError::WorkerDied`] if it died first, [`ChannelError::Spawn`] naming the
    /// program it prepared if `launch` failed ([`ChannelError::Launch`] if it failed before
    /// it prepared one).
    pub fn setup_worker(
        &mut self,
        launch: impl FnOnce(&ControllerChannel) -> std::io::Result<Child>,
    ) -> Result<Child, ChannelError> {
        self.setup_worker_with_retry(launch, || false)
    }

    /// As [`setup_worker`](Self::setup_worker), but on each time-out asks `retry` whether to
    /// keep waiting for another setup time-out.
    ///
    /// # Errors
    /// As [`setup_worker`](Self::setup_worker); the time-out error counts the retries.
    pub fn setup_worker_with_retry(
        &mut self,
        launch: impl FnOnce(&ControllerChannel) -> std::io::Result<Child>,
        mut retry: impl FnMut() -> bool,
    ) -> Result<Child, ChannelError> {
        self.begin_setup();
        *self
            .prepared_program
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let mut child = launch(self).map_err(|source| {
            match self
                .prepared_program
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                Some(command) => ChannelError::Spawn { command, source },
                None => ChannelError::Launch { source },
            }
        })?;
        let setup = self
            .watch_child(&child)
            .and_then(|()| self.finish_setup(&mut retry));
        if let Err(error) = setup {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        Ok(child)
    }

    /// Posts the setup request before the worker starts.
    pub(crate) fn begin_setup(&mut self) {
        self.control.block().stop.store(0, Ordering::Relaxed);
        self.post_request(SETUP_KIND, u64::MAX);
    }

    /// The controller's half of a round: writes `kind` and `id`, clears the outcome and
    /// posts the next sequence number in `request`, which publishes all of it (and the
    /// `to_worker` buffer) to the worker.
    fn post_request(&mut self, kind: u32, id: u64) {
        let block = self.control.block();
        block.transition_kind.store(kind, Ordering::Relaxed);
        block.transition_id.store(id, Ordering::Relaxed);
        block.attempt.store(self.next_attempt, Ordering::Relaxed);
        self.next_attempt = 1;
        block
            .outcome
            .store(Outcome::Pending as u32, Ordering::Relaxed);
        self.sequence = next_sequence(self.sequence);
        self.waiter
            .post(&block.request, block.controller_side(), self.sequence);
    }

    /// Waits for the answer to the setup request posted by `begin_setup`.
    pub(crate) fn finish_setup(
        &mut self,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<(), ChannelError> {
        let timeout = self.options.setup_timeout;
        let answered = self
            .await_reply(self.label(SETUP_KIND, u64::MAX), timeout, retry)
            .and_then(|()| self.verify_sandbox());
        match answered {
            Ok(()) => {
                self.setup_complete = true;
                self.broken = None;
                // Off the transition path: once per worker, a few tens of microseconds.
                self.setup_maps = match (self.crash_capture.is_enabled(), self.worker_pid()) {
                    (true, Some(pid)) => crash::setup_snapshot(pid),
                    _ => None,
                };
                Ok(())
            }
            Err(error) => {
                // Tell a worker that shows up late that nobody is listening any more.
                self.block().stop.store(1, Ordering::SeqCst);
                wait::raise_flag(&self.block().request, PEER_GONE);
                self.broken = Some(UnusableReason::after(&error));
                Err(error)
            }
        }
    }

    /// Runs one transition: posts `kind` and `id` (with whatever was written to
    /// [`to_worker`](Self::to_worker)), waits for the worker's completion and hands the
    /// reply to `read_reply`.
    ///
    /// # Errors
    /// [`ChannelError::TransitionTimedOut`] after the transition time-out,
    /// [`ChannelError::WorkerFailed`] with the worker's message if its code failed,
    /// [`ChannelError::WorkerCrashed`] / [`ChannelError::WorkerDied`] as soon as the worker
    /// is gone, [`ChannelError::Unusable`] after an earlier such failure.
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
        let timeout = self.options.transition_timeout;
        self.do_transition_with_timeout(kind, id, timeout, read_reply, retry)
    }

    /// As [`do_transition_with_retry`](Self::do_transition_with_retry), with `timeout` in
    /// place of the configured transition time-out for this transition only (e.g. a
    /// begin-run that initialises a generator for minutes, among events that take
    /// milliseconds).
    ///
    /// # Errors
    /// As [`do_transition`](Self::do_transition).
    pub fn do_transition_with_timeout<R>(
        &mut self,
        kind: u32,
        id: u64,
        timeout: Duration,
        read_reply: impl FnOnce(Reply<'_>) -> R,
        mut retry: impl FnMut() -> bool,
    ) -> Result<R, ChannelError> {
        let label = self.check_startable(kind, id)?;
        self.post_request(kind, id);
        if let Err(error) = self.await_reply(label, timeout, &mut retry) {
            if !matches!(error, ChannelError::WorkerFailed { .. }) {
                self.broken = Some(UnusableReason::after(&error));
            }
            return Err(error);
        }
        Ok(self.read_reply(read_reply))
    }

    /// Hands the completed reply to `read_reply`, with the keep flag the worker set.
    pub(crate) fn read_reply<R>(&mut self, read_reply: impl FnOnce(Reply<'_>) -> R) -> R {
        self.keep = self.block().keep.load(Ordering::Acquire) != 0;
        read_reply(Reply {
            from_worker: &mut self.from_worker,
            keep: self.keep,
            broken: &mut self.broken,
        })
    }

    /// The checks before a transition is posted: a usable channel, a kind that is not
    /// setup's, a worker not known to be gone. Returns the transition's label.
    fn check_startable(&mut self, kind: u32, id: u64) -> Result<TransitionLabel, ChannelError> {
        if let Some(reason) = &self.broken {
            return Err(ChannelError::Unusable {
                reason: reason.clone(),
            });
        }
        if !self.setup_complete {
            return Err(ChannelError::Unusable {
                reason: UnusableReason::NotSetUp,
            });
        }
        if kind == SETUP_KIND {
            return Err(ChannelError::ReservedKind { kind });
        }
        let label = self.label(kind, id);
        if self.control.block().reply.load(Ordering::SeqCst) & PEER_GONE != 0 {
            // The worker died since the last transition: report it without touching the
            // crash record it may have left.
            let error = self.worker_lost(label);
            self.broken = Some(UnusableReason::after(&error));
            return Err(error);
        }
        Ok(label)
    }

    /// Waits for the reply to the current sequence number and interprets it.
    fn await_reply(
        &mut self,
        label: TransitionLabel,
        timeout: Duration,
        retry: &mut dyn FnMut() -> bool,
    ) -> Result<(), ChannelError> {
        let started = Instant::now();
        let mut retries = 0;
        let mut deadline = started + timeout;
        let sequence = self.sequence;
        loop {
            let block = self.control.block();
            let word = self.waiter.wait_for(
                &block.reply,
                block.controller_side(),
                Some(deadline),
                |word| word & SEQUENCE_MASK == sequence || word & PEER_GONE != 0,
            );
            match word {
                Some(word) if word & SEQUENCE_MASK == sequence => return self.completed(label),
                Some(_) => return Err(self.worker_lost(label)),
                None => {
                    if !retry() {
                        let after = started.elapsed();
                        return Err(if label.kind == SETUP_KIND {
                            ChannelError::SetupTimedOut { after, retries }
                        } else {
                            ChannelError::TransitionTimedOut {
                                transition: label,
                                after,
                                retries,
                            }
                        });
                    }
                    retries += 1;
                    deadline = Instant::now() + timeout;
                }
            }
        }
    }

    fn completed(&mut self, label: TransitionLabel) -> Result<(), ChannelError> {
        let block = self.block();
        let returned_id = block.transition_id.load(Ordering::Acquire);
        let outcome = block.outcome.load(Ordering::Acquire);
        if Outcome::from_raw(outcome) == Some(Outcome::Crashed) {
            // The worker's crash hook marks only a pending transition as crashed, so this
            // reply was never completed: the worker is gone (its hook raised `PEER_GONE`).
            return Err(self.worker_lost(label));
        }
        let block = self.block();
        match Outcome::from_raw(outcome) {
            Some(Outcome::Refused) => Err(ChannelError::ProtocolMismatch {
                controller: self.options.protocol_fingerprint,
                worker: block.worker_fingerprint.load(Ordering::Acquire),
            }),
            _ if returned_id != !label.id => Err(ChannelError::ProtocolViolation {
                violation: Violation::WrongId {
                    transition: label,
                    returned: returned_id,
                    expected: !label.id,
                },
            }),
            Some(Outcome::Succeeded) => Ok(()),
            Some(Outcome::Failed) => Err(ChannelError::WorkerFailed {
                transition: label,
                message: block.read_message(),
            }),
            _ => Err(ChannelError::ProtocolViolation {
                violation: Violation::UnknownOutcome {
                    transition: label,
                    code: outcome,
                },
            }),
        }
    }

    /// Asks the worker to leave its transition loop. The worker does not reply; a
    /// [`Controller`](crate::Controller) then waits for the process to exit.
    pub fn stop_worker(&mut self) {
        let block = self.control.block();
        block.stop.store(1, Ordering::SeqCst);
        self.sequence = next_sequence(self.sequence);
        self.waiter
            .post(&block.request, block.controller_side(), self.sequence);
        self.setup_complete = false;
    }

    /// Makes the channel ready for a new worker process after the old one is gone: fresh
    /// memfds for the control block and both buffers (the old worker's children may still
    /// hold the old ones), the last message to the worker carried over, the old worker's
    /// pid forgotten.
    pub(crate) fn reset_for_new_worker(&mut self) -> Result<(), ChannelError> {
        self.watcher = None;
        let mut memory = Memory::create(
            &self.label,
            self.config,
            self.options.protocol_fingerprint,
            &self.crash_capture,
        )?;
        memory.to_worker.carry_over(&mut self.to_worker)?;
        // Whatever the old worker (or its children) still does with the old block, it
        // reaches nobody: tell them to stop.
        let old = self.control.block();
        old.stop.store(1, Ordering::SeqCst);
        wait::raise_flag(&old.request, PEER_GONE);
        self.token = memory.token(&self.label, &self.doorbell);
        self.pending = None;
        self.control = memory.control;
        self.to_worker = memory.to_worker;
        self.from_worker = memory.from_worker;
        self.to_worker_for_peer = memory.to_worker_for_peer;
        self.controller_pidfd = memory.controller_pidfd;
        // A fresh crash segment: nothing of the old worker's crash can reach the new report.
        self.crash = memory.crash;
        self.setup_maps = None;
        self.setup_complete = false;
        self.broken = None;
        Ok(())
    }

    /// How the watched worker ended, if it did.
    pub(crate) fn worker_status(&self) -> WorkerStatus {
        match self.watcher.as_ref().and_then(Watch::exit) {
            None => WorkerStatus::Running,
            Some(Some(reason)) => WorkerStatus::Ended(reason),
            Some(None) => WorkerStatus::EndedUnknown,
        }
    }
}

fn next_sequence(sequence: u32) -> u32 {
    match sequence.wrapping_add(1) & SEQUENCE_MASK {
        0 => 1,
        next => next,
    }
}

impl Drop for ControllerChannel {
    fn drop(&mut self) {
        // Whatever state the worker is in, it must not wait for this channel any more.
        let block = self.control.block();
        block.stop.store(1, Ordering::SeqCst);
        wait::raise_flag(&block.request, PEER_GONE);
        self.watcher = None;
    }
}
