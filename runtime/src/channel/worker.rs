//! The worker's end of a channel.

use std::any::Any;
use std::cell::RefCell;
use std::fmt::Display;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use super::control::{
    ControlBlock, ControlSegment, Outcome, SegmentNames, IDLE_KIND, LAYOUT_VERSION, MAGIC,
    PEER_GONE, SEQUENCE_MASK,
};
use super::wait::{self, WaitStats, Waiter};
use super::{ChannelConfig, ChannelError, CHANNEL_ENV, SETUP_KIND};
use crate::buffer::{BufferError, Direction, ReadBuffer, WriteBuffer};
use crate::monitor::CrashHook;
use crate::sys::process::{current_pid, exit_immediately};
use crate::sys::shm::{Access, Segment};
use crate::sys::watch::DeathWatcher;

/// Exit status of a worker whose controller died while a transition was still running.
pub const CONTROLLER_GONE_EXIT_STATUS: i32 = 75;

/// How long a worker whose controller died may take to leave its transition loop before it
/// is ended, so that the whole notice stays under a second.
const CONTROLLER_GONE_GRACE: Duration = Duration::from_millis(500);

/// One transition the worker is asked to run.
#[derive(Debug)]
pub struct TransitionRequest<'a> {
    kind: u32,
    id: u64,
    attempt: u32,
    keep: bool,
    stats: WaitStats,
    to_worker: &'a mut ReadBuffer,
    from_worker: &'a mut WriteBuffer,
}

impl TransitionRequest<'_> {
    /// Which attempt at the same work this is: 1 for the first, more when the controller
    /// retries it (e.g. after a crash of the previous worker), as it set with
    /// [`ControllerChannel::set_attempt`](crate::ControllerChannel::set_attempt).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The transition kind.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The transition id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The controller's input for this transition.
    ///
    /// # Errors
    /// As [`ReadBuffer::read`].
    pub fn input(&mut self) -> Result<&[u8], BufferError> {
        self.to_worker.read()
    }

    /// The controller's input and the buffer the reply goes into, borrowed together, so
    /// that a view of the input can live while the reply is written.
    ///
    /// # Errors
    /// As [`ReadBuffer::read`], in the first element.
    pub fn input_and_output(&mut self) -> (Result<&[u8], BufferError>, &mut WriteBuffer) {
        (self.to_worker.read(), self.from_worker)
    }

    /// The controller's buffer itself (to inspect its remapping).
    #[doc(hidden)]
    pub fn input_buffer(&mut self) -> &mut ReadBuffer {
        self.to_worker
    }

    /// The buffer the reply goes into.
    pub fn output(&mut self) -> &mut WriteBuffer {
        self.from_worker
    }

    /// Sets the keep flag the controller reads with the reply (false unless set).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// This worker's wait statistics up to this request, the wait that delivered it
    /// included (the channel itself is borrowed while a request is served).
    pub fn wait_stats(&self) -> WaitStats {
        self.stats
    }
}

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
///         let reply: Vec<u8> = request.input()?.iter().rev().copied().collect();
///         request.set_keep(!reply.is_empty());
///         request.output().write(&reply)
///     })?;
///     return Ok(()); // the controller stopped this worker
/// }
/// # Ok::<(), tandem::ChannelError>(())
/// ```
#[derive(Debug)]
pub struct WorkerChannel {
    names: SegmentNames,
    control: Arc<ControlSegment>,
    to_worker: ReadBuffer,
    from_worker: WriteBuffer,
    setup_sequence: u32,
    last_sequence: u32,
    setup_answered: bool,
    config: ChannelConfig,
    waiter: Waiter,
    keep: bool,
    released: Arc<AtomicBool>,
    watcher: Option<DeathWatcher>,
}

impl WorkerChannel {
    /// Opens the channel named by the [`CHANNEL_ENV`] environment variable (set by
    /// [`Controller::spawn`](crate::Controller::spawn)), or returns `Ok(None)` if the
    /// variable is absent: the one-binary pattern, where the same program acts as worker
    /// only when started as one.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_env(fingerprint: u64) -> Result<Option<WorkerChannel>, ChannelError> {
        match std::env::var(CHANNEL_ENV) {
            Ok(token) => Self::open(&token, fingerprint).map(Some),
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
    /// The settings that concern both sides ([`config`](Self::config)) are read from the
    /// control block here, as the controller wrote them.
    ///
    /// # Errors
    /// [`ChannelError::Buffer`] if the segment cannot be opened,
    /// [`ChannelError::IncompatibleLayout`] if it is not a control block of this version,
    /// [`ChannelError::InvalidConfig`] if a shared setting is out of range,
    /// [`ChannelError::ProtocolMismatch`] if the controller's fingerprint differs (the
    /// controller is told too), [`ChannelError::ControllerGone`] if it is already gone.
    pub fn open(token: &str, fingerprint: u64) -> Result<WorkerChannel, ChannelError> {
        let names = SegmentNames::new(token);
        let control_name = names.control();
        let segment = Segment::open(&control_name, Access::ReadWrite)
            .map_err(|f| BufferError::segment(&control_name, 0, f))?;
        let incompatible = |block: Option<&ControlBlock>| ChannelError::IncompatibleLayout {
            name: control_name.clone(),
            magic: block.map_or(0, |b| b.magic.load(Ordering::Acquire)),
            version: block.map_or(0, |b| b.layout_version.load(Ordering::Acquire)),
            expected: LAYOUT_VERSION,
        };
        let Some(control) = ControlSegment::new(segment) else {
            return Err(incompatible(None));
        };
        let block = control.block();
        if block.magic.load(Ordering::Acquire) != MAGIC
            || block.layout_version.load(Ordering::Acquire) != LAYOUT_VERSION
            || block.block_size.load(Ordering::Acquire) as usize
                != std::mem::size_of::<ControlBlock>()
        {
            return Err(incompatible(Some(block)));
        }
        let controller_pid = block.controller_pid.load(Ordering::Acquire);
        let request = block.request.load(Ordering::SeqCst);
        if request & PEER_GONE != 0 || block.transition_kind.load(Ordering::Acquire) != SETUP_KIND {
            return Err(ChannelError::ControllerGone {
                pid: controller_pid,
            });
        }
        let setup_sequence = request & SEQUENCE_MASK;
        block
            .worker_fingerprint
            .store(fingerprint, Ordering::SeqCst);
        block
            .worker_pid
            .store(current_pid() as u32, Ordering::SeqCst);
        // Let the controller start watching this process before anything else can go wrong.
        crate::sys::futex::wake_all(&block.reply);

        let controller_fingerprint = block.protocol_fingerprint.load(Ordering::Acquire);
        if controller_fingerprint != fingerprint {
            block.complete(setup_sequence, u64::MAX, Outcome::Refused, None);
            return Err(ChannelError::ProtocolMismatch {
                controller: controller_fingerprint,
                worker: fingerprint,
            });
        }
        let config = match ChannelConfig::read_from(&block.config) {
            Ok(config) => config,
            Err(error) => {
                // The controller reports it as the setup's failure, at once.
                let message = error.to_string();
                block.complete(setup_sequence, u64::MAX, Outcome::Failed, Some(&message));
                return Err(error);
            }
        };

        let control = Arc::new(control);
        crate::monitor::ensure_installed().map_err(|error| ChannelError::Os {
            operation: "installing the fatal-signal handlers",
            source: std::io::Error::other(error),
        })?;
        crate::monitor::set_crash_hook(Some(CrashHook {
            context: Arc::as_ptr(&control).cast(),
            on_fatal_signal: report_crash,
        }));
        let released = Arc::new(AtomicBool::new(false));
        let watcher = DeathWatcher::start(controller_pid as i32, {
            let control = Arc::clone(&control);
            let released = Arc::clone(&released);
            let names = names.clone();
            move |_| controller_died(&control, &names, &released, controller_pid)
        })
        .map_err(|_| ChannelError::ControllerGone {
            pid: controller_pid,
        })?;

        let to_worker = ReadBuffer::new(
            control.clone(),
            Direction::ToWorker,
            names.buffer_base(Direction::ToWorker),
        );
        let from_worker = WriteBuffer::new(
            control.clone(),
            Direction::FromWorker,
            names.buffer_base(Direction::FromWorker),
            config.max_buffer_bytes,
        );
        Ok(WorkerChannel {
            names,
            control,
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
        })
    }

    /// The channel token.
    pub fn token(&self) -> &str {
        self.names.token()
    }

    /// The controller's buffer (holds the setup payload during setup, then each
    /// transition's input).
    pub fn to_worker(&mut self) -> &mut ReadBuffer {
        &mut self.to_worker
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

    /// Tells the controller that setup finished.
    pub fn setup_done(&mut self) {
        self.answer_setup(Outcome::Succeeded, "");
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
        let woke =
            self.control
                .block()
                .complete(self.setup_sequence, u64::MAX, outcome, Some(message));
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
        let result = self.serve_until_stopped(&mut serve);
        // From here on a dying controller must not end this process: the loop is over and
        // the program decides what to do next.
        self.released.store(true, Ordering::SeqCst);
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
                .wait_for(&block.request, &block.worker_sleeping, None, |word| {
                    word & SEQUENCE_MASK != last || word & PEER_GONE != 0
                });
            // A wait without a deadline only returns once the condition holds.
            let Some(word) = word else { continue };
            if block.stop.load(Ordering::SeqCst) != 0 {
                return Ok(());
            }
            if word & PEER_GONE != 0 {
                // A reply written after the controller died may have created a segment
                // that nobody else will remove.
                self.names.unlink_all();
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
            let woke = block.complete(self.last_sequence, id, outcome, failure.as_deref());
            self.waiter.count_post(woke);
        }
    }
}

impl Drop for WorkerChannel {
    fn drop(&mut self) {
        // Before the control segment can go away: the hook points at it.
        crate::monitor::set_crash_hook(None);
        self.released.store(true, Ordering::SeqCst);
        self.watcher = None;
    }
}

/// The crash hook, run by the fatal-signal handler before the process dies of the signal:
/// records the signal and the transition in progress, then wakes the controller, so that it
/// reports [`ChannelError::WorkerCrashed`] at once. Async-signal-safe: atomic stores and one
/// futex wake; no allocation, no panic path (`block()` cannot fail, see
/// `sys::shm::SharedView`), no indexing.
///
/// # Safety
/// `context` must point to a live [`ControlSegment`]; the channel guarantees it by clearing
/// the hook in its `Drop` before its reference to the segment is released.
unsafe fn report_crash(context: *const (), signal: i32) {
    // SAFETY: per this function's contract `context` is a live ControlSegment, shared
    // read-only (all mutation goes through its atomics).
    let control = unsafe { &*context.cast::<ControlSegment>() };
    let block = control.block();
    let kind = if block.serving.load(Ordering::Relaxed) != 0 {
        block.transition_kind.load(Ordering::Relaxed)
    } else {
        IDLE_KIND
    };
    block.crash_kind.store(kind, Ordering::Relaxed);
    block.crash_id.store(
        block.transition_id.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    block.crash_signal.store(signal as u32, Ordering::SeqCst);
    block
        .outcome
        .store(Outcome::Crashed as u32, Ordering::SeqCst);
    wait::raise_flag(&block.reply, PEER_GONE);
}

/// Runs on the watcher thread when the controller process dies: wakes the transition loop,
/// removes the channel's segments (nobody else is left to), and ends the process if the
/// loop has not released the channel within the grace period.
fn controller_died(
    control: &ControlSegment,
    names: &SegmentNames,
    released: &AtomicBool,
    pid: u32,
) {
    wait::raise_flag(&control.block().request, PEER_GONE);
    names.unlink_all();
    let deadline = Instant::now() + CONTROLLER_GONE_GRACE;
    while Instant::now() < deadline {
        if released.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
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
