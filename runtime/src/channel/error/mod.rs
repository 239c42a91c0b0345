//! The channel layer's error: [`ChannelError`], for everything a transition or a worker
//! process can go through, and [`TransitionLabel`], which names the transition concerned.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

mod display;

pub(crate) use display::Readable;
pub use display::Syscall;
use display::{ExitDisplay, Field, StderrTail};

use super::SETUP_KIND;
use crate::buffer::BufferError;
use crate::codec::DecodeError;
use crate::crash::CrashBacktrace;
use crate::monitor::{signal_name, MonitorError};
use crate::sys::os_error::duplicate as duplicate_io;
use crate::sys::process::ExitReason;

/// Which transition an error is about: its kind, its name when the typed layer gave one,
/// and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionLabel {
    /// Numeric kind as sent over the channel.
    pub kind: u32,
    /// Name of the kind (e.g. `event`), when known.
    pub name: Option<&'static str>,
    /// Transition id as sent over the channel.
    pub id: u64,
}

impl TransitionLabel {
    /// The label of the setup handshake.
    pub(crate) const SETUP: TransitionLabel = TransitionLabel {
        kind: SETUP_KIND,
        name: Some("setup"),
        id: u64::MAX,
    };
}

impl fmt::Display for TransitionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == SETUP_KIND {
            return f.write_str("`setup`");
        }
        match self.name {
            Some(name) => write!(f, "`{name}` (id {})", self.id),
            None => write!(f, "of kind {} (id {})", self.kind, self.id),
        }
    }
}

/// Everything that can go wrong between a controller and its worker.
///
/// Match the variants a job treats apart, and the classes
/// [`is_worker_lost`](Self::is_worker_lost), [`is_timeout`](Self::is_timeout) and
/// [`requires_restart`](Self::requires_restart) for the rest.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tandem::{ChannelError, channel::TransitionLabel};
///
/// /// What a job does when an event fails.
/// fn triage(error: &ChannelError) -> &'static str {
///     match error {
///         ChannelError::WorkerFailed { .. } => "skip the event: the worker serves on",
///         error if error.is_worker_lost() => "restart the worker and retry the event",
///         error if error.is_timeout() => "alive but slow: raise the time-out, or restart",
///         error if error.requires_restart() => "restart the worker",
///         _ => "stop the job",
///     }
/// }
///
/// let event = TransitionLabel { kind: 2, name: Some("event"), id: 42 };
/// let failed = ChannelError::WorkerFailed {
///     transition: event,
///     message: "no primary vertex".into(),
/// };
/// let text = "worker failed during transition `event` (id 42): no primary vertex";
/// assert_eq!(failed.to_string(), text);
/// assert_eq!(triage(&failed), "skip the event: the worker serves on");
///
/// let slow = ChannelError::TransitionTimedOut {
///     transition: event,
///     after: Duration::from_secs(15),
///     retries: 2,
/// };
/// assert!(slow.is_timeout() && slow.requires_restart() && !slow.is_worker_lost());
///
/// let killed = ChannelError::WorkerDied {
///     pid: 4123,
///     reason: Some(tandem::process::ExitReason::Signaled(9)),
///     transition: event,
///     stderr_tail: None,
/// };
/// assert_eq!(triage(&killed), "restart the worker and retry the event");
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A base name is empty, too long or holds characters other than `[A-Za-z0-9_-]`.
    #[error("invalid channel name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A buffer or segment failed.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// The segment opened by a worker is not a tandem control block of this version.
    #[error("`{name}` is not a compatible tandem control block (magic {magic:#x}, layout version {version}, expected version {expected}): controller and worker must use the same tandem release")]
    IncompatibleLayout {
        /// Segment name.
        name: String,
        /// Magic number found.
        magic: u64,
        /// Layout version found.
        version: u32,
        /// Layout version this build expects.
        expected: u32,
    },
    /// A setting that concerns both sides is out of range: in the controller's
    /// [`Options`](crate::Options), or as the worker read it from the control block.
    #[error("invalid channel setting `{setting}` = {value}: {reason}")]
    InvalidConfig {
        /// The setting (`spin`, `max_buffer_bytes`).
        setting: &'static str,
        /// The value found.
        value: String,
        /// Why it was refused, and what to do.
        reason: &'static str,
    },
    /// The worker did not complete setup within the setup time-out.
    #[error("worker did not complete setup: timed out after {waited} ({retries} retries); check that the worker starts and calls `setup_done`",
        waited = Readable(*after))]
    SetupTimedOut {
        /// Total time waited.
        after: Duration,
        /// How many times the retry callback said to keep waiting.
        retries: u32,
    },
    /// The worker did not complete a transition within the transition time-out.
    #[error("transition {transition} timed out after {waited} ({retries} retries); the channel is unusable until the worker is restarted",
        waited = Readable(*after))]
    TransitionTimedOut {
        /// The transition.
        transition: TransitionLabel,
        /// Total time waited.
        after: Duration,
        /// How many times the retry callback said to keep waiting.
        retries: u32,
    },
    /// The worker's transition code returned an error (or panicked); the worker is alive
    /// and the channel stays usable.
    #[error("worker failed during transition {transition}: {message}")]
    WorkerFailed {
        /// The transition.
        transition: TransitionLabel,
        /// The worker's message.
        message: String,
    },
    /// The worker process was killed by a fatal signal its monitor caught.
    ///
    /// `Display` ends with the crashed thread's backtrace, printed like Rust's own (which
    /// unwinds and symbolizes it on first use, see [`CrashBacktrace`]), or "no backtrace" and why.
    #[error("worker {pid} crashed with {signal_name} {when} transition {transition}{tail}\n{backtrace}",
        signal_name = signal_name(*signal),
        when = if *while_idle { "between transitions, before" } else { "during" },
        tail = StderrTail(stderr_tail))]
    WorkerCrashed {
        /// Worker process id.
        pid: u32,
        /// The signal number.
        signal: i32,
        /// The transition it was serving, or, if `while_idle`, the one it was about to get.
        transition: TransitionLabel,
        /// Whether the crash happened outside transition code (e.g. on a background thread
        /// between transitions).
        while_idle: bool,
        /// The last lines the worker wrote to stderr, when the controller captured them.
        stderr_tail: Option<String>,
        /// The crashed thread's backtrace and fault address, or why there is none.
        backtrace: CrashBacktrace,
    },
    /// The worker called a system call its [`Sandbox`](crate::Sandbox) refuses: the kernel did
    /// not run it, and the worker died of `SIGSYS`. Handled as a crash: restart the worker.
    ///
    /// The [`Syscall`] comes from the worker's own handler (the kernel's description of the
    /// call, copied into shared memory); that the worker died of `SIGSYS` comes from the
    /// kernel. When it died of `SIGSYS` without a record (it had blocked `SIGSYS`, or the call
    /// was refused inside the crash handling), the name is `"unknown"` and the number -1.
    #[error("worker {pid} was stopped by its sandbox {when} transition {transition}: it called {syscall}, which the sandbox refuses; allow it with `Sandbox::allow_syscalls` if the worker needs it{tail}",
        when = if *while_idle { "between transitions, before" } else { "during" },
        tail = StderrTail(stderr_tail))]
    SandboxViolation {
        /// Worker process id.
        pid: u32,
        /// The refused call (boxed: it keeps every `ChannelError` small).
        syscall: Box<Syscall>,
        /// The transition it was serving, or, if `while_idle`, the one it was about to get.
        transition: TransitionLabel,
        /// Whether the call came outside transition code (e.g. from a background thread).
        while_idle: bool,
        /// The last lines the worker wrote to stderr, when the controller captured them.
        stderr_tail: Option<String>,
    },
    /// The worker hit a resource limit of its [`Sandbox`](crate::Sandbox) and died of it.
    #[error("worker {pid} exceeded its {limit} limit during transition {transition} and was ended ({signal_name}); raise the limit in its `Sandbox` if the work needs more{tail}",
        signal_name = signal_name(*signal), tail = StderrTail(stderr_tail))]
    ResourceLimitExceeded {
        /// Worker process id.
        pid: u32,
        /// Which limit: `"CPU time"`, `"file size"` or `"data size"`.
        limit: &'static str,
        /// The signal it died of (`SIGXCPU`, `SIGXFSZ`; `SIGABRT` for a failed allocation).
        signal: i32,
        /// The transition in progress.
        transition: TransitionLabel,
        /// The last lines the worker wrote to stderr, when the controller captured them.
        stderr_tail: Option<String>,
    },
    /// The worker's policy could not be built or installed.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The worker completed its setup without its sandbox in force, as the kernel reports it
    /// in `/proc/<pid>/status`; it was ended before it got a transition.
    #[error("worker {pid} completed setup without its sandbox in force (/proc/{pid}/status: NoNewPrivs {no_new_privs}, Seccomp {seccomp}; expected 1 and 2): it must open its channel with this tandem release, which applies the sandbox in `setup_done`",
        no_new_privs = Field(no_new_privs), seccomp = Field(seccomp))]
    SandboxNotInForce {
        /// Worker process id.
        pid: u32,
        /// The `NoNewPrivs` value found, if any.
        no_new_privs: Option<u32>,
        /// The `Seccomp` value found (2 = filter mode), if any.
        seccomp: Option<u32>,
    },
    /// The worker process ended (exit, or a signal no handler could catch such as SIGKILL).
    #[error("worker {pid} {reason} during transition {transition}{tail}",
        reason = ExitDisplay(reason), tail = StderrTail(stderr_tail))]
    WorkerDied {
        /// Worker process id.
        pid: u32,
        /// How it ended, when known (only a child's status can be read).
        reason: Option<ExitReason>,
        /// The transition in progress.
        transition: TransitionLabel,
        /// The last lines the worker wrote to stderr, when the controller captured them.
        stderr_tail: Option<String>,
    },
    /// The controller process is gone; the worker should exit.
    #[error("controller {pid} is gone; this worker has nothing left to serve")]
    ControllerGone {
        /// Controller process id.
        pid: u32,
    },
    /// Controller and worker were built from different transition or payload definitions.
    #[error("protocol mismatch: controller fingerprint {controller:#018x}, worker fingerprint {worker:#018x}; rebuild both from the same definitions")]
    ProtocolMismatch {
        /// The controller's protocol fingerprint.
        controller: u64,
        /// The worker's protocol fingerprint.
        worker: u64,
    },
    /// The channel refuses transitions: no worker completed setup, or an earlier failure
    /// (a time-out, a lost worker, a protocol violation) left it out of step with its
    /// worker. The [`UnusableReason`] keeps that failure, as this error's source.
    #[error("channel unusable {reason}")]
    Unusable {
        /// Why, with the earlier failure when there was one.
        #[source]
        reason: UnusableReason,
    },
    /// The worker broke the protocol (e.g. completed with the wrong id); the channel is
    /// unusable until the worker is restarted.
    #[error("protocol violation by the worker: {violation}")]
    ProtocolViolation {
        /// What was wrong.
        #[source]
        violation: Violation,
    },
    /// The caller asked for a transition of the kind reserved for the setup handshake.
    #[error("transition kind {kind:#x} is reserved for setup: use another kind")]
    ReservedKind {
        /// The kind asked for.
        kind: u32,
    },
    /// A payload could not be decoded.
    #[error("could not decode the {what}: {source}")]
    Decode {
        /// Which payload.
        what: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// The worker process could not be started.
    #[error("could not start worker `{command}`: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The launcher given to
    /// [`ControllerChannel::setup_worker`](crate::ControllerChannel::setup_worker) failed
    /// before it prepared a command with
    /// [`prepare_command`](crate::ControllerChannel::prepare_command), so no program is
    /// known.
    #[error("the launcher given to `setup_worker` failed before it prepared a command with `prepare_command`: {source}")]
    Launch {
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The fatal-signal handlers a worker needs could not be installed.
    #[error("installing the fatal-signal handlers failed: {source}")]
    Monitor {
        /// The monitor's error.
        #[source]
        source: MonitorError,
    },
    /// A death watcher (the thread asleep on the peer's pidfd) could not be started, so
    /// the peer's death could not be noticed: the channel was not opened.
    #[error("cannot watch the {peer} process {pid} for its death: {source}")]
    Watch {
        /// `"controller"` or `"worker"`.
        peer: &'static str,
        /// Its process id.
        pid: u32,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A system call the channel needs failed.
    #[error("{operation} failed: {source}")]
    Os {
        /// What was attempted.
        operation: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// An environment variable naming the channel is missing or malformed.
    #[error("no channel to open: environment variable `{variable}` is {problem}; start this program through `Controller::spawn`")]
    NotAWorker {
        /// The variable.
        variable: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl ChannelError {
    /// Whether the worker process is gone (crashed or died), so that only a restart can
    /// continue the run. A time-out is not a loss: see [`is_timeout`](Self::is_timeout).
    /// Nor is the [`Unusable`](Self::Unusable) error of a later call made without a restart
    /// (the channel stays broken after a loss): to decide on a restart, test
    /// [`requires_restart`](Self::requires_restart).
    pub fn is_worker_lost(&self) -> bool {
        matches!(
            self,
            ChannelError::WorkerCrashed { .. }
                | ChannelError::WorkerDied { .. }
                | ChannelError::SandboxViolation { .. }
                | ChannelError::ResourceLimitExceeded { .. }
        )
    }

    /// Whether the worker is alive but did not answer within its time-out (after every
    /// retry the time-out policy allowed): a slow or stuck worker rather than a lost one.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ChannelError::TransitionTimedOut { .. } | ChannelError::SetupTimedOut { .. }
        )
    }

    /// Whether the channel is out of step with its worker, so that only a restart can
    /// continue the run: a lost worker, a time-out, a protocol violation, or an earlier
    /// such failure ([`Unusable`](Self::Unusable), whose [`UnusableReason::earlier`] tells
    /// which).
    pub fn requires_restart(&self) -> bool {
        self.is_worker_lost()
            || self.is_timeout()
            || matches!(
                self,
                ChannelError::Unusable { .. } | ChannelError::ProtocolViolation { .. }
            )
    }

    /// The failure that left the channel unusable, when this is the
    /// [`Unusable`](Self::Unusable) error of a later call; `None` otherwise. Tells a channel
    /// broken by a time-out ([`is_timeout`](Self::is_timeout)) from one broken by a crash
    /// ([`is_worker_lost`](Self::is_worker_lost)).
    pub fn earlier(&self) -> Option<&ChannelError> {
        match self {
            ChannelError::Unusable { reason } => reason.earlier(),
            _ => None,
        }
    }

    /// A copy for the channel's broken state, which keeps the error that broke it while the
    /// caller gets the original. OS errors are copied by code (or kind and message).
    pub(crate) fn duplicate(&self) -> ChannelError {
        use ChannelError as E;
        match self {
            E::InvalidName { name, reason } => E::InvalidName {
                name: name.clone(),
                reason,
            },
            E::Buffer(error) => E::Buffer(error.duplicate()),
            E::IncompatibleLayout {
                name,
                magic,
                version,
                expected,
            } => E::IncompatibleLayout {
                name: name.clone(),
                magic: *magic,
                version: *version,
                expected: *expected,
            },
            E::InvalidConfig {
                setting,
                value,
                reason,
            } => E::InvalidConfig {
                setting,
                value: value.clone(),
                reason,
            },
            E::SetupTimedOut { after, retries } => E::SetupTimedOut {
                after: *after,
                retries: *retries,
            },
            E::TransitionTimedOut {
                transition,
                after,
                retries,
            } => E::TransitionTimedOut {
                transition: *transition,
                after: *after,
                retries: *retries,
            },
            E::WorkerFailed {
                transition,
                message,
            } => E::WorkerFailed {
                transition: *transition,
                message: message.clone(),
            },
            E::WorkerCrashed {
                pid,
                signal,
                transition,
                while_idle,
                stderr_tail,
                backtrace,
            } => E::WorkerCrashed {
                pid: *pid,
                signal: *signal,
                transition: *transition,
                while_idle: *while_idle,
                stderr_tail: stderr_tail.clone(),
                backtrace: backtrace.clone(),
            },
            E::SandboxViolation {
                pid,
                syscall,
                transition,
                while_idle,
                stderr_tail,
            } => E::SandboxViolation {
                pid: *pid,
                syscall: syscall.clone(),
                transition: *transition,
                while_idle: *while_idle,
                stderr_tail: stderr_tail.clone(),
            },
            E::ResourceLimitExceeded {
                pid,
                limit,
                signal,
                transition,
                stderr_tail,
            } => E::ResourceLimitExceeded {
                pid: *pid,
                limit,
                signal: *signal,
                transition: *transition,
                stderr_tail: stderr_tail.clone(),
            },
            E::Sandbox(error) => E::Sandbox(error.duplicate()),
            E::SandboxNotInForce {
                pid,
                no_new_privs,
                seccomp,
            } => E::SandboxNotInForce {
                pid: *pid,
                no_new_privs: *no_new_privs,
                seccomp: *seccomp,
            },
            E::WorkerDied {
                pid,
                reason,
                transition,
                stderr_tail,
            } => E::WorkerDied {
                pid: *pid,
                reason: *reason,
                transition: *transition,
                stderr_tail: stderr_tail.clone(),
            },
            E::ControllerGone { pid } => E::ControllerGone { pid: *pid },
            E::ProtocolMismatch { controller, worker } => E::ProtocolMismatch {
                controller: *controller,
                worker: *worker,
            },
            E::Unusable { reason } => E::Unusable {
                reason: reason.clone(),
            },
            E::ProtocolViolation { violation } => E::ProtocolViolation {
                violation: violation.duplicate(),
            },
            E::ReservedKind { kind } => E::ReservedKind { kind: *kind },
            E::Decode { what, source } => E::Decode {
                what: what.clone(),
                source: source.clone(),
            },
            E::Spawn { command, source } => E::Spawn {
                command: command.clone(),
                source: duplicate_io(source),
            },
            E::Launch { source } => E::Launch {
                source: duplicate_io(source),
            },
            E::Monitor { source } => E::Monitor {
                source: source.duplicate(),
            },
            E::Watch { peer, pid, source } => E::Watch {
                peer,
                pid: *pid,
                source: duplicate_io(source),
            },
            E::Os { operation, source } => E::Os {
                operation,
                source: duplicate_io(source),
            },
            E::NotAWorker { variable, problem } => E::NotAWorker { variable, problem },
        }
    }
}

/// Why a channel refuses transitions ([`ChannelError::Unusable`]).
///
/// # Examples
/// ```no_run
/// # fn run(controller: &mut tandem::Controller) -> Result<(), tandem::ChannelError> {
/// use tandem::ChannelError;
///
/// match controller.do_transition(1, 7, |_| ()) {
///     Err(error) if error.earlier().is_some_and(ChannelError::is_timeout) => {
///         // An earlier transition timed out: the worker may still be busy with it.
///         controller.restart()?;
///     }
///     other => other?,
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum UnusableReason {
    /// No worker completed setup on the channel (or it was stopped since).
    #[error("until a worker completes setup: set one up (or restart it) first")]
    NotSetUp,
    /// The restart of its worker failed (that failure was returned by the restart).
    #[error("after a failed restart of its worker: restart it again")]
    RestartFailed,
    /// An earlier failure left the channel out of step with its worker: the error that
    /// call returned (a time-out, a lost worker, a protocol violation...).
    #[error("after an earlier failure ({}); restart the worker", .0.brief())]
    Earlier(#[source] Arc<ChannelError>),
}

impl UnusableReason {
    /// The reason for a channel that `error` broke: a copy of it.
    pub(crate) fn after(error: &ChannelError) -> UnusableReason {
        UnusableReason::Earlier(Arc::new(error.duplicate()))
    }

    /// The failure that broke the channel, if one did.
    pub fn earlier(&self) -> Option<&ChannelError> {
        match self {
            UnusableReason::Earlier(error) => Some(error),
            _ => None,
        }
    }
}

/// How a worker broke the transition protocol ([`ChannelError::ProtocolViolation`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Violation {
    /// It completed a transition with an id other than the complement of the one sent.
    #[error("transition {transition} completed with id {returned:#x}, expected the complement {expected:#x}")]
    WrongId {
        /// The transition.
        transition: TransitionLabel,
        /// The id found.
        returned: u64,
        /// The complement of the id sent.
        expected: u64,
    },
    /// It completed a transition with an outcome code tandem does not define.
    #[error("transition {transition} completed with outcome code {code}")]
    UnknownOutcome {
        /// The transition.
        transition: TransitionLabel,
        /// The code found.
        code: u32,
    },
    /// It published a reply buffer that does not fit its segment or the size limit.
    #[error("{0}")]
    Buffer(#[source] BufferError),
}

impl Violation {
    fn duplicate(&self) -> Violation {
        match self {
            Violation::WrongId {
                transition,
                returned,
                expected,
            } => Violation::WrongId {
                transition: *transition,
                returned: *returned,
                expected: *expected,
            },
            Violation::UnknownOutcome { transition, code } => Violation::UnknownOutcome {
                transition: *transition,
                code: *code,
            },
            Violation::Buffer(error) => Violation::Buffer(error.duplicate()),
        }
    }
}
