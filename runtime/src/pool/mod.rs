//! A pool of workers speaking one [`Transitions`] protocol; its semantics are documented on
//! [`Pool`]. The files, by role:
//! - `options`: [`PoolOptions`];
//! - `events`: what the pool hands back ([`ItemResult`], [`EndOutput`], [`PoolEvent`]) and
//!   its error, [`PoolError`];
//! - `messages`: the jobs and reports between the caller's thread and the worker threads;
//! - `shared`: the queues and the mailbox those travel through, and who wakes whom;
//! - `dispatch`: the caller's side (begins, the in-order window, ends to participants);
//! - `worker`: a worker thread (attempts, restarts, recycling, the breaker), over
//!   the `Drive` trait;
//! - `driver`: `Drive` for a real worker process;
//! - `tests`: the dispatching logic with scripted workers, no processes.

mod dispatch;
mod driver;
mod events;
mod messages;
mod options;
mod shared;
#[cfg(test)]
mod tests;
mod worker;

use std::fmt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::codec::{decode_from, encode_to_vec, Payload};
#[cfg(doc)]
use crate::typed::Transitions;

use dispatch::{Dispatcher, Roles};
use driver::ProcessDriver;
use messages::Report;
use shared::Shared;

pub use crate::typed::ItemTransition;
pub use events::{EndOutput, ItemResult, PoolError, PoolEvent, PoolEventKind, RecycleReason};
pub use options::PoolOptions;

/// A pool of worker processes of the protocol `T`: items handed to whichever worker is
/// free, results back in submission order, lost workers restarted and their items retried,
/// leaky workers recycled.
///
/// Use it through the `<Enum>Pool` that `#[derive(Transitions)]` generates beside
/// `<Enum>Controller` when a transition is marked `item`: one method per role, with the
/// payload types the enum declares, so that a wrong type is a compile error.
///
/// # Blocks and items
/// The protocol's transitions have roles, marked on the enum:
/// - `#[transition(replay)]` transitions establish state (begin-run, begin-lumi). The pool
///   keeps the latest input of each (`pool.begin_lumi(id, &input)`) and sends what a worker
///   has not seen yet to that worker *before its next item*, so no item of a block reaches
///   a worker that has not seen the block's begin transition. A replaced worker gets them
///   back by replay. A begin of an outer block (a new run) drops the inner ones (the old
///   run's lumi).
/// - `#[transition(item)]` is the per-item transition (an event). `pool.event(items,
///   on_result)` hands items to free workers and gives their results to `on_result` in
///   submission order, with at most [`PoolOptions::in_flight`] items dispatched and not yet
///   handed back, so memory stays flat however many items come; it returns when every item
///   is finished.
/// - `#[transition(end)]` transitions end a block (end-lumi, end-run). `pool.end_lumi(id)`
///   goes to every worker that took part in the block and returns each one's
///   [`EndOutput`]. Ends close blocks innermost first: the first declared `end` closes the
///   last declared `replay`, the next one the one before, and so on.
///
/// # Threads
/// Each worker is driven by a thread of its own that owns its
/// [`TypedController`](crate::TypedController); the caller's thread only encodes inputs,
/// queues them and puts results back in order. A worker thread decodes its outputs itself,
/// so decoding runs in parallel too. Items wait in one queue that every worker thread takes
/// its next item from, so an item goes to whichever worker is free first and a slow item
/// delays no other; the worker threads post results to a mailbox and wake the caller once
/// per batch (half the window), not once per item.
///
/// # Failures
/// A failed item (the worker's error, a crash or death, a time-out after the extra waits
/// its [`TimeoutPolicy`](crate::TimeoutPolicy) grants) is retried on the same worker,
/// restarted first if it was lost, up to [`PoolOptions::max_attempts`] attempts; the worker
/// learns which attempt it serves from [`Context::attempt`](crate::Context::attempt).
/// **Every** failed attempt is a [`PoolEvent`] (the last one of an item that fails on every
/// attempt too) naming the worker process by its pid and the attempt; restarts, recycling
/// and start failures are events as well ([`take_events`](Self::take_events)). An item that
/// fails on every attempt is an `Err` in its place of the results. A worker that cannot be
/// (re)started [`PoolOptions::max_start_failures`] times in a row is retired (a breaker,
/// instead of restarting for ever) and its item goes to another worker.
///
/// # Replaced workers and their summaries
/// A worker process replaced during a block (after a crash, or recycled after
/// [`PoolOptions::recycle_after_items`] items of that process or above
/// [`PoolOptions::recycle_above_rss`]) takes its own totals with it: its end output counts
/// only what the last process served. [`EndOutput::processes`] says how many processes
/// served the block; summaries that must be exact are kept on the controller's side, from
/// the results. A recycled process is stopped as at shutdown: it leaves its serve loop (the
/// code after `serve_from_env` runs), and is killed only if it has not exited after
/// [`ProcessOptions::shutdown_grace`](crate::ProcessOptions::shutdown_grace).
///
/// # Processes
/// Workers run in process groups of their own, so a terminal's Ctrl-C reaches only the
/// controller, which stops the pool ([`PoolStopper::stop`] from another thread) and drops
/// it. Dropping the pool stops every worker, killing those busy in a transition at once.
/// Every kill goes through the process's pidfd, so a process reaped meanwhile (and its pid
/// given to another) is never mistaken for the worker.
///
/// # Examples
/// ```no_run
/// use std::process::Command;
///
/// use tandem::{Context, PoolOptions, Transitions, WorkerError};
///
/// #[derive(Transitions)]
/// enum Gen {
///     #[transition(input = u32, replay)]
///     BeginLumi,
///     #[transition(input = u64, output = f64, item)]
///     Event,
///     #[transition(end)]
///     EndLumi,
/// }
///
/// struct Worker;
///
/// impl GenWorker for Worker {
///     fn begin_lumi(&mut self, _: &mut Context, _lumi: u32) -> Result<(), WorkerError> {
///         Ok(())
///     }
///     fn event(&mut self, _: &mut Context, seed: u64) -> Result<f64, WorkerError> {
///         Ok(seed as f64 * 0.5)
///     }
///     fn end_lumi(&mut self, _: &mut Context) -> Result<(), WorkerError> {
///         Ok(())
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if Worker::serve_from_env(|()| Ok(Worker))? {
///         return Ok(());
///     }
///     let exe = std::env::current_exe()?;
///     let mut pool = GenPool::start(move || Command::new(&exe), &(), PoolOptions::new(2))?;
///     pool.begin_lumi(1, &1);
///     // The summary is kept here, on the controller's side: it survives worker restarts.
///     let mut events = 0;
///     pool.event((1..=100u64).map(|id| (id, id)), |result| {
///         let result = result.expect("every event succeeds");
///         events += 1;
///         println!("event {}: {}", result.id, result.output);
///     })?;
///     let ended = pool.end_lumi(1);
///     println!("{events} events, {} workers took part", ended.len());
///     for event in pool.take_events() {
///         eprintln!("{event}");
///     }
///     Ok(())
/// }
/// ```
pub struct Pool<T: ItemTransition> {
    dispatcher: Dispatcher<T::Output>,
    _transitions: std::marker::PhantomData<fn() -> T>,
}

impl<T: ItemTransition> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("transitions", &T::NAMES)
            .field("live_workers", &self.live_workers())
            .finish_non_exhaustive()
    }
}

impl<T: ItemTransition> Pool<T> {
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
        let roles = Roles {
            names: T::NAMES,
            replay: T::REPLAY,
            end: T::END,
            item: T::KIND,
        };
        let start = ProcessDriver::<T>::starter(Arc::new(command), encode_to_vec(setup), &options);
        Ok(Pool {
            dispatcher: Dispatcher::start(roles, options, start)?,
            _transitions: std::marker::PhantomData,
        })
    }

    /// Runs every item of `items` (`(id, input)` pairs) on the item transition and hands
    /// each result to `on_result` in submission order (see [`Pool`]). Returns when every
    /// item is finished. An item that failed on every attempt is an `Err` in its place.
    /// The generated pool's item method calls this one.
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] when every worker was retired, [`PoolError::Interrupted`]
    /// after [`PoolStopper::stop`].
    pub fn run(
        &mut self,
        items: impl IntoIterator<Item = (u64, T::Input)>,
        on_result: impl FnMut(Result<ItemResult<T::Output>, PoolError>),
    ) -> Result<(), PoolError> {
        self.dispatcher.run(items, encode_to_vec, on_result)
    }

    /// Records the replay transition `kind`'s input (see [`Pool`]): for generated code,
    /// which knows `kind` is a replay and `I` its input type.
    pub(crate) fn begin<I: Payload>(&mut self, kind: u32, id: u64, input: &I) {
        self.dispatcher.begin(kind, id, encode_to_vec(input));
    }

    /// Sends the end transition `kind` to every worker that took part in the block (see
    /// [`Pool`]): for generated code, which knows `kind` is an end and `I`, `O` its types.
    pub(crate) fn end<I: Payload, O: Payload>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
    ) -> Vec<EndOutput<O>> {
        let name = T::NAMES.get(kind as usize).copied();
        self.dispatcher
            .end(kind, id, encode_to_vec(input))
            .into_iter()
            .map(|end| EndOutput {
                worker: end.worker,
                processes: end.processes,
                output: end.output.and_then(|bytes| {
                    decode_from::<O>(&bytes).map_err(|source| {
                        Arc::new(crate::channel::ChannelError::Decode {
                            what: format!("output of `{}`", name.unwrap_or("?")),
                            source,
                        })
                    })
                }),
            })
            .collect()
    }

    /// The number of workers not retired.
    pub fn live_workers(&self) -> usize {
        self.dispatcher.live_workers()
    }

    /// The process id of each live worker's current process (by the pidfd the pool holds,
    /// so a pid is that of the worker still).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.dispatcher.worker_pids()
    }

    /// A handle that interrupts [`run`](Self::run) from another thread.
    pub fn stopper(&self) -> PoolStopper {
        PoolStopper {
            shared: Arc::clone(self.dispatcher.shared()) as Arc<dyn Interrupt>,
            interrupted: Arc::clone(self.dispatcher.interrupted()),
        }
    }

    /// How many times the caller's thread has gone to sleep waiting for the worker threads'
    /// reports, since the pool started: with results handed back in batches it stays well
    /// below one per item. Test-only.
    #[cfg(feature = "testing")]
    pub fn caller_sleeps(&self) -> u64 {
        self.dispatcher.shared().caller_sleeps()
    }

    /// Takes the events recorded since the last call: every failed attempt, restart,
    /// recycling, start failure and retirement.
    pub fn take_events(&mut self) -> Vec<PoolEvent> {
        self.dispatcher.take_events()
    }

    /// Stops every worker and waits for them.
    pub fn shutdown(mut self) {
        self.dispatcher.stop_all();
    }
}

/// Stops a [`Pool`]'s run from another thread (a Ctrl-C handler, a time limit): the run
/// hands back the results finished in order so far and returns
/// [`PoolError::Interrupted`].
#[derive(Clone)]
pub struct PoolStopper {
    shared: Arc<dyn Interrupt>,
    interrupted: Arc<AtomicBool>,
}

/// What a stopper needs of the pool's shared state, whatever its output type.
trait Interrupt: Send + Sync {
    fn interrupt(&self);
}

impl<O: Send> Interrupt for Shared<O> {
    fn interrupt(&self) {
        self.report(Report::Interrupt);
    }
}

impl fmt::Debug for PoolStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolStopper")
            .field("interrupted", &self.interrupted)
            .finish_non_exhaustive()
    }
}

impl PoolStopper {
    /// Interrupts the pool's current or next run.
    pub fn stop(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.shared.interrupt();
    }
}
