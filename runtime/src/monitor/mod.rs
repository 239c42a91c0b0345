//! Fatal-signal handling in the worker process.
//!
//! A worker runs native code that may crash. The [`WorkerMonitor`] makes sure that, when it
//! does, (1) the controller learns about it at once (through the crate-internal crash hook
//! the channel layer installs), (2) a user action runs on a normal thread, and (3) the process
//! still dies *of that signal*, so the controller (or a shell) sees the usual status: killed by
//! SIGSEGV (139 in shell terms), SIGABRT (134), and so on.
//!
//! # What is monitored
//! SIGABRT, SIGILL, SIGBUS, SIGSEGV, SIGFPE, SIGTERM and SIGSYS ([`FatalSignal`]). The
//! handlers are installed with `SA_SIGINFO | SA_ONSTACK`, and all seven signals are blocked
//! while one of them is handled, so a fault *inside* the handling kills the process at once instead of
//! re-entering it.
//!
//! # The protocol
//! There are three parties: the crashing thread (in the signal handler, `handler.rs`), the
//! helper thread (`helper.rs`, which blocks all seven signals from its first instruction) and
//! the rest of the process (start, stop, set the action).
//!
//! The handler, in this order:
//! 1. saves `errno`;
//! 2. claims the crash: `CRASHING` goes from `0` to the signal number (compare-and-swap);
//! 3. first crasher only: calls the crash hook, if any (async-signal-safe by contract; it runs
//!    even when the helper is stuck or absent). For a SIGSYS it first records the system call
//!    a seccomp filter refused (number, architecture, and the arguments from the interrupted
//!    registers) for the hook, which under a [`Sandbox`](crate::Sandbox) turns it into
//!    [`ChannelError::SandboxViolation`](crate::ChannelError::SandboxViolation). Step 7's
//!    `sigaction(SIGSYS)` is itself refused under the sandbox; with SIGSYS blocked in the
//!    handler the kernel then applies the default action, so the process still dies of SIGSYS;
//! 4. first crasher only, SIGSEGV/SIGBUS: if the fault address lies at the interrupted stack
//!    pointer, writes "a thread has overflowed its stack" to stderr (x86_64 and aarch64, whose
//!    machine-context layout `sys::signal` knows; elsewhere the line is left out, the crash is
//!    handled all the same);
//! 5. first crasher only: **set flag, then write**: with `CRASHING` already set, writes one
//!    byte to the wake pipe;
//! 6. waits until the acknowledgement pipe is readable, **bounded** by the acknowledgement
//!    timeout ([`MonitorBuilder::ack_timeout`], 2 s by default), with `poll(2)`;
//! 7. restores `errno`, sets `SIG_DFL` for the signal, unblocks it and raises it again.
//!
//! The helper, woken by a byte, **drains the pipe, then reads the flags**: if `CRASHING` is
//! set it runs the action with that signal (panics are caught), writes the acknowledgement
//! byte and ends; otherwise, if its stop flag is set, it ends; otherwise the wake-up was
//! spurious. A spurious wake-up is harmless, a lost signal impossible: the flag is always
//! stored before the byte is written.
//!
//! Only the first fatal signal runs the hook and the action. A later one (another thread
//! crashing at the same time, or a SIGTERM during a crash) waits for the same acknowledgement,
//! within the same bound, then dies of its own signal: nobody deadlocks. The acknowledgement
//! pipe is never drained, so every waiter sees it. A crash on the helper thread itself (inside
//! the action) does not wait for its own acknowledgement.
//!
//! Steps 1 to 7 are async-signal-safe (`handler.rs` says, step by step, why), and none of them
//! can panic: the handler and the crash hook must work while the crashed thread holds the
//! allocator's lock or is half-way through any other non-reentrant code.
//!
//! Tear-down versus a concurrent crash: [`WorkerMonitor::stop`] unpublishes the pipe ends
//! (stores `-1`) and only then reads `CRASHING`; the handler sets `CRASHING` and only then
//! loads the pipe ends (all sequentially consistent). So either the handler sees no pipe, or
//! `stop` sees the crash and leaks the pipes and the thread instead of closing them under the
//! handler's feet (the process is about to die anyway).
//!
//! # Who installs the handlers
//! - [`WorkerMonitor::start`] (or [`WorkerMonitor::builder`]): handlers plus helper thread and
//!   user action. At most one monitor runs per process; a second `start` fails with
//!   [`MonitorError::AlreadyRunning`]. [`WorkerMonitor::stop`] (or dropping the monitor) stops
//!   the helper and puts the previous handlers back.
//! - `ensure_installed` (crate-internal, for the channel layer): the handlers alone, once per
//!   process, so the crash hook runs even in workers that never start a monitor. After it, the
//!   handlers stay until the process ends; a user monitor can still be started on top (it
//!   adds the helper and the action) and stopping it leaves the handlers in place.
//!
//! Nothing is installed until one of them is called, so programs that do not use the monitor
//! keep Rust's own stack-overflow handler untouched.
//!
//! # Alternate signal stacks
//! A stack overflow can only be handled on an alternate signal stack. Rust's runtime gives one
//! to the main thread and to every thread spawned with `std::thread`; threads created by C
//! code have none. [`WorkerMonitor::install_alt_stack_for_current_thread`] adds one where it is
//! missing (the starting thread gets one automatically, see
//! [`MonitorBuilder::alt_stack_for_current_thread`]); it is freed when the thread exits.
//!
//! # Examples
//! The monitor works on its own, in any process, without a channel or a controller: here a
//! program starts itself again as a crash-prone child, which reports the signal on a normal
//! thread and still dies of it, as its parent sees.
//! ```
//! use std::os::unix::process::ExitStatusExt;
//! use std::process::Command;
//! use tandem::monitor::FatalSignal;
//! use tandem::WorkerMonitor;
//!
//! if std::env::var_os("CRASH_DEMO").is_some() {
//!     // The child: runs the action on the helper thread, then dies of the signal.
//!     let _monitor = WorkerMonitor::builder()
//!         .action(|signal| println!("caught {signal}"))
//!         .start()?;
//!     std::process::abort(); // crash-prone native code, in a real program
//! }
//!
//! let child = Command::new(std::env::current_exe()?)
//!     .env("CRASH_DEMO", "1")
//!     .output()?;
//! assert_eq!(child.status.signal(), Some(FatalSignal::Abort.as_raw()));
//! assert_eq!(String::from_utf8_lossy(&child.stdout).trim(), "caught SIGABRT");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod handler;
mod helper;
mod signals;
mod trap;

pub use error::MonitorError;
pub use signals::{signal_name, FatalSignal};
use signals::{MONITORED, MONITORED_RAW};

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::sys::signal::{self as sys, SignalFrame};

use self::handler::{FatalSignalHandler, CRASH_HOOK};
use self::helper::Helper;

/// Usable size of the alternate signal stacks the monitor creates.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The user action: runs on the helper thread when a fatal signal was handled.
type Action = Arc<dyn Fn(FatalSignal) + Send + Sync + 'static>;

/// Process-wide installation state, behind [`MACHINERY`].
struct Machinery {
    /// The dispositions that were in place before ours, `Some` while ours are installed.
    previous: Option<[sys::SavedAction; 7]>,
    /// Set by `ensure_installed`: keep the handlers until the process ends.
    pinned: bool,
    /// The helper thread, `Some` while a [`WorkerMonitor`] runs.
    helper: Option<Helper>,
}

static MACHINERY: Mutex<Machinery> = Mutex::new(Machinery {
    previous: None,
    pinned: false,
    helper: None,
});

/// The user action. Read by the helper thread only after a crash.
static ACTION: Mutex<Option<Action>> = Mutex::new(None);

/// Locks a mutex, ignoring poisoning: the guarded data has no invariants a panic could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The current user action (for the helper thread).
fn current_action() -> Option<Action> {
    lock(&ACTION).clone()
}

impl Machinery {
    /// Installs our handler for every monitored signal, keeping the previous dispositions.
    /// Installs nothing (and keeps nothing) if one of them fails.
    fn install(&mut self) -> Result<(), MonitorError> {
        if self.previous.is_some() {
            return Ok(());
        }
        let mut previous = Vec::with_capacity(MONITORED.len());
        for signal in MONITORED {
            match sys::install_handler::<FatalSignalHandler>(signal.as_raw(), &MONITORED_RAW) {
                Ok(old) => previous.push(old),
                Err(source) => {
                    for (done, old) in MONITORED.iter().zip(&previous) {
                        // Best effort: the install error below is what the caller must see.
                        let _ = sys::restore_action(done.as_raw(), old);
                    }
                    return Err(MonitorError::InstallHandler {
                        signal: signal.name(),
                        source,
                    });
                }
            }
        }
        self.previous = previous.try_into().ok();
        Ok(())
    }

    /// Installs our handler again where a third party replaced it. The saved previous
    /// dispositions stay those from before the first installation.
    fn reinstall(&mut self) -> Result<(), MonitorError> {
        if self.previous.is_none() {
            return self.install();
        }
        for signal in MONITORED {
            sys::install_handler::<FatalSignalHandler>(signal.as_raw(), &MONITORED_RAW).map_err(
                |source| MonitorError::InstallHandler {
                    signal: signal.name(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    /// Puts the previous dispositions back, unless the handlers are pinned.
    fn uninstall(&mut self) -> Result<(), MonitorError> {
        if self.pinned {
            return Ok(());
        }
        let Some(previous) = self.previous.take() else {
            return Ok(());
        };
        let mut first_error = None;
        for (signal, old) in MONITORED.iter().zip(&previous) {
            if let Err(source) = sys::restore_action(signal.as_raw(), old) {
                first_error.get_or_insert(MonitorError::RestoreHandler {
                    signal: signal.name(),
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

thread_local! {
    /// The alternate signal stack this thread got from the monitor, freed at thread exit.
    static ALT_STACK: RefCell<Option<sys::AltStack>> = const { RefCell::new(None) };
}

/// Options for starting a [`WorkerMonitor`].
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use tandem::WorkerMonitor;
///
/// let monitor = WorkerMonitor::builder()
///     .ack_timeout(Duration::from_millis(500))
///     .action(|signal| eprintln!("worker: caught {signal}"))
///     .start()?;
/// # drop(monitor);
/// # Ok::<(), tandem::monitor::MonitorError>(())
/// ```
#[must_use = "a builder does nothing until `start` is called"]
pub struct MonitorBuilder {
    ack_timeout: Duration,
    action: Option<Action>,
    alt_stack: bool,
}

impl fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("ack_timeout", &self.ack_timeout)
            .field("action", &self.action.as_ref().map(|_| "Fn(FatalSignal)"))
            .field("alt_stack", &self.alt_stack)
            .finish()
    }
}

impl Default for MonitorBuilder {
    fn default() -> Self {
        MonitorBuilder {
            ack_timeout: Duration::from_secs(2),
            action: None,
            alt_stack: true,
        }
    }
}

impl MonitorBuilder {
    /// How long a crashing thread waits for the action to finish before it re-raises its
    /// signal anyway (default 2 s). Bounds the time a stuck action can delay the crash.
    /// Rounded down to milliseconds, at most `u32::MAX` ms.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// The action to run on the helper thread when a fatal signal arrives. See
    /// [`WorkerMonitor::set_action`].
    pub fn action(mut self, action: impl Fn(FatalSignal) + Send + Sync + 'static) -> Self {
        self.action = Some(Arc::new(action));
        self
    }

    /// Whether `start` gives the calling thread an alternate signal stack when it has none
    /// (default `true`), see [`WorkerMonitor::install_alt_stack_for_current_thread`].
    pub fn alt_stack_for_current_thread(mut self, enable: bool) -> Self {
        self.alt_stack = enable;
        self
    }

    /// Starts the helper thread and installs the handlers.
    ///
    /// # Errors
    /// [`MonitorError::AlreadyRunning`] if a monitor runs already in this process; otherwise
    /// the error of the step that failed (pipes, helper thread, `sigaction`, alternate
    /// stack). On error nothing stays installed.
    pub fn start(self) -> Result<WorkerMonitor, MonitorError> {
        let mut machinery = lock(&MACHINERY);
        if machinery.helper.is_some() {
            return Err(MonitorError::AlreadyRunning);
        }
        *lock(&ACTION) = self.action;
        let timeout_ms = u32::try_from(self.ack_timeout.as_millis()).unwrap_or(u32::MAX);
        let helper = Helper::spawn(timeout_ms)?;
        if let Err(error) = machinery.install() {
            helper.shut_down();
            *lock(&ACTION) = None;
            return Err(error);
        }
        machinery.helper = Some(helper);
        if self.alt_stack {
            if let Err(error) = WorkerMonitor::install_alt_stack_for_current_thread() {
                if let Some(helper) = machinery.helper.take() {
                    helper.shut_down();
                }
                // The alternate-stack error is the one to report.
                let _ = machinery.uninstall();
                *lock(&ACTION) = None;
                return Err(error);
            }
        }
        Ok(WorkerMonitor { _private: () })
    }
}

/// Handles fatal signals in a worker: runs an action on a helper thread, then lets the
/// process die of the signal. See the [module documentation](self) for the protocol.
///
/// At most one runs per process. Dropping it is the same as [`stop`](Self::stop), ignoring
/// errors.
///
/// # Examples
/// ```no_run
/// use tandem::WorkerMonitor;
///
/// let monitor = WorkerMonitor::start()?;
/// monitor.set_action(|signal| println!("Worker: SIGNAL CAUGHT {}", signal.as_raw()));
/// // ... run crash-prone native code ...
/// monitor.stop()?;
/// # Ok::<(), tandem::monitor::MonitorError>(())
/// ```
#[derive(Debug)]
pub struct WorkerMonitor {
    _private: (),
}

impl WorkerMonitor {
    /// Starts a monitor with default options and no action.
    ///
    /// # Errors
    /// As [`MonitorBuilder::start`].
    pub fn start() -> Result<WorkerMonitor, MonitorError> {
        MonitorBuilder::default().start()
    }

    /// Options for starting a monitor.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder::default()
    }

    /// Sets (replaces) the action run on the helper thread when a fatal signal arrives.
    ///
    /// It runs outside of signal context, so it may allocate, lock and print, but the thread
    /// that crashed is frozen at the crash point: the action must not wait for locks that
    /// thread may hold. It has [`MonitorBuilder::ack_timeout`] to finish before the process
    /// dies regardless. A panic in it is caught.
    pub fn set_action(&self, action: impl Fn(FatalSignal) + Send + Sync + 'static) {
        *lock(&ACTION) = Some(Arc::new(action));
    }

    /// Installs the handlers again, for when a third-party library replaced them. The
    /// handlers [`stop`](Self::stop) restores stay those from before the monitor started.
    ///
    /// # Errors
    /// [`MonitorError::InstallHandler`] naming the signal `sigaction` refused.
    pub fn reinstall_handlers(&self) -> Result<(), MonitorError> {
        lock(&MACHINERY).reinstall()
    }

    /// Gives the calling thread an alternate signal stack if it has none, so a stack
    /// overflow on it can be handled. Returns whether one was installed (`false`: the thread
    /// already had one, e.g. from Rust's runtime). The stack is freed when the thread exits.
    ///
    /// Threads spawned with `std::thread` and the main thread already have one; call this
    /// on threads created by C code before they run crash-prone code.
    ///
    /// # Errors
    /// [`MonitorError::AltStack`] if the stack could not be mapped or installed.
    pub fn install_alt_stack_for_current_thread() -> Result<bool, MonitorError> {
        let has_one = sys::has_alt_stack().map_err(|source| MonitorError::AltStack { source })?;
        if has_one {
            return Ok(false);
        }
        let stack = sys::AltStack::install(ALT_STACK_SIZE)
            .map_err(|source| MonitorError::AltStack { source })?;
        ALT_STACK.with(|slot| *slot.borrow_mut() = Some(stack));
        Ok(true)
    }

    /// Stops the helper thread and restores the handlers that were installed before the
    /// monitor (unless the channel layer pinned them, then they stay).
    ///
    /// # Errors
    /// [`MonitorError::RestoreHandler`] if a previous handler could not be put back; the
    /// helper thread is stopped regardless.
    pub fn stop(self) -> Result<(), MonitorError> {
        let result = self.shut_down();
        std::mem::forget(self);
        result
    }

    fn shut_down(&self) -> Result<(), MonitorError> {
        let mut machinery = lock(&MACHINERY);
        if let Some(helper) = machinery.helper.take() {
            helper.shut_down();
        }
        let result = machinery.uninstall();
        *lock(&ACTION) = None;
        result
    }
}

impl Drop for WorkerMonitor {
    fn drop(&mut self) {
        // Errors are reported by `stop`; a destructor has nobody to report them to.
        let _ = self.shut_down();
    }
}

/// A callback the signal handler invokes on the first fatal signal, before the user action
/// and even when no [`WorkerMonitor`] runs (see [`ensure_installed`]).
///
/// Contract (what the creator of a hook promises; a broken promise is a deadlock or a lost
/// crash report, not memory unsafety):
/// - the closure is **async-signal-safe**: atomics, raw syscalls such as a futex wake; no
///   allocation, locks, formatting or panics. It must return promptly.
/// - It may run on any thread, on an alternate signal stack of only a few KiB (Rust's
///   runtime sizes them by `SIGSTKSZ`): no large locals.
///
/// What it captures lives until [`set_crash_hook`] replaces the hook (that call waits for a
/// running hook to return, then drops it).
pub(crate) struct CrashHook {
    /// Called with the raw signal number and the kernel's description of it.
    run: Box<dyn Fn(i32, SignalFrame<'_>) + Send + Sync>,
}

impl CrashHook {
    /// A hook that runs `run` (see the contract above).
    pub(crate) fn new(run: impl Fn(i32, SignalFrame<'_>) + Send + Sync + 'static) -> Self {
        CrashHook { run: Box::new(run) }
    }

    /// AS-safe if the closure is (the contract).
    fn run(&self, signal: i32, frame: SignalFrame<'_>) {
        (self.run)(signal, frame)
    }
}

impl fmt::Debug for CrashHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashHook").finish_non_exhaustive()
    }
}

pub(crate) use self::trap::recorded as recorded_syscall_trap;

/// Sets (`Some`) or clears (`None`) the process-wide crash hook, replacing any previous one.
///
/// When it returns, the previous hook is not running and will not be called again, so its
/// context may be freed. Does not install the handlers: see [`ensure_installed`].
pub(crate) fn set_crash_hook(hook: Option<CrashHook>) {
    CRASH_HOOK.replace(hook);
}

/// Installs the fatal-signal handlers once per process without a helper thread or action, so
/// the crash hook runs in workers that never start a [`WorkerMonitor`]; also gives the calling
/// thread an alternate signal stack if it has none. Idempotent. The handlers then stay
/// installed until the process ends (a later monitor's `stop` leaves them).
///
/// # Errors
/// [`MonitorError::InstallHandler`] or [`MonitorError::AltStack`].
pub(crate) fn ensure_installed() -> Result<(), MonitorError> {
    let mut machinery = lock(&MACHINERY);
    machinery.install()?;
    machinery.pinned = true;
    drop(machinery);
    WorkerMonitor::install_alt_stack_for_current_thread().map(|_| ())
}

#[cfg(test)]
mod tests;
