//! The work section: transitions that do work, on one long-lived channel.
//!
//! - Worker ladder: the worker spins W µs on the clock per transition, W going 0, 1, 4, 16,
//!   64, 256 µs and back down to 0, on ONE tandem channel (raw controller, default options,
//!   as "tandem" in the latency section), against the spin floor (two processes spinning on
//!   a shared word, 8-byte messages) doing the same work on one long-lived pair. A policy
//!   that adapts to the call's length and does not unlearn shows on the way down.
//! - Controller ladder: the same W, worked by the controller between calls while the worker
//!   waits for the next request; a call's time is the controller's W plus the round trip.
//! - Pool: the generated pool ([`tandem::Pool`]) with 1, 2 and 3 workers, each item 20 µs of work in the worker,
//!   against the same items worked in one in-process thread: items per second.
//!
//! Per step: p50 and mean time per call, the overhead over W (p50 − W), each side's CPU
//! time per call (`CLOCK_PROCESS_CPUTIME_ID`, read by each process before and after the
//! step: the worker's travels back in a report transition or message that is not timed), and
//! each side's wait statistics over the step's calls ([`tandem::channel::WaitStats`] deltas: waits
//! answered at once, while spinning, after the spin ended; sleeps in `FUTEX_WAIT`). The floor
//! spins on both sides, so its CPU per call is its time per call.
//!
//! Repetitions interleave whole ladders (floor, then tandem, for each ladder) so that the
//! tandem channel's history within a ladder is only that ladder's calls; the pool's
//! configurations are interleaved likewise.

use std::time::Instant;

use tandem::{pool::ItemResult, PoolError, PoolOptions};

use crate::busy::{self, Report, Waits};
use crate::peer::{self, Link, Mechanism, Placement, PoolWorkPool, FLOOR_REPORT, REPORT, WORK};
use crate::report::{self, Record};
use crate::sys;

/// W in µs, up the ladder and down again.
const STEPS_US: [u64; 11] = [0, 1, 4, 16, 64, 256, 64, 16, 4, 1, 0];

/// The index of the top step.
const TOP: usize = 5;

/// Work per item in the pool comparison.
const POOL_ITEM_NS: u64 = 20_000;

/// Calls per step, in a quick run as in a full one (a quick run has one repetition): a ladder
/// takes about a second.
fn calls(w_us: u64) -> usize {
    if w_us >= 64 {
        750
    } else {
        3000
    }
}

fn direction(step: usize) -> &'static str {
    match step {
        s if s < TOP => "up",
        TOP => "top",
        _ => "down",
    }
}

/// Which side works W µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Worker,
    Controller,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Worker => "worker works",
            Side::Controller => "controller works",
        }
    }
}

/// The two pairs of a ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    Floor,
    Tandem,
}

impl Pair {
    const ALL: [Pair; 2] = [Pair::Floor, Pair::Tandem];

    fn mechanism(self) -> Mechanism {
        match self {
            Pair::Floor => Mechanism::WorkFloor,
            Pair::Tandem => Mechanism::TandemDefault,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Pair::Floor => Mechanism::SpinFloor.label(),
            Pair::Tandem => Mechanism::TandemDefault.label(),
        }
    }
}

/// One step's figures, summed over the repetitions.
#[derive(Clone, Debug, Default)]
struct Step {
    /// Nanoseconds per call.
    samples: Vec<u64>,
    controller_cpu_ns: u64,
    worker_cpu_ns: u64,
    /// Wait statistics (tandem only).
    controller: Waits,
    worker: Waits,
}

impl Step {
    fn calls(&self) -> f64 {
        self.samples.len() as f64
    }

    fn mean(&self) -> f64 {
        self.samples.iter().sum::<u64>() as f64 / self.calls()
    }
}

/// One call: the peer works `ns` nanoseconds and echoes the 8-byte message.
fn call(link: &mut Link, ns: u64) {
    let message = ns.to_ne_bytes();
    let mut reply = [0u8; 8];
    match link {
        Link::Tandem { controller, id } => {
            *id += 1;
            controller
                .to_worker()
                .write(&message)
                .expect("write the input");
            controller
                .do_transition(WORK, *id, |mut bytes| {
                    let bytes = bytes.bytes().expect("read the reply");
                    assert!(bytes.copy_to(0, &mut reply), "short reply");
                })
                .expect("work transition");
        }
        floor => floor.round(Mechanism::WorkFloor, &message, &mut reply),
    }
}

/// The worker's CPU time and wait statistics, asked for by an untimed call.
fn worker_report(link: &mut Link) -> Report {
    match link {
        Link::Tandem { controller, id } => {
            *id += 1;
            controller.to_worker().write(&[]).expect("write the input");
            let mut report = None;
            controller
                .do_transition(REPORT, *id, |mut bytes| {
                    let bytes = bytes.bytes().expect("read the report");
                    let mut copy = vec![0u8; bytes.len()];
                    assert!(bytes.copy_to(0, &mut copy), "short report");
                    report = Report::from_bytes(&copy);
                })
                .expect("report transition");
            report.expect("a complete report")
        }
        floor => {
            let mut reply = [0u8; 8];
            floor.round(
                Mechanism::WorkFloor,
                &FLOOR_REPORT.to_ne_bytes(),
                &mut reply,
            );
            Report {
                cpu_ns: u64::from_ne_bytes(reply),
                ..Report::default()
            }
        }
    }
}

/// The controller's CPU time and wait statistics now.
fn controller_mark(link: &Link) -> (u64, Waits) {
    let waits = match link {
        Link::Tandem { controller, .. } => Waits::of(&controller.wait_stats()),
        _ => Waits::default(),
    };
    (sys::process_cpu_ns(), waits)
}

/// Runs the ladder once on a fresh pair, adding each step's figures to `steps`.
fn ladder(pair: Pair, side: Side, steps: &mut [Step]) {
    let mut link = Link::open(pair.mechanism(), Placement::Unpinned, 8);
    // The previous pair's processes are still leaving (runnable for a moment, which makes a
    // tandem waiter see a busy machine and sleep): let them go, then warm up, so that the
    // first step measures the mechanism and not the teardown of the one before.
    std::thread::sleep(std::time::Duration::from_millis(50));
    for _ in 0..1000 {
        call(&mut link, 0);
    }
    for (step, &w_us) in steps.iter_mut().zip(&STEPS_US) {
        let ns = w_us * 1000;
        let calls = calls(w_us);
        // The worker's counters at its last call before the step, then the controller's:
        // the deltas cover the step's calls and nothing else.
        let start = worker_report(&mut link);
        let (cpu_before, waits_before) = controller_mark(&link);
        step.samples.reserve(calls);
        for _ in 0..calls {
            let began = Instant::now();
            match side {
                Side::Worker => call(&mut link, ns),
                Side::Controller => {
                    busy::busy_until(began, ns);
                    call(&mut link, 0);
                }
            }
            step.samples.push(began.elapsed().as_nanos() as u64);
        }
        let (cpu_after, waits_after) = controller_mark(&link);
        let end = worker_report(&mut link);
        step.controller_cpu_ns += cpu_after - cpu_before;
        step.worker_cpu_ns += end.cpu_ns - start.cpu_ns;
        step.controller = step.controller.plus(waits_after.since(waits_before));
        step.worker = step.worker.plus(end.before.since(start.now));
    }
}

/// Items per second of `workers` pool workers on `items` items of [`POOL_ITEM_NS`], and the
/// items' round trips (ns).
fn pool(workers: usize, items: u64) -> (f64, Vec<u64>) {
    let command = || peer::self_command("tandem-pool", Placement::Unpinned);
    let options = PoolOptions::new(workers).process(peer::options());
    let mut pool = PoolWorkPool::start(command, &(), options).expect("start the pool");
    let warm_up = (items / 10).max(10);
    let work = |first: u64, count: u64| (first..first + count).map(|id| (id, POOL_ITEM_NS));
    pool.item(
        work(items, warm_up),
        |result: Result<ItemResult<u64>, PoolError>| {
            result.expect("a warm-up item");
        },
    )
    .expect("warm up the pool");
    let mut trips = Vec::with_capacity(items as usize);
    let began = Instant::now();
    pool.item(
        work(0, items),
        |result: Result<ItemResult<u64>, PoolError>| {
            trips.push(result.expect("an item").round_trip.as_nanos() as u64);
        },
    )
    .expect("run the pool");
    let rate = items as f64 / began.elapsed().as_secs_f64();
    pool.shutdown();
    (rate, trips)
}

/// Items per second of one thread working the same items in process, and their times (ns).
fn in_process(items: u64) -> (f64, Vec<u64>) {
    let mut times = Vec::with_capacity(items as usize);
    let began = Instant::now();
    for _ in 0..items {
        let start = Instant::now();
        busy::busy_until(start, POOL_ITEM_NS);
        times.push(start.elapsed().as_nanos() as u64);
    }
    (items as f64 / began.elapsed().as_secs_f64(), times)
}

/// Runs the section and prints its tables.
pub fn run(reps: usize, quick: bool, records: &mut Vec<Record>) {
    let calibration: Vec<String> = [1u64, 16, 256]
        .iter()
        .map(|&us| {
            let measured = busy::calibration(us * 1000, 200);
            format!("{us} µs takes {}", report::time(measured))
        })
        .collect();
    let began = Instant::now();
    // Per side, per pair, per step.
    let mut results = [Side::Worker, Side::Controller].map(|side| {
        (
            side,
            Pair::ALL.map(|pair| (pair, vec![Step::default(); STEPS_US.len()])),
        )
    });
    for _ in 0..reps {
        for (side, pairs) in &mut results {
            for (pair, steps) in pairs.iter_mut() {
                ladder(*pair, *side, steps);
            }
        }
    }
    let ladders_took = began.elapsed();
    let mut targets = Vec::new();
    for (side, pairs) in &mut results {
        let [(_, floor), (_, tandem)] = pairs;
        print_ladder(*side, floor, tandem, reps, records, &mut targets);
    }

    let began = Instant::now();
    let items: u64 = if quick { 5_000 } else { 10_000 };
    let configurations = [0usize, 1, 2, 3];
    let mut pools: Vec<(f64, Vec<u64>)> = vec![(0.0, Vec::new()); configurations.len()];
    for _ in 0..reps {
        for (workers, (rate, trips)) in configurations.iter().zip(&mut pools) {
            let (r, t) = match workers {
                0 => in_process(items),
                &n => pool(n, items),
            };
            *rate += r / reps as f64;
            trips.extend(t);
        }
    }
    let pool_took = began.elapsed();
    print_pool(
        &configurations,
        &mut pools,
        items,
        reps,
        records,
        &mut targets,
    );
    println!(
        "\nBusy work, in process (p50 of 200): {}. The ladders took {ladders_took:.1?}, the \
         pool {pool_took:.1?}.",
        calibration.join(", ")
    );
    println!("\n### Targets of issue 14 (work), from this run\n");
    println!("| figure | value | target |\n| --- | --- | --- |");
    for line in targets {
        println!("{line}");
    }
}

/// Share of `part` in `whole`, in percent.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

/// A side's waits: at once / while spinning / after the spin, and sleeps per call.
fn waits(waits: &Waits, calls: f64) -> String {
    format!(
        "{} / {} / {}, {:.2}",
        percent(waits.at_once, waits.waits),
        percent(waits.spinning, waits.waits),
        percent(waits.after_sleeping, waits.waits),
        waits.sleeps as f64 / calls
    )
}

fn print_ladder(
    side: Side,
    floor: &mut [Step],
    tandem: &mut [Step],
    reps: usize,
    records: &mut Vec<Record>,
    targets: &mut Vec<String>,
) {
    let mut rows = Vec::new();
    // Per step: tandem's p50 overhead over W, its mean and the floor's mean (ns).
    let mut figures = Vec::new();
    for (index, ((&w_us, floor), tandem)) in STEPS_US
        .iter()
        .zip(floor.iter_mut())
        .zip(tandem.iter_mut())
        .enumerate()
    {
        let w = (w_us * 1000) as f64;
        let step_label = format!("{} {}", index + 1, direction(index));
        let mut stats = Vec::new();
        for (pair, step) in [(Pair::Floor, &mut *floor), (Pair::Tandem, &mut *tandem)] {
            step.samples.sort_unstable();
            let p50 = report::quantile(&step.samples, 0.5);
            let p99 = report::quantile(&step.samples, 0.99);
            let mean = step.mean();
            let calls = step.calls();
            stats.push((p50, mean));
            let controller_cpu = step.controller_cpu_ns as f64 / calls;
            let worker_cpu = step.worker_cpu_ns as f64 / calls;
            let mut extra: Vec<(String, f64)> = [
                ("work_ns", w),
                ("mean_ns", mean),
                ("overhead_p50_ns", p50 - w),
                ("controller_cpu_ns_per_call", controller_cpu),
                ("worker_cpu_ns_per_call", worker_cpu),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
            if pair == Pair::Tandem {
                for (side, waits) in [("controller", step.controller), ("worker", step.worker)] {
                    for (name, count) in waits.named() {
                        extra.push((format!("{side}_{name}"), count as f64));
                    }
                }
            }
            let floor_mean = stats[0].1;
            records.push(Record {
                section: "work",
                mechanism: pair.label().to_owned(),
                condition: format!("{}, step {step_label}, W = {w_us} µs", side.label()),
                bytes: 8,
                count: step.samples.len(),
                p50_ns: p50,
                p99_ns: p99,
                rate: 1e9 / mean,
                ratio: (pair == Pair::Tandem).then(|| mean / floor_mean),
                reference: match pair {
                    Pair::Floor => String::new(),
                    Pair::Tandem => "mean of the floor, same step".to_owned(),
                },
                extra,
            });
        }
        let [(floor_p50, floor_mean), (p50, mean)] = [stats[0], stats[1]];
        figures.push((p50 - w, mean, floor_mean));
        let cpu = |step: &Step| {
            format!(
                "{} / {}",
                report::time(step.controller_cpu_ns as f64 / step.calls()),
                report::time(step.worker_cpu_ns as f64 / step.calls())
            )
        };
        rows.push(vec![
            step_label,
            w_us.to_string(),
            report::time(floor_p50),
            report::time(floor_mean),
            report::time(p50),
            report::time(mean),
            report::time(p50 - w),
            format!("{:.2}×", mean / floor_mean),
            cpu(floor),
            cpu(tandem),
            waits(&tandem.controller, tandem.calls()),
            waits(&tandem.worker, tandem.calls()),
        ]);
    }
    let calls_low = calls(0);
    let calls_high = calls(64);
    let (what, timed) = match side {
        Side::Worker => (
            "the worker works W µs per transition",
            "round trip, the worker's W included",
        ),
        Side::Controller => (
            "the controller works W µs between transitions, the worker waits",
            "the controller's W plus the round trip",
        ),
    };
    println!(
        "\n## Work ladder, {what} (one long-lived pair each; {reps} × {calls_low} calls per \
         step, {calls_high} for W ≥ 64 µs; per call: {timed})\n"
    );
    print!(
        "{}",
        report::table(
            &[
                "step",
                "W (µs)",
                "floor p50",
                "floor mean",
                "tandem p50",
                "tandem mean",
                "tandem overhead (p50 − W)",
                "tandem mean / floor mean",
                "floor CPU per call, controller / worker",
                "tandem CPU per call, controller / worker",
                "tandem controller waits: at once / spinning / slept, sleeps per call",
                "tandem worker waits: at once / spinning / slept, sleeps per call",
            ],
            &rows
        )
    );

    // The targets of issue 14 that this ladder measures.
    let name = side.label();
    let worst_overhead = STEPS_US
        .iter()
        .zip(&figures)
        .filter(|(w, _)| **w <= 64)
        .map(|(_, f)| f.0)
        .fold(f64::MIN, f64::max);
    targets.push(format!(
        "| {name}: worst tandem p50 overhead over W, W ≤ 64 µs | {} | ≤ 1 µs |",
        report::time(worst_overhead)
    ));
    let worst_mean = figures
        .iter()
        .map(|&(_, mean, floor)| mean / (1.3 * floor + 500.0))
        .fold(f64::MIN, f64::max);
    targets.push(format!(
        "| {name}: worst tandem mean / (1.3 × floor mean + 0.5 µs), every step | {worst_mean:.2}× | ≤ 1 |"
    ));
    // The ratio furthest from 1.
    let worst_down = (TOP + 1..STEPS_US.len())
        .map(|down| {
            let up = STEPS_US.len() - 1 - down;
            figures[down].1 / figures[up].1
        })
        .fold(1.0, |worst: f64, r| {
            if (r - 1.0).abs() > (worst - 1.0).abs() {
                r
            } else {
                worst
            }
        });
    targets.push(format!(
        "| {name}: tandem mean on the way down / same W on the way up, furthest from 1 | {worst_down:.2}× | 0.9–1.1 |"
    ));
    if side == Side::Worker {
        let top = &tandem[TOP];
        targets.push(format!(
            "| {name}: W = 256 µs, tandem controller CPU per call | {} | ≤ one sleep and wake-up + the call's overhead (p50 overhead: {}) |",
            report::time(top.controller_cpu_ns as f64 / top.calls()),
            report::time(figures[TOP].0)
        ));
    }
}

fn print_pool(
    configurations: &[usize],
    pools: &mut [(f64, Vec<u64>)],
    items: u64,
    reps: usize,
    records: &mut Vec<Record>,
    targets: &mut Vec<String>,
) {
    let in_process = pools[0].0;
    let label = |workers: usize| match workers {
        0 => "one in-process thread".to_owned(),
        1 => "tandem pool, 1 worker".to_owned(),
        n => format!("tandem pool, {n} workers"),
    };
    let mut rows = Vec::new();
    for (&workers, (rate, trips)) in configurations.iter().zip(pools.iter_mut()) {
        trips.sort_unstable();
        let p50 = report::quantile(trips, 0.5);
        let p99 = report::quantile(trips, 0.99);
        let ratio = *rate / in_process;
        rows.push(vec![
            label(workers),
            format!("{rate:.0}"),
            report::time(p50),
            format!("{ratio:.2}×"),
        ]);
        records.push(Record {
            section: "work",
            mechanism: label(workers),
            condition: format!("pool, {} µs of work per item", POOL_ITEM_NS / 1000),
            bytes: 8,
            count: trips.len(),
            p50_ns: p50,
            p99_ns: p99,
            rate: *rate,
            ratio: (workers > 0).then_some(ratio),
            reference: "items/s of one in-process thread".to_owned(),
            extra: vec![("workers".to_owned(), workers as f64)],
        });
        let target = match workers {
            1 => "≥ 0.8",
            2 => "≥ 1.3",
            _ => continue,
        };
        targets.push(format!(
            "| {}, {} µs items: items/s / one in-process thread | {ratio:.2}× | {target} |",
            label(workers),
            POOL_ITEM_NS / 1000
        ));
    }
    println!(
        "\n## Pool: items of {} µs of work in the worker ({reps} × {items} items, interleaved)\n",
        POOL_ITEM_NS / 1000
    );
    print!(
        "{}",
        report::table(
            &[
                "configuration",
                "items/s",
                "per-item round trip p50",
                "items/s / one in-process thread",
            ],
            &rows
        )
    );
}
