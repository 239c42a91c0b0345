//! How a pool runs its workers: [`PoolOptions`], built with setters.

use std::time::Duration;

use crate::process::ProcessOptions;
use crate::typed::{SetupRetry, TimeoutPolicy};

/// How a [`Pool`](crate::Pool) runs its workers. Build with the setters.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let options = tandem::PoolOptions::new(4)
///     .process(tandem::Options::default().transition_timeout(Duration::from_secs(30)))
///     .max_attempts(3)
///     .recycle_after_items(10_000)
///     .recycle_above_rss(2 << 30);
/// assert_eq!(options.workers(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct PoolOptions {
    // Read by the other pool modules; set through the builder only.
    pub(super) setup_retry: SetupRetry,
    pub(super) workers: usize,
    pub(super) process: ProcessOptions,
    pub(super) max_attempts: u32,
    pub(super) max_start_failures: u32,
    pub(super) restart_backoff: Duration,
    pub(super) recycle_after_items: Option<u64>,
    pub(super) recycle_above_rss: Option<u64>,
    pub(super) in_flight: Option<usize>,
    pub(super) queue_per_worker: usize,
    pub(super) timeout_policy: TimeoutPolicy,
}

impl PoolOptions {
    /// `workers` workers (at least one), with the defaults below.
    pub fn new(workers: usize) -> Self {
        PoolOptions {
            setup_retry: SetupRetry::GIVE_UP,
            workers: workers.max(1),
            process: ProcessOptions::default(),
            max_attempts: 3,
            max_start_failures: 3,
            restart_backoff: Duration::ZERO,
            recycle_after_items: None,
            recycle_above_rss: None,
            in_flight: None,
            queue_per_worker: 4,
            timeout_policy: TimeoutPolicy::GIVE_UP,
        }
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The options of every worker: its channel's [`Options`](crate::Options) (time-outs,
    /// spin, limits) or [`ProcessOptions`]. The pool always starts its workers in a process
    /// group of their own ([`ProcessOptions::own_process_group`]), so a terminal's Ctrl-C
    /// reaches the controller only.
    pub fn process(mut self, options: impl Into<ProcessOptions>) -> Self {
        self.process = options.into();
        self
    }

    /// What a (re)start does when a worker's setup time-out
    /// ([`Options::setup_timeout`](crate::Options::setup_timeout)) expires while it is still alive (see [`SetupRetry`]).
    /// Default [`SetupRetry::GIVE_UP`].
    pub fn setup_retry(mut self, retry: SetupRetry) -> Self {
        self.setup_retry = retry;
        self
    }

    /// What each worker's calls do when a transition's time-out expires while the worker is
    /// alive (see [`TimeoutPolicy`]); a worker still silent after that is restarted and the
    /// item retried. Default [`TimeoutPolicy::GIVE_UP`].
    pub fn timeout_policy(mut self, policy: TimeoutPolicy) -> Self {
        self.timeout_policy = policy;
        self
    }

    /// How many attempts an item gets before it is reported as failed. Default 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How many (re)starts of one worker may fail in a row before it is retired. Default 3.
    pub fn max_start_failures(mut self, failures: u32) -> Self {
        self.max_start_failures = failures.max(1);
        self
    }

    /// Pause before each restart of a lost worker. Default none.
    pub fn restart_backoff(mut self, backoff: Duration) -> Self {
        self.restart_backoff = backoff;
        self
    }

    /// Replaces a worker by a fresh process after that process served `items` items
    /// (Celery's `max_tasks_per_child`): the count starts again with every new process,
    /// one started after a crash too. The old process is stopped as at shutdown (it leaves
    /// its serve loop, and is killed only if it has not exited after
    /// [`ProcessOptions::shutdown_grace`]); the new one gets its state back by replay. Default
    /// never.
    pub fn recycle_after_items(mut self, items: u64) -> Self {
        self.recycle_after_items = Some(items.max(1));
        self
    }

    /// Replaces a worker by a fresh process, stopped and replaced as with
    /// [`recycle_after_items`](Self::recycle_after_items), when its resident memory passes
    /// `bytes` after an item (leaky legacy code). Default never.
    pub fn recycle_above_rss(mut self, bytes: u64) -> Self {
        self.recycle_above_rss = Some(bytes);
        self
    }

    /// How many items per worker the pool keeps queued ahead, the one it serves included:
    /// the default [`in_flight`](Self::in_flight) window is twice this times the workers.
    /// Items wait in one queue that every worker takes from, so a worker's next item is
    /// already waiting when it finishes one and whichever worker is free first takes it. The
    /// caller's thread is woken once half the window is finished, so a larger window costs
    /// fewer wake-ups per item. Default 4.
    pub fn queue_per_worker(mut self, items: usize) -> Self {
        self.queue_per_worker = items.max(1);
        self
    }

    /// How many items may be dispatched and not yet handed back in order (memory stays
    /// bounded by it however many items the caller has). Default: twice what the workers'
    /// queues hold (8 items per worker).
    pub fn in_flight(mut self, items: usize) -> Self {
        self.in_flight = Some(items.max(1));
        self
    }
}

impl PoolOptions {
    /// How many items may be dispatched and not yet handed back.
    pub(super) fn window(&self) -> usize {
        self.in_flight
            .unwrap_or(2 * self.queue_per_worker * self.workers)
            .max(1)
    }
}
