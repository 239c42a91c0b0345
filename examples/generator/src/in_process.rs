//! The job without workers, for comparison: the same generator and filter called in this
//! process, either as the job itself (`--in-process`) or to time the same events after a
//! complete run and cross-check its digest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::driver::{Delivered, DriverReport, Work};
use crate::physics::{self, Process};

/// The job without workers: the same generator and filter called directly.
pub fn run_in_process(
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
pub fn time_in_process(process: &Process, work: &Work, stop: &AtomicBool) -> (Duration, Digest) {
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
