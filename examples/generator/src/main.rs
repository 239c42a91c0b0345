//! tandem's main job: e+e- → Z/γ* → μ+μ- generated in one worker process per stream, with
//! the random-number state owned by the controller, a muon filter, HepMC3 output, crash
//! injection with restart and retry, and batch splitting.
//!
//! Run: `cargo run --release -p tandem-generator -- --help`. The same binary is the
//! controller and, when the controller starts it, a worker (the one-binary pattern).
//!
//! A job is complete when it generated every event it was given and wrote every kept event;
//! only then does it exit 0, print its `digest` line, rename `FILE.partial` to `FILE` and
//! write `status complete` in its manifest. Anything else (an interruption, a worker error
//! that retries did not cure, a full disk) is an incomplete job: exit status 130 for an
//! interruption and 1 otherwise, `digest INCOMPLETE ...`, the file left as `FILE.partial`.

mod digest;
mod driver;
mod event;
mod heartbeat;
mod hepmc;
mod in_process;
mod manifest;
mod output;
mod physics;
mod protocol;
mod summary;
mod terminal;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;

use digest::Digest;
use driver::{Delivered, DriverConfig, LumiWork, Work};
use hepmc::{HepMcWriter, WriteError};
use manifest::Manifest;
use output::HepMcPaths;
use physics::Process;
use protocol::{
    CrashInjection, CrashKind, CrashPoint, GeneratorProcess, GeneratorSetup, GeneratorWorker,
};

/// Generates e+e- → Z/γ* → μ+μ- at √s = 91.1876 GeV in worker processes (one per stream),
/// keeps events with both muons at pT > 20 GeV and |η| < 2.4, writes them as HepMC3 and
/// prints a digest that split jobs add up to.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Subcommands>,
    /// Events to generate in the whole run (all jobs together)
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
    events: u64,
    /// Events per luminosity section (the unit of work split between batch jobs)
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    events_per_lumi: u64,
    /// Seed of the run: every event's random state derives from (seed, run, lumi, event)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run number
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    run: u32,
    /// Worker processes [default: the number of CPUs]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    streams: Option<u64>,
    /// Write the kept events to FILE in HepMC3 ASCII format (as FILE.partial until the job
    /// is complete)
    #[arg(long, value_name = "FILE")]
    hepmc: Option<PathBuf>,
    /// Write the job's manifest (status, exit code, lumi sections, counts, digest) to FILE,
    /// for `tandem-generator merge`
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Overwrite an existing output file or complete manifest (by default they are kept and
    /// the job refuses to start)
    #[arg(long)]
    force: bool,
    /// Seconds between progress lines on stderr when it is not a terminal (0: none)
    #[arg(long, default_value = "5", value_parser = parse_heartbeat)]
    heartbeat: Duration,
    /// Number of batch jobs the run is split into
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: u32,
    /// This job's index, from 0 to JOBS-1: it generates lumi sections K, K+J, K+2J, ...
    #[arg(long, default_value_t = 0)]
    job: u32,
    /// Fraction of events whose first attempt crashes the worker (chosen from the seed)
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    crash_probability: f64,
    /// How injected crashes kill the worker
    #[arg(long, value_enum, default_value_t = CrashArg::Segv)]
    crash_kind: CrashArg,
    /// Where injected crashes strike: the selected events or lumi sections, or end-run
    #[arg(long, value_enum, default_value_t = CrashAt::Event)]
    crash_at: CrashAt,
    /// Seconds a worker has for one transition before it counts as hung and is restarted
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    transition_timeout: Duration,
    /// Generate in this process, without workers (for comparison)
    #[arg(long)]
    in_process: bool,
    /// Run the workers without their sandbox (seccomp after setup, Landlock; see
    /// docs/sandbox.md)
    #[arg(long)]
    no_sandbox: bool,
    /// Print the sum of these digests and exit (checks nothing: prefer `merge`)
    #[arg(long, value_name = "DIGEST", num_args = 1.., exclusive = true)]
    sum_digests: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Subcommands {
    /// Combine split jobs: checks that the manifests are the complete jobs of exactly one
    /// run (no gap, overlap, duplicate or incomplete job) and prints the run's digest
    Merge {
        /// The jobs' manifests (`--manifest` of each job)
        #[arg(required = true, value_name = "MANIFEST")]
        manifests: Vec<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CrashArg {
    Segv,
    Abort,
    Overflow,
    Exit,
    Hang,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CrashAt {
    Event,
    BeginLumi,
    EndLumi,
    EndRun,
}

impl From<CrashAt> for CrashPoint {
    fn from(at: CrashAt) -> CrashPoint {
        match at {
            CrashAt::Event => CrashPoint::Event,
            CrashAt::BeginLumi => CrashPoint::BeginLumi,
            CrashAt::EndLumi => CrashPoint::EndLumi,
            CrashAt::EndRun => CrashPoint::EndRun,
        }
    }
}

impl From<CrashArg> for CrashKind {
    fn from(kind: CrashArg) -> CrashKind {
        match kind {
            CrashArg::Segv => CrashKind::Segv,
            CrashArg::Abort => CrashKind::Abort,
            CrashArg::Overflow => CrashKind::Overflow,
            CrashArg::Exit => CrashKind::Exit,
            CrashArg::Hang => CrashKind::Hang,
        }
    }
}

fn parse_probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number: give a probability from 0 to 1"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is outside [0, 1]: give a probability from 0 to 1"
        ))
    }
}

fn parse_heartbeat(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(Duration::ZERO),
        _ => parse_seconds(text),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{value} s is not a usable time-out: give more than 0 and at most 86400 seconds"
        ))
    }
}

/// The lumi sections of job `job` of `jobs`: every `jobs`-th section, starting at `job`.
fn plan(cli: &Cli) -> Vec<LumiWork> {
    let sections = cli.events.div_ceil(cli.events_per_lumi);
    (0..sections)
        .filter(|index| index % u64::from(cli.jobs) == u64::from(cli.job))
        .map(|index| LumiWork {
            lumi: (index + 1) as u32,
            first: index * cli.events_per_lumi + 1,
            last: ((index + 1) * cli.events_per_lumi).min(cli.events),
        })
        .collect()
}

/// The run's bookkeeping, from the events the controller received: it survives any worker.
#[derive(Default)]
pub struct Totals {
    generated: u64,
    kept: u64,
    forward: u64,
    backward: u64,
    digest: Digest,
    rng_words: u128,
    lumis: BTreeMap<u32, (u64, u64)>,
    last_event: u64,
}

impl Totals {
    fn add(&mut self, lumi: u32, event: &event::GenEvent, keep: bool, rng_words: u128) {
        self.generated += 1;
        self.rng_words += rng_words;
        self.last_event = event.number;
        let section = self.lumis.entry(lumi).or_default();
        section.0 += 1;
        if keep {
            self.kept += 1;
            section.1 += 1;
            self.digest += Digest::of_event(event);
        }
        match physics::muon_cos_theta(event) {
            Some(cos) if cos > 0.0 => self.forward += 1,
            Some(cos) if cos < 0.0 => self.backward += 1,
            _ => {}
        }
    }
}

/// What the controller checks in every event it receives: that the worker generated it from
/// the state it was sent, and that energy and momentum balance.
fn check_event(delivered: &Delivered, seed: u64) -> Result<(), String> {
    let event = &delivered.event;
    let sent = physics::RngState::for_event(seed, 0, 0, event.number);
    if delivered.rng.stream != event.number || delivered.rng.key[..8] != sent.key[..8] {
        return Err(format!(
            "event {}: the worker's random state (stream {}) is not the one it was sent",
            event.number, delivered.rng.stream
        ));
    }
    let (imbalance, scale) = event.momentum_imbalance();
    if imbalance
        .iter()
        .any(|component| component.abs() > 1e-9 * scale)
    {
        return Err(format!(
            "event {}: four-momentum not conserved: {imbalance:?}",
            event.number
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    // Worker: serve and exit. Controller: fall through.
    match GeneratorProcess::serve_from_env(|setup| Ok(GeneratorProcess::new(setup))) {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(error) => {
            eprintln!("tandem-generator worker: {error}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    if let Some(Subcommands::Merge { manifests }) = &cli.command {
        return match manifest::merge_command(manifests, Process::new().cross_section_pb) {
            Ok(()) => ExitCode::SUCCESS,
            Err(problems) => {
                for problem in problems.lines() {
                    eprintln!("error: {problem}");
                }
                eprintln!("error: not merged: no digest");
                ExitCode::FAILURE
            }
        };
    }
    if !cli.sum_digests.is_empty() {
        return sum_digests(&cli.sum_digests);
    }
    if cli.job >= cli.jobs {
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--job {} is out of range for --jobs {}: jobs are numbered 0 to {}",
                    cli.job,
                    cli.jobs,
                    cli.jobs - 1
                ),
            )
            .exit();
    }
    if cli.events.div_ceil(cli.events_per_lumi) > u64::from(u32::MAX) {
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                "too many lumi sections for 32-bit section numbers: raise --events-per-lumi",
            )
            .exit();
    }
    match run_job(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn sum_digests(digests: &[String]) -> ExitCode {
    let mut sum = Digest::default();
    for text in digests {
        match text.parse::<Digest>() {
            Ok(digest) => sum += digest,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{sum}");
    ExitCode::SUCCESS
}

/// Exit status of a job stopped by SIGINT or SIGTERM.
const INTERRUPTED: u8 = 130;
/// Exit status of a job that failed.
const FAILED: u8 = 1;

/// How the job ended, for the summary, the manifest and the exit status.
pub struct Ending {
    /// Every planned event generated and every kept event written.
    pub complete: bool,
    /// The exit status.
    pub exit: u8,
    /// What stopped the job early, if something did.
    pub reason: Option<String>,
}

fn run_job(cli: &Cli) -> Result<ExitCode, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the first is being handled ends the job at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|error| format!("cannot install the handler of signal {signal}: {error}"))?;
    }
    // Past a file-size limit a write then fails with EFBIG, reported like a full disk,
    // instead of SIGXFSZ killing the job without a word.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|error| format!("cannot install the handler of SIGXFSZ: {error}"))?;

    let process = Process::new();
    let lumis = plan(cli);
    let total: u64 = lumis.iter().map(|lumi| lumi.last - lumi.first + 1).sum();
    let streams = cli
        .streams
        .map(|n| n as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let work = Work {
        run: cli.run,
        seed: cli.seed,
        lumis,
    };
    let crash = (cli.crash_probability > 0.0).then(|| CrashInjection {
        probability: cli.crash_probability,
        kind: cli.crash_kind.into(),
        at: cli.crash_at.into(),
    });

    if let Some(path) = &cli.manifest {
        output::check_manifest_target(path, cli.force)?;
    }
    let paths = cli.hepmc.as_deref().map(HepMcPaths::new);
    let mut writer = match &paths {
        Some(paths) => {
            let file = paths.create(cli.force)?;
            let description = format!(
                "e+e- -> Z/gamma* -> mu+mu- at sqrt(s) = {} GeV, seed {}, run {}",
                physics::SQRT_S,
                cli.seed,
                cli.run
            );
            Some(
                HepMcWriter::new(file, process.cross_section_pb, &description).map_err(
                    |error| format!("cannot write `{}`: {error}", paths.partial_path.display()),
                )?,
            )
        }
        None => None,
    };

    // On a terminal: a progress bar, with everything written to stderr meanwhile (the
    // workers' lines included) printed above it.
    let terminal = std::io::stderr().is_terminal();
    let bar_terminal = terminal
        .then(|| terminal::BarTerminal::start(total))
        .flatten();
    let progress = bar_terminal
        .as_ref()
        .map_or_else(ProgressBar::hidden, |shown| shown.bar().clone());
    let restarts_so_far = Arc::new(AtomicU64::new(0));
    let mut heartbeat = (!terminal && !cli.heartbeat.is_zero())
        .then(|| heartbeat::Heartbeat::new(cli.heartbeat, total, Arc::clone(&restarts_so_far)));

    let mut totals = Totals::default();
    let mut round_trips =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
    let mut write_error: Option<WriteError> = None;
    let mut on_event = |delivered: Delivered| -> Result<(), String> {
        check_event(&delivered, cli.seed)?;
        totals.add(
            delivered.lumi,
            &delivered.event,
            delivered.keep,
            delivered.rng.word_pos,
        );
        let nanos = (delivered.round_trip.as_nanos() as u64).clamp(1, 3_600_000_000_000);
        round_trips.record(nanos).expect("clamped into the bounds");
        if delivered.keep {
            if let Some(writer) = writer.as_mut() {
                if let Err(error) =
                    writer.write_event(&delivered.event, totals.kept, totals.generated)
                {
                    let message = format!("{error}");
                    write_error = Some(error);
                    return Err(message);
                }
            }
        }
        progress.inc(1);
        if let Some(heartbeat) = heartbeat.as_mut() {
            heartbeat.event(totals.generated);
        }
        Ok(())
    };

    let started = Instant::now();
    let report = if cli.in_process {
        in_process::run_in_process(&process, &work, &stop, &mut on_event)
    } else {
        let config = DriverConfig {
            streams,
            transition_timeout: cli.transition_timeout,
            max_attempts: 3,
            setup: GeneratorSetup {
                seed: cli.seed,
                crash,
            },
            restarts_so_far,
            sandbox: !cli.no_sandbox,
        };
        driver::run(&config, &work, &stop, &mut on_event)
    };
    let elapsed = started.elapsed();
    if let Some(shown) = bar_terminal {
        shown.finish();
    }

    let mut ending = Ending {
        complete: report.error.is_none() && !report.interrupted && totals.generated == total,
        exit: 0,
        reason: None,
    };
    if report.interrupted {
        ending.reason = Some(format!(
            "interrupted after event {} (SIGINT or SIGTERM)",
            totals.last_event
        ));
    } else if let Some(error) = &report.error {
        ending.reason = Some(error.clone());
    } else if !ending.complete {
        ending.reason = Some(format!("{} of {total} events generated", totals.generated));
    }
    let mut written = None;
    if let (Some(writer), Some(paths)) = (writer.take(), &paths) {
        let partial = paths.partial_path.display();
        if let Some(error) = write_error.take() {
            written = Some(error.complete_events);
            ending.reason = Some(format!("cannot write `{partial}`: {error}"));
        } else if ending.complete {
            let complete = writer.complete_events();
            match writer.finish(totals.kept, totals.generated) {
                Ok(_) => match paths.commit() {
                    Ok(()) => written = Some(totals.kept),
                    Err(error) => {
                        ending.complete = false;
                        written = Some(complete);
                        ending.reason = Some(error);
                    }
                },
                Err(error) => {
                    ending.complete = false;
                    written = Some(error.complete_events);
                    ending.reason = Some(format!("cannot finish `{partial}`: {error}"));
                }
            }
        } else {
            // The events written so far are complete ones: close the file at that event,
            // under its `.partial` name.
            match writer.close_incomplete() {
                Ok(events) => written = Some(events),
                Err(error) => written = Some(error.complete_events),
            }
        }
    }
    if !ending.complete {
        let only_interrupted = report.interrupted
            && ending
                .reason
                .as_deref()
                .is_some_and(|reason| reason.starts_with("interrupted"));
        ending.exit = if only_interrupted {
            INTERRUPTED
        } else {
            FAILED
        };
    }

    // The same events in this process, for the overhead comparison and as a cross-check of
    // the digest: only for a complete job (an incomplete one has nothing to compare).
    let in_process = if cli.in_process {
        Some((elapsed, totals.digest))
    } else if ending.complete {
        Some(in_process::time_in_process(&process, &work, &stop))
    } else {
        None
    };

    summary::print_summary(&summary::Job {
        cli,
        process: &process,
        streams,
        work: &work,
        totals: &totals,
        report: &report,
        round_trips: &round_trips,
        elapsed,
        in_process,
        ending: &ending,
        hepmc: paths.as_ref(),
        written,
    });
    if let Some(path) = &cli.manifest {
        let first = work.lumis.first();
        let manifest = Manifest {
            complete: ending.complete,
            exit: ending.exit,
            seed: cli.seed,
            run: cli.run,
            run_events: cli.events,
            events_per_lumi: cli.events_per_lumi,
            jobs: cli.jobs,
            job: cli.job,
            lumi_first: first.map_or(cli.job + 1, |lumi| lumi.lumi),
            lumi_step: cli.jobs,
            lumi_count: work.lumis.len() as u64,
            generated: totals.generated,
            kept: totals.kept,
            digest: totals.digest,
            hepmc: cli.hepmc.as_ref().map(|path| path.display().to_string()),
        };
        if let Err(error) = output::write_manifest(path, &manifest) {
            eprintln!("error: {error}");
            if ending.complete {
                return Ok(ExitCode::from(FAILED));
            }
        }
    }
    if let Some(reason) = &ending.reason {
        eprintln!("error: the job is incomplete: {reason}");
    }
    Ok(ExitCode::from(ending.exit))
}
