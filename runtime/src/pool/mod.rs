//! A pool of workers speaking one [`Transitions`] protocol: items handed to whichever worker
//! is free, results back in submission order, lost workers restarted and their items
//! retried, leaky workers recycled.
//!
//! # Blocks and items
//! The protocol's transitions have roles, marked on the enum:
//! - `#[transition(replay)]` transitions establish state (begin-run, begin-lumi). The pool
//!   keeps the latest input of each ([`Pool::begin`]) and sends what a worker has not seen
//!   yet to that worker *before its next item*, so no item of a block reaches a worker that
//!   has not seen the block's begin transition. A restarted worker gets them back by replay.
//! - `#[transition(item)]` is the per-item transition (an event). [`Pool::run`] hands items
//!   to free workers and returns their results in submission order; it returns when every
//!   item it was given is finished.
//! - `#[transition(end)]` transitions end a block (end-lumi, end-run). [`Pool::end`] sends
//!   one to every worker that took part in the block and returns each worker's output. Ends
//!   close blocks innermost first: the first declared `end` closes the last declared
//!   `replay`, the next one the one before, and so on.
//!
//! # Threads
//! Each worker is driven by a thread of its own that owns its [`TypedController`]; the
//! caller's thread only encodes inputs, queues them and puts results back in order. A worker
//! thread decodes its outputs itself, so decoding runs in parallel too.
//!
//! Items wait in one queue that every worker thread takes its next item from, so an item
//! goes to whichever worker is free first and a slow item delays no other. The caller keeps
//! the queue filled up to the [`PoolOptions::in_flight`] window and sleeps in between; the
//! worker threads post their results to a mailbox and wake the caller once per batch (half
//! the window, or when the queue runs low and a result can make room), not once per item,
//! so neither the caller's wake-up nor its CPU time sits between one item and the next
//! (see `shared.rs`).
//!
//! # Failures
//! A failed item (the worker's error, a crash or death, a time-out after the extra waits
//! its [`TimeoutPolicy`] grants) is retried on the same worker,
//! restarted first if it was lost, up to [`PoolOptions::max_attempts`] attempts; the
//! worker learns which attempt it serves from [`Context::attempt`](crate::Context::attempt).
//! Every failure is recorded as a [`PoolEvent`]; an item that fails on every attempt is an
//! error in its place of the results. A worker that cannot be (re)started
//! [`PoolOptions::max_start_failures`] times in a row is retired (a breaker, instead of
//! restarting for ever) and its item goes to another worker.

mod shared;
mod worker;

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use thiserror::Error;

use crate::channel::{ChannelError, Options};
use crate::codec::{decode_shared, encode_to_vec, DecodeError, Payload};
use crate::sys::shared_bytes::SharedBytes;
#[cfg(doc)]
use crate::typed::TypedController;
use crate::typed::{TimeoutPolicy, Transitions};

use shared::{Shared, Wake};

/// How a [`Pool`] runs its workers. Build with the setters.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let options = tandem::PoolOptions::new(4)
///     .channel(tandem::Options::default().transition_timeout(Duration::from_secs(30)))
///     .max_attempts(3)
///     .recycle_after_items(10_000)
///     .recycle_above_rss(2 << 30);
/// assert_eq!(options.workers(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct PoolOptions {
    workers: usize,
    channel: Options,
    max_attempts: u32,
    max_start_failures: u32,
    restart_backoff: Duration,
    recycle_after_items: Option<u64>,
    recycle_above_rss: Option<u64>,
    in_flight: Option<usize>,
    queue_per_worker: usize,
    timeout_policy: TimeoutPolicy,
}

impl PoolOptions {
    /// `workers` workers (at least one), with the defaults below.
    pub fn new(workers: usize) -> Self {
        PoolOptions {
            workers: workers.max(1),
            channel: Options::default(),
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

    /// The options of every worker's channel (time-outs, spin, limits). The pool always
    /// starts its workers in a process group of their own
    /// ([`Options::own_process_group`]), so a terminal's Ctrl-C reaches the controller only.
    pub fn channel(mut self, options: Options) -> Self {
        self.channel = options;
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

    /// Replaces a worker by a fresh process after it served `items` items (Celery's
    /// `max_tasks_per_child`); its state comes back by replay. Default never.
    pub fn recycle_after_items(mut self, items: u64) -> Self {
        self.recycle_after_items = Some(items.max(1));
        self
    }

    /// Replaces a worker by a fresh process when its resident memory passes `bytes` after
    /// an item (leaky legacy code). Default never.
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

/// A pool failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The protocol has no `#[transition(item)]`.
    #[error("the transitions have no `#[transition(item)]`: mark the per-item transition so that a pool can distribute it")]
    NoItemTransition,
    /// A transition was used in a role it was not marked for.
    #[error("transition `{transition}` is not marked `#[transition({role})]`: {hint}")]
    WrongRole {
        /// The transition's name.
        transition: &'static str,
        /// The role it was used in.
        role: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The input or output type given does not match the transition's declared type.
    #[error("the {what} type of transition `{transition}` is not the one declared on the enum")]
    WrongType {
        /// The transition's name.
        transition: &'static str,
        /// `input` or `output`.
        what: &'static str,
    },
    /// No worker could be started, or every worker was retired by its breaker.
    #[error("no worker left: {source}")]
    NoWorkers {
        /// The last start failure.
        #[source]
        source: ChannelError,
    },
    /// An item failed on every attempt.
    #[error("item {id} failed on all {attempts} attempts: {source}")]
    ItemFailed {
        /// The item's id.
        id: u64,
        /// How many attempts it got.
        attempts: u32,
        /// The last attempt's error (shared with its [`PoolEvent`]).
        #[source]
        source: Arc<ChannelError>,
    },
    /// [`PoolStopper::stop`] interrupted [`Pool::run`]; the items still in flight are
    /// abandoned: drop the pool, which ends its workers at once.
    #[error("the pool was stopped before every item was finished")]
    Interrupted,
    /// An input could not be encoded into the channel, or a worker thread is gone.
    #[error("worker {worker} is unusable: {detail}")]
    WorkerGone {
        /// The worker's index.
        worker: usize,
        /// What happened.
        detail: String,
    },
}

/// One item's result, in submission order.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult<O> {
    /// The item's id, as submitted.
    pub id: u64,
    /// The decoded output.
    pub output: O,
    /// The worker's keep flag.
    pub keep: bool,
    /// Which attempt succeeded (1 for the first).
    pub attempt: u32,
    /// Which worker (0-based index) served it.
    pub worker: usize,
    /// The controller-side round trip of the successful attempt.
    pub round_trip: Duration,
}

/// One end-of-block output: which worker, and what it returned.
#[derive(Debug)]
pub struct EndOutput<O> {
    /// The worker's index.
    pub worker: usize,
    /// Its output, or why it has none.
    pub output: Result<O, ChannelError>,
}

/// Something that happened to a worker, for the caller's report.
#[derive(Debug)]
pub struct PoolEvent {
    /// The worker's index.
    pub worker: usize,
    /// The item concerned, if any.
    pub item: Option<u64>,
    /// What happened.
    pub kind: PoolEventKind,
}

/// What a [`PoolEvent`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolEventKind {
    /// An attempt at an item (or a state-establishing transition) failed.
    Failed {
        /// Which attempt.
        attempt: u32,
        /// Why.
        error: Arc<ChannelError>,
    },
    /// The worker was replaced by a fresh process after a failure.
    Restarted,
    /// The worker was replaced proactively.
    Recycled {
        /// Why (item count or memory).
        reason: String,
    },
    /// A (re)start of the worker failed.
    StartFailed {
        /// Why.
        error: ChannelError,
    },
    /// The worker failed to start too often in a row and was retired.
    Retired,
}

impl fmt::Display for PoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {}", self.worker)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        match &self.kind {
            PoolEventKind::Failed { attempt, error } => {
                write!(f, ": attempt {attempt} failed: {error}")
            }
            PoolEventKind::Restarted => f.write_str(": restarted"),
            PoolEventKind::Recycled { reason } => write!(f, ": recycled ({reason})"),
            PoolEventKind::StartFailed { error } => write!(f, ": start failed: {error}"),
            PoolEventKind::Retired => f.write_str(": retired after repeated start failures"),
        }
    }
}

type Decoded = Box<dyn Any + Send>;
type Decode = fn(SharedBytes<'_>) -> Result<Decoded, DecodeError>;

fn decode_any<O: Payload + Send + 'static>(bytes: SharedBytes<'_>) -> Result<Decoded, DecodeError> {
    decode_shared::<O>(bytes).map(|output| Box::new(output) as Decoded)
}

/// The begins in force, in order (shared, so that an item carries them for the price of a
/// pointer).
type Begins = Arc<Vec<Arc<Begin>>>;

/// A state-establishing input, numbered so that workers can tell which ones they have seen.
#[derive(Debug)]
struct Begin {
    serial: u64,
    kind: u32,
    id: u64,
    input: Vec<u8>,
}

struct PendingItem {
    seq: u64,
    id: u64,
    input: Arc<Vec<u8>>,
    attempt: u32,
    /// The begins the worker must have run before this item.
    begins: Begins,
    decode: Decode,
}

enum Job {
    Item(PendingItem),
    End {
        kind: u32,
        id: u64,
        input: Vec<u8>,
        closes: Option<u32>,
        decode: Decode,
    },
}

struct Finished {
    output: Decoded,
    keep: bool,
    attempt: u32,
    round_trip: Duration,
}

enum Report {
    Started {
        worker: usize,
        result: Result<(), ChannelError>,
    },
    Done {
        worker: usize,
        seq: u64,
        id: u64,
        /// The begins the worker had run for this item.
        synced: Begins,
        result: Result<Finished, PoolError>,
    },
    Event(PoolEvent),
    Ended {
        worker: usize,
        result: Result<Decoded, ChannelError>,
    },
    /// The worker will serve nothing more; the item it held is back in the queue.
    Retired {
        worker: usize,
        error: ChannelError,
    },
    Interrupt,
}

impl Report {
    fn is_done(&self) -> bool {
        matches!(self, Report::Done { .. })
    }

    /// Whether the caller must see it at once (an event waits for the next wake-up).
    fn is_urgent(&self) -> bool {
        !matches!(self, Report::Done { .. } | Report::Event(_))
    }
}

/// Stops a [`Pool::run`] from another thread (a Ctrl-C handler, a time limit): `run` hands
/// back the results finished in order so far and returns [`PoolError::Interrupted`].
#[derive(Clone)]
pub struct PoolStopper {
    shared: Arc<Shared>,
    interrupted: Arc<AtomicBool>,
}

impl fmt::Debug for PoolStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolStopper")
            .field("interrupted", &self.interrupted)
            .finish_non_exhaustive()
    }
}

impl PoolStopper {
    /// Interrupts the pool's current or next `run`.
    pub fn stop(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.shared.report(Report::Interrupt);
    }
}

struct Slot {
    thread: Option<JoinHandle<()>>,
    retired: bool,
    /// The begins this worker had run for its last item, in order.
    synced: Begins,
    /// The worker's current process (none while it is being replaced), for stopping it at
    /// once on drop: a pidfd, so that a kill after it was reaped reaches no other process.
    process: Arc<Mutex<Option<Arc<crate::sys::process::PidFd>>>>,
}

/// A pool of workers of the protocol `T`. See the module docs.
///
/// # Examples
/// ```no_run
/// use std::process::Command;
///
/// use tandem::{Context, ItemResult, Pool, PoolError, PoolOptions, Transitions, WorkerError};
///
/// #[derive(Transitions)]
/// enum Gen {
///     #[transition(input = u32, replay)]
///     BeginLumi,
///     #[transition(input = u64, output = f64, item)]
///     Event,
///     #[transition(output = u32, end)]
///     EndLumi,
/// }
///
/// struct Worker { events: u32 }
///
/// impl GenWorker for Worker {
///     fn begin_lumi(&mut self, _: &mut Context, _lumi: u32) -> Result<(), WorkerError> {
///         self.events = 0;
///         Ok(())
///     }
///     fn event(&mut self, _: &mut Context, seed: u64) -> Result<f64, WorkerError> {
///         self.events += 1;
///         Ok(seed as f64 * 0.5)
///     }
///     fn end_lumi(&mut self, _: &mut Context) -> Result<u32, WorkerError> {
///         Ok(self.events)
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if Worker::serve_from_env(|()| Ok(Worker { events: 0 }))? {
///         return Ok(());
///     }
///     let exe = std::env::current_exe()?;
///     let mut pool = Pool::<Gen>::start(move || Command::new(&exe), &(), PoolOptions::new(2))?;
///     pool.begin(Gen::BeginLumi, 1, &1u32)?;
///     pool.run((1..=100u64).map(|id| (id, id)), |result: Result<ItemResult<f64>, PoolError>| {
///         let result = result.expect("every event succeeds");
///         println!("event {}: {}", result.id, result.output);
///     })?;
///     let counts = pool.end::<(), u32>(Gen::EndLumi, 1, &())?;
///     println!("{} workers took part", counts.len());
///     Ok(())
/// }
/// ```
pub struct Pool<T: Transitions> {
    slots: Vec<Slot>,
    shared: Arc<Shared>,
    options: PoolOptions,
    begins: Begins,
    next_serial: u64,
    next_seq: u64,
    events: Vec<PoolEvent>,
    stopping: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    _transitions: std::marker::PhantomData<fn() -> T>,
}

impl<T: Transitions> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("transitions", &T::NAMES)
            .field("workers", &self.slots.len())
            .field("options", &self.options)
            .finish()
    }
}

impl<T: Transitions> Pool<T>
where
    T::Setup: Sync,
{
    /// Starts `options.workers()` workers concurrently, each from a command `command`
    /// returns, with the same setup payload; returns once every worker is set up or
    /// retired by its breaker.
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] if no worker could be started.
    pub fn start(
        command: impl Fn() -> Command + Send + Sync + 'static,
        setup: &T::Setup,
        options: PoolOptions,
    ) -> Result<Self, PoolError> {
        let command: Arc<dyn Fn() -> Command + Send + Sync> = Arc::new(command);
        let setup = Arc::new(encode_to_vec(setup));
        let shared = Arc::new(Shared::new(options.workers));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut pool = Pool {
            slots: Vec::with_capacity(options.workers),
            shared: Arc::clone(&shared),
            options: options.clone(),
            begins: Arc::new(Vec::new()),
            next_serial: 0,
            next_seq: 0,
            events: Vec::new(),
            stopping: Arc::clone(&stopping),
            interrupted: Arc::new(AtomicBool::new(false)),
            _transitions: std::marker::PhantomData,
        };
        for worker in 0..options.workers {
            let process = Arc::new(Mutex::new(None));
            let context = worker::WorkerContext {
                worker,
                command: Arc::clone(&command),
                setup: Arc::clone(&setup),
                options: options.clone(),
                shared: Arc::clone(&shared),
                process: Arc::clone(&process),
                stopping: Arc::clone(&stopping),
            };
            // On an error, dropping the pool stops the threads already started.
            let thread = std::thread::Builder::new()
                .name(format!("tandem-pool-{worker}"))
                .spawn(move || worker::run_worker::<T>(context))
                .map_err(|error| PoolError::WorkerGone {
                    worker,
                    detail: format!("could not start its thread: {error}"),
                })?;
            pool.slots.push(Slot {
                thread: Some(thread),
                retired: false,
                synced: Arc::new(Vec::new()),
                process,
            });
        }
        let mut waiting = pool.slots.len();
        let mut last_error = None;
        while waiting > 0 {
            for report in pool.shared.wait(Wake::ANY) {
                match report {
                    Report::Started { worker, result } => {
                        waiting -= 1;
                        if let Err(error) = result {
                            pool.slots[worker].retired = true;
                            last_error = Some(error);
                        }
                    }
                    Report::Event(event) => pool.events.push(event),
                    _ => {}
                }
            }
        }
        if pool.live_workers() == 0 {
            return Err(PoolError::NoWorkers {
                source: last_error.unwrap_or(ChannelError::Unusable {
                    reason: "no worker thread reported".to_owned(),
                }),
            });
        }
        Ok(pool)
    }
}

impl<T: Transitions> Pool<T> {
    /// The number of workers not retired.
    pub fn live_workers(&self) -> usize {
        self.slots.iter().filter(|slot| !slot.retired).count()
    }

    /// The process id of each live worker, by worker index.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter(|slot| !slot.retired)
            .filter_map(|slot| {
                let process = slot.process.lock().unwrap_or_else(|p| p.into_inner());
                process.as_ref().and_then(|pidfd| pidfd.pid())
            })
            .collect()
    }

    /// A handle that interrupts [`run`](Self::run) from another thread.
    pub fn stopper(&self) -> PoolStopper {
        PoolStopper {
            shared: Arc::clone(&self.shared),
            interrupted: Arc::clone(&self.interrupted),
        }
    }

    /// How many times the caller's thread has gone to sleep waiting for the worker threads'
    /// reports, since the pool started: with results handed back in batches it stays well
    /// below one per item. For tests and measurements.
    #[doc(hidden)]
    pub fn caller_sleeps(&self) -> u64 {
        self.shared.caller_sleeps()
    }

    /// Takes the events recorded since the last call (failures, restarts, recycling).
    pub fn take_events(&mut self) -> Vec<PoolEvent> {
        std::mem::take(&mut self.events)
    }

    /// Establishes state for the items that follow: `transition` (marked `replay`) with
    /// `input` reaches every worker before its next item. A later call of the same kind
    /// replaces this one; a call of an earlier kind (a new run) drops the later kinds'
    /// inputs (the old run's lumi) too.
    ///
    /// # Errors
    /// [`PoolError::WrongRole`] if `transition` is not marked `replay`,
    /// [`PoolError::WrongType`] if `I` is not its input type.
    pub fn begin<I: Payload>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
    ) -> Result<(), PoolError> {
        let kind = transition.kind();
        let name = name_of::<T>(kind);
        if !T::REPLAY.get(kind as usize).copied().unwrap_or(false) {
            return Err(PoolError::WrongRole {
                transition: name,
                role: "replay",
                hint: "only state-establishing transitions go to every worker before its next item",
            });
        }
        check_type::<T>(kind, 0, I::FINGERPRINT, "input")?;
        let mut begins: Vec<Arc<Begin>> = self
            .begins
            .iter()
            .filter(|begin| begin.kind < kind)
            .cloned()
            .collect();
        self.next_serial += 1;
        begins.push(Arc::new(Begin {
            serial: self.next_serial,
            kind,
            id,
            input: encode_to_vec(input),
        }));
        self.begins = Arc::new(begins);
        Ok(())
    }

    /// Runs every item of `items` (`(id, input)` pairs) on the item transition and hands
    /// each result to `on_result` in submission order, keeping at most
    /// [`PoolOptions::in_flight`] items dispatched and not yet handed back. Returns when every
    /// item is finished. An item that failed on every attempt is an `Err` in its place.
    ///
    /// # Errors
    /// [`PoolError::NoItemTransition`], [`PoolError::WrongType`] for the wrong `I` or `O`,
    /// [`PoolError::NoWorkers`] when every worker was retired.
    pub fn run<I, O>(
        &mut self,
        items: impl IntoIterator<Item = (u64, I)>,
        mut on_result: impl FnMut(Result<ItemResult<O>, PoolError>),
    ) -> Result<(), PoolError>
    where
        I: Payload,
        O: Payload + Send + 'static,
    {
        let kind = T::ITEM.ok_or(PoolError::NoItemTransition)?;
        check_type::<T>(kind, 0, I::FINGERPRINT, "input")?;
        check_type::<T>(kind, 1, O::FINGERPRINT, "output")?;
        let cap = self
            .options
            .in_flight
            .unwrap_or(2 * self.options.queue_per_worker * self.options.workers)
            .max(1);
        // The caller sleeps until this many items are finished (or the queue runs low).
        let batch = (cap / 2).max(1);
        let mut items = items.into_iter();
        let mut exhausted = false;
        let mut done: BTreeMap<u64, Result<ItemResult<O>, PoolError>> = BTreeMap::new();
        let mut next_emit = self.next_seq;
        let mut last_error = None;
        let outcome = loop {
            // Hand back what is finished in order first: that opens the window.
            while let Some(result) = done.remove(&next_emit) {
                on_result(result);
                next_emit += 1;
            }
            // Fill the queue up to the window.
            let mut queued = Vec::new();
            while !exhausted && self.next_seq - next_emit < cap as u64 {
                match items.next() {
                    Some((id, input)) => {
                        queued.push(PendingItem {
                            seq: self.next_seq,
                            id,
                            input: Arc::new(encode_to_vec(&input)),
                            attempt: 1,
                            begins: Arc::clone(&self.begins),
                            decode: decode_any::<O>,
                        });
                        self.next_seq += 1;
                    }
                    None => exhausted = true,
                }
            }
            self.shared.push_items(false, queued);
            if exhausted && next_emit == self.next_seq {
                break Ok(());
            }
            if self.interrupted.load(Ordering::SeqCst) {
                break Err(PoolError::Interrupted);
            }
            if self.live_workers() == 0 {
                break Err(PoolError::NoWorkers {
                    source: last_error.unwrap_or(ChannelError::Unusable {
                        reason: "every worker was retired".to_owned(),
                    }),
                });
            }
            let outstanding = (self.next_seq - next_emit) as usize - done.len();
            let wake = Wake {
                done: batch.min(outstanding).max(1),
                // While items remain, refill before the queue runs dry.
                low_water: if exhausted { 0 } else { self.live_workers() },
            };
            for report in self.shared.wait(wake) {
                match report {
                    Report::Done {
                        worker,
                        seq,
                        id,
                        synced,
                        result,
                    } => {
                        if seq < next_emit {
                            // An item of an interrupted run, abandoned.
                            continue;
                        }
                        self.slots[worker].synced = synced;
                        done.insert(seq, item_result(worker, id, result));
                    }
                    Report::Event(event) => self.events.push(event),
                    Report::Retired { worker, error } => {
                        // Its item, if it held one, is back in the queue.
                        self.retire(worker);
                        last_error = Some(error);
                    }
                    Report::Interrupt | Report::Started { .. } | Report::Ended { .. } => {}
                }
            }
        };
        if outcome.is_err() {
            // The items nobody took yet are abandoned with the run.
            self.shared.clear_items();
        }
        outcome
    }

    /// Ends a block: sends `transition` (marked `end`) with `input` to every worker that took
    /// part in it and returns their outputs, by worker. Call it after [`run`](Self::run) has
    /// returned, so that every item of the block is finished.
    ///
    /// # Errors
    /// [`PoolError::WrongRole`] / [`PoolError::WrongType`] for a transition or types that do
    /// not fit.
    pub fn end<I, O>(
        &mut self,
        transition: T,
        id: u64,
        input: &I,
    ) -> Result<Vec<EndOutput<O>>, PoolError>
    where
        I: Payload,
        O: Payload + Send + 'static,
    {
        let kind = transition.kind();
        let name = name_of::<T>(kind);
        if !T::END.get(kind as usize).copied().unwrap_or(false) {
            return Err(PoolError::WrongRole {
                transition: name,
                role: "end",
                hint: "only end-of-block transitions go to every worker that took part",
            });
        }
        check_type::<T>(kind, 0, I::FINGERPRINT, "input")?;
        check_type::<T>(kind, 1, O::FINGERPRINT, "output")?;
        let closes = closed_begin::<T>(kind);
        let current = closes.and_then(|begin_kind| {
            self.begins
                .iter()
                .find(|begin| begin.kind == begin_kind)
                .map(|begin| begin.serial)
        });
        let input = encode_to_vec(input);
        let mut asked = Vec::new();
        for (worker, slot) in self.slots.iter().enumerate() {
            if slot.retired {
                continue;
            }
            let took_part = match current {
                Some(serial) => slot.synced.iter().any(|begin| begin.serial == serial),
                None => !slot.synced.is_empty(),
            };
            if !took_part {
                continue;
            }
            let job = Job::End {
                kind,
                id,
                input: input.clone(),
                closes,
                decode: decode_any::<O>,
            };
            self.shared.send_to(worker, job);
            asked.push(worker);
        }
        if let Some(begin_kind) = closes {
            let begins: Vec<Arc<Begin>> = self
                .begins
                .iter()
                .filter(|begin| begin.kind < begin_kind)
                .cloned()
                .collect();
            self.begins = Arc::new(begins);
            for slot in &mut self.slots {
                let synced: Vec<Arc<Begin>> = slot
                    .synced
                    .iter()
                    .filter(|begin| begin.kind < begin_kind)
                    .cloned()
                    .collect();
                slot.synced = Arc::new(synced);
            }
        }
        let mut outputs = BTreeMap::new();
        while outputs.len() < asked.len() {
            for report in self.shared.wait(Wake::ANY) {
                match report {
                    Report::Ended { worker, result } => {
                        let output = result.and_then(|decoded| {
                            decoded.downcast::<O>().map(|output| *output).map_err(|_| {
                                ChannelError::ProtocolViolation {
                                    detail: "an end output of another type".to_owned(),
                                }
                            })
                        });
                        outputs.insert(worker, output);
                    }
                    Report::Event(event) => self.events.push(event),
                    Report::Retired { worker, error } => {
                        self.retire(worker);
                        if asked.contains(&worker) {
                            // A worker retired after its end reported that end's output.
                            outputs.entry(worker).or_insert(Err(error));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(outputs
            .into_iter()
            .map(|(worker, output)| EndOutput { worker, output })
            .collect())
    }

    /// Stops every worker and waits for them.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn retire(&mut self, worker: usize) {
        self.slots[worker].retired = true;
        self.events.push(PoolEvent {
            worker,
            item: None,
            kind: PoolEventKind::Retired,
        });
    }

    fn stop_all(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for worker in self.shared.stop() {
            // A worker in the middle of a transition would keep its thread until the
            // transition ends or times out: end it now.
            let slot = &self.slots[worker];
            let process = slot.process.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pidfd) = process.as_ref() {
                pidfd.kill();
            }
        }
        for slot in &mut self.slots {
            if let Some(thread) = slot.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A worker thread's report of an item, as the caller hands it back.
fn item_result<O: 'static>(
    worker: usize,
    id: u64,
    result: Result<Finished, PoolError>,
) -> Result<ItemResult<O>, PoolError> {
    result.and_then(|finished| {
        let Finished {
            output,
            keep,
            attempt,
            round_trip,
        } = finished;
        output
            .downcast::<O>()
            .map(|output| ItemResult {
                id,
                output: *output,
                keep,
                attempt,
                worker,
                round_trip,
            })
            .map_err(|_| PoolError::WorkerGone {
                worker,
                detail: "returned an output of another type".to_owned(),
            })
    })
}

impl<T: Transitions> Drop for Pool<T> {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn name_of<T: Transitions>(kind: u32) -> &'static str {
    T::NAMES.get(kind as usize).copied().unwrap_or("?")
}

/// Checks a type's fingerprint against the transition's declared one, where known.
fn check_type<T: Transitions>(
    kind: u32,
    which: usize,
    fingerprint: u64,
    what: &'static str,
) -> Result<(), PoolError> {
    match T::IO_FINGERPRINTS.get(kind as usize) {
        Some(declared) if declared[which] != fingerprint => Err(PoolError::WrongType {
            transition: name_of::<T>(kind),
            what,
        }),
        _ => Ok(()),
    }
}

/// The replay kind an end kind closes: ends close replays innermost first.
fn closed_begin<T: Transitions>(end_kind: u32) -> Option<u32> {
    let replays: Vec<u32> = (0..T::REPLAY.len() as u32)
        .filter(|&kind| T::REPLAY[kind as usize])
        .collect();
    let ends: Vec<u32> = (0..T::END.len() as u32)
        .filter(|&kind| T::END[kind as usize])
        .collect();
    let position = ends.iter().position(|&kind| kind == end_kind)?;
    replays.len().checked_sub(position + 1).map(|i| replays[i])
}
