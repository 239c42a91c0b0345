//! The job's summary on stdout: what was generated and kept, the physics checks, the
//! rates, what was lost and recovered, and the digest (only for a complete job).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::digest::Digest;
use crate::driver::{DriverReport, Work};
use crate::output::HepMcPaths;
use crate::physics::{self, Process};
use crate::{hepmc, Cli, Ending, Totals};

/// At most this many lines of the first crash's backtrace go into the summary.
const FIRST_CRASH_LINES: usize = 24;

/// Everything the summary reports.
pub struct Job<'a> {
    pub cli: &'a Cli,
    pub process: &'a Process,
    pub streams: usize,
    pub work: &'a Work,
    pub totals: &'a Totals,
    pub report: &'a DriverReport,
    pub round_trips: &'a Histogram<u64>,
    pub elapsed: Duration,
    /// The in-process time and digest of the same events (complete jobs only).
    pub in_process: Option<(Duration, Digest)>,
    pub ending: &'a Ending,
    pub hepmc: Option<&'a HepMcPaths>,
    /// Complete events in the HepMC3 file.
    pub written: Option<u64>,
}

/// Prints the job's summary on stdout.
pub fn print_summary(job: &Job<'_>) {
    let Job {
        cli,
        process,
        streams,
        work,
        totals,
        report,
        round_trips,
        elapsed,
        in_process,
        ending,
        hepmc,
        written,
    } = *job;
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
    if !ending.complete {
        println!(
            "INCOMPLETE       {}",
            ending.reason.as_deref().unwrap_or("the job did not finish")
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
    let (kept_sigma, kept_error) =
        hepmc::kept_cross_section(process.cross_section_pb, totals.kept, totals.generated);
    println!(
        "cross section    {:.2} pb +- 0 (tree level, analytic); kept: {kept_sigma:.2} +- {kept_error:.2} pb measured, {:.2} pb analytic",
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
    if report.start_failures > 0 || report.retired > 0 {
        println!(
            "worker starts    {} failed (each retried at once), {} workers retired by the breaker",
            report.start_failures, report.retired
        );
    }
    if !report.lost_at_end.is_empty() {
        let mut blocks: Vec<String> = report
            .lost_at_end
            .iter()
            .map(|lost| {
                format!(
                    "worker {} at end of {} ({})",
                    lost.worker, lost.block, lost.kind
                )
            })
            .collect();
        if blocks.len() > 4 {
            let more = blocks.len() - 4;
            blocks.truncate(4);
            blocks.push(format!("{more} more"));
        }
        println!(
            "lost at end      {} end-of-block reports, recovered from the controller's counts: {}",
            report.lost_at_end.len(),
            blocks.join(", ")
        );
    }
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
    // Where the first crash happened (by event number: the failures come in no particular
    // order). Only this one is unwound and symbolized.
    let first_crash = report
        .recovered
        .iter()
        .filter_map(|failure| Some((failure, failure.backtrace.as_ref()?)))
        .min_by_key(|(failure, _)| failure.event);
    if let Some((failure, backtrace)) = first_crash {
        println!("first crash      event {}: {}", failure.event, failure.kind);
        for line in backtrace.to_string().lines().take(FIRST_CRASH_LINES) {
            println!("                 {line}");
        }
    }
    if cli.in_process || totals.generated == 0 {
    } else if let Some((in_process_time, in_process_digest)) = in_process {
        let in_process_per_event = in_process_time.as_secs_f64() / planned as f64;
        let in_process_rate = 1.0 / in_process_per_event.max(1e-12);
        let added = round_trips.mean() / 1e3 - in_process_per_event * 1e6;
        println!(
            "in-process       {in_process_rate:.0} events/s (1 thread, generate + filter + digest); tandem {rate:.0} events/s on {streams} streams; tandem adds {added:.1} us per event"
        );
        let check = if in_process_digest == totals.digest {
            "identical"
        } else {
            "DIFFERENT"
        };
        println!("in-process digest {check}");
    } else {
        println!("in-process       not run: the job is incomplete");
    }
    if ending.complete {
        println!("digest           {}", totals.digest);
    } else {
        // Not a `digest` line a combine step could pick up by mistake.
        println!(
            "digest           INCOMPLETE (the {} events generated sum to {}; not this job's digest)",
            totals.generated, totals.digest
        );
    }
    if let Some(paths) = hepmc {
        let (path, state) = if ending.complete {
            (&paths.final_path, "complete")
        } else {
            (
                &paths.partial_path,
                "incomplete, left under its .partial name",
            )
        };
        println!(
            "hepmc            {} ({} events, {state})",
            path.display(),
            written.unwrap_or(0)
        );
    }
    for failure in report.recovered.iter().take(3) {
        eprintln!("recovered: event {}: {}", failure.event, failure.message);
    }
}
