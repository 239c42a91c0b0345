//! The dispatching logic with scripted workers ([`Drive`] over a script, as tokio tests its
//! reaper with a mock queue): the in-order window, retries and their events, replay before
//! the next item, ends to the workers that took part only, recycling per process, and the
//! breaker. No process, no shared memory.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::dispatch::{Dispatcher, Roles};
use super::events::{ItemResult, PoolError, PoolEventKind};
use super::messages::Begin;
use super::options::PoolOptions;
use super::worker::{Drive, Start};
use crate::channel::{ChannelError, TransitionLabel};
use crate::codec::{decode_from, encode_to_vec};
use crate::sys::process::PidFd;
use crate::typed::Response;

const BEGIN_RUN: u32 = 0;
const BEGIN_BLOCK: u32 = 1;
const WORK: u32 = 2;
const END_BLOCK: u32 = 3;
const END_RUN: u32 = 4;

const ROLES: Roles = Roles {
    names: &["begin_run", "begin_block", "work", "end_block", "end_run"],
    replay: &[true, true, false, false, false],
    end: &[false, false, false, true, true],
    item: WORK,
};

/// What the scripted workers do.
#[derive(Default)]
struct Script {
    /// Item id → how many of its first attempts fail, and whether a failure loses the
    /// process (as a crash does) or is the worker's own error.
    failing: HashMap<u64, (u32, bool)>,
    /// Workers whose every start fails.
    unstartable: Vec<usize>,
    /// Item id → how long it takes.
    slow: HashMap<u64, Duration>,
}

/// An item's output: its input, the process that served it, and the run and block that
/// process was in.
type Output = (u64, u32, Option<u64>, Option<u64>);

struct Scripted {
    script: Arc<Script>,
    /// Numbers processes across all workers.
    processes: Arc<AtomicU32>,
    process: u32,
    run: Option<u64>,
    block: Option<u64>,
    /// The begins a replacement gets back, as a typed controller records them.
    recorded: Vec<(u32, u64)>,
    /// Begins and ends seen, by process: `(process, kind, id)`.
    log: Arc<Mutex<Vec<(u32, u32, u64)>>>,
}

impl Scripted {
    fn apply(&mut self, kind: u32, id: u64) {
        self.log.lock().unwrap().push((self.process, kind, id));
        match kind {
            BEGIN_RUN => (self.run, self.block) = (Some(id), None),
            _ => self.block = Some(id),
        }
    }

    fn replace(&mut self) {
        self.process = self.processes.fetch_add(1, Ordering::SeqCst);
        (self.run, self.block) = (None, None);
        for (kind, id) in self.recorded.clone() {
            self.apply(kind, id);
        }
    }
}

impl Drive for Scripted {
    type Output = Output;

    fn call_item(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        attempt: u32,
    ) -> Result<Response<Self::Output>, ChannelError> {
        if let Some(&pause) = self.script.slow.get(&id) {
            std::thread::sleep(pause);
        }
        if let Some(&(failures, lost)) = self.script.failing.get(&id) {
            if attempt <= failures {
                return Err(if lost {
                    ChannelError::WorkerDied {
                        pid: self.process,
                        reason: None,
                        transition: TransitionLabel {
                            kind: 1,
                            name: None,
                            id,
                        },
                        stderr_tail: None,
                    }
                } else {
                    ChannelError::WorkerFailed {
                        transition: TransitionLabel {
                            kind,
                            name: None,
                            id,
                        },
                        message: "scripted failure".to_owned(),
                    }
                });
            }
        }
        let input: u64 = decode_from(input).unwrap();
        Ok(Response {
            output: (input, self.process, self.run, self.block),
            keep: false,
        })
    }

    fn call_begin(&mut self, begin: &Begin, _attempt: u32) -> Result<(), ChannelError> {
        self.apply(begin.kind, begin.id);
        self.recorded.retain(|&(kind, _)| kind < begin.kind);
        self.recorded.push((begin.kind, begin.id));
        Ok(())
    }

    fn call_end(&mut self, kind: u32, id: u64, _input: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.log.lock().unwrap().push((self.process, kind, id));
        Ok(encode_to_vec(&self.process))
    }

    fn close_block(&mut self, kind: u32) {
        self.recorded.retain(|&(recorded, _)| recorded < kind);
    }

    fn restart(&mut self) -> Result<(), ChannelError> {
        self.replace();
        Ok(())
    }

    fn recycle(&mut self) -> Result<(), ChannelError> {
        self.replace();
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        Some(self.process)
    }

    fn process(&self) -> Option<Arc<PidFd>> {
        None
    }

    fn resident_bytes(&self) -> Option<u64> {
        None
    }
}

type Log = Arc<Mutex<Vec<(u32, u32, u64)>>>;

fn start(script: Script, options: PoolOptions) -> (Result<Dispatcher<Output>, PoolError>, Log) {
    let script = Arc::new(script);
    let processes = Arc::new(AtomicU32::new(1));
    let log: Log = Arc::default();
    let starter: Start<Scripted> = {
        let log = Arc::clone(&log);
        Arc::new(move |worker| {
            if script.unstartable.contains(&worker) {
                return Err(ChannelError::Spawn {
                    command: format!("worker {worker}"),
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            Ok(Scripted {
                script: Arc::clone(&script),
                process: processes.fetch_add(1, Ordering::SeqCst),
                processes: Arc::clone(&processes),
                run: None,
                block: None,
                recorded: Vec::new(),
                log: Arc::clone(&log),
            })
        })
    };
    (Dispatcher::start(ROLES, options, starter), log)
}

type Results = Vec<Result<ItemResult<Output>, PoolError>>;

fn run(dispatcher: &mut Dispatcher<Output>, ids: impl IntoIterator<Item = u64>) -> Results {
    let mut results = Vec::new();
    dispatcher
        .run(ids.into_iter().map(|id| (id, id)), encode_to_vec, |r| {
            results.push(r)
        })
        .unwrap();
    results
}

fn begin(dispatcher: &mut Dispatcher<Output>, kind: u32, id: u64) {
    dispatcher.begin(kind, id, encode_to_vec(&id));
}

#[test]
fn results_come_back_in_submission_order_within_the_window() {
    let script = Script {
        slow: (1..=60)
            .map(|id| (id, Duration::from_micros((id % 7) * 300)))
            .collect(),
        ..Script::default()
    };
    let (dispatcher, _) = start(script, PoolOptions::new(3).in_flight(6));
    let mut dispatcher = dispatcher.unwrap();
    let pulled = Cell::new(0u64);
    let mut handed_back = Vec::new();
    let items = (1..=60u64).map(|id| {
        pulled.set(pulled.get() + 1);
        (id, id)
    });
    dispatcher
        .run(items, encode_to_vec, |result| {
            let outstanding = pulled.get() - handed_back.len() as u64;
            assert!(
                outstanding <= 6,
                "{outstanding} items dispatched and not handed back"
            );
            handed_back.push(result.unwrap().id);
        })
        .unwrap();
    assert_eq!(handed_back, (1..=60).collect::<Vec<_>>());
}

#[test]
fn every_failed_attempt_is_an_event_and_a_lost_worker_is_restarted_before_the_next() {
    let script = Script {
        failing: HashMap::from([(3, (2, true)), (5, (u32::MAX, false))]),
        ..Script::default()
    };
    let (dispatcher, _) = start(script, PoolOptions::new(1).max_attempts(3));
    let mut dispatcher = dispatcher.unwrap();
    let results = run(&mut dispatcher, 1..=6);
    let item3 = results[2].as_ref().unwrap();
    assert_eq!(item3.attempt, 3);
    assert!(matches!(
        &results[4],
        Err(PoolError::ItemFailed {
            id: 5,
            attempts: 3,
            ..
        })
    ));
    let events = dispatcher.take_events();
    let mut failed: BTreeMap<u64, Vec<(u32, Option<u32>)>> = BTreeMap::new();
    let mut restarts = Vec::new();
    for event in &events {
        match &event.kind {
            PoolEventKind::Failed {
                attempt,
                transition,
                ..
            } => {
                assert_eq!(*transition, "work");
                failed
                    .entry(event.item.unwrap())
                    .or_default()
                    .push((*attempt, event.process));
            }
            PoolEventKind::Restarted => restarts.push(event.process),
            other => panic!("{other:?}"),
        }
    }
    // Item 3 lost processes 1 and 2 (each failure names its process); item 5 failed 3 times
    // on process 3, which stayed.
    assert_eq!(failed[&3], [(1, Some(1)), (2, Some(2))]);
    assert_eq!(failed[&5], [(1, Some(3)), (2, Some(3)), (3, Some(3))]);
    assert_eq!(restarts, [Some(2), Some(3)]);
    assert_eq!(item3.output.1, 3, "served by the second replacement");
}

#[test]
fn a_worker_gets_the_block_state_before_its_next_item_after_a_replacement_too() {
    let script = Script {
        failing: HashMap::from([(2, (1, true)), (12, (1, true))]),
        ..Script::default()
    };
    let (dispatcher, log) = start(script, PoolOptions::new(2));
    let mut dispatcher = dispatcher.unwrap();
    begin(&mut dispatcher, BEGIN_RUN, 7);
    let mut results = Vec::new();
    for block in 1..=2u64 {
        begin(&mut dispatcher, BEGIN_BLOCK, block);
        results.extend(run(&mut dispatcher, block * 10 - 9..=block * 10));
        dispatcher.end(END_BLOCK, block, Vec::new());
    }
    for result in &results {
        let item = result.as_ref().unwrap();
        let (_, _, run, block) = item.output;
        assert_eq!(
            (run, block),
            (Some(7), Some(item.id.div_ceil(10))),
            "{item:?}"
        );
    }
    // The replacements got the run and the block back before their next item.
    let log = log.lock().unwrap();
    for item in [2, 12] {
        let process = results[item - 1].as_ref().unwrap().output.1;
        let begins: Vec<(u32, u64)> = log
            .iter()
            .filter(|(p, kind, _)| *p == process && *kind <= BEGIN_BLOCK)
            .map(|&(_, kind, id)| (kind, id))
            .collect();
        assert_eq!(
            begins[..2],
            [(BEGIN_RUN, 7), (BEGIN_BLOCK, item as u64 / 10 + 1)]
        );
    }
}

#[test]
fn ends_go_to_the_workers_that_took_part_and_count_their_processes() {
    let script = Script {
        failing: HashMap::from([(21, (1, true))]),
        ..Script::default()
    };
    let (dispatcher, log) = start(script, PoolOptions::new(3));
    let mut dispatcher = dispatcher.unwrap();
    begin(&mut dispatcher, BEGIN_RUN, 1);
    begin(&mut dispatcher, BEGIN_BLOCK, 1);
    let served = run(&mut dispatcher, [11]);
    let ends = dispatcher.end(END_BLOCK, 1, Vec::new());
    assert_eq!(ends.len(), 1, "one worker took part: {ends:?}");
    assert_eq!(ends[0].worker, served[0].as_ref().unwrap().worker);
    assert!(ends[0].is_complete());
    begin(&mut dispatcher, BEGIN_BLOCK, 2);
    let served = run(&mut dispatcher, [21]);
    let ends = dispatcher.end(END_BLOCK, 2, Vec::new());
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].processes, 2, "item 21 cost its first process");
    assert!(!ends[0].is_complete());
    let last = served[0].as_ref().unwrap().output.1;
    assert_eq!(
        decode_from::<u32>(ends[0].output.as_ref().unwrap()).unwrap(),
        last
    );
    let run_ends = dispatcher.end(END_RUN, 1, Vec::new());
    let mut workers: Vec<usize> = run_ends.iter().map(|end| end.worker).collect();
    workers.sort();
    workers.dedup();
    assert_eq!(workers.len(), run_ends.len());
    assert!(
        run_ends.len() <= 2,
        "at most the workers of the two items: {run_ends:?}"
    );
    let ends_logged = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, kind, _)| *kind >= END_BLOCK)
        .count();
    assert_eq!(ends_logged, 2 + run_ends.len());
}

#[test]
fn recycling_counts_the_items_of_each_process() {
    let script = Script {
        failing: HashMap::from([(2, (1, true))]),
        ..Script::default()
    };
    let (dispatcher, _) = start(script, PoolOptions::new(1).recycle_after_items(3));
    let mut dispatcher = dispatcher.unwrap();
    let processes: Vec<u32> = run(&mut dispatcher, 1..=8)
        .iter()
        .map(|result| result.as_ref().unwrap().output.1)
        .collect();
    // Item 1 on process 1, lost at item 2; process 2 serves 2, 3, 4 and is recycled.
    assert_eq!(processes, [1, 2, 2, 2, 3, 3, 3, 4]);
    let recycled = dispatcher
        .take_events()
        .into_iter()
        .filter(|event| matches!(event.kind, PoolEventKind::Recycled { .. }))
        .count();
    assert_eq!(recycled, 2);
}

#[test]
fn the_breaker_retires_a_worker_that_cannot_start_and_the_others_serve() {
    let script = Script {
        unstartable: vec![1],
        ..Script::default()
    };
    let (dispatcher, _) = start(script, PoolOptions::new(2).max_start_failures(2));
    let mut dispatcher = dispatcher.unwrap();
    assert_eq!(dispatcher.live_workers(), 1);
    let results = run(&mut dispatcher, 1..=10);
    assert!(results.iter().all(|r| r.as_ref().unwrap().worker == 0));
    let kinds: Vec<String> = dispatcher
        .take_events()
        .iter()
        .map(|event| {
            format!("{} {:?}", event.worker, event.kind)
                .chars()
                .take(13)
                .collect()
        })
        .collect();
    assert_eq!(kinds, ["1 StartFailed", "1 StartFailed", "1 Retired"]);

    let script = Script {
        unstartable: vec![0, 1],
        ..Script::default()
    };
    let (dispatcher, _) = start(script, PoolOptions::new(2).max_start_failures(2));
    assert!(matches!(dispatcher, Err(PoolError::NoWorkers { .. })));
}
