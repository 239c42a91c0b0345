//! The worker's end of a channel.

use std::any::Any;
use std::cell::RefCell;
use std::fmt::Display;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;

use super::control::{
    ControlBlock, ControlSegment, Outcome, LAYOUT_VERSION, MAGIC, PEER_GONE, SEQUENCE_MASK,
};
use super::crash_hook::{open_crash_area, report_crash, HookTarget};
use super::request::TransitionRequest;
use super::token::{buffer_label, part_label, Token};
use super::wait::{self, WaitStats, Waiter};
use super::{ChannelConfig, ChannelError, CHANNEL_ENV, SETUP_KIND};
use crate::buffer::{BufferError, Direction, ReadBuffer, WriteBuffer};
use crate::monitor::CrashHook;
use crate::sandbox::WorkerSandbox;
use crate::sys::doorbell::Doorbell;
use crate::sys::memfd::{Access, Segment, WriterSegment, CONTROL_SEALS};
use crate::sys::process::{current_pid, exit_immediately, PidFd};
use crate::sys::watch::DeathWatcher;

/// Exit status of a worker whose controller died while a transition was still running.
pub const CONTROLLER_GONE_EXIT_STATUS: i32 = 75;

/// How long a worker whose controller died may take to leave its transition loop before it
/// is ended, so that the whole notice stays under a second.
const CONTROLLER_GONE_GRACE: Duration = Duration::from_millis(500);

/// The worker's end of a channel.
///
/// # Examples
/// An untyped worker that answers each request with its input reversed; started by anything
/// else than a controller, the program goes on with its other work.
/// ```
/// use tandem::{BufferError, WorkerChannel};
///
/// if let Some(mut worker) = WorkerChannel::from_env(0)? {
///     worker.handle_transitions(|request| -> Result<(), BufferError> {
///         let reply: Vec<u8> = request.trusted_input()?.iter().rev().copied().collect();
///         request.set_keep(!reply.is_empty());
///         request.output().write(&reply)
///     })?;
///     return Ok(()); // the controller stopped this worker
/// }
/// # Ok::<(), tandem::ChannelError>(())
/// ```
#[derive(Debug)]
pub struct WorkerChannel {
    token: String,
    control: Arc<ControlSegment>,
    /// What the crash hook reaches: the control block and the crash segment (the hook holds
    /// the other reference until `Drop` clears it).
    hook_target: Arc<HookTarget>,
    to_worker: ReadBuffer,
    from_worker: WriteBuffer,
    setup_sequence: u32,
    last_sequence: u32,
    setup_answered: bool,
    config: ChannelConfig,
    waiter: Waiter,
    keep: bool,
    released: Arc<Release>,
    watcher: Option<DeathWatcher>,
    /// The sandbox the controller asked for, installed in `setup_done`.
    sandbox: Option<WorkerSandbox>,
}

/// Whether the transition loop has let go of the channel, so that a dying controller must
/// not end this process any more. The death watcher sleeps on it (no polling interval).
#[derive(Debug, Default)]
struct Release {
    released: Mutex<bool>,
    changed: Condvar,
}

impl Release {
    fn release(&self) {
        *self.released.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Waits up to `grace` for the release; whether it came.
    fn wait(&self, grace: Duration) -> bool {
        let released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let (released, _) = self
            .changed
            .wait_timeout_while(released, grace, |released| !*released)
            .unwrap_or_else(|e| e.into_inner());
        *released
    }
}

impl WorkerChannel {
    /// Opens the channel named by the [`CHANNEL_ENV`] environment variable (set by
    /// [`Controller::spawn`](crate::Controller::spawn) and
    /// [`ControllerChannel::prepare_command`](crate::ControllerChannel::prepare_command)),
    /// or returns `Ok(None)` if the variable is absent: the one-binary pattern, where the
    /// same program acts as worker only when started as one. The variable is removed from
    /// this process's environment, so the worker's own children do not see it.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_env(fingerprint: u64) -> Result<Option<WorkerChannel>, ChannelError> {
        match std::env::var(CHANNEL_ENV) {
            Ok(token) => {
                std::env::remove_var(CHANNEL_ENV);
                Self::open(&token, fingerprint).map(Some)
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ChannelError::NotAWorker {
                variable: CHANNEL_ENV,
                problem: "not valid UTF-8",
            }),
        }
    }

    /// Opens the channel with this token, checks its layout and the protocol fingerprint
    /// (0 for an untyped worker), and announces this process to the controller.
    ///
    /// The token names the three descriptors this process inherited from its controller
    /// (see [`ControllerChannel::prepare_command`](crate::ControllerChannel::prepare_command)).
    /// Each is checked (a sealed memfd the controller handed over, not yet claimed), taken
    /// over by the channel (closed when it drops) and made close-on-exec again, so this
    /// process's own children inherit nothing. The settings that concern both sides
    /// ([`config`](Self::config)) are read from the control block here, as the controller
    /// wrote them.
    ///
    /// # Errors
    /// [`ChannelError::NotAWorker`] if the token is malformed, [`ChannelError::Buffer`] if
    /// a descriptor is not one a controller handed over,
    /// [`ChannelError::IncompatibleLayout`] if it is not a control block of this version,
    /// [`ChannelError::InvalidConfig`] if a shared setting is out of range,
    /// [`ChannelError::ProtocolMismatch`] if the controller's fingerprint differs (the
    /// controller is told too), [`ChannelError::ControllerGone`] if it is already gone.
    pub fn open(token: &str, fingerprint: u64) -> Result<WorkerChannel, ChannelError> {
        let Some(parsed) = Token::parse(token) else {
            return Err(ChannelError::NotAWorker {
                variable: CHANNEL_ENV,
                problem:
                    "not a tandem channel token (`tandem:<base>:<id>:<fd>,<fd>,<fd>,<fd>,<fd>,<fd>`)",
            });
        };
        let [control_fd, to_worker_fd, from_worker_fd, controller_fd, crash_fd, doorbell_fd] =
            parsed.fds;
        let control_name = part_label(&parsed.label, "ctl");
        let adopt = |name: &str, fd, access, seals| {
            Segment::adopt(name, fd, access, seals).map_err(|f| BufferError::segment(name, 0, f))
        };
        let mut segment = adopt(&control_name, control_fd, Access::ReadWrite, CONTROL_SEALS)?;
        let to_worker_label = buffer_label(&parsed.label, Direction::ToWorker);
        let to_worker_segment = Segment::adopt_input(&to_worker_label, to_worker_fd)
            .map_err(|f| BufferError::segment(&to_worker_label, 0, f))?;
        let from_worker_label = buffer_label(&parsed.label, Direction::FromWorker);
        let from_worker_segment = WriterSegment::adopt_reply(&from_worker_label, from_worker_fd)
            .map_err(|f| BufferError::segment(&from_worker_label, 0, f))?;
        let crash = open_crash_area(&parsed.label, crash_fd)?;
        let size = std::mem::size_of::<ControlBlock>();
        match segment.file_size() {
            Ok(found) if found == size => {}
            Ok(_) => {
                return Err(ChannelError::IncompatibleLayout {
                    name: control_name,
                    magic: 0,
                    version: 0,
                    expected: LAYOUT_VERSION,
                })
            }
            Err(f) => return Err(BufferError::segment(&control_name, size, f).into()),
        }
        segment
            .remap(size)
            .map_err(|f| BufferError::segment(&control_name, size, f))?;
        let incompatible = |block: Option<&ControlBlock>| ChannelError::IncompatibleLayout {
            name: control_name.clone(),
            magic: block.map_or(0, |b| b.magic.load(Ordering::Acquire)),
            version: block.map_or(0, |b| b.layout_version.load(Ordering::Acquire)),
            expected: LAYOUT_VERSION,
        };
        let Some(mut control) = ControlSegment::new(segment) else {
            return Err(incompatible(None));
        };
        let doorbell = Doorbell::adopt(doorbell_fd).map_err(|source| ChannelError::Os {
            operation: "adopting the channel's doorbell (eventfd)",
            source,
        })?;
        control.set_doorbell(doorbell);
        let block = control.block();
        if block.magic.load(Ordering::Acquire) != MAGIC
            || block.layout_version.load(Ordering::Acquire) != LAYOUT_VERSION
            || block.block_size.load(Ordering::Acquire) as usize
                != std::mem::size_of::<ControlBlock>()
        {
            return Err(incompatible(Some(block)));
        }
        // The controller's pid names it in messages; the pidfd it handed over is what this
        // worker watches, so a controller that died before this worker got here is seen as
        // gone even if its pid was reused since.
        let controller_pid = block.controller_pid.load(Ordering::Acquire);
        let gone = ChannelError::ControllerGone {
            pid: controller_pid,
        };
        let controller = match PidFd::adopt(controller_fd) {
            Ok(Some(pidfd)) => pidfd,
            Ok(None) => return Err(gone),
            Err(source) => {
                return Err(ChannelError::Os {
                    operation: "adopting the controller's pidfd",
                    source,
                })
            }
        };
        let request = block.request.load(Ordering::SeqCst);
        if request & PEER_GONE != 0 || block.transition_kind.load(Ordering::Acquire) != SETUP_KIND {
            return Err(gone);
        }
        let setup_sequence = request & SEQUENCE_MASK;
        block
            .worker_fingerprint
            .store(fingerprint, Ordering::SeqCst);

        let controller_fingerprint = block.protocol_fingerprint.load(Ordering::Acquire);
        if controller_fingerprint != fingerprint {
            block.complete(
                setup_sequence,
                u64::MAX,
                Outcome::Refused,
                None,
                control.doorbell(),
            );
            return Err(ChannelError::ProtocolMismatch {
                controller: controller_fingerprint,
                worker: fingerprint,
            });
        }
        // A setting or policy this worker cannot use: the controller reports it as the
        // setup's failure, at once.
        let fail_setup = |message: &str| {
            block.complete(
                setup_sequence,
                u64::MAX,
                Outcome::Failed,
                Some(message),
                control.doorbell(),
            );
        };
        let config = match ChannelConfig::read_from(&block.config) {
            Ok(config) => config,
            Err(error) => {
                fail_setup(&error.to_string());
                return Err(error);
            }
        };

        // Compiled now, installed when setup is done.
        let sandbox = match WorkerSandbox::from_env() {
            Ok(sandbox) => sandbox,
            Err(error) => {
                fail_setup(&error.to_string());
                return Err(error.into());
            }
        };

        // The controller's next waits can tell at once whether spinning may pay.
        wait::publish_affinity(&block.worker_cpus);
        let control = Arc::new(control);
        crate::monitor::ensure_installed().map_err(|source| ChannelError::Monitor { source })?;
        let hook_target = Arc::new(HookTarget {
            control: Arc::clone(&control),
            crash,
        });
        crate::monitor::set_crash_hook(Some(CrashHook::new({
            let target = Arc::clone(&hook_target);
            move |signal, frame| report_crash(&target, signal, frame)
        })));
        let released = Arc::new(Release::default());
        let watcher = DeathWatcher::start(controller, controller_pid as i32, {
            let control = Arc::clone(&control);
            let released = Arc::clone(&released);
            move |_| controller_died(&control, &released, controller_pid)
        })
        .map_err(|source| ChannelError::Watch {
            peer: "controller",
            pid: controller_pid,
            source,
        })?;

        let to_worker = ReadBuffer::new(
            control.clone(),
            Direction::ToWorker,
            to_worker_segment,
            config.max_buffer_bytes,
        );
        let from_worker = WriteBuffer::new(
            control.clone(),
            Direction::FromWorker,
            from_worker_segment,
            config.max_buffer_bytes,
        );
        Ok(WorkerChannel {
            token: token.to_owned(),
            control,
            hook_target,
            to_worker,
            from_worker,
            setup_sequence,
            last_sequence: setup_sequence,
            setup_answered: false,
            config,
            waiter: Waiter::new(config.spin),
            keep: false,
            released,
            watcher: Some(watcher),
            sandbox,
        })
    }

    /// The channel token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The controller's buffer (holds the setup payload during setup, then each
    /// transition's input).
    pub fn to_worker(&mut self) -> &mut ReadBuffer {
        &mut self.to_worker
    }

    /// The controller's last message (the setup payload during setup), borrowed in place:
    /// the worker trusts its controller (see [`TransitionRequest::trusted_input`]).
    ///
    /// # Errors
    /// As [`ReadBuffer::bytes`].
    pub fn trusted_input(&mut self) -> Result<&[u8], BufferError> {
        self.to_worker.trusted_bytes()
    }

    /// The buffer this worker replies through.
    pub fn from_worker(&mut self) -> &mut WriteBuffer {
        &mut self.from_worker
    }

    /// The settings the controller chose for both sides, as this worker read them from the
    /// control block and uses them: its spin budget, and the limit on its replies.
    pub fn config(&self) -> ChannelConfig {
        self.config
    }

    /// How this side's waits for the controller went so far (see [`WaitStats`]).
    pub fn wait_stats(&self) -> WaitStats {
        self.waiter.stats()
    }

    /// Sets the keep flag for the reply to the transition being served (the reference's
    /// `shouldKeepEvent`). Inside [`handle_transitions`](Self::handle_transitions) use
    /// [`TransitionRequest::set_keep`].
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// The controller's process id.
    pub fn controller_pid(&self) -> u32 {
        self.control.block().controller_pid.load(Ordering::Acquire)
    }

    /// Tells the controller that setup finished. A worker whose controller asked for a
    /// [`Sandbox`](crate::Sandbox) installs its seccomp filter on all its threads first, so
    /// from here on only the sandbox's system calls are allowed; if that fails, the setup is
    /// reported failed instead.
    pub fn setup_done(&mut self) {
        if self.setup_answered {
            return;
        }
        // Finding the thread's stack reads /proc/self/maps (the main thread's), which the
        // sandbox forbids from here on; `handle_transitions` records it again if it runs
        // on another thread without a sandbox.
        self.record_serving_thread();
        if let Some(sandbox) = &self.sandbox {
            if let Err(error) = sandbox.install() {
                self.answer_setup(Outcome::Failed, &error.to_string());
                return;
            }
        }
        self.answer_setup(Outcome::Succeeded, "");
    }

    /// Records the calling thread, and its stack's bounds, as the one serving transitions:
    /// a crash on it copies exactly its stack (see `crash::capture`).
    fn record_serving_thread(&self) {
        if self.hook_target.crash.stack_capacity() > 0 {
            crate::crash::record_serving_thread();
        }
    }

    /// Tells the controller that setup failed, with a message it reports as
    /// [`ChannelError::WorkerFailed`].
    pub fn setup_failed(&mut self, message: &str) {
        self.answer_setup(Outcome::Failed, message);
    }

    fn answer_setup(&mut self, outcome: Outcome, message: &str) {
        if self.setup_answered {
            return;
        }
        self.setup_answered = true;
        let woke = self.control.block().complete(
            self.setup_sequence,
            u64::MAX,
            outcome,
            Some(message),
            self.control.doorbell(),
        );
        self.waiter.count_post(woke);
    }

    /// Serves transitions until the controller stops this worker (`Ok`) or disappears
    /// ([`ChannelError::ControllerGone`]). Calls [`setup_done`](Self::setup_done) first if
    /// that has not happened yet.
    ///
    /// Each call of `serve` runs one transition; an `Err` (or a panic, which is caught) is
    /// sent to the controller as [`ChannelError::WorkerFailed`] with its text, and the loop
    /// goes on.
    ///
    /// # Errors
    /// [`ChannelError::ControllerGone`] when the controller process is gone or dropped the
    /// channel without stopping the worker.
    pub fn handle_transitions<E: Display>(
        &mut self,
        mut serve: impl FnMut(&mut TransitionRequest<'_>) -> Result<(), E>,
    ) -> Result<(), ChannelError> {
        self.setup_done();
        install_panic_capture();
        if self.sandbox.is_none() {
            self.record_serving_thread();
        }
        let result = self.serve_until_stopped(&mut serve);
        // From here on a dying controller must not end this process: the loop is over and
        // the program decides what to do next.
        self.released.release();
        result
    }

    fn serve_until_stopped<E: Display>(
        &mut self,
        serve: &mut impl FnMut(&mut TransitionRequest<'_>) -> Result<(), E>,
    ) -> Result<(), ChannelError> {
        loop {
            let block = self.control.block();
            let last = self.last_sequence;
            let word = self
                .waiter
                .wait_for(&block.request, block.worker_side(), None, |word| {
                    word & SEQUENCE_MASK != last || word & PEER_GONE != 0
                });
            // A wait without a deadline only returns once the condition holds.
            let Some(word) = word else { continue };
            if block.stop.load(Ordering::SeqCst) != 0 {
                return Ok(());
            }
            if word & PEER_GONE != 0 {
                return Err(ChannelError::ControllerGone {
                    pid: self.controller_pid(),
                });
            }
            self.last_sequence = word & SEQUENCE_MASK;
            let kind = block.transition_kind.load(Ordering::Acquire);
            let id = block.transition_id.load(Ordering::Acquire);
            let attempt = block.attempt.load(Ordering::Acquire).max(1);
            let mut request = TransitionRequest {
                kind,
                id,
                attempt,
                keep: self.keep,
                stats: self.waiter.stats(),
                to_worker: &mut self.to_worker,
                from_worker: &mut self.from_worker,
            };
            block.serving.store(1, Ordering::Relaxed);
            let result = panic::catch_unwind(AssertUnwindSafe(|| serve(&mut request)));
            block.serving.store(0, Ordering::Relaxed);
            let keep = request.keep;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(payload) => Some(panic_message(payload.as_ref())),
            };
            self.keep = false;
            block.keep.store(u32::from(keep), Ordering::Relaxed);
            let outcome = match failure {
                None => Outcome::Succeeded,
                Some(_) => Outcome::Failed,
            };
            let woke = block.complete(
                self.last_sequence,
                id,
                outcome,
                failure.as_deref(),
                self.control.doorbell(),
            );
            self.waiter.count_post(woke);
        }
    }
}

impl Drop for WorkerChannel {
    fn drop(&mut self) {
        // A closed channel reports no crash any more, and its segments go with it.
        crate::monitor::set_crash_hook(None);
        self.released.release();
        self.watcher = None;
    }
}

/// Runs on the watcher thread when the controller process dies: wakes the transition loop
/// and ends the process if the loop has not released the channel within the grace period
/// (transition or setup code that does not return). Nothing is left to clean up: the
/// memfds go with the last process that holds them.
fn controller_died(control: &ControlSegment, released: &Release, pid: u32) {
    wait::raise_flag(&control.block().request, PEER_GONE);
    if released.wait(CONTROLLER_GONE_GRACE) {
        return;
    }
    // Not eprintln!: stderr may be a pipe to the dead controller, and a failed write must
    // not stop the exit.
    let _ = writeln!(
        std::io::stderr(),
        "tandem worker {}: controller {pid} is gone; exiting",
        current_pid()
    );
    exit_immediately(CONTROLLER_GONE_EXIT_STATUS);
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's message and location for the thread that panicked, then lets the
/// previous hook print it as usual.
fn install_panic_capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let text = info.to_string();
            let _ = LAST_PANIC.try_with(|slot| {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    *slot = Some(text);
                }
            });
            previous(info);
        }));
    });
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(recorded) = LAST_PANIC.with(|slot| slot.borrow_mut().take()) {
        return recorded.replacen("panicked at ", "panic at ", 1);
    }
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned());
    format!("panic: {message}")
}
