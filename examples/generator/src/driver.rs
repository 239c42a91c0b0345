//! Drives one generator worker per stream until the library has a worker pool, behind one
//! narrow function, [`run`]: events go to whichever stream is free, results come back to the
//! caller in event-number order through a bounded window, and a worker that crashes, dies or
//! hangs is restarted (its begin-run and begin-lumi replayed) and the event retried.
//!
//! Each stream thread sends begin-lumi when it takes its first event of a section and
//! end-lumi when it moves on, so a worker sees every block it serves opened and closed; the
//! worker's end-of-block counts are compared with what the thread saw it serve since it was
//! started or replayed into the block.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tandem::{ChannelError, ExitReason, Options};

use crate::event::GenEvent;
use crate::physics::RngState;
use crate::protocol::{
    EventRequest, GeneratorController, GeneratorSetup, LumiStart, RunStart, Served,
};

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
    /// The full error.
    pub message: String,
}

/// What happened besides the events.
#[derive(Debug, Default)]
pub struct DriverReport {
    /// Worker restarts over all streams.
    pub restarts: u32,
    /// Every failure that a restart or retry recovered, in no particular order.
    pub recovered: Vec<Recovered>,
    /// Whether the run stopped early because `stop` was set.
    pub interrupted: bool,
    /// The error that stopped the run, if one did.
    pub error: Option<String>,
}

/// How many events may be finished ahead of the oldest one not yet handed to the caller.
const WINDOW_PER_STREAM: usize = 64;

struct Shared {
    next: usize,
    delivered: usize,
    stop: bool,
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
    let items: Vec<(u32, u64)> = work
        .lumis
        .iter()
        .flat_map(|lumi| (lumi.first..=lumi.last).map(move |number| (lumi.lumi, number)))
        .collect();
    let window = WINDOW_PER_STREAM * config.streams.max(1);
    let shared = Mutex::new(Shared {
        next: 0,
        delivered: 0,
        stop: false,
    });
    let wake = Condvar::new();
    let mut report = DriverReport::default();
    let (sender, receiver) = mpsc::channel::<(usize, Delivered)>();
    let (done_sender, done_receiver) = mpsc::channel::<StreamReport>();

    std::thread::scope(|scope| {
        for stream in 0..config.streams.max(1) {
            let sender = sender.clone();
            let done_sender = done_sender.clone();
            let (shared, wake, items) = (&shared, &wake, &items);
            scope.spawn(move || {
                let mut stream_report = StreamReport::default();
                let claim = || {
                    let mut state = shared.lock().expect("no thread panics holding the lock");
                    while !state.stop
                        && state.next < items.len()
                        && state.next >= state.delivered + window
                    {
                        state = wake.wait(state).expect("no thread panics holding the lock");
                    }
                    if state.stop || state.next >= items.len() {
                        return None;
                    }
                    state.next += 1;
                    Some(state.next - 1)
                };
                let outcome = serve_stream(
                    config,
                    work,
                    stream,
                    items,
                    claim,
                    stop,
                    &sender,
                    &mut stream_report,
                );
                if let Err(error) = outcome {
                    stream_report.error = Some(error);
                    shared
                        .lock()
                        .expect("no thread panics holding the lock")
                        .stop = true;
                    wake.notify_all();
                }
                let _ = done_sender.send(stream_report);
            });
        }
        drop(sender);
        drop(done_sender);

        let mut pending = BTreeMap::new();
        let mut accepting = true;
        loop {
            if stop.load(Ordering::Relaxed) && !report.interrupted {
                report.interrupted = true;
                shared
                    .lock()
                    .expect("no thread panics holding the lock")
                    .stop = true;
                wake.notify_all();
            }
            match receiver.recv_timeout(Duration::from_millis(50)) {
                Ok((index, delivered)) => {
                    pending.insert(index, delivered);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let mut next = shared
                .lock()
                .expect("no thread panics holding the lock")
                .delivered;
            while accepting {
                let Some(delivered) = pending.remove(&next) else {
                    break;
                };
                if let Err(error) = on_event(delivered) {
                    report.error = Some(error);
                    accepting = false;
                    shared
                        .lock()
                        .expect("no thread panics holding the lock")
                        .stop = true;
                }
                next += 1;
            }
            shared
                .lock()
                .expect("no thread panics holding the lock")
                .delivered = next;
            wake.notify_all();
        }
    });

    for stream in done_receiver.iter() {
        report.restarts += stream.restarts;
        report.recovered.extend(stream.recovered);
        if report.error.is_none() {
            report.error = stream.error;
        }
    }
    report
}

#[derive(Debug, Default)]
struct StreamReport {
    restarts: u32,
    recovered: Vec<Recovered>,
    error: Option<String>,
}

/// One stream: its worker, the block it is in and what the worker served since the block
/// (or its last restart) began.
#[allow(clippy::too_many_arguments)]
fn serve_stream(
    config: &DriverConfig,
    work: &Work,
    stream: usize,
    items: &[(u32, u64)],
    mut claim: impl FnMut() -> Option<usize>,
    stop: &AtomicBool,
    sender: &mpsc::Sender<(usize, Delivered)>,
    report: &mut StreamReport,
) -> Result<(), String> {
    let Some(mut index) = claim() else {
        return Ok(());
    };
    let exe = std::env::current_exe()
        .map_err(|error| format!("cannot find this program to start workers: {error}"))?;
    let options = Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(config.transition_timeout);
    let mut worker =
        GeneratorController::spawn(Command::new(exe), stream as u32, options, &config.setup)
            .map_err(|error| format!("stream {stream}: cannot start a worker: {error}"))?;
    let run = work.run;
    call(
        worker.begin_run(u64::from(run), &RunStart { run }),
        "begin-run",
    )?;
    let mut lumi_served = Served::default();
    let mut run_served = Served::default();
    let mut current_lumi = None;
    loop {
        let (lumi, number) = items[index];
        if current_lumi != Some(lumi) {
            if let Some(previous) = current_lumi {
                let served = call(worker.end_lumi(u64::from(previous)), "end-lumi")?.output;
                check(served, lumi_served, stream, &format!("lumi {previous}"))?;
            }
            call(
                worker.begin_lumi(u64::from(lumi), &LumiStart { run, lumi }),
                "begin-lumi",
            )?;
            current_lumi = Some(lumi);
            lumi_served = Served::default();
        }
        let rng = RngState::for_event(work.seed, run, lumi, number);
        let mut attempt = 0;
        let (response, round_trip) = loop {
            let request = EventRequest {
                number,
                attempt,
                rng,
            };
            let started = Instant::now();
            match worker.event(number, &request) {
                Ok(response) => break (response, started.elapsed()),
                Err(_) if stop.load(Ordering::Relaxed) => {
                    // Interrupted (a terminal's Ctrl-C may have reached the worker too): no
                    // recovery; dropping the controller stops the worker.
                    return Ok(());
                }
                Err(error) => {
                    if attempt + 1 >= config.max_attempts {
                        return Err(format!(
                            "event {number} failed on all {} attempts, last: {error}",
                            config.max_attempts
                        ));
                    }
                    let restart = error.requires_restart();
                    if !restart && !matches!(error, ChannelError::WorkerFailed { .. }) {
                        return Err(format!("event {number}: {error}"));
                    }
                    report.recovered.push(Recovered {
                        event: number,
                        kind: classify(&error),
                        message: error.to_string(),
                    });
                    if restart {
                        worker.restart().map_err(|error| {
                            format!("stream {stream}: cannot restart the worker: {error}")
                        })?;
                        report.restarts += 1;
                        // The replayed begin-run and begin-lumi reset the worker's counts.
                        lumi_served = Served::default();
                        run_served = Served::default();
                    }
                    attempt += 1;
                }
            }
        };
        let keep = response.keep;
        for served in [&mut lumi_served, &mut run_served] {
            served.events += 1;
            served.kept += u64::from(keep);
        }
        let delivered = Delivered {
            lumi,
            event: response.output.event,
            keep,
            rng: response.output.rng,
            round_trip,
        };
        if sender.send((index, delivered)).is_err() {
            break;
        }
        match claim() {
            Some(next) => index = next,
            None => break,
        }
    }
    if let Some(lumi) = current_lumi {
        let served = call(worker.end_lumi(u64::from(lumi)), "end-lumi")?.output;
        check(served, lumi_served, stream, &format!("lumi {lumi}"))?;
    }
    let served = call(worker.end_run(u64::from(run)), "end-run")?.output;
    check(served, run_served, stream, &format!("run {run}"))?;
    worker.shutdown();
    Ok(())
}

fn call<T>(result: Result<T, ChannelError>, what: &str) -> Result<T, String> {
    result.map_err(|error| format!("{what}: {error}"))
}

/// Compares a worker's end-of-block counts with what its stream saw it serve.
fn check(reported: Served, seen: Served, stream: usize, block: &str) -> Result<(), String> {
    if reported == seen {
        Ok(())
    } else {
        Err(format!(
            "stream {stream}: the worker reports {} events ({} kept) in {block}, the controller \
             received {} ({} kept): a worker lost or repeated events",
            reported.events, reported.kept, seen.events, seen.kept
        ))
    }
}

/// A short name for a failure, to count failures by kind.
pub fn classify(error: &ChannelError) -> String {
    match error {
        ChannelError::WorkerCrashed { signal, .. } => signal_name(*signal),
        ChannelError::WorkerDied { reason, .. } => match reason {
            Some(ExitReason::Exited(code)) => format!("exit {code}"),
            Some(ExitReason::Signaled(signal)) => format!("killed by {}", signal_name(*signal)),
            None => "died".to_owned(),
        },
        ChannelError::TransitionTimedOut { .. } => "time-out".to_owned(),
        ChannelError::WorkerFailed { .. } => "error".to_owned(),
        other => other.to_string(),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".to_owned(),
        4 => "SIGILL".to_owned(),
        6 => "SIGABRT".to_owned(),
        7 => "SIGBUS".to_owned(),
        8 => "SIGFPE".to_owned(),
        9 => "SIGKILL".to_owned(),
        11 => "SIGSEGV".to_owned(),
        15 => "SIGTERM".to_owned(),
        other => format!("signal {other}"),
    }
}
