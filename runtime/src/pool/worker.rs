//! The thread that drives one worker: it takes jobs from the [`Shared`] queues (its own
//! first, then the next item), establishes the block state an item needs before serving
//! it, retries, restarts, recycles, and posts a [`Report`] for everything the caller must
//! know.
//!
//! The worker itself is reached through [`Drive`] ("call / restart"): a process behind a
//! typed controller in a pool (`driver.rs`), a script in the unit tests, so that the
//! dispatching logic is tested without processes.
//!
//! # Attempts
//! Every transition a worker thread runs goes through [`WorkerThread::attempts`]: each
//! failed attempt is a [`PoolEvent`] naming the process that failed, a lost worker is
//! replaced before the next attempt (or before the caller learns of the last failure, so
//! that the slot is left with a working process), and the loop ends at the attempt limit.
//! Items get [`PoolOptions::max_attempts`]; ends one attempt (a replaced process has lost
//! the block's state: retrying would report a fresh process's empty summary).
//!
//! # Processes
//! Each new process (a first start, a restart, a recycling) starts the per-process item
//! count behind [`PoolOptions::recycle_after_items`] at zero. (Re)starts go through a
//! breaker: [`PoolOptions::max_start_failures`] failures in a row retire the worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::events::{PoolError, PoolEvent, PoolEventKind, RecycleReason};
use super::messages::{Begin, Begins, Finished, Job, PendingItem, Report};
use super::options::PoolOptions;
use super::shared::Shared;
use crate::channel::ChannelError;
use crate::sys::process::PidFd;
use crate::typed::Response;

/// One worker as its thread drives it: calls, and replacement of its process.
pub(crate) trait Drive {
    /// The item transition's output.
    type Output: Send + 'static;

    /// Runs the item transition `kind` on `input` as attempt `attempt`.
    fn call_item(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        attempt: u32,
    ) -> Result<Response<Self::Output>, ChannelError>;

    /// Runs a state-establishing transition as attempt `attempt`; a replacement process
    /// gets it back by replay.
    fn call_begin(&mut self, begin: &Begin, attempt: u32) -> Result<(), ChannelError>;

    /// Runs an end-of-block transition; its output, encoded.
    fn call_end(&mut self, kind: u32, id: u64, input: &[u8]) -> Result<Vec<u8>, ChannelError>;

    /// Forgets the begins of kind `kind` and later: their block ended, so a replacement
    /// process must not be put back into it.
    fn close_block(&mut self, kind: u32);

    /// Replaces a lost process, replaying the begins in force.
    fn restart(&mut self) -> Result<(), ChannelError>;

    /// Replaces a process that is still well, stopping it gracefully first.
    fn recycle(&mut self) -> Result<(), ChannelError>;

    /// The current process's pid, as the kernel gave it at spawn.
    fn pid(&self) -> Option<u32>;

    /// The current process, for killing it from another thread.
    fn process(&self) -> Option<Arc<PidFd>>;

    /// The current process's resident memory in bytes.
    fn resident_bytes(&self) -> Option<u64>;
}

/// Starts worker `index`'s first process.
pub(crate) type Start<D> = Arc<dyn Fn(usize) -> Result<D, ChannelError> + Send + Sync>;

/// What a worker thread shares with the pool.
pub(crate) struct WorkerContext<O> {
    pub(crate) worker: usize,
    /// Transition names by kind, for events.
    pub(crate) names: &'static [&'static str],
    pub(crate) item_kind: u32,
    pub(crate) options: PoolOptions,
    pub(crate) shared: Arc<Shared<O>>,
    /// The worker's current process, for the pool to kill it on drop.
    pub(crate) process: Arc<Mutex<Option<Arc<PidFd>>>>,
    pub(crate) stopping: Arc<AtomicBool>,
}

/// Why the thread stops serving.
enum Stop {
    /// The pool stops.
    Stopping,
    /// The worker was retired (already reported).
    Retired,
}

/// How [`WorkerThread::attempts`] ended.
enum Attempted<R> {
    Done {
        value: R,
        attempt: u32,
    },
    /// The last allowed attempt failed; the slot has a working process.
    Failed {
        error: Arc<ChannelError>,
        attempts: u32,
        /// Whether the last failure cost the process (replaced since).
        lost: bool,
    },
    /// A lost process could not be replaced: the worker must retire.
    Unstartable {
        start_error: Arc<ChannelError>,
        last: Arc<ChannelError>,
        attempts: u32,
    },
    Stopping,
}

/// How a process is replaced.
enum Replace {
    Restart,
    Recycle(RecycleReason),
}

/// The thread of one worker: owns its driver, serves jobs until the pool stops or the
/// worker is retired.
pub(crate) fn run_worker<D: Drive>(context: WorkerContext<D::Output>, start: Start<D>) {
    let worker = context.worker;
    let mut failures = 0;
    let driver = loop {
        match start(worker) {
            Ok(driver) => break driver,
            Err(error) => {
                failures += 1;
                let error = Arc::new(error);
                context.event(
                    None,
                    None,
                    PoolEventKind::StartFailed {
                        error: Arc::clone(&error),
                    },
                );
                if failures >= context.options.max_start_failures || context.stopping() {
                    context.shared.report(Report::Started {
                        worker,
                        result: Err(error),
                    });
                    return;
                }
                std::thread::sleep(context.options.restart_backoff);
            }
        }
    };
    let mut thread = WorkerThread {
        context,
        driver,
        served: Served::default(),
    };
    // Before the report: the pool has the process once it knows the worker started.
    thread.note_process();
    thread.context.shared.report(Report::Started {
        worker,
        result: Ok(()),
    });
    while let Some(job) = thread.context.shared.next_job(worker) {
        let served = match job {
            Job::Item(pending) => thread.serve_item(pending),
            Job::End {
                kind,
                id,
                input,
                closes,
            } => thread.serve_end(kind, id, &input, closes),
        };
        match served {
            Ok(()) => {}
            Err(Stop::Stopping) => break,
            Err(Stop::Retired) => return,
        }
    }
    thread.context.set_process(None);
}

/// What a worker thread knows of its worker's state.
#[derive(Default)]
struct Served {
    /// The begins the worker has run, in order (its driver replays them on restart).
    applied: Begins,
    /// For each of `applied`, the number of the process that first ran it on this slot.
    began_in: Vec<u32>,
    /// The current process's number: 1 for the first, one more for each replacement.
    process: u32,
    /// Items the current process served.
    items_of_process: u64,
}

impl Served {
    fn new_process(&mut self) {
        self.process += 1;
        self.items_of_process = 0;
    }

    /// How many processes served the block of the begin kind `closes` (of any begin if
    /// `None`) on this slot.
    fn processes_in_block(&self, closes: Option<u32>) -> u32 {
        let began = match closes {
            Some(kind) => self
                .applied
                .iter()
                .position(|begin| begin.kind == kind)
                .map(|at| self.began_in[at]),
            None => self.began_in.first().copied(),
        };
        began.map_or(1, |began| self.process - began + 1)
    }

    /// Forgets the begins of kind `kind` and later.
    fn close_block(&mut self, kind: u32) {
        let keep = self
            .applied
            .iter()
            .take_while(|begin| begin.kind < kind)
            .count();
        self.applied = Arc::new(self.applied[..keep].to_vec());
        self.began_in.truncate(keep);
    }
}

struct WorkerThread<D: Drive> {
    context: WorkerContext<D::Output>,
    driver: D,
    served: Served,
}

impl<O> WorkerContext<O> {
    fn event(&self, process: Option<u32>, item: Option<u64>, kind: PoolEventKind) {
        self.shared.report(Report::Event(PoolEvent {
            worker: self.worker,
            process,
            item,
            kind,
        }));
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn set_process(&self, process: Option<Arc<PidFd>>) {
        *self
            .process
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = process;
    }

    fn name(&self, kind: u32) -> &'static str {
        self.names.get(kind as usize).copied().unwrap_or("?")
    }
}

impl<D: Drive> WorkerThread<D> {
    fn note_process(&mut self) {
        self.served.new_process();
        self.context.set_process(self.driver.process());
    }

    /// Runs `call` as attempts `first`, `first + 1`, ... up to `max`: every failure is an
    /// event, and a lost process is replaced before the next attempt or the return.
    fn attempts<R>(
        &mut self,
        kind: u32,
        item: Option<u64>,
        first: u32,
        max: u32,
        mut call: impl FnMut(&mut D, u32) -> Result<R, ChannelError>,
    ) -> Attempted<R> {
        let mut attempt = first;
        loop {
            let error = match call(&mut self.driver, attempt) {
                Ok(value) => return Attempted::Done { value, attempt },
                Err(error) => error,
            };
            if self.context.stopping() {
                return Attempted::Stopping;
            }
            let lost = error.requires_restart();
            let error = Arc::new(error);
            let failed = PoolEventKind::Failed {
                transition: self.context.name(kind),
                attempt,
                error: Arc::clone(&error),
            };
            self.context.event(self.driver.pid(), item, failed);
            if lost {
                if let Err(start_error) = self.replace(item, Replace::Restart) {
                    return Attempted::Unstartable {
                        start_error,
                        last: error,
                        attempts: attempt,
                    };
                }
            }
            if attempt >= max {
                return Attempted::Failed {
                    error,
                    attempts: attempt,
                    lost,
                };
            }
            attempt += 1;
        }
    }

    /// Replaces the process, through the breaker; reports it once done.
    fn replace(&mut self, item: Option<u64>, how: Replace) -> Result<(), Arc<ChannelError>> {
        let mut failures = 0;
        let mut graceful = matches!(how, Replace::Recycle(_));
        self.context.set_process(None);
        loop {
            std::thread::sleep(self.context.options.restart_backoff);
            let replaced = if graceful {
                self.driver.recycle()
            } else {
                self.driver.restart()
            };
            // A failed start leaves no process to stop gracefully.
            graceful = false;
            match replaced {
                Ok(()) => {
                    self.note_process();
                    let kind = match how {
                        Replace::Restart => PoolEventKind::Restarted,
                        Replace::Recycle(reason) => PoolEventKind::Recycled { reason },
                    };
                    self.context.event(self.driver.pid(), item, kind);
                    return Ok(());
                }
                Err(error) => {
                    failures += 1;
                    let error = Arc::new(error);
                    let failed = PoolEventKind::StartFailed {
                        error: Arc::clone(&error),
                    };
                    self.context.event(None, item, failed);
                    if failures >= self.context.options.max_start_failures
                        || self.context.stopping()
                    {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// Reports this worker retired, handing `current` back to the queue for the others.
    fn retire(&mut self, error: Arc<ChannelError>, current: Option<PendingItem>) -> Stop {
        if let Some(item) = current {
            self.context.shared.give_back(item);
        }
        self.context.set_process(None);
        self.context.shared.report(Report::Retired {
            worker: self.context.worker,
            error,
        });
        Stop::Retired
    }

    /// Serves one item: establishes its block state, recycles the process if due, runs
    /// the item's attempts, and reports the result.
    fn serve_item(&mut self, pending: PendingItem) -> Result<(), Stop> {
        if let Err(stop) = self.establish(&pending.begins) {
            return match stop {
                Establish::Stopping => Err(Stop::Stopping),
                // The worker cannot establish the block's state: its item goes to another.
                Establish::Failed(error) => Err(self.retire(error, Some(pending))),
            };
        }
        // A leaky process is replaced before its next item, not after its last one.
        if let Some(reason) = self.recycle_reason() {
            if let Err(error) = self.replace(None, Replace::Recycle(reason)) {
                return Err(self.retire(error, Some(pending)));
            }
        }
        let kind = self.context.item_kind;
        let max = self.context.options.max_attempts;
        let mut round_trip = Duration::ZERO;
        let outcome = self.attempts(
            kind,
            Some(pending.id),
            pending.attempt,
            max,
            |driver, attempt| {
                let started = Instant::now();
                let result = driver.call_item(kind, pending.id, &pending.input, attempt);
                round_trip = started.elapsed();
                result
            },
        );
        let result = match outcome {
            Attempted::Done { value, attempt } => {
                self.served.items_of_process += 1;
                Ok(Finished {
                    output: value.output,
                    keep: value.keep,
                    attempt,
                    round_trip,
                })
            }
            Attempted::Failed {
                error,
                attempts,
                lost,
            } => {
                if !lost {
                    self.served.items_of_process += 1;
                }
                Err(PoolError::ItemFailed {
                    id: pending.id,
                    attempts,
                    source: error,
                })
            }
            Attempted::Stopping => return Err(Stop::Stopping),
            Attempted::Unstartable {
                start_error,
                last,
                attempts,
            } => {
                if attempts < max {
                    // Another worker tries the attempts left.
                    let retry = PendingItem {
                        attempt: attempts + 1,
                        ..pending
                    };
                    return Err(self.retire(start_error, Some(retry)));
                }
                let failed = PoolError::ItemFailed {
                    id: pending.id,
                    attempts,
                    source: last,
                };
                self.report_done(&pending, Err(failed));
                return Err(self.retire(start_error, None));
            }
        };
        self.report_done(&pending, result);
        Ok(())
    }

    /// Runs the begins of `begins` this worker has not run yet.
    fn establish(&mut self, begins: &Begins) -> Result<(), Establish> {
        if Arc::ptr_eq(&self.served.applied, begins) {
            return Ok(());
        }
        let common = self
            .served
            .applied
            .iter()
            .zip(begins.iter())
            .take_while(|(a, b)| a.serial == b.serial)
            .count();
        self.served.began_in.truncate(common);
        let max = self.context.options.max_attempts;
        for begin in &begins[common..] {
            match self.attempts(begin.kind, None, 1, max, |driver, attempt| {
                driver.call_begin(begin, attempt)
            }) {
                Attempted::Done { .. } => self.served.began_in.push(self.served.process),
                Attempted::Stopping => return Err(Establish::Stopping),
                Attempted::Failed { error, .. } => return Err(Establish::Failed(error)),
                Attempted::Unstartable { start_error, .. } => {
                    return Err(Establish::Failed(start_error))
                }
            }
        }
        self.served.applied = Arc::clone(begins);
        Ok(())
    }

    /// Runs an end-of-block transition and reports its output.
    fn serve_end(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        closes: Option<u32>,
    ) -> Result<(), Stop> {
        let processes = self.served.processes_in_block(closes);
        if let Some(begin_kind) = closes {
            // Before the call: a process replaced after a failed end gets only the outer
            // state back.
            self.driver.close_block(begin_kind);
            self.served.close_block(begin_kind);
        }
        let outcome = self.attempts(kind, None, 1, 1, |driver, _| {
            driver.call_end(kind, id, input)
        });
        let (result, retired) = match outcome {
            Attempted::Done { value, .. } => (Ok(value), None),
            Attempted::Failed { error, .. } => (Err(error), None),
            Attempted::Stopping => return Err(Stop::Stopping),
            Attempted::Unstartable {
                start_error, last, ..
            } => (Err(last), Some(start_error)),
        };
        self.context.shared.finish(
            self.context.worker,
            Report::Ended {
                worker: self.context.worker,
                processes,
                result,
            },
        );
        match retired {
            Some(error) => Err(self.retire(error, None)),
            None => Ok(()),
        }
    }

    fn report_done(&self, pending: &PendingItem, result: Result<Finished<D::Output>, PoolError>) {
        self.context.shared.finish(
            self.context.worker,
            Report::Done {
                worker: self.context.worker,
                seq: pending.seq,
                id: pending.id,
                synced: Arc::clone(&pending.begins),
                result,
            },
        );
    }

    /// Why the current process should be replaced before its next item, if it should.
    fn recycle_reason(&self) -> Option<RecycleReason> {
        let served = self.served.items_of_process;
        if served == 0 {
            return None;
        }
        if let Some(limit) = self.context.options.recycle_after_items {
            if served >= limit {
                return Some(RecycleReason::Items(served));
            }
        }
        let limit = self.context.options.recycle_above_rss?;
        let resident = self.driver.resident_bytes()?;
        (resident > limit).then_some(RecycleReason::Memory { resident, limit })
    }
}

/// Why a worker could not establish an item's block state.
enum Establish {
    Stopping,
    Failed(Arc<ChannelError>),
}
