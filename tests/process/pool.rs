//! The worker pool through real processes: this test binary re-runs itself as the workers
//! (the ignored `worker_entry` test).

use crate::pool_job;
use crate::support;

use std::time::Duration;

use pool_job::{
    options, process_group, scratch_dir, serve_if_worker, start, start_with, JobController,
    JobPool, Out, Setup,
};
use tandem::{
    pool::{ItemResult, PoolEventKind, RecycleReason},
    typed::SetupRetry,
    Options, PoolError, PoolOptions,
};

#[test]
#[ignore = "run as a worker by the other tests"]
fn worker_entry() {
    serve_if_worker();
}

fn expected(run: u64, block: u64, inputs: &[u64]) -> Vec<u64> {
    inputs
        .iter()
        .map(|input| input * 1_000_000 + run * 1000 + block)
        .collect()
}

/// Runs two blocks of `per_block` items in run 7 and returns every result, in order. With
/// `exact_totals`, the workers' own end-of-block counts must add up to the items (true only
/// when no worker was replaced: a worker's totals die with it).
fn two_blocks(
    pool: &mut JobPool,
    per_block: u64,
    exact_totals: bool,
) -> Vec<Result<ItemResult<Out>, PoolError>> {
    let mut results = Vec::new();
    pool.begin_run(7, &7);
    for block in 1..=2u64 {
        pool.begin_block(block, &block);
        let first = (block - 1) * per_block + 1;
        let items = (first..first + per_block).map(|id| (id, id * 3));
        pool.work(items, |result| results.push(result)).unwrap();
        let summaries = pool.end_block(block);
        let total: u64 = summaries
            .iter()
            .map(|end| end.output.as_ref().unwrap().items)
            .sum();
        if exact_totals {
            assert_eq!(total, per_block, "block {block}: {summaries:?}");
        } else {
            assert!(total <= per_block, "block {block}: {summaries:?}");
        }
        assert!(summaries
            .iter()
            .all(|end| end.output.as_ref().unwrap().block == block));
    }
    results
}

#[test]
fn results_come_back_in_submission_order_with_1_2_and_4_workers() {
    for workers in [1, 2, 4] {
        let mut pool = start(workers, &Setup::default());
        assert_eq!(pool.pool().live_workers(), workers);
        let results = two_blocks(&mut pool, 40, true);
        let ids: Vec<u64> = results.iter().map(|r| r.as_ref().unwrap().id).collect();
        assert_eq!(ids, (1..=80).collect::<Vec<_>>(), "{workers} workers");
        let values: Vec<u64> = results
            .iter()
            .map(|r| r.as_ref().unwrap().output.value)
            .collect();
        let mut want = expected(7, 1, &(1..=40).map(|id| id * 3).collect::<Vec<_>>());
        want.extend(expected(
            7,
            2,
            &(41..=80).map(|id| id * 3).collect::<Vec<_>>(),
        ));
        assert_eq!(values, want, "{workers} workers");
        let runs = pool.end_run(7);
        let total: u64 = runs.iter().map(|end| *end.output.as_ref().unwrap()).sum();
        assert_eq!(total, 80);
        // Workers run in process groups of their own: a terminal's Ctrl-C spares them.
        let own_group = process_group();
        assert!(results
            .iter()
            .all(|r| r.as_ref().unwrap().output.pgid != own_group));
        assert!(pool.take_events().is_empty());
        pool.shutdown();
    }
}

/// The caller's thread is not woken per item: the worker threads post results to a mailbox
/// and wake it once half the window is finished. With one worker, items finish in order, so
/// every sleep ends with at least half the window (4 of the default 8) handed back.
#[test]
fn the_caller_sleeps_once_per_batch_of_results_not_once_per_item() {
    let mut pool = start(1, &Setup::default());
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let items = 2_000u64;
    let before = pool.pool().caller_sleeps();
    let mut handed_back = 0u64;
    pool.work(
        (1..=items).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| {
            result.unwrap();
            handed_back += 1;
        },
    )
    .unwrap();
    assert_eq!(handed_back, items);
    let sleeps = pool.pool().caller_sleeps() - before;
    // One sleep per 4 items, and up to 2 more while the last window drains.
    assert!(sleeps <= items / 4 + 2, "{sleeps} sleeps for {items} items");
    pool.shutdown();
}

/// Items wait in one queue: while one worker is stuck in a slow item, the other takes every
/// item queued after it (with a queue per worker, some would wait behind the slow one). The
/// items fit in the window (16 for 2 workers), so all are queued at once.
#[test]
fn a_slow_item_holds_back_no_item_queued_after_it() {
    let setup = Setup {
        slow: vec![(1, 1_000)],
        ..Setup::default()
    };
    let mut pool = start(2, &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut served_by = Vec::new();
    pool.work(
        (1..=12u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| {
            served_by.push(result.unwrap().worker);
        },
    )
    .unwrap();
    let slow = served_by[0];
    assert!(
        served_by[1..].iter().all(|&worker| worker != slow),
        "{served_by:?}"
    );
    pool.shutdown();
}

#[test]
fn a_worker_killed_mid_item_is_replaced_and_the_result_is_the_undisturbed_one() {
    let mut undisturbed = start(2, &Setup::default());
    let want = two_blocks(&mut undisturbed, 20, true);
    drop(undisturbed);

    let setup = Setup {
        killed_on_first_attempt: vec![5, 33],
        ..Setup::default()
    };
    let mut pool = start(2, &setup);
    let got = two_blocks(&mut pool, 20, false);
    let values = |results: &[Result<ItemResult<Out>, PoolError>]| -> Vec<u64> {
        results
            .iter()
            .map(|r| r.as_ref().unwrap().output.value)
            .collect()
    };
    assert_eq!(values(&got), values(&want));
    for killed in [5u64, 33] {
        let result = got[killed as usize - 1].as_ref().unwrap();
        assert_eq!(result.attempt, 2, "item {killed}");
        assert_eq!(result.output.attempt, 2, "the worker saw its attempt");
    }
    let events = pool.take_events();
    let failures = events
        .iter()
        .filter(|e| matches!(e.kind, PoolEventKind::Failed { .. }))
        .count();
    let restarts = events
        .iter()
        .filter(|e| matches!(e.kind, PoolEventKind::Restarted))
        .count();
    assert_eq!((failures, restarts), (2, 2), "{events:#?}");
    assert!(events.iter().all(|e| matches!(e.item, Some(5 | 33))));
}

#[test]
fn a_deterministic_failure_exhausts_its_retries_and_is_an_error_in_its_place() {
    let setup = Setup {
        always_failing: vec![3],
        always_crashing: vec![6],
        ..Setup::default()
    };
    let mut pool = start_with(options(2).max_attempts(2), &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut results = Vec::new();
    pool.work(
        (1..=8u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| results.push(result),
    )
    .unwrap();
    assert_eq!(results.len(), 8);
    for (index, result) in results.iter().enumerate() {
        let id = index as u64 + 1;
        match (id, result) {
            (
                3,
                Err(PoolError::ItemFailed {
                    id: 3,
                    attempts: 2,
                    source,
                }),
            ) => {
                assert!(!source.requires_restart(), "{source}");
                assert!(
                    source.to_string().contains("item 3 always fails"),
                    "{source}"
                );
            }
            (
                6,
                Err(PoolError::ItemFailed {
                    id: 6,
                    attempts: 2,
                    source,
                }),
            ) => {
                assert!(source.is_worker_lost(), "{source}");
            }
            (3 | 6, other) => panic!("item {id}: {other:?}"),
            (_, Ok(item)) => assert_eq!(item.output.value, id * 1_000_000 + 1001),
            (_, Err(error)) => panic!("item {id}: {error}"),
        }
    }
    // Item 6 crashed its worker twice: two restarts, the last one leaving a working worker.
    let restarts = pool
        .take_events()
        .iter()
        .filter(|e| matches!(e.kind, PoolEventKind::Restarted))
        .count();
    assert_eq!(restarts, 2);
    assert_eq!(pool.pool().live_workers(), 2);
}

#[test]
fn workers_are_recycled_after_n_items_with_their_state_replayed() {
    let mut pool = start_with(options(1).recycle_after_items(7), &Setup::default());
    let results = two_blocks(&mut pool, 10, false);
    let pids: std::collections::BTreeSet<u32> = results
        .iter()
        .map(|r| r.as_ref().unwrap().output.pid)
        .collect();
    // 20 items at 7 per process: three processes, each with the right block state.
    assert_eq!(pids.len(), 3, "{pids:?}");
    let recycled = pool
        .take_events()
        .iter()
        .filter(|e| matches!(e.kind, PoolEventKind::Recycled { .. }))
        .count();
    assert_eq!(recycled, 2);
}

#[test]
fn a_worker_above_its_memory_limit_is_recycled_with_its_state_replayed() {
    // Every process has more than one byte resident: each worker that served an item is
    // replaced before its next one.
    let mut pool = start_with(options(1).recycle_above_rss(1), &Setup::default());
    pool.begin_run(3, &3);
    pool.begin_block(4, &4);
    let mut results = Vec::new();
    pool.work(
        (1..=4u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| results.push(result.unwrap()),
    )
    .unwrap();
    let values: Vec<u64> = results.iter().map(|r| r.output.value).collect();
    assert_eq!(values, expected(3, 4, &[1, 2, 3, 4]));
    let pids: std::collections::BTreeSet<u32> = results.iter().map(|r| r.output.pid).collect();
    assert_eq!(pids.len(), 4, "{pids:?}");
    let events = pool.take_events();
    let reasons: Vec<RecycleReason> = events
        .iter()
        .filter_map(|e| match e.kind {
            PoolEventKind::Recycled { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{events:#?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, PoolEventKind::Restarted)));
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r, RecycleReason::Memory { limit: 1, .. })),
        "{reasons:?}"
    );
}

#[test]
fn a_worker_that_keeps_failing_at_setup_trips_the_breaker() {
    let setup = Setup {
        refuse_setup: true,
        ..Setup::default()
    };
    let error = JobPool::start(
        || support::role_command("pool::worker_entry", "pool"),
        &setup,
        options(2).max_start_failures(2),
    )
    .unwrap_err();
    match error {
        PoolError::NoWorkers { source } => {
            assert!(source.to_string().contains("refuses to start"), "{source}")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_stopped_and_dropped_busy_pool_leaves_no_process() {
    let setup = Setup {
        slow: (2..=9).map(|id| (id, 20_000)).collect(),
        ..Setup::default()
    };
    let mut pool = start(2, &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let stopper = pool.stopper();
    let workers = pool.pool().worker_pids();
    let watcher = std::thread::spawn(move || {
        // Both workers are asleep in 20-second items by then.
        std::thread::sleep(Duration::from_millis(500));
        stopper.stop();
    });
    let mut finished = Vec::new();
    let result = pool.work(
        (1..=9u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| finished.push(result.unwrap().id),
    );
    assert!(matches!(result, Err(PoolError::Interrupted)), "{result:?}");
    assert_eq!(finished, [1], "only the quick first item finished");
    watcher.join().unwrap();
    assert_eq!(workers.len(), 2, "{workers:?}");
    drop(pool);
    for pid in workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} outlived its pool"
        );
    }
}

/// Every failed attempt is an event, the last one of an item that fails on every attempt
/// included: N items failing k times each give exactly N·k failure events, attempts 1..=k.
#[test]
fn every_failed_attempt_is_an_event_the_last_one_included() {
    let max_attempts = 3;
    let setup = Setup {
        // Items 1..=4 fail on all 3 attempts, items 5..=8 on their first 2.
        failing_attempts: (1..=4)
            .map(|id| (id, max_attempts))
            .chain((5..=8).map(|id| (id, 2)))
            .collect(),
        ..Setup::default()
    };
    let mut pool = start_with(options(2).max_attempts(max_attempts), &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut results = Vec::new();
    pool.work(
        (1..=10u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| results.push(result),
    )
    .unwrap();
    assert!(results[..4].iter().all(Result::is_err), "{results:?}");
    assert!(results[4..].iter().all(Result::is_ok), "{results:?}");
    let events = pool.take_events();
    let mut failed: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
    for event in &events {
        if let PoolEventKind::Failed {
            attempt,
            transition,
            ..
        } = event.kind
        {
            assert_eq!(transition, "work");
            // The worker's own error: the process stays, and the event names it.
            assert!(event.process.is_some_and(|pid| pid > 0), "{event}");
            failed.entry(event.item.unwrap()).or_default().push(attempt);
        }
    }
    let want: std::collections::BTreeMap<u64, Vec<u32>> = (1..=4)
        .map(|id| (id, vec![1, 2, 3]))
        .chain((5..=8).map(|id| (id, vec![1, 2])))
        .collect();
    assert_eq!(failed, want, "{events:#?}");
    assert_eq!(failed.values().map(Vec::len).sum::<usize>(), 4 * 3 + 4 * 2);
}

/// Recycling counts the items of each process: a worker restarted after a crash serves its
/// full `recycle_after_items` before it is recycled.
#[test]
fn recycling_counts_the_items_of_each_process() {
    let setup = Setup {
        killed_on_first_attempt: vec![3],
        ..Setup::default()
    };
    let mut pool = start_with(options(1).recycle_after_items(5), &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut pids = Vec::new();
    pool.work(
        (1..=12u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| pids.push(result.unwrap().output.pid),
    )
    .unwrap();
    // Items 1-2 on the first process (killed by item 3), 3-7 on the restarted one, which
    // is then recycled: 8-12 on the third.
    let runs: Vec<(u32, usize)> = pids
        .chunk_by(|a, b| a == b)
        .map(|c| (c[0], c.len()))
        .collect();
    let lengths: Vec<usize> = runs.iter().map(|&(_, len)| len).collect();
    assert_eq!(lengths, [2, 5, 5], "{pids:?}");
}

/// A recycled worker is stopped like one at shutdown: it leaves its serve loop and runs the
/// code after `serve_from_env` (a legacy library's exit-time flush), not SIGKILLed.
#[test]
fn a_recycled_worker_is_stopped_gracefully() {
    let dir = scratch_dir("recycled");
    let setup = Setup {
        exit_marker_dir: dir.to_string_lossy().into_owned(),
        ..Setup::default()
    };
    let mut pool = start_with(options(1).recycle_after_items(3), &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut pids = Vec::new();
    pool.work(
        (1..=9u64).map(|id| (id, id)),
        |result: Result<ItemResult<Out>, _>| pids.push(result.unwrap().output.pid),
    )
    .unwrap();
    pids.dedup();
    assert_eq!(pids.len(), 3, "{pids:?}");
    for recycled in &pids[..2] {
        assert!(
            dir.join(recycled.to_string()).exists(),
            "recycled worker {recycled} did not return from serve_from_env"
        );
    }
    pool.shutdown();
    assert!(
        dir.join(pids[2].to_string()).exists(),
        "the last worker at shutdown"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Typed setup with a time-out and a retry: a worker slower to set up than the setup
/// time-out is waited for when the retry says so (pool and generated controller alike),
/// and fails with a setup time-out otherwise.
#[test]
fn a_slow_setup_is_waited_for_when_the_setup_retry_says_so() {
    let setup = Setup {
        slow_setup_ms: 700,
        ..Setup::default()
    };
    let channel = Options::default()
        .setup_timeout(Duration::from_millis(250))
        .transition_timeout(Duration::from_secs(5));
    let patient = PoolOptions::new(1)
        .process(channel.clone())
        .setup_retry(SetupRetry::wait_longer(8));
    let mut pool = start_with(patient, &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let mut served = 0;
    pool.work([(1, 1)], |result| served += result.map(|_| 1).unwrap())
        .unwrap();
    assert_eq!(served, 1);
    pool.shutdown();

    let impatient = PoolOptions::new(1)
        .process(channel.clone())
        .max_start_failures(1);
    match JobPool::start(
        || support::role_command("pool::worker_entry", "pool"),
        &setup,
        impatient,
    ) {
        Err(PoolError::NoWorkers { source }) => assert!(source.is_timeout(), "{source}"),
        other => panic!("{other:?}"),
    }

    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let retry = {
        let asked = std::sync::Arc::clone(&asked);
        SetupRetry::ask(move |slow| {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(
                slow.retries + 1,
                asked.load(std::sync::atomic::Ordering::SeqCst)
            );
            slow.retries < 8
        })
    };
    let controller = JobController::spawn_with_setup_retry(
        support::role_command("pool::worker_entry", "pool"),
        0,
        channel,
        &setup,
        retry,
    )
    .unwrap();
    assert!(
        asked.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "asked at each time-out"
    );
    controller.shutdown();
}
