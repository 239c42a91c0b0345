//! What a typed controller does when a worker is lost or slow: [`RestartPolicy`],
//! [`TimeoutPolicy`] (or a callback shown each [`SlowTransition`]) and, for setup,
//! [`SetupRetry`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use crate::channel::ChannelError;
use crate::channel::TransitionLabel;

/// When and how a [`TypedController`](crate::TypedController) restarts a lost worker on its own.
///
/// # Examples
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use tandem::{Options, RestartPolicy, Transitions};
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u64, replay)]
///     BeginLumi,
///     #[transition(output = Vec<f64>)]
///     Event,
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let worker = Command::new("/opt/legacy/bin/generator-worker");
///     let mut generator = GeneratorController::spawn(worker, 0, Options::default(), &())?;
///     // Up to three crashes per job, each answered by a respawn, a replay of the last
///     // `begin_lumi`, then the failed call again.
///     generator.set_restart_policy(RestartPolicy {
///         max_restarts: 3,
///         backoff: Duration::from_millis(100),
///     });
///     generator.begin_lumi(1, &2026)?;
///     for event in 1..=1000 {
///         generator.event(event)?;
///     }
///     for failure in generator.recovered_failures() {
///         eprintln!("recovered: {failure}");
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// How many restarts in total before an error is returned.
    pub max_restarts: u32,
    /// Pause before each restart.
    pub backoff: Duration,
}

impl RestartPolicy {
    /// Never restart: every worker loss is returned as an error (the default).
    pub const NEVER: RestartPolicy = RestartPolicy {
        max_restarts: 0,
        backoff: Duration::ZERO,
    };
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy::NEVER
    }
}

/// What a typed call does when a transition's time-out expires while its worker is still
/// alive: a slow worker, not a lost one (a dead worker is reported at once, whatever the
/// time-out). The reference system met generators that were slow but healthy and solved it
/// by raising its time-outs; this lets a job keep a short time-out and still wait for them.
///
/// # Examples
/// ```
/// use tandem::TimeoutPolicy;
///
/// // Wait up to three more transition time-outs before giving up on a live worker.
/// let policy = TimeoutPolicy::wait_longer(3);
/// assert_eq!(policy.extra_waits, 3);
/// assert_eq!(TimeoutPolicy::default(), TimeoutPolicy::GIVE_UP);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPolicy {
    /// How many more time-outs to wait, each as long as the first, before the call fails
    /// with [`ChannelError::TransitionTimedOut`] (whose `retries` counts them).
    pub extra_waits: u32,
}

impl TimeoutPolicy {
    /// Fail at the first time-out (the default).
    pub const GIVE_UP: TimeoutPolicy = TimeoutPolicy { extra_waits: 0 };

    /// Keep waiting for a live worker for up to `extra_waits` more time-outs.
    pub const fn wait_longer(extra_waits: u32) -> TimeoutPolicy {
        TimeoutPolicy { extra_waits }
    }
}

impl Default for TimeoutPolicy {
    fn default() -> Self {
        TimeoutPolicy::GIVE_UP
    }
}

/// A transition whose time-out expired while its worker was still alive, as shown to the
/// callback of [`TypedController::on_timeout`](crate::TypedController::on_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowTransition {
    /// The transition that is late.
    pub transition: TransitionLabel,
    /// How long the call has waited so far.
    pub waited: Duration,
    /// How many extra time-outs were granted before this one.
    pub retries: u32,
}

/// The decision taken at each time-out of a live worker.
pub(super) enum OnTimeout {
    Policy(TimeoutPolicy),
    Callback(Box<dyn FnMut(&SlowTransition) -> bool + Send>),
}

impl OnTimeout {
    pub(super) fn keep_waiting(&mut self, slow: &SlowTransition) -> bool {
        match self {
            OnTimeout::Policy(policy) => slow.retries < policy.extra_waits,
            OnTimeout::Callback(callback) => callback(slow),
        }
    }
}

impl fmt::Debug for OnTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnTimeout::Policy(policy) => policy.fmt(f),
            OnTimeout::Callback(_) => f.write_str("OnTimeout::Callback"),
        }
    }
}

/// What a typed spawn or restart does when the setup time-out
/// ([`Options::setup_timeout`](crate::Options::setup_timeout)) expires while the worker is
/// still alive: a worker slow to set up (a generator loading its tables), not a lost one.
/// The reference's `setupWorker` takes the same decision from a retry callback.
///
/// # Examples
/// ```
/// use tandem::typed::SetupRetry;
///
/// // Wait up to two more setup time-outs, then give up.
/// let patient = SetupRetry::wait_longer(2);
/// // Or ask at each time-out, e.g. to log it.
/// let logged = SetupRetry::ask(|slow| {
///     eprintln!("worker setup still running after {:?}", slow.waited);
///     slow.retries < 5
/// });
/// assert_ne!(format!("{patient:?}"), format!("{logged:?}"));
/// ```
#[derive(Clone)]
pub struct SetupRetry {
    extra_waits: u32,
    ask: Option<Arc<KeepWaiting>>,
}

/// The callback of [`SetupRetry::ask`].
type KeepWaiting = dyn Fn(&SlowTransition) -> bool + Send + Sync;

impl SetupRetry {
    /// Fail at the first setup time-out with [`ChannelError::SetupTimedOut`] (the default).
    pub const GIVE_UP: SetupRetry = SetupRetry {
        extra_waits: 0,
        ask: None,
    };

    /// Keep waiting for a live worker's setup for up to `extra_waits` more time-outs.
    pub const fn wait_longer(extra_waits: u32) -> SetupRetry {
        SetupRetry {
            extra_waits,
            ask: None,
        }
    }

    /// Ask `keep_waiting` at each setup time-out of a live worker whether to wait another
    /// one.
    pub fn ask(keep_waiting: impl Fn(&SlowTransition) -> bool + Send + Sync + 'static) -> Self {
        SetupRetry {
            extra_waits: 0,
            ask: Some(Arc::new(keep_waiting)),
        }
    }

    /// Whether to wait another setup time-out for `slow`.
    pub(crate) fn keep_waiting(&self, slow: &SlowTransition) -> bool {
        match &self.ask {
            Some(ask) => ask(slow),
            None => slow.retries < self.extra_waits,
        }
    }
}

impl Default for SetupRetry {
    fn default() -> Self {
        SetupRetry::GIVE_UP
    }
}

impl fmt::Debug for SetupRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ask {
            Some(_) => f.write_str("SetupRetry::ask(..)"),
            None => write!(f, "SetupRetry::wait_longer({})", self.extra_waits),
        }
    }
}

/// The time-out of each transition kind where one was set in place of the channel's
/// transition time-out (`set_timeout` of a typed controller, blocking or async).
#[derive(Debug, Clone)]
pub(crate) struct KindTimeouts {
    by_kind: Vec<Option<Duration>>,
}

impl KindTimeouts {
    /// None set, for `kinds` transition kinds.
    pub(crate) fn new(kinds: usize) -> KindTimeouts {
        KindTimeouts {
            by_kind: vec![None; kinds],
        }
    }

    /// Sets the time-out of `kind` (a kind the transitions do not have is ignored: the typed
    /// controllers pass their own enum's kinds only).
    pub(crate) fn set(&mut self, kind: u32, timeout: Duration) {
        if let Some(slot) = self.by_kind.get_mut(kind as usize) {
            *slot = Some(timeout);
        }
    }

    /// The time-out of `kind`, or `default` if none was set.
    pub(crate) fn of(&self, kind: u32, default: Duration) -> Duration {
        self.by_kind
            .get(kind as usize)
            .copied()
            .flatten()
            .unwrap_or(default)
    }
}
