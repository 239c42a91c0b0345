//! The caller's side of a pool: [`Dispatcher`] keeps the begins in force, fills the item
//! queue up to the window and hands results back in submission order, sends ends to the
//! workers that took part in the block, and follows the workers' reports (events,
//! retirements). It knows the protocol's roles as data ([`Roles`]) and its workers only
//! through the threads it started with a [`Start`], so that its logic is tested with
//! scripted workers (`tests.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::events::{EndOutput, ItemResult, PoolError, PoolEvent, PoolEventKind};
use super::messages::{Begin, Begins, Job, PendingItem, Report};
use super::options::PoolOptions;
use super::shared::{Shared, Wake};
use super::worker::{run_worker, Drive, Start, WorkerContext};
use crate::channel::{ChannelError, UnusableReason};
use crate::sys::process::PidFd;

/// The roles of a protocol's transitions, by kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Roles {
    pub(crate) names: &'static [&'static str],
    pub(crate) replay: &'static [bool],
    pub(crate) end: &'static [bool],
    pub(crate) item: u32,
}

impl Roles {
    /// The replay kind an end kind closes: ends close replays innermost first.
    fn closed_begin(&self, end_kind: u32) -> Option<u32> {
        let kinds = |roles: &[bool]| -> Vec<u32> {
            (0..roles.len() as u32)
                .filter(|&kind| roles[kind as usize])
                .collect()
        };
        let replays = kinds(self.replay);
        let position = kinds(self.end).iter().position(|&kind| kind == end_kind)?;
        replays.len().checked_sub(position + 1).map(|i| replays[i])
    }
}

struct Slot {
    thread: Option<JoinHandle<()>>,
    retired: bool,
    /// The begins this worker had run for its last item, in order.
    synced: Begins,
    /// The worker's current process (none while it is being replaced), for stopping it at
    /// once on drop: a pidfd, so that a kill after it was reaped reaches no other process.
    process: Arc<Mutex<Option<Arc<PidFd>>>>,
}

impl Slot {
    fn process(&self) -> Option<Arc<PidFd>> {
        self.process
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// See the module docs.
pub(crate) struct Dispatcher<O> {
    roles: Roles,
    slots: Vec<Slot>,
    shared: Arc<Shared<O>>,
    options: PoolOptions,
    begins: Begins,
    next_serial: u64,
    next_seq: u64,
    events: Vec<PoolEvent>,
    stopping: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
}

impl<O: Send + 'static> Dispatcher<O> {
    /// Starts `options.workers` worker threads, each starting its worker with `start`;
    /// returns once every worker is started or retired by its breaker.
    pub(crate) fn start<D>(
        roles: Roles,
        options: PoolOptions,
        start: Start<D>,
    ) -> Result<Self, PoolError>
    where
        D: Drive<Output = O> + 'static,
    {
        let shared = Arc::new(Shared::new(options.workers));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut dispatcher = Dispatcher {
            roles,
            slots: Vec::with_capacity(options.workers),
            shared: Arc::clone(&shared),
            options: options.clone(),
            begins: Arc::new(Vec::new()),
            next_serial: 0,
            next_seq: 0,
            events: Vec::new(),
            stopping: Arc::clone(&stopping),
            interrupted: Arc::new(AtomicBool::new(false)),
        };
        for worker in 0..options.workers {
            let process = Arc::new(Mutex::new(None));
            let context = WorkerContext {
                worker,
                names: roles.names,
                item_kind: roles.item,
                options: options.clone(),
                shared: Arc::clone(&shared),
                process: Arc::clone(&process),
                stopping: Arc::clone(&stopping),
            };
            let start = Arc::clone(&start);
            // On an error, dropping the dispatcher stops the threads already started.
            let thread = std::thread::Builder::new()
                .name(format!("tandem-pool-{worker}"))
                .spawn(move || run_worker(context, start))
                .map_err(|error| PoolError::WorkerGone {
                    worker,
                    detail: format!("could not start its thread: {error}"),
                })?;
            dispatcher.slots.push(Slot {
                thread: Some(thread),
                retired: false,
                synced: Arc::new(Vec::new()),
                process,
            });
        }
        let mut waiting = dispatcher.slots.len();
        let mut last_error = None;
        while waiting > 0 {
            for report in dispatcher.shared.wait(Wake::ANY) {
                match report {
                    Report::Started { worker, result } => {
                        waiting -= 1;
                        if let Err(error) = result {
                            dispatcher.retire(worker);
                            last_error = Some(error);
                        }
                    }
                    Report::Event(event) => dispatcher.events.push(event),
                    _ => {}
                }
            }
        }
        if dispatcher.live_workers() == 0 {
            return Err(no_workers(last_error));
        }
        Ok(dispatcher)
    }

    /// The number of workers not retired.
    pub(crate) fn live_workers(&self) -> usize {
        self.slots.iter().filter(|slot| !slot.retired).count()
    }

    /// The pid of each live worker's current process.
    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter(|slot| !slot.retired)
            .filter_map(|slot| slot.process()?.pid())
            .collect()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<O>> {
        &self.shared
    }

    pub(crate) fn interrupted(&self) -> &Arc<AtomicBool> {
        &self.interrupted
    }

    pub(crate) fn take_events(&mut self) -> Vec<PoolEvent> {
        std::mem::take(&mut self.events)
    }

    /// Establishes state for the items that follow: the replay transition `kind` with
    /// `input` reaches every worker before its next item. A later call of the same kind
    /// replaces this one; a call of an earlier kind (a new run) drops the later kinds'
    /// inputs (the old run's lumi) too.
    pub(crate) fn begin(&mut self, kind: u32, id: u64, input: Vec<u8>) {
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
            input,
        }));
        self.begins = Arc::new(begins);
    }

    /// Runs every item on the item transition, `encode` encoding their inputs, and hands
    /// each result to `on_result` in submission order, keeping at most the window of items
    /// dispatched and not yet handed back. Returns when every item is finished.
    pub(crate) fn run<I>(
        &mut self,
        items: impl IntoIterator<Item = (u64, I)>,
        encode: impl Fn(&I) -> Vec<u8>,
        mut on_result: impl FnMut(Result<ItemResult<O>, PoolError>),
    ) -> Result<(), PoolError> {
        let window = self.options.window();
        // The caller sleeps until this many items are finished (or the queue runs low).
        let batch = (window / 2).max(1);
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
            while !exhausted && self.next_seq - next_emit < window as u64 {
                match items.next() {
                    Some((id, input)) => {
                        queued.push(PendingItem {
                            seq: self.next_seq,
                            id,
                            input: Arc::new(encode(&input)),
                            attempt: 1,
                            begins: Arc::clone(&self.begins),
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
                break Err(no_workers(last_error.take()));
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
                        let result = result.map(|finished| ItemResult {
                            id,
                            output: finished.output,
                            keep: finished.keep,
                            attempt: finished.attempt,
                            worker,
                            round_trip: finished.round_trip,
                        });
                        done.insert(seq, result);
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

    /// Ends a block: sends the end transition `kind` with `input` to every worker that
    /// took part in it and returns their encoded outputs, by worker.
    pub(crate) fn end(&mut self, kind: u32, id: u64, input: Vec<u8>) -> Vec<EndOutput<Vec<u8>>> {
        let closes = self.roles.closed_begin(kind);
        let current = closes.and_then(|begin_kind| {
            self.begins
                .iter()
                .find(|begin| begin.kind == begin_kind)
                .map(|begin| begin.serial)
        });
        let input = Arc::new(input);
        let mut asked = Vec::new();
        for (worker, slot) in self.slots.iter().enumerate() {
            let took_part = match current {
                Some(serial) => slot.synced.iter().any(|begin| begin.serial == serial),
                None => !slot.synced.is_empty(),
            };
            if slot.retired || !took_part {
                continue;
            }
            let job = Job::End {
                kind,
                id,
                input: Arc::clone(&input),
                closes,
            };
            self.shared.send_to(worker, job);
            asked.push(worker);
        }
        if let Some(begin_kind) = closes {
            let outer = |begins: &Begins| -> Begins {
                Arc::new(
                    begins
                        .iter()
                        .filter(|begin| begin.kind < begin_kind)
                        .cloned()
                        .collect(),
                )
            };
            self.begins = outer(&self.begins);
            for slot in &mut self.slots {
                slot.synced = outer(&slot.synced);
            }
        }
        let mut outputs = BTreeMap::new();
        while outputs.len() < asked.len() {
            for report in self.shared.wait(Wake::ANY) {
                match report {
                    Report::Ended {
                        worker,
                        processes,
                        result,
                    } => {
                        outputs.insert(worker, (processes, result));
                    }
                    Report::Event(event) => self.events.push(event),
                    Report::Retired { worker, error } => {
                        self.retire(worker);
                        if asked.contains(&worker) {
                            // A worker retired after its end reported that end's output.
                            outputs.entry(worker).or_insert((1, Err(error)));
                        }
                    }
                    _ => {}
                }
            }
        }
        outputs
            .into_iter()
            .map(|(worker, (processes, output))| EndOutput {
                worker,
                processes,
                output,
            })
            .collect()
    }

    fn retire(&mut self, worker: usize) {
        self.slots[worker].retired = true;
        self.events.push(PoolEvent {
            worker,
            process: None,
            item: None,
            kind: PoolEventKind::Retired,
        });
    }
}

impl<O> Dispatcher<O> {
    /// Stops every worker and waits for their threads.
    pub(crate) fn stop_all(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for worker in self.shared.stop() {
            // A worker in the middle of a transition would keep its thread until the
            // transition ends or times out: end it now, through its pidfd (the process may
            // have been reaped and its pid reused since; the pidfd still names it alone).
            if let Some(process) = self.slots[worker].process() {
                process.kill();
            }
        }
        for slot in &mut self.slots {
            if let Some(thread) = slot.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl<O> Drop for Dispatcher<O> {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// No worker left: the last start failure, or a channel that no worker set up.
fn no_workers(last_error: Option<Arc<ChannelError>>) -> PoolError {
    PoolError::NoWorkers {
        source: last_error.unwrap_or_else(|| {
            Arc::new(ChannelError::Unusable {
                reason: UnusableReason::NotSetUp,
            })
        }),
    }
}
