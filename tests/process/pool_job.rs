//! The protocol, worker and helpers of the pool tests (`pool.rs`, and the binary of its own
//! `tests/pool_pid_reuse.rs`): each test binary re-runs itself as the workers through its
//! ignored `pool::worker_entry` test, which calls [`serve_if_worker`].
#![allow(dead_code)]

use std::time::Duration;

use super::support::{role, role_command};
use tandem::{Context, Options, Payload, PoolOptions, Transitions, WorkerError};

#[derive(Payload, Debug, Clone, Default)]
pub struct Setup {
    /// Item ids whose first attempt kills the worker (SIGKILL, no handler runs).
    pub killed_on_first_attempt: Vec<u64>,
    /// Item ids that fail on every attempt with the worker's error.
    pub always_failing: Vec<u64>,
    /// Item ids whose every attempt crashes the worker (abort).
    pub always_crashing: Vec<u64>,
    /// Item ids that sleep this long (ms) on every attempt.
    pub slow: Vec<(u64, u64)>,
    /// Refuse setup (for the breaker).
    pub refuse_setup: bool,
    /// `(id, n)`: item `id` fails with the worker's error on its first `n` attempts.
    pub failing_attempts: Vec<(u64, u32)>,
    /// A directory where each worker process leaves a file named after its pid once it
    /// returns from `serve_from_env` (it was stopped, not killed).
    pub exit_marker_dir: String,
    /// A directory: the first worker process started leaves a file there; every later one
    /// (a restarted worker) sees it and takes 1.5 s to set up.
    pub slow_restart_dir: String,
    /// Every worker process takes this long (ms) to set up.
    pub slow_setup_ms: u64,
}

#[derive(Payload, Debug, Clone, PartialEq)]
pub struct Out {
    /// A pure function of the item and the worker's replayed state.
    pub value: u64,
    pub attempt: u32,
    pub pid: u32,
    pub pgid: u32,
}

#[derive(Payload, Debug, Clone, PartialEq)]
pub struct BlockSummary {
    pub block: u64,
    pub items: u64,
}

#[derive(Transitions)]
#[transitions(setup = Setup)]
pub enum Job {
    #[transition(input = u64, replay)]
    BeginRun,
    #[transition(input = u64, replay)]
    BeginBlock,
    #[transition(input = u64, output = Out, item)]
    Work,
    #[transition(output = BlockSummary, end)]
    EndBlock,
    #[transition(output = u64, end)]
    EndRun,
}

pub struct Worker {
    pub setup: Setup,
    pub run: Option<u64>,
    pub block: Option<u64>,
    pub items_in_block: u64,
    pub items_in_run: u64,
}

impl JobWorker for Worker {
    fn begin_run(&mut self, _: &mut Context, run: u64) -> Result<(), WorkerError> {
        self.run = Some(run);
        self.block = None;
        self.items_in_run = 0;
        Ok(())
    }

    fn begin_block(&mut self, _: &mut Context, block: u64) -> Result<(), WorkerError> {
        self.block = Some(block);
        self.items_in_block = 0;
        Ok(())
    }

    fn work(&mut self, context: &mut Context, input: u64) -> Result<Out, WorkerError> {
        let id = context.id();
        let (Some(run), Some(block)) = (self.run, self.block) else {
            return Err("an item arrived before its run and block".into());
        };
        if self.setup.killed_on_first_attempt.contains(&id) && context.attempt() == 1 {
            // Die without any handler running, and without a child of ours left behind in
            // our process group (which would keep our pid from being reused).
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            std::thread::sleep(Duration::from_secs(5));
        }
        if let Some(&(_, n)) = self.setup.failing_attempts.iter().find(|(f, _)| *f == id) {
            if context.attempt() <= n {
                return Err(format!("item {id} fails on attempt {}", context.attempt()).into());
            }
        }
        if self.setup.always_failing.contains(&id) {
            return Err(format!("item {id} always fails").into());
        }
        if self.setup.always_crashing.contains(&id) {
            std::process::abort();
        }
        if let Some((_, ms)) = self.setup.slow.iter().find(|(slow, _)| *slow == id) {
            std::thread::sleep(Duration::from_millis(*ms));
        }
        self.items_in_block += 1;
        self.items_in_run += 1;
        Ok(Out {
            value: input * 1_000_000 + run * 1000 + block,
            attempt: context.attempt(),
            pid: std::process::id(),
            pgid: process_group(),
        })
    }

    fn end_block(&mut self, _: &mut Context) -> Result<BlockSummary, WorkerError> {
        Ok(BlockSummary {
            block: self.block.ok_or("end of a block that did not begin")?,
            items: self.items_in_block,
        })
    }

    fn end_run(&mut self, _: &mut Context) -> Result<u64, WorkerError> {
        Ok(self.items_in_run)
    }
}

pub fn process_group() -> u32 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().nth(2)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A fresh, empty directory for one test's files.
pub fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-pool-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn options(workers: usize) -> PoolOptions {
    PoolOptions::new(workers).process(
        Options::default()
            .setup_timeout(Duration::from_secs(5))
            .transition_timeout(Duration::from_secs(5)),
    )
}

pub fn start(workers: usize, setup: &Setup) -> JobPool {
    start_with(options(workers), setup)
}

pub fn start_with(options: PoolOptions, setup: &Setup) -> JobPool {
    JobPool::start(
        || role_command("pool::worker_entry", "pool"),
        setup,
        options,
    )
    .unwrap()
}

/// Serves as a pool worker if this test binary was re-run as one (its ignored
/// `worker_entry` test calls this).
pub fn serve_if_worker() {
    if role().is_some() {
        let mut marker_dir = String::new();
        let served = Worker::serve_from_env(|setup: Setup| {
            if setup.refuse_setup {
                return Err("this worker refuses to start".into());
            }
            std::thread::sleep(Duration::from_millis(setup.slow_setup_ms));
            if !setup.slow_restart_dir.is_empty() {
                let first = std::path::Path::new(&setup.slow_restart_dir).join("first");
                if first.exists() {
                    std::thread::sleep(Duration::from_millis(1_500));
                } else {
                    std::fs::write(first, b"")?;
                }
            }
            marker_dir = setup.exit_marker_dir.clone();
            Ok(Worker {
                setup,
                run: None,
                block: None,
                items_in_block: 0,
                items_in_run: 0,
            })
        });
        if let Err(error) = served {
            // The breaker test's workers refuse setup on purpose.
            eprintln!("pool worker: {error}");
            std::process::exit(2);
        }
        if !marker_dir.is_empty() {
            // Code after `serve_from_env` runs only in a worker that was stopped, not killed.
            let marker = std::path::Path::new(&marker_dir).join(std::process::id().to_string());
            std::fs::write(marker, b"").unwrap();
        }
    }
}
