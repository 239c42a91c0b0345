//! Drives the job's worker processes through the library's pool, generated from the
//! protocol (`GeneratorPool`, see [`tandem::Pool`]): one worker per stream,
//! events to whichever worker is free, results back in event-number order, a worker that
//! crashes, dies or hangs restarted (its begin-run and begin-lumi replayed) and the event
//! retried, with the attempt number in the worker's `Context`.
//!
//! The pool sends each section's begin-lumi to a worker before its first event of the
//! section, and end-lumi, after the section's last event, to every worker that took part. A
//! worker's counts die with its process, so its end-of-block counts equal what the
//! controller received only when no process was replaced during the block
//! (`EndOutput::processes`); the job's own summaries are the controller's. A worker lost
//! during an end-of-block transition therefore costs nothing: the pool restarts it, its
//! counts are recorded as lost ([`LostEnd`]) and the job goes on with the controller's counts.
//!
//! # Workers killed from outside, and the start-failure breaker
//! A worker killed while it serves (by `kill -9`, the OOM killer, a batch system) is a
//! failed attempt at what it was doing: the pool restarts it and retries the event, up to
//! [`DriverConfig::max_attempts`] attempts of the same event. A worker killed while it
//! *starts* is a failed start, like any other: the kernel does not say who sent a signal,
//! and a worker killed faster than it starts cannot work. Failed starts are retried at once
//! (no back-off); the breaker retires a worker after [`MAX_START_FAILURES`] failed starts
//! in a row. So a worker is retired only when kills come faster than it starts (a start
//! takes a few milliseconds: it is retired if killed every millisecond, never if killed
//! every 50 ms), and the job fails only when every worker is retired.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem::{
    crash::CrashBacktrace, pool::PoolEventKind, process::ExitReason, ChannelError, Options,
    PoolError, PoolOptions, Sandbox,
};

use crate::event::GenEvent;
use crate::physics::RngState;
use crate::protocol::{EventRequest, GeneratorPool, GeneratorSetup, LumiStart, RunStart, Served};

/// Failed starts in a row after which the pool retires a worker (see the module docs).
pub const MAX_START_FAILURES: u32 = 5;

/// What the driver needs besides the work.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Worker processes, one thread each.
    pub streams: usize,
    /// The time a worker has for one transition before it counts as hung.
    pub transition_timeout: Duration,
    /// Attempts at one event before the job fails.
    pub max_attempts: u32,
    /// The workers' setup payload.
    pub setup: GeneratorSetup,
    /// Worker restarts so far, updated after every lumi section (for a heartbeat).
    pub restarts_so_far: Arc<AtomicU64>,
    /// Whether the workers run in [`worker_sandbox`] (`--no-sandbox` turns it off).
    pub sandbox: bool,
}

/// The workers' sandbox, in one place: after setup a generator worker computes events and
/// writes stderr; it opens no file and talks to nobody, so the strict default is all it
/// needs. No resource limits: the transition time-out already bounds a runaway event.
pub fn worker_sandbox() -> Sandbox {
    Sandbox::new()
}

/// One luminosity section of the work: its number and its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LumiWork {
    /// The section number.
    pub lumi: u32,
    /// The first event number.
    pub first: u64,
    /// The last event number (inclusive).
    pub last: u64,
}

/// The work of one job: a run, the seed its random states derive from, and its sections.
#[derive(Debug, Clone)]
pub struct Work {
    /// The run number.
    pub run: u32,
    /// The job seed.
    pub seed: u64,
    /// The sections, in order.
    pub lumis: Vec<LumiWork>,
}

/// One event as the caller receives it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Its luminosity section.
    pub lumi: u32,
    /// The event.
    pub event: GenEvent,
    /// The filter decision.
    pub keep: bool,
    /// The state the worker's generator reached.
    pub rng: RngState,
    /// Controller-side time of the successful event transition.
    pub round_trip: Duration,
}

/// A worker failure the driver recovered from.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The event being generated.
    pub event: u64,
    /// A short class: `SIGSEGV`, `exit 3`, `time-out`, ...
    pub kind: String,
    /// The error's message, without a crash's backtrace.
    pub message: String,
    /// A crash's backtrace (resolved only if the summary prints it).
    pub backtrace: Option<CrashBacktrace>,
}

/// A worker lost at the end of a block, whose counts for it are lost with it.
#[derive(Debug, Clone)]
pub struct LostEnd {
    /// The pool's worker index.
    pub worker: usize,
    /// `lumi 54`, `run 1`.
    pub block: String,
    /// A short class of the failure, as [`Recovered::kind`].
    pub kind: String,
}

/// What happened besides the events.
#[derive(Debug, Default)]
pub struct DriverReport {
    /// Worker restarts over all streams.
    pub restarts: u32,
    /// Failed worker starts (each retried at once, see [`MAX_START_FAILURES`]).
    pub start_failures: u32,
    /// Workers retired by the start-failure breaker.
    pub retired: u32,
    /// Every failure that a restart or retry recovered, in no particular order.
    pub recovered: Vec<Recovered>,
    /// Workers lost at the end of a block: their counts were not needed (the controller's
    /// are the job's), and the pool restarted them.
    pub lost_at_end: Vec<LostEnd>,
    /// Whether the run stopped early because `stop` was set.
    pub interrupted: bool,
    /// The error that stopped the run, if one did.
    pub error: Option<String>,
}

/// Runs `work` on `config.streams` workers and calls `on_event` for every event in
/// event-number order, on the calling thread. Stops early, after the events already in
/// order, when `stop` becomes true or `on_event` fails. Every worker is stopped before it
/// returns.
pub fn run(
    config: &DriverConfig,
    work: &Work,
    stop: &AtomicBool,
    mut on_event: impl FnMut(Delivered) -> Result<(), String>,
) -> DriverReport {
    let mut report = DriverReport::default();
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            report.error = Some(format!(
                "cannot find this program to start workers: {error}"
            ));
            return report;
        }
    };
    let channel = Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(config.transition_timeout);
    let channel = if config.sandbox {
        channel.sandbox(worker_sandbox())
    } else {
        channel
    };
    let options = PoolOptions::new(config.streams)
        .process(channel)
        .max_attempts(config.max_attempts)
        .max_start_failures(MAX_START_FAILURES)
        .restart_backoff(Duration::ZERO)
        .queue_per_worker(16);
    let mut pool = match GeneratorPool::start(move || Command::new(&exe), &config.setup, options) {
        Ok(pool) => pool,
        Err(error) => {
            report.error = Some(format!("cannot start the workers: {error}"));
            return report;
        }
    };
    let finished = AtomicBool::new(false);
    let stopper = pool.stopper();
    std::thread::scope(|scope| {
        // The signal handler only sets `stop`; this turns it into a stop of the pool.
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    stopper.stop();
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let outcome = drive(
            &mut pool,
            work,
            &mut on_event,
            &mut report,
            &config.restarts_so_far,
            config.max_attempts,
        );
        finished.store(true, Ordering::Relaxed);
        match outcome {
            Ok(()) => {}
            Err(PoolError::Interrupted) if report.error.is_none() => report.interrupted = true,
            Err(PoolError::Interrupted) => {}
            Err(error) => report.error = Some(error.to_string()),
        }
    });
    collect_events(&mut pool, config.max_attempts, &mut report);
    // Dropping the pool ends every worker, also those still busy after an interruption.
    drop(pool);
    report
}

/// The run, section by section, through the pool.
fn drive(
    pool: &mut GeneratorPool,
    work: &Work,
    on_event: &mut impl FnMut(Delivered) -> Result<(), String>,
    report: &mut DriverReport,
    restarts_so_far: &AtomicU64,
    max_attempts: u32,
) -> Result<(), PoolError> {
    let run = work.run;
    pool.begin_run(u64::from(run), &RunStart { run });
    let mut received_in_run = Served::default();
    for section in &work.lumis {
        let lumi = section.lumi;
        pool.begin_lumi(u64::from(lumi), &LumiStart { run, lumi });
        let events = (section.first..=section.last).map(|number| {
            let rng = RngState::for_event(work.seed, run, lumi, number);
            (number, EventRequest { number, rng })
        });
        let mut received = Served::default();
        let stopper = pool.stopper();
        pool.event(events, |result| {
            if report.error.is_some() {
                return;
            }
            let outcome = match result {
                Ok(item) => {
                    received.events += 1;
                    received.kept += u64::from(item.keep);
                    on_event(Delivered {
                        lumi,
                        event: item.output.event,
                        keep: item.keep,
                        rng: item.output.rng,
                        round_trip: item.round_trip,
                    })
                }
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = outcome {
                report.error = Some(error);
                stopper.stop();
            }
        })?;
        received_in_run.events += received.events;
        received_in_run.kept += received.kept;
        let served = pool.end_lumi(u64::from(lumi));
        check(&served, received, &format!("lumi {lumi}"), report)?;
        collect_events(pool, max_attempts, report);
        restarts_so_far.store(u64::from(report.restarts), Ordering::Relaxed);
    }
    let served = pool.end_run(u64::from(run));
    check(&served, received_in_run, &format!("run {run}"), report)
}

/// Records the pool's failures and restarts in the report. Every failed attempt is an
/// event; those of an event's last attempt were not recovered (the job stopped on them).
fn collect_events(pool: &mut GeneratorPool, max_attempts: u32, report: &mut DriverReport) {
    for event in pool.take_events() {
        match event.kind {
            PoolEventKind::Restarted => report.restarts += 1,
            PoolEventKind::StartFailed { .. } => report.start_failures += 1,
            PoolEventKind::Retired => report.retired += 1,
            PoolEventKind::Failed { attempt, .. } if attempt >= max_attempts => {}
            PoolEventKind::Failed { error, .. } => report.recovered.push(Recovered {
                event: event.item.unwrap_or(0),
                kind: classify(&error),
                // Not `to_string`: that would symbolize every crash's backtrace here.
                message: error.brief(),
                backtrace: match &*error {
                    ChannelError::WorkerCrashed { backtrace, .. } => Some(backtrace.clone()),
                    _ => None,
                },
            }),
            _ => {}
        }
    }
}

/// Compares the workers' end-of-block counts with what the controller received: equal when
/// one process served each worker's share of the block and reported, otherwise they may
/// report less (a replaced process's counts died with it), never more. A worker lost during
/// the end transition reports nothing: that is recorded, not an error, since the job's
/// counts are the controller's.
fn check(
    served: &[tandem::pool::EndOutput<Served>],
    received: Served,
    block: &str,
    report: &mut DriverReport,
) -> Result<(), PoolError> {
    let mut total = Served::default();
    for end in served {
        match &end.output {
            Ok(counts) => {
                total.events += counts.events;
                total.kept += counts.kept;
            }
            Err(error) => report.lost_at_end.push(LostEnd {
                worker: end.worker,
                block: block.to_owned(),
                kind: classify(error),
            }),
        }
    }
    let complete = served
        .iter()
        .all(|end| end.processes == 1 && end.output.is_ok());
    let agree = if complete {
        total.events == received.events && total.kept == received.kept
    } else {
        total.events <= received.events && total.kept <= received.kept
    };
    if agree {
        Ok(())
    } else {
        Err(PoolError::WorkerGone {
            worker: 0,
            detail: format!(
                "the workers report {} events ({} kept) in {block}, the controller received {} \
                 ({} kept){}",
                total.events,
                total.kept,
                received.events,
                received.kept,
                if complete {
                    ""
                } else {
                    " after worker replacements"
                }
            ),
        })
    }
}

/// A short name for a failure, to count failures by kind.
pub fn classify(error: &ChannelError) -> String {
    match error {
        ChannelError::WorkerCrashed { signal, .. } => {
            tandem::monitor::signal_name(*signal).to_owned()
        }
        ChannelError::WorkerDied { reason, .. } => match reason {
            Some(ExitReason::Exited(code)) => format!("exit {code}"),
            Some(ExitReason::Signaled(signal)) => {
                format!("killed by {}", tandem::monitor::signal_name(*signal))
            }
            None => "died".to_owned(),
        },
        ChannelError::TransitionTimedOut { .. } => "time-out".to_owned(),
        ChannelError::WorkerFailed { .. } => "error".to_owned(),
        other => other.to_string(),
    }
}
