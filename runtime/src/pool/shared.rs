//! What the caller's thread and the worker threads share: one queue of items that any free
//! worker thread takes the next one from, a queue of jobs per worker (ends), and the mailbox
//! of reports the caller drains in bulk.
//!
//! # Wake-ups
//! A thread woken through a futex costs its waker a system call and itself a context switch,
//! and on a machine with few CPUs it takes a CPU from a thread that is driving a worker. So
//! nobody is woken per item:
//! - a worker thread waits only when the item queue is empty, and the caller wakes one only
//!   when it adds items while some wait;
//! - the caller sleeps with a [`Wake`] rule and is woken when the mailbox satisfies it: a
//!   batch of finished items, the item queue running low while finished items can make room,
//!   or a report it must act on at once ([`Report::is_urgent`]). Events wait for the next
//!   wake-up.
//!
//! Every wait rechecks its condition under the lock after it was set, and every change that
//! can satisfy it is made under the same lock before the notification: a wake-up can be
//! spurious, never lost.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::messages::{Job, PendingItem, Report};

/// When the sleeping caller wants to be woken (besides an urgent report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wake {
    /// Once this many finished items wait in the mailbox (at least 1).
    pub(super) done: usize,
    /// Once fewer items than this wait in the queue while at least one finished item waits
    /// in the mailbox (handing it back may open the window for more items).
    pub(super) low_water: usize,
}

impl Wake {
    /// Woken by any report.
    pub(super) const ANY: Wake = Wake {
        done: 1,
        low_water: 0,
    };
}

struct State<O> {
    items: VecDeque<PendingItem>,
    /// Jobs for one worker each, served before items.
    directed: Vec<VecDeque<Job>>,
    /// Whether each worker's thread holds a job (set when it takes one, under the lock).
    busy: Vec<bool>,
    reports: VecDeque<Report<O>>,
    /// How many of `reports` are finished items, and how many are urgent.
    done: usize,
    urgent: usize,
    /// The caller's rule while it sleeps.
    wake: Option<Wake>,
    workers_waiting: usize,
    stopping: bool,
    /// How many times the caller went to sleep.
    caller_sleeps: u64,
}

impl<O> State<O> {
    fn caller_ready(&self, wake: Wake) -> bool {
        self.urgent > 0
            || self.done >= wake.done.max(1)
            || (self.done > 0 && self.items.len() < wake.low_water)
    }
}

/// The state shared by a pool's threads. See the module docs.
pub(super) struct Shared<O> {
    state: Mutex<State<O>>,
    caller: Condvar,
    workers: Condvar,
}

impl<O> Shared<O> {
    pub(super) fn new(workers: usize) -> Shared<O> {
        Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                directed: (0..workers).map(|_| VecDeque::new()).collect(),
                busy: vec![false; workers],
                reports: VecDeque::new(),
                done: 0,
                urgent: 0,
                wake: None,
                workers_waiting: 0,
                stopping: false,
                caller_sleeps: 0,
            }),
            caller: Condvar::new(),
            workers: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<O>> {
        // A panic while holding the lock leaves plain queues behind: still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- the caller's side ----

    /// Adds items at the back of the queue (retried ones at the front), waking waiting
    /// worker threads.
    pub(super) fn push_items(&self, retried: bool, items: impl IntoIterator<Item = PendingItem>) {
        let mut state = self.lock();
        let before = state.items.len();
        for item in items {
            if retried {
                state.items.push_front(item);
            } else {
                state.items.push_back(item);
            }
        }
        let added = state.items.len() - before;
        let waiting = state.workers_waiting;
        drop(state);
        if added > 0 && waiting > 0 {
            if added >= waiting {
                self.workers.notify_all();
            } else {
                (0..added).for_each(|_| self.workers.notify_one());
            }
        }
    }

    /// Queues `job` for `worker` alone.
    pub(super) fn send_to(&self, worker: usize, job: Job) {
        let mut state = self.lock();
        state.directed[worker].push_back(job);
        let waiting = state.workers_waiting;
        drop(state);
        if waiting > 0 {
            // Only one of the waiting threads can take it: wake them all.
            self.workers.notify_all();
        }
    }

    /// Removes the items nobody has taken yet (a run that ends early abandons them).
    pub(super) fn clear_items(&self) {
        self.lock().items.clear();
    }

    /// How many items wait in the queue.
    #[cfg(test)]
    fn queued_items(&self) -> usize {
        self.lock().items.len()
    }

    /// Takes every report, sleeping first until they satisfy `wake`.
    pub(super) fn wait(&self, wake: Wake) -> VecDeque<Report<O>> {
        let mut state = self.lock();
        if !state.caller_ready(wake) {
            state.caller_sleeps += 1;
            state.wake = Some(wake);
            while !state.caller_ready(wake) {
                state = self
                    .caller
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            state.wake = None;
        }
        state.done = 0;
        state.urgent = 0;
        std::mem::take(&mut state.reports)
    }

    /// How many times the caller went to sleep in [`wait`](Self::wait).
    #[cfg(any(test, feature = "testing"))]
    pub(super) fn caller_sleeps(&self) -> u64 {
        self.lock().caller_sleeps
    }

    /// Tells every worker thread to stop; returns the workers holding a job at that moment.
    /// A worker thread takes no job after this.
    pub(super) fn stop(&self) -> Vec<usize> {
        let mut state = self.lock();
        state.stopping = true;
        let busy = (0..state.busy.len()).filter(|&w| state.busy[w]).collect();
        drop(state);
        self.workers.notify_all();
        busy
    }

    // ---- the worker threads' side ----

    /// The next job for `worker`: its own jobs first, then the next item. Waits while there
    /// is none; `None` once the pool stops.
    pub(super) fn next_job(&self, worker: usize) -> Option<Job> {
        let mut state = self.lock();
        state.busy[worker] = false;
        loop {
            if state.stopping {
                return None;
            }
            if let Some(job) = state.directed[worker].pop_front() {
                state.busy[worker] = true;
                return Some(job);
            }
            if let Some(item) = state.items.pop_front() {
                state.busy[worker] = true;
                let wake_caller = state.wake.is_some_and(|wake| state.caller_ready(wake));
                drop(state);
                if wake_caller {
                    self.caller.notify_one();
                }
                return Some(Job::Item(item));
            }
            state.workers_waiting += 1;
            state = self
                .workers
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.workers_waiting -= 1;
        }
    }

    /// Posts a report to the caller, waking it if that satisfies its rule.
    pub(super) fn report(&self, report: Report<O>) {
        self.post(None, report);
    }

    /// Posts the report that finishes the job `worker` holds, and marks it idle in the
    /// same step: a caller that acts on the report (a shutdown after the last result) does
    /// not find the worker still busy, and kill it in the middle of nothing.
    pub(super) fn finish(&self, worker: usize, report: Report<O>) {
        self.post(Some(worker), report);
    }

    fn post(&self, finished: Option<usize>, report: Report<O>) {
        let mut state = self.lock();
        if let Some(worker) = finished {
            state.busy[worker] = false;
        }
        if report.is_done() {
            state.done += 1;
        } else if report.is_urgent() {
            state.urgent += 1;
        }
        state.reports.push_back(report);
        let wake_caller = state.wake.is_some_and(|wake| state.caller_ready(wake));
        drop(state);
        if wake_caller {
            self.caller.notify_one();
        }
    }

    /// Puts an item a retiring worker cannot serve back at the front of the queue, for the
    /// others.
    pub(super) fn give_back(&self, item: PendingItem) {
        self.push_items(true, Some(item));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::pool::events::{PoolEvent, PoolEventKind};
    use crate::pool::messages::Finished;

    fn item(seq: u64) -> PendingItem {
        PendingItem {
            seq,
            id: seq,
            input: Arc::new(Vec::new()),
            attempt: 1,
            begins: Arc::new(Vec::new()),
        }
    }

    fn done(seq: u64) -> Report<u64> {
        Report::Done {
            worker: 0,
            seq,
            id: seq,
            synced: Arc::new(Vec::new()),
            result: Ok(Finished {
                output: seq,
                keep: false,
                attempt: 1,
                round_trip: Duration::ZERO,
            }),
        }
    }

    fn event() -> Report<u64> {
        Report::Event(PoolEvent {
            worker: 0,
            process: None,
            item: None,
            kind: PoolEventKind::Restarted,
        })
    }

    fn ready(shared: &Shared<u64>, wake: Wake) -> bool {
        shared.lock().caller_ready(wake)
    }

    #[test]
    fn finished_items_wake_the_caller_in_batches() {
        let shared = Shared::<u64>::new(1);
        let wake = Wake {
            done: 3,
            low_water: 0,
        };
        shared.report(done(0));
        shared.report(event());
        shared.report(done(1));
        assert!(!ready(&shared, wake), "two of three finished, an event");
        shared.report(done(2));
        assert!(ready(&shared, wake));
        assert_eq!(shared.wait(wake).len(), 4, "the event comes with the batch");
        assert_eq!(shared.caller_sleeps(), 0, "it never slept");
    }

    #[test]
    fn an_urgent_report_wakes_the_caller_alone() {
        let shared = Shared::<u64>::new(1);
        let wake = Wake {
            done: 8,
            low_water: 0,
        };
        shared.report(Report::Interrupt);
        assert!(ready(&shared, wake));
        assert_eq!(shared.wait(wake).len(), 1);
        assert!(!ready(&shared, wake), "the mailbox was drained");
    }

    #[test]
    fn a_low_queue_wakes_the_caller_once_an_item_is_finished() {
        let shared = Shared::<u64>::new(2);
        shared.push_items(false, (0..3).map(item));
        let wake = Wake {
            done: 4,
            low_water: 2,
        };
        assert!(matches!(shared.next_job(0), Some(Job::Item(i)) if i.seq == 0));
        shared.report(done(0));
        assert!(!ready(&shared, wake), "two items still queued");
        assert!(matches!(shared.next_job(1), Some(Job::Item(i)) if i.seq == 1));
        assert!(ready(&shared, wake), "one item left and one finished");
        assert!(
            !ready(&Shared::<u64>::new(1), wake),
            "an empty queue alone is no reason"
        );
    }

    #[test]
    fn own_jobs_come_before_items_and_retried_items_first() {
        let shared = Shared::<u64>::new(2);
        shared.push_items(false, (0..2).map(item));
        shared.give_back(item(9));
        let end = Job::End {
            kind: 0,
            id: 0,
            input: Arc::new(Vec::new()),
            closes: None,
        };
        shared.send_to(1, end);
        assert!(matches!(shared.next_job(1), Some(Job::End { .. })));
        assert!(matches!(shared.next_job(1), Some(Job::Item(i)) if i.seq == 9));
        assert!(matches!(shared.next_job(0), Some(Job::Item(i)) if i.seq == 0));
        assert_eq!(shared.queued_items(), 1);
        assert_eq!(shared.stop(), vec![0, 1], "both hold a job");
        assert!(shared.next_job(0).is_none(), "no job after a stop");
    }

    #[test]
    fn a_sleeping_caller_is_woken_by_the_report_that_completes_its_batch() {
        let shared = Arc::new(Shared::<u64>::new(1));
        let wake = Wake {
            done: 2,
            low_water: 0,
        };
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                // Until the caller sleeps: its wake-up must not be lost.
                while shared.lock().wake.is_none() {
                    std::thread::yield_now();
                }
                shared.report(done(0));
                shared.report(done(1));
            })
        };
        assert_eq!(shared.wait(wake).len(), 2);
        assert_eq!(shared.caller_sleeps(), 1);
        worker.join().unwrap();
    }

    #[test]
    fn a_waiting_worker_thread_is_woken_by_an_item() {
        let shared = Arc::new(Shared::<u64>::new(1));
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || match shared.next_job(0) {
                Some(Job::Item(item)) => item.seq,
                _ => u64::MAX,
            })
        };
        while shared.lock().workers_waiting == 0 {
            std::thread::yield_now();
        }
        shared.push_items(false, Some(item(5)));
        assert_eq!(worker.join().unwrap(), 5);
    }
}
