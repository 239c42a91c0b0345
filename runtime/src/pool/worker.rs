//! The thread that drives one worker: it owns the worker's [`TypedController`], takes jobs
//! from the [`Shared`] queues (its own first, then the next item), establishes the block
//! state an item needs before serving it, retries, restarts, recycles, and posts a
//! [`Report`] for everything the caller must know.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::channel::ChannelError;
use crate::codec::{decode_shared, DecodeError};
use crate::sys::process::PidFd;
use crate::sys::shared_bytes::SharedBytes;
use crate::typed::{Transitions, TypedController};

use super::shared::Shared;
use super::{Begin, Finished, Job, PendingItem, PoolError, PoolEvent, PoolEventKind, PoolOptions};
use super::{Begins, Report};

pub(super) struct WorkerContext {
    pub worker: usize,
    pub command: Arc<dyn Fn() -> Command + Send + Sync>,
    pub setup: Arc<Vec<u8>>,
    pub options: PoolOptions,
    pub shared: Arc<Shared>,
    pub process: Arc<Mutex<Option<Arc<PidFd>>>>,
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl WorkerContext {
    fn event(&self, item: Option<u64>, kind: PoolEventKind) {
        self.shared.report(Report::Event(PoolEvent {
            worker: self.worker,
            item,
            kind,
        }));
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn note_process<T: Transitions>(&self, controller: &TypedController<T>) {
        *self.process.lock().unwrap_or_else(|p| p.into_inner()) = controller.process();
    }

    /// Starts the worker, trying up to the breaker's limit.
    fn start<T: Transitions>(&self) -> Result<TypedController<T>, ChannelError> {
        let options = self.options.channel.clone().own_process_group(true);
        let mut failures = 0;
        loop {
            let result = TypedController::<T>::spawn_encoded(
                (self.command)(),
                self.worker as u32,
                options.clone(),
                self.setup.to_vec(),
            );
            match result {
                Ok(mut controller) => {
                    controller.set_timeout_policy(self.options.timeout_policy);
                    self.note_process(&controller);
                    return Ok(controller);
                }
                Err(error) => {
                    failures += 1;
                    if failures >= self.options.max_start_failures || self.stopping() {
                        return Err(error);
                    }
                    self.event(None, PoolEventKind::StartFailed { error });
                    std::thread::sleep(self.options.restart_backoff);
                }
            }
        }
    }

    /// Restarts the worker (replaying its state), trying up to the breaker's limit, and
    /// reports `done` once it worked.
    fn restart<T: Transitions>(
        &self,
        controller: &mut TypedController<T>,
        item: Option<u64>,
        done: PoolEventKind,
    ) -> Result<(), ChannelError> {
        let mut failures = 0;
        let mut graceful = matches!(done, PoolEventKind::Recycled { .. });
        loop {
            std::thread::sleep(self.options.restart_backoff);
            let replaced = if graceful {
                controller.recycle()
            } else {
                controller.restart()
            };
            // A failed start leaves no worker to stop gracefully.
            graceful = false;
            match replaced {
                Ok(()) => {
                    self.note_process(controller);
                    self.event(item, done);
                    return Ok(());
                }
                Err(error) => {
                    failures += 1;
                    if failures >= self.options.max_start_failures || self.stopping() {
                        return Err(error);
                    }
                    self.event(item, PoolEventKind::StartFailed { error });
                }
            }
        }
    }

    fn note_process_gone(&self) {
        *self.process.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Reports this worker retired, handing `current` back to the queue for the others.
    fn retire(&self, error: ChannelError, current: Option<PendingItem>) {
        if let Some(item) = current {
            self.shared.give_back(item);
        }
        self.note_process_gone();
        self.shared.report(Report::Retired {
            worker: self.worker,
            error,
        });
    }
}

/// Why the thread stops serving.
enum Stop {
    /// The pool stops.
    Stopping,
    /// The worker was retired (already reported).
    Retired,
}

/// The thread of one worker: owns its controller, serves jobs until the pool stops or the
/// worker is retired.
pub(super) fn run_worker<T: Transitions>(context: WorkerContext) {
    let worker = context.worker;
    let mut controller = match context.start::<T>() {
        Ok(controller) => {
            context.shared.report(Report::Started {
                worker,
                result: Ok(()),
            });
            controller
        }
        Err(error) => {
            context.shared.report(Report::Started {
                worker,
                result: Err(error),
            });
            return;
        }
    };
    let mut state = Served {
        applied: Arc::new(Vec::new()),
        since_start: 0,
    };
    while let Some(job) = context.shared.next_job(worker) {
        let served = match job {
            Job::Item(pending) => serve_item(&context, &mut controller, &mut state, pending),
            Job::End {
                kind,
                id,
                input,
                closes,
                decode,
            } => {
                let result = controller
                    .call_encoded(kind, id, &input, decode)
                    .map(|response| response.output);
                if let Some(begin_kind) = closes {
                    controller.close_block(begin_kind);
                    let outer = state
                        .applied
                        .iter()
                        .filter(|begin| begin.kind < begin_kind)
                        .cloned()
                        .collect();
                    state.applied = Arc::new(outer);
                }
                if let Err(error) = &result {
                    if error.requires_restart() && !context.stopping() {
                        // The block is over; a fresh worker only needs the outer state back.
                        if let Err(error) =
                            context.restart(&mut controller, None, PoolEventKind::Restarted)
                        {
                            context.shared.report(Report::Ended { worker, result });
                            context.retire(error, None);
                            return;
                        }
                    }
                }
                context.shared.report(Report::Ended { worker, result });
                Ok(())
            }
        };
        match served {
            Ok(()) => {}
            Err(Stop::Stopping) => break,
            Err(Stop::Retired) => return,
        }
    }
    context.note_process_gone();
    drop(controller);
}

/// What a worker thread knows of its worker.
struct Served {
    /// The begins the worker has run, in order (its controller replays them on restart).
    applied: Begins,
    /// Items served since the process started.
    since_start: u64,
}

/// Serves one item: establishes its block state, recycles the worker if due, calls with
/// retries, and reports the result.
fn serve_item<T: Transitions>(
    context: &WorkerContext,
    controller: &mut TypedController<T>,
    state: &mut Served,
    pending: PendingItem,
) -> Result<(), Stop> {
    if !Arc::ptr_eq(&state.applied, &pending.begins) {
        let common = state
            .applied
            .iter()
            .zip(pending.begins.iter())
            .take_while(|(a, b)| a.serial == b.serial)
            .count();
        let established = pending.begins[common..]
            .iter()
            .try_for_each(|begin| establish(context, controller, begin));
        state.applied = Arc::clone(&pending.begins);
        if let Err(error) = established {
            if context.stopping() {
                return Err(Stop::Stopping);
            }
            // The worker cannot establish the block's state: retire it, and let its item
            // go to another worker.
            context.retire(error, Some(pending));
            return Err(Stop::Retired);
        }
    }
    // A leaky worker is replaced before its next item, not after its last one.
    if let Some(reason) = recycle_reason(context, controller, state.since_start) {
        let recycled = PoolEventKind::Recycled { reason };
        if let Err(error) = context.restart(controller, None, recycled) {
            context.retire(error, Some(pending));
            return Err(Stop::Retired);
        }
        state.since_start = 0;
    }
    let kind = T::ITEM.unwrap_or(0);
    let mut attempt = pending.attempt;
    let result = loop {
        controller.set_attempt(attempt);
        let started = Instant::now();
        match controller.call_encoded(kind, pending.id, &pending.input, pending.decode) {
            Ok(response) => {
                break Ok(Finished {
                    output: response.output,
                    keep: response.keep,
                    attempt,
                    round_trip: started.elapsed(),
                })
            }
            Err(error) => {
                if context.stopping() {
                    return Err(Stop::Stopping);
                }
                let needs_restart = error.requires_restart();
                if attempt >= context.options.max_attempts {
                    let error = Arc::new(error);
                    let failed = PoolError::ItemFailed {
                        id: pending.id,
                        attempts: attempt,
                        source: Arc::clone(&error),
                    };
                    // The last failure is an event too, like every other.
                    context.event(Some(pending.id), PoolEventKind::Failed { attempt, error });
                    if needs_restart {
                        state.since_start = 0;
                        if let Err(error) =
                            context.restart(controller, Some(pending.id), PoolEventKind::Restarted)
                        {
                            // The item has its answer; the worker is gone.
                            report_done(context, &pending, Err(failed));
                            context.retire(error, None);
                            return Err(Stop::Retired);
                        }
                    }
                    break Err(failed);
                }
                let description = PoolEventKind::Failed {
                    attempt,
                    error: Arc::new(error),
                };
                context.event(Some(pending.id), description);
                if needs_restart {
                    state.since_start = 0;
                    if let Err(error) =
                        context.restart(controller, Some(pending.id), PoolEventKind::Restarted)
                    {
                        let retry = PendingItem {
                            attempt: attempt + 1,
                            ..pending
                        };
                        context.retire(error, Some(retry));
                        return Err(Stop::Retired);
                    }
                }
                attempt += 1;
            }
        }
    };
    report_done(context, &pending, result);
    state.since_start += 1;
    Ok(())
}

fn report_done(
    context: &WorkerContext,
    pending: &PendingItem,
    result: Result<Finished, PoolError>,
) {
    context.shared.report(Report::Done {
        worker: context.worker,
        seq: pending.seq,
        id: pending.id,
        synced: Arc::clone(&pending.begins),
        result,
    });
}

/// Why a worker should be recycled after an item, if it should.
fn recycle_reason<T: Transitions>(
    context: &WorkerContext,
    controller: &mut TypedController<T>,
    served: u64,
) -> Option<String> {
    if served == 0 {
        return None;
    }
    if let Some(limit) = context.options.recycle_after_items {
        if served >= limit {
            return Some(format!("served {served} items"));
        }
    }
    let limit = context.options.recycle_above_rss?;
    let rss = controller.process()?.resident_bytes()?;
    (rss > limit).then(|| format!("resident memory {rss} bytes over {limit}"))
}

fn decode_unit(bytes: SharedBytes<'_>) -> Result<(), DecodeError> {
    decode_shared::<()>(bytes)
}

/// Runs a state-establishing transition up to the attempt limit, restarting a lost worker
/// between attempts; the last error if every attempt failed.
fn establish<T: Transitions>(
    context: &WorkerContext,
    controller: &mut TypedController<T>,
    begin: &Begin,
) -> Result<(), ChannelError> {
    let mut attempt = 1;
    loop {
        controller.set_attempt(attempt);
        let error = match controller.call_encoded(begin.kind, begin.id, &begin.input, decode_unit) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if context.stopping() {
            return Err(error);
        }
        let needs_restart = error.requires_restart();
        if attempt >= context.options.max_attempts {
            // The last failure is an event too; the error goes to the retirement report.
            let reason = format!("attempt {attempt} failed: {error}");
            context.event(
                None,
                PoolEventKind::Failed {
                    attempt,
                    error: Arc::new(error),
                },
            );
            return Err(ChannelError::Unusable { reason });
        }
        context.event(
            None,
            PoolEventKind::Failed {
                attempt,
                error: Arc::new(error),
            },
        );
        if needs_restart {
            context.restart(controller, None, PoolEventKind::Restarted)?;
        }
        attempt += 1;
    }
}
