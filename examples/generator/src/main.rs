//! tandem's main job: e+e- → Z/γ* → μ+μ- generated in one worker process per stream, with
//! the random-number state owned by the controller, a muon filter, HepMC3 output, crash
//! injection with restart and retry, and batch splitting.
//!
//! Run: `cargo run --release -p tandem-generator -- --help`. The same binary is the
//! controller and, when the controller starts it, a worker (the one-binary pattern).

mod digest;
mod driver;
mod event;
mod hepmc;
mod physics;
mod protocol;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use digest::Digest;
use driver::{Delivered, DriverConfig, DriverReport, LumiWork, Work};
use hepmc::{CrossSection, HepMcWriter};
use physics::Process;
use protocol::{CrashInjection, CrashKind, GeneratorProcess, GeneratorSetup, GeneratorWorker};

/// Generates e+e- → Z/γ* → μ+μ- at √s = 91.1876 GeV in worker processes (one per stream),
/// keeps events with both muons at pT > 20 GeV and |η| < 2.4, writes them as HepMC3 and
/// prints a digest that split jobs add up to.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
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
    /// Write the kept events to FILE in HepMC3 ASCII format
    #[arg(long, value_name = "FILE")]
    hepmc: Option<PathBuf>,
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
    /// Seconds a worker has for one transition before it counts as hung and is restarted
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    transition_timeout: Duration,
    /// Generate in this process, without workers (for comparison)
    #[arg(long)]
    in_process: bool,
    /// Print the sum of these digests (of split jobs) and exit
    #[arg(long, value_name = "DIGEST", num_args = 1.., exclusive = true)]
    sum_digests: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CrashArg {
    Segv,
    Abort,
    Overflow,
    Exit,
    Hang,
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
struct Totals {
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

fn run_job(cli: &Cli) -> Result<ExitCode, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the first is being handled ends the job at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|error| format!("cannot install the handler of signal {signal}: {error}"))?;
    }

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
    });

    let cross_section = CrossSection {
        value_pb: process.cross_section_pb,
        error_pb: 0.0,
    };
    let mut writer = match &cli.hepmc {
        Some(path) => {
            let file = File::create(path)
                .map_err(|error| format!("cannot create `{}`: {error}", path.display()))?;
            let description = format!(
                "e+e- -> Z/gamma* -> mu+mu- at sqrt(s) = {} GeV, seed {}, run {}",
                physics::SQRT_S,
                cli.seed,
                cli.run
            );
            Some(
                HepMcWriter::new(BufWriter::new(file), cross_section, &description)
                    .map_err(|error| format!("cannot write `{}`: {error}", path.display()))?,
            )
        }
        None => None,
    };

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut totals = Totals::default();
    let mut round_trips =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
    let hepmc_path = cli.hepmc.clone();
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
                writer.write_event(&delivered.event).map_err(|error| {
                    format!(
                        "cannot write `{}`: {error}",
                        hepmc_path
                            .as_deref()
                            .unwrap_or_else(|| "".as_ref())
                            .display()
                    )
                })?;
            }
        }
        progress.inc(1);
        Ok(())
    };

    let started = Instant::now();
    let report = if cli.in_process {
        run_in_process(&process, &work, &stop, &mut on_event)
    } else {
        let config = DriverConfig {
            streams,
            transition_timeout: cli.transition_timeout,
            max_attempts: 3,
            setup: GeneratorSetup {
                seed: cli.seed,
                crash,
            },
        };
        driver::run(&config, &work, &stop, &mut on_event)
    };
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    if let Some(writer) = writer.take() {
        // Whatever stopped the run, the events written so far are complete: close the file.
        writer
            .finish()
            .map_err(|error| format!("cannot finish the HepMC3 file: {error}"))?;
    }

    // The same events in this process, for the overhead comparison (and as a cross-check
    // of the digest when the run completed).
    let (in_process_time, in_process_digest) = if cli.in_process {
        (elapsed, totals.digest)
    } else {
        time_in_process(&process, &work, &stop)
    };

    print_summary(
        cli,
        &process,
        streams,
        &work,
        &totals,
        &report,
        &round_trips,
        elapsed,
        in_process_time,
        in_process_digest,
    );
    if let Some(error) = &report.error {
        return Err(error.clone());
    }
    if report.interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// The job without workers: the same generator and filter called directly.
fn run_in_process(
    process: &Process,
    work: &Work,
    stop: &AtomicBool,
    on_event: &mut impl FnMut(Delivered) -> Result<(), String>,
) -> DriverReport {
    let mut report = DriverReport::default();
    for lumi in &work.lumis {
        for number in lumi.first..=lumi.last {
            if stop.load(Ordering::Relaxed) {
                report.interrupted = true;
                return report;
            }
            let started = Instant::now();
            let mut rng =
                physics::RngState::for_event(work.seed, work.run, lumi.lumi, number).rng();
            let event = process.generate(number, &mut rng);
            let keep = physics::passes_filter(&event);
            let delivered = Delivered {
                lumi: lumi.lumi,
                event,
                keep,
                rng: physics::RngState::of(&rng),
                round_trip: started.elapsed(),
            };
            if let Err(error) = on_event(delivered) {
                report.error = Some(error);
                return report;
            }
        }
    }
    report
}

/// Generates, filters and hashes the job's events in this process; returns the time and
/// the digest of the kept events.
fn time_in_process(process: &Process, work: &Work, stop: &AtomicBool) -> (Duration, Digest) {
    let started = Instant::now();
    let mut digest = Digest::default();
    for lumi in &work.lumis {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for number in lumi.first..=lumi.last {
            let (event, keep) =
                physics::generate_in_process(process, work.seed, work.run, lumi.lumi, number);
            if keep {
                digest += Digest::of_event(&event);
            }
        }
    }
    (started.elapsed(), digest)
}

#[allow(clippy::too_many_arguments)]
fn print_summary(
    cli: &Cli,
    process: &Process,
    streams: usize,
    work: &Work,
    totals: &Totals,
    report: &DriverReport,
    round_trips: &Histogram<u64>,
    elapsed: Duration,
    in_process_time: Duration,
    in_process_digest: Digest,
) {
    let planned: u64 = work
        .lumis
        .iter()
        .map(|lumi| lumi.last - lumi.first + 1)
        .sum();
    println!(
        "tandem-generator: e+e- -> Z/gamma* -> mu+mu- at sqrt(s) = {} GeV, seed {}, run {}",
        physics::SQRT_S,
        cli.seed,
        cli.run
    );
    println!(
        "job              {} of {}: {} lumi sections of up to {} events, {} events",
        cli.job,
        cli.jobs,
        work.lumis.len(),
        cli.events_per_lumi,
        planned
    );
    let mode = if cli.in_process {
        "in-process (no workers)".to_owned()
    } else {
        format!("{streams} worker processes")
    };
    println!("streams          {mode}");
    println!(
        "events           {} generated, {} kept",
        totals.generated, totals.kept
    );
    if report.interrupted {
        println!(
            "interrupted      stopped after event {} (the output ends at that event)",
            totals.last_event
        );
    }
    let per_lumi = totals.lumis.values().map(|&(_, kept)| kept);
    if let (Some(low), Some(high)) = (per_lumi.clone().min(), per_lumi.max()) {
        println!(
            "lumi sections    {} done, kept per section {low}..{high}",
            totals.lumis.len()
        );
    }
    let analytic = physics::analytic_acceptance();
    if totals.generated > 0 {
        let n = totals.generated as f64;
        let measured = totals.kept as f64 / n;
        let error = (measured * (1.0 - measured) / n).sqrt();
        let pull = if error > 0.0 {
            (measured - analytic) / error
        } else {
            0.0
        };
        println!(
            "acceptance       {measured:.5} +- {error:.5} measured, {analytic:.5} analytic (|cos theta| < {:.5}), pull {pull:+.2}",
            physics::cos_theta_max()
        );
        let counted = (totals.forward + totals.backward) as f64;
        if counted > 0.0 {
            let afb = (totals.forward as f64 - totals.backward as f64) / counted;
            let afb_error = ((1.0 - afb * afb) / counted).sqrt();
            println!(
                "A_FB             {afb:.4} +- {afb_error:.4} measured, {:.4} analytic",
                process.forward_backward_asymmetry()
            );
        }
    }
    println!(
        "cross section    {:.2} pb +- 0 (tree level, analytic); kept: {:.2} pb",
        process.cross_section_pb,
        process.cross_section_pb * analytic
    );
    let seconds = elapsed.as_secs_f64();
    let rate = totals.generated as f64 / seconds.max(1e-9);
    println!(
        "rate             {rate:.0} events/s ({} events in {seconds:.2} s)",
        totals.generated
    );
    if !round_trips.is_empty() {
        let label = if cli.in_process {
            "generate call   "
        } else {
            "round trip      "
        };
        println!(
            "{label} p50 {:.1} us, p99 {:.1} us, mean {:.1} us per event (controller side)",
            round_trips.value_at_quantile(0.5) as f64 / 1e3,
            round_trips.value_at_quantile(0.99) as f64 / 1e3,
            round_trips.mean() / 1e3
        );
    }
    println!(
        "random numbers   {} ChaCha8 words drawn ({:.1} per event)",
        totals.rng_words,
        totals.rng_words as f64 / (totals.generated.max(1)) as f64
    );
    println!("restarts         {}", report.restarts);
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for failure in &report.recovered {
        *by_kind.entry(failure.kind.as_str()).or_default() += 1;
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    println!(
        "crash reports    {}",
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        }
    );
    if !cli.in_process && totals.generated > 0 {
        let in_process_per_event = in_process_time.as_secs_f64() / planned as f64;
        let in_process_rate = 1.0 / in_process_per_event.max(1e-12);
        let added = round_trips.mean() / 1e3 - in_process_per_event * 1e6;
        println!(
            "in-process       {in_process_rate:.0} events/s (1 thread, generate + filter + digest); tandem {rate:.0} events/s on {streams} streams; tandem adds {added:.1} us per event"
        );
        if !report.interrupted && report.error.is_none() {
            let check = if in_process_digest == totals.digest {
                "identical"
            } else {
                "DIFFERENT"
            };
            println!("in-process digest {check}");
        }
    }
    println!("digest           {}", totals.digest);
    if let Some(path) = &cli.hepmc {
        println!(
            "hepmc            {} ({} events)",
            path.display(),
            totals.kept
        );
    }
    for failure in report.recovered.iter().take(3) {
        eprintln!("recovered: event {}: {}", failure.event, failure.message);
    }
}
