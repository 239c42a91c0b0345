//! The comparison anyone can rerun: `cargo run --release -p tandem-bench`.
//!
//! Runs, interleaved and repeated in one process tree (this binary re-executes itself for
//! every peer), tandem against the floors and against what users write by hand:
//! - latency: 8-byte round trip, p50 and p99, unpinned, pinned apart and pinned together;
//! - bandwidth: echo of 8 B to 64 MiB, raw, typed owned, typed borrowed (one way), against
//!   the two-copy floor and an in-process `memcpy`;
//! - 8 channels on the machine's CPUs: aggregate transitions/s and per-channel p99;
//! - codec: tandem against bincode and (feature `peers`, on by default) bitcode, rkyv with
//!   validation and postcard;
//! - work: transitions that do work on one long-lived channel, against the spin floor doing
//!   the same work. The worker ladder has the worker busy for W = 0, 1, 4, 16, 64, 256 µs per
//!   transition and back down to 0; the controller ladder has the controller busy for W µs
//!   between transitions (the worker's wait). Per step: p50 and mean time per call, the
//!   overhead over W, each side's CPU time per call and wait statistics (answered at once,
//!   while spinning, after sleeping; sleeps per call). Then the pool with 1, 2 and 3 workers
//!   on 20 µs items against one in-process thread (items/s). See `work.rs`.
//! - **async**: the 8-byte round trip awaited on a current-thread tokio runtime against the
//!   blocking controller with the same options. See `asyncs.rs`.
//! - **crash**: what a crash report costs: from posting a transition whose worker crashes to
//!   the typed `WorkerCrashed`, with crash capture on and off, and the unwinding and
//!   symbolizing of its backtrace, first and cached. See `crash.rs`.
//!
//! Prints Markdown tables with ratios to the floors, writes `results.csv`, `results.json` and
//! the SVG plots into `target/tandem-bench/` (or `--out DIR`). `--quick` for a short run,
//! `--rounds N` for more latency rounds per batch, `--reps N` for more repetitions of each
//! section, `--only latency,bandwidth,channels,codec,work,crash,async`.

mod asyncs;
mod busy;
mod codec;
mod crash;
#[path = "../data.rs"]
mod data;
mod peer;
mod report;
mod reuse;
mod sys;
mod work;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use peer::{Link, Mechanism, Placement};
use report::Record;

/// The command line, for the measuring process and for its peers.
#[derive(Debug, Default)]
pub(crate) struct Args {
    quick: bool,
    rounds: Option<usize>,
    reps: Option<usize>,
    only: Option<Vec<String>>,
    out: Option<PathBuf>,
    plots: Option<PathBuf>,
    note: Option<String>,
    pub(crate) peer: Option<String>,
    pub(crate) cpu: Option<usize>,
    pub(crate) fd: Option<i32>,
    pub(crate) fd2: Option<i32>,
    pub(crate) size: Option<usize>,
}

const USAGE: &str = "usage: tandem-bench [--quick] [--rounds N] [--reps N] \
    [--only latency,bandwidth,channels,codec,work,crash,async] [--out DIR] [--plots DIR] [--note TEXT] \
    [--sandbox]";

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args::default();
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let mut value = |name: &str| {
                words
                    .next()
                    .ok_or_else(|| format!("{name} needs a value: {USAGE}"))
            };
            fn number<T: std::str::FromStr>(name: &str, text: String) -> Result<T, String> {
                text.parse()
                    .map_err(|_| format!("{name} wants a number, not {text:?}: {USAGE}"))
            }
            match word.as_str() {
                "--quick" => args.quick = true,
                // `cargo bench` passes `--bench` to every target; nothing to do with it.
                "--bench" => {}
                "--rounds" => args.rounds = Some(number("--rounds", value("--rounds")?)?),
                "--reps" => args.reps = Some(number("--reps", value("--reps")?)?),
                "--only" => {
                    let list = value("--only")?;
                    let sections: Vec<String> = list.split(',').map(str::to_owned).collect();
                    for section in &sections {
                        if !SECTIONS.contains(&section.as_str()) {
                            return Err(format!("unknown section {section:?}: {USAGE}"));
                        }
                    }
                    args.only = Some(sections);
                }
                "--out" => args.out = Some(value("--out")?.into()),
                "--plots" => args.plots = Some(value("--plots")?.into()),
                "--note" => args.note = Some(value("--note")?),
                // Every tandem worker runs in the strict `Sandbox::new()`: its cost, if any.
                "--sandbox" => peer::sandbox_workers(),
                "--peer" => args.peer = Some(value("--peer")?),
                "--cpu" => args.cpu = Some(number("--cpu", value("--cpu")?)?),
                "--fd" => args.fd = Some(number("--fd", value("--fd")?)?),
                "--fd2" => args.fd2 = Some(number("--fd2", value("--fd2")?)?),
                "--size" => args.size = Some(number("--size", value("--size")?)?),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}: {USAGE}")),
            }
        }
        Ok(args)
    }

    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == section))
    }

    fn reps(&self, full: usize) -> usize {
        self.reps
            .unwrap_or(if self.quick { 2 } else { full })
            .max(1)
    }
}

const SECTIONS: [&str; 7] = [
    "latency",
    "bandwidth",
    "channels",
    "codec",
    "work",
    "crash",
    "async",
];

fn main() {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if peer::serve(&args) {
        return;
    }
    let all_cpus = sys::affinity().expect("read this process's CPU affinity");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let machine = describe_machine(cpus, &args);
    println!("# tandem comparison");
    for (key, value) in &machine {
        println!("- {key}: {value}");
    }
    let started = Instant::now();
    let mut records = Vec::new();
    if args.runs("latency") {
        latency(&args, &all_cpus, cpus, &mut records);
    }
    if args.runs("bandwidth") {
        bandwidth(&args, &mut records);
    }
    if args.runs("channels") {
        channels(&args, cpus, &mut records);
    }
    if args.runs("codec") {
        codec::run(args.reps(7), args.quick, &mut records);
    }
    if args.runs("work") {
        // Whole ladders are repeated: once in a quick run.
        let reps = args.reps.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
        work::run(reps, args.quick, &mut records);
    }
    if args.runs("async") {
        let rounds = if args.quick { 1_000 } else { 5_000 };
        asyncs::run(rounds, args.reps(5), &mut records);
    }
    if args.runs("crash") {
        crash::run(if args.quick { 5 } else { 30 }, &mut records);
    }
    summary(&records);

    let out = args.out.clone().unwrap_or_else(default_out_dir);
    report::write_files(&out, &machine, &records).expect("write results.csv and results.json");
    let plots = plots(&records);
    for dir in std::iter::once(&out).chain(args.plots.as_ref()) {
        std::fs::create_dir_all(dir).expect("create the plots' directory");
        for (name, svg) in &plots {
            std::fs::write(dir.join(name), svg).expect("write a plot");
        }
    }
    println!(
        "\nwrote {} records and {} plots to {} in {:.0?}",
        records.len(),
        plots.len(),
        out.display(),
        started.elapsed()
    );
}

/// `target/tandem-bench` beside the profile directory this binary was built into.
fn default_out_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("tandem-bench")))
        .unwrap_or_else(|| PathBuf::from("tandem-bench"))
}

fn describe_machine(cpus: usize, args: &Args) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or_else(
            || "unknown".to_owned(),
            |(_, model)| model.trim().to_owned(),
        );
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut machine = vec![
        ("date".to_owned(), date),
        ("cpus".to_owned(), format!("{cpus} ({model})")),
        ("kernel".to_owned(), read("/proc/sys/kernel/osrelease")),
        ("load average at start".to_owned(), read("/proc/loadavg")),
        (
            "run".to_owned(),
            format!(
                "{}, {} features",
                if args.quick { "--quick" } else { "default" },
                if cfg!(feature = "peers") {
                    "peers"
                } else {
                    "no peer"
                }
            ),
        ),
    ];
    if let Some(note) = &args.note {
        machine.push(("note".to_owned(), note.clone()));
    }
    machine
}

/// Opens a link, warms it up, and times `rounds` rounds one by one (nanoseconds).
fn batch(
    mechanism: Mechanism,
    placement: Placement,
    size: usize,
    warm_up: usize,
    rounds: usize,
) -> Vec<u64> {
    let mut link = Link::open(mechanism, placement, size);
    let message = vec![0xa5u8; size];
    let mut reply = vec![0u8; size.max(8)];
    for _ in 0..warm_up {
        link.round(mechanism, &message, &mut reply[..size]);
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        link.round(mechanism, &message, &mut reply[..size]);
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples
}

const LATENCY: [Mechanism; 7] = [
    Mechanism::TandemDefault,
    Mechanism::TandemFutex,
    Mechanism::TypedPing,
    Mechanism::SpinFloor,
    Mechanism::FutexFloor,
    Mechanism::Socket,
    Mechanism::Pipe,
];

fn latency(args: &Args, all_cpus: &libc::cpu_set_t, cpus: usize, records: &mut Vec<Record>) {
    let rounds = args.rounds.unwrap_or(if args.quick { 1000 } else { 5000 });
    let reps = args.reps(5);
    let placements: Vec<Placement> = Placement::ALL
        .into_iter()
        .filter(|p| cpus >= 2 || *p != Placement::Apart)
        .collect();
    let mut samples: HashMap<(usize, usize), Vec<u64>> = HashMap::new();
    for _ in 0..reps {
        for (p, placement) in placements.iter().enumerate() {
            placement.apply_to_controller(all_cpus);
            for (m, mechanism) in LATENCY.iter().enumerate() {
                if *placement == Placement::Together && mechanism.spins() {
                    continue;
                }
                let batch = batch(*mechanism, *placement, 8, rounds / 10, rounds);
                samples.entry((m, p)).or_default().extend(batch);
            }
        }
    }
    Placement::Unpinned.apply_to_controller(all_cpus);
    let mut table = Vec::new();
    let p50s: HashMap<(usize, usize), (f64, f64, usize)> = samples
        .iter_mut()
        .map(|(key, samples)| {
            samples.sort_unstable();
            (
                *key,
                (
                    report::quantile(samples, 0.5),
                    report::quantile(samples, 0.99),
                    samples.len(),
                ),
            )
        })
        .collect();
    let floor_of = |placement: Placement| match placement {
        Placement::Together => Mechanism::FutexFloor,
        _ => Mechanism::SpinFloor,
    };
    let index = |mechanism: Mechanism| {
        LATENCY
            .iter()
            .position(|m| *m == mechanism)
            .expect("listed")
    };
    for (m, mechanism) in LATENCY.iter().enumerate() {
        let mut row = vec![mechanism.label().to_owned()];
        for (p, placement) in placements.iter().enumerate() {
            let floor = floor_of(*placement);
            let floor_p50 = p50s.get(&(index(floor), p)).map(|f| f.0);
            match p50s.get(&(m, p)) {
                Some(&(p50, p99, count)) => {
                    let ratio = floor_p50.map(|f| p50 / f);
                    row.extend([report::time(p50), report::time(p99), report::ratio(ratio)]);
                    records.push(Record {
                        section: "latency",
                        mechanism: mechanism.label().to_owned(),
                        condition: placement.label().to_owned(),
                        bytes: 8,
                        count,
                        p50_ns: p50,
                        p99_ns: p99,
                        rate: 0.0,
                        ratio,
                        reference: format!("p50 of {}, {}", floor.label(), placement.label()),
                        extra: Vec::new(),
                    });
                }
                None => row.extend(["–".to_owned(), "–".to_owned(), "–".to_owned()]),
            }
        }
        table.push(row);
    }
    let mut header = vec!["mechanism"];
    let labels: Vec<String> = placements
        .iter()
        .flat_map(|p| {
            let floor = if *p == Placement::Together {
                "futex floor"
            } else {
                "spin floor"
            };
            [
                format!("{} p50", p.label()),
                "p99".to_owned(),
                format!("p50 / {floor}"),
            ]
        })
        .collect();
    header.extend(labels.iter().map(String::as_str));
    println!(
        "\n## Latency: 8-byte round trip between two processes ({reps} × {rounds} rounds each, interleaved)\n"
    );
    print!("{}", report::table(&header, &table));
    println!(
        "\nSpinning mechanisms are not run pinned together: with both processes on one CPU a \
         spinner only burns the time slice its peer needs."
    );
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const SIZES: [usize; 5] = [8, 4 * KIB, 64 * KIB, MIB, 64 * MIB];

const BANDWIDTH: [Mechanism; 6] = [
    Mechanism::TandemDefault,
    Mechanism::TypedBytes,
    Mechanism::TypedWords,
    Mechanism::SpinFloor,
    Mechanism::RawOneWay,
    Mechanism::TypedBorrowedOneWay,
];

/// Bandwidth label of a mechanism (the latency labels describe the wait path instead).
fn bandwidth_label(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::TandemDefault => "tandem raw (echo)",
        Mechanism::TypedBytes => "tandem typed owned, `Vec<u8>` (echo)",
        Mechanism::TypedWords => "tandem typed owned, `Vec<u64>` (echo)",
        Mechanism::SpinFloor => "floor: two copies each way, spinning (echo)",
        other => other.label(),
    }
}

const MEMCPY: &str = "memcpy in one process (one copy)";

fn bandwidth(args: &Args, records: &mut Vec<Record>) {
    let reps = args.reps(5);
    let budget = if args.quick { 16 * MIB } else { 64 * MIB };
    let rounds_of = |size: usize| (budget / size).clamp(if args.quick { 2 } else { 3 }, 2000);
    let mut samples: HashMap<(usize, usize), Vec<u64>> = HashMap::new();
    let mut memcpy: HashMap<usize, Vec<u64>> = HashMap::new();
    for _ in 0..reps {
        for (s, &size) in SIZES.iter().enumerate() {
            let rounds = rounds_of(size);
            for (m, &mechanism) in BANDWIDTH.iter().enumerate() {
                let batch = batch(
                    mechanism,
                    Placement::Unpinned,
                    size,
                    (rounds / 10).max(1),
                    rounds,
                );
                samples.entry((m, s)).or_default().extend(batch);
            }
            let source = vec![0xa5u8; size];
            let mut target = vec![0u8; size];
            let times = memcpy.entry(s).or_default();
            for round in 0..rounds + 1 {
                let start = Instant::now();
                target.copy_from_slice(std::hint::black_box(&source));
                std::hint::black_box(&mut target);
                if round > 0 {
                    times.push(start.elapsed().as_nanos() as u64);
                }
            }
        }
    }
    let stats = |samples: &mut Vec<u64>| {
        samples.sort_unstable();
        (
            report::quantile(samples, 0.5),
            report::quantile(samples, 0.99),
            samples.len(),
        )
    };
    let floor = BANDWIDTH
        .iter()
        .position(|m| *m == Mechanism::SpinFloor)
        .expect("listed");
    let raw_one_way = BANDWIDTH
        .iter()
        .position(|m| *m == Mechanism::RawOneWay)
        .expect("listed");
    let mut figures: HashMap<(usize, usize), (f64, f64, usize)> = HashMap::new();
    for (key, samples) in samples.iter_mut() {
        figures.insert(*key, stats(samples));
    }
    let mut table = Vec::new();
    for (s, &size) in SIZES.iter().enumerate() {
        for (m, &mechanism) in BANDWIDTH.iter().enumerate() {
            let (p50, p99, count) = figures[&(m, s)];
            let one_way = matches!(
                mechanism,
                Mechanism::RawOneWay | Mechanism::TypedBorrowedOneWay
            );
            let moved = if one_way { size } else { 2 * size };
            let rate = moved as f64 / p50;
            let (reference, reference_p50) = if one_way {
                (raw_one_way, figures[&(raw_one_way, s)].0)
            } else {
                (floor, figures[&(floor, s)].0)
            };
            let ratio = (reference != m).then(|| reference_p50 / p50);
            let reference_label = bandwidth_label(BANDWIDTH[reference]);
            table.push(vec![
                report::size(size),
                bandwidth_label(mechanism).to_owned(),
                report::time(p50),
                report::time(p99),
                format!("{rate:.2}"),
                ratio.map_or_else(
                    || "(reference)".to_owned(),
                    |r| format!("{r:.2}× {}", short(reference_label)),
                ),
            ]);
            records.push(Record {
                section: "bandwidth",
                mechanism: bandwidth_label(mechanism).to_owned(),
                condition: if one_way { "one way" } else { "echo" }.to_owned(),
                bytes: size,
                count,
                p50_ns: p50,
                p99_ns: p99,
                rate,
                ratio,
                reference: format!("bandwidth of {reference_label}"),
                extra: Vec::new(),
            });
        }
        let (p50, p99, count) = stats(memcpy.get_mut(&s).expect("measured"));
        let rate = size as f64 / p50;
        table.push(vec![
            report::size(size),
            MEMCPY.to_owned(),
            report::time(p50),
            report::time(p99),
            format!("{rate:.2}"),
            "(reference)".to_owned(),
        ]);
        records.push(Record {
            section: "bandwidth",
            mechanism: MEMCPY.to_owned(),
            condition: "one copy".to_owned(),
            bytes: size,
            count,
            p50_ns: p50,
            p99_ns: p99,
            rate,
            ratio: None,
            reference: String::new(),
            extra: Vec::new(),
        });
    }
    println!(
        "\n## Bandwidth: echo each way (bytes moved = 2 × size per round trip; one way: size), \
         unpinned, {reps} repetitions interleaved\n"
    );
    print!(
        "{}",
        report::table(
            &[
                "size",
                "mechanism",
                "round trip p50",
                "p99",
                "GB/s (p50)",
                "bandwidth ratio"
            ],
            &table
        )
    );
}

fn short(label: &str) -> &str {
    match label {
        l if l.starts_with("floor") => "floor",
        l if l.starts_with("one way: tandem raw") => "raw one way",
        l => l,
    }
}

const CHANNELS: usize = 8;

const CONTENTION: [Mechanism; 4] = [
    Mechanism::TandemDefault,
    Mechanism::TandemFutex,
    Mechanism::TandemSpin50,
    Mechanism::FutexFloor,
];

fn channels(args: &Args, cpus: usize, records: &mut Vec<Record>) {
    let reps = args.reps(3);
    let duration = if args.quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(1)
    };
    // Per mechanism: every channel's samples of every repetition, and the elapsed time.
    let mut results: Vec<(Vec<Vec<u64>>, Duration)> =
        vec![(vec![Vec::new(); CHANNELS], Duration::ZERO); CONTENTION.len()];
    for _ in 0..reps {
        for (m, &mechanism) in CONTENTION.iter().enumerate() {
            let links: Vec<Link> = (0..CHANNELS)
                .map(|_| Link::open(mechanism, Placement::Unpinned, 8))
                .collect();
            let start = std::sync::Barrier::new(CHANNELS + 1);
            let began = Instant::now();
            let per_channel: Vec<Vec<u64>> = std::thread::scope(|scope| {
                let handles: Vec<_> = links
                    .into_iter()
                    .map(|mut link| {
                        let start = &start;
                        scope.spawn(move || {
                            let message = [0x5au8; 8];
                            let mut reply = [0u8; 8];
                            let mut samples = Vec::new();
                            start.wait();
                            let deadline = Instant::now() + duration;
                            loop {
                                let now = Instant::now();
                                if now >= deadline {
                                    break;
                                }
                                link.round(mechanism, &message, &mut reply);
                                samples.push(now.elapsed().as_nanos() as u64);
                            }
                            drop(link);
                            samples
                        })
                    })
                    .collect();
                start.wait();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a channel's thread"))
                    .collect()
            });
            let _ = began;
            let (all, elapsed) = &mut results[m];
            for (channel, samples) in per_channel.into_iter().enumerate() {
                all[channel].extend(samples);
            }
            *elapsed += duration;
        }
    }
    struct Figures {
        aggregate: f64,
        slowest: f64,
        fastest: f64,
        p50: f64,
        worst_p99: f64,
        median_p99: f64,
        count: usize,
    }
    let figures: Vec<Figures> = results
        .iter_mut()
        .map(|(channels, elapsed)| {
            let seconds = elapsed.as_secs_f64();
            let rates: Vec<f64> = channels.iter().map(|c| c.len() as f64 / seconds).collect();
            let mut p99s: Vec<f64> = channels
                .iter_mut()
                .map(|c| {
                    c.sort_unstable();
                    report::quantile(c, 0.99)
                })
                .collect();
            p99s.sort_by(f64::total_cmp);
            let mut all: Vec<u64> = channels.iter().flatten().copied().collect();
            all.sort_unstable();
            Figures {
                aggregate: rates.iter().sum(),
                slowest: rates.iter().copied().fold(f64::MAX, f64::min),
                fastest: rates.iter().copied().fold(0.0, f64::max),
                p50: report::quantile(&all, 0.5),
                worst_p99: p99s.last().copied().unwrap_or(f64::NAN),
                median_p99: p99s[p99s.len() / 2],
                count: all.len(),
            }
        })
        .collect();
    let futex = CONTENTION
        .iter()
        .position(|m| *m == Mechanism::TandemFutex)
        .expect("listed");
    let mut table = Vec::new();
    for (m, &mechanism) in CONTENTION.iter().enumerate() {
        let f = &figures[m];
        let reference = &figures[futex];
        let aggregate_ratio = f.aggregate / reference.aggregate;
        let p99_ratio = f.worst_p99 / reference.worst_p99;
        table.push(vec![
            mechanism.label().to_owned(),
            format!("{:.0}", f.aggregate),
            format!("{:.0}", f.slowest),
            format!("{:.0}", f.fastest),
            report::time(f.p50),
            report::time(f.median_p99),
            report::time(f.worst_p99),
            format!("{aggregate_ratio:.2}×"),
            format!("{p99_ratio:.2}×"),
        ]);
        records.push(Record {
            section: "channels",
            mechanism: mechanism.label().to_owned(),
            condition: format!(
                "{CHANNELS} channels on {cpus} CPUs, aggregate; p99 of the worst channel"
            ),
            bytes: 8,
            count: f.count,
            p50_ns: f.p50,
            p99_ns: f.worst_p99,
            rate: f.aggregate,
            ratio: Some(aggregate_ratio),
            reference: "aggregate of tandem, futex only".to_owned(),
            extra: Vec::new(),
        });
        records.push(Record {
            section: "channels",
            mechanism: mechanism.label().to_owned(),
            condition: format!("{CHANNELS} channels on {cpus} CPUs, slowest and fastest channel"),
            bytes: 8,
            count: f.count,
            p50_ns: f.median_p99,
            p99_ns: f.worst_p99,
            rate: f.slowest,
            ratio: Some(p99_ratio),
            reference: "worst-channel p99 of tandem, futex only (ratio); rate: slowest channel"
                .to_owned(),
            extra: Vec::new(),
        });
    }
    println!(
        "\n## {CHANNELS} channels driven at once on {cpus} CPUs (8-byte round trips, one controller \
         thread per channel, {reps} × {duration:?} interleaved)\n"
    );
    print!(
        "{}",
        report::table(
            &[
                "mechanism",
                "aggregate /s",
                "slowest channel /s",
                "fastest channel /s",
                "p50",
                "median channel p99",
                "worst channel p99",
                "aggregate / futex only",
                "worst p99 / futex only",
            ],
            &table
        )
    );
}

/// The ratios the issue sets targets for, from this run's records.
fn summary(records: &[Record]) {
    let find = |section: &str, mechanism: &str, condition: &str, bytes: usize| {
        records.iter().find(|r| {
            r.section == section
                && r.mechanism == mechanism
                && r.condition.starts_with(condition)
                && r.bytes == bytes
        })
    };
    let mut lines: Vec<String> = Vec::new();
    let latency = |mechanism: Mechanism, condition: &str| {
        find("latency", mechanism.label(), condition, 8).map(|r| r.p50_ns)
    };
    let mut compare = |what: String, value: Option<f64>, reference: Option<f64>, target: &str| {
        if let (Some(value), Some(reference)) = (value, reference) {
            lines.push(format!("| {what} | {:.2}× | {target} |", value / reference));
        }
    };
    for condition in ["unpinned", "pinned apart"] {
        compare(
            format!("8-byte round trip, tandem default / spin floor, {condition}"),
            latency(Mechanism::TandemDefault, condition),
            latency(Mechanism::SpinFloor, condition),
            "≤ 1.5",
        );
    }
    compare(
        "8-byte round trip, tandem default / futex floor, pinned together".to_owned(),
        latency(Mechanism::TandemDefault, "pinned together"),
        latency(Mechanism::FutexFloor, "pinned together"),
        "≤ 1.1",
    );
    for condition in ["unpinned", "pinned apart", "pinned together"] {
        compare(
            format!("8-byte round trip, tandem futex only / futex floor, {condition}"),
            latency(Mechanism::TandemFutex, condition),
            latency(Mechanism::FutexFloor, condition),
            "≤ 1.1",
        );
    }
    let bandwidth = |mechanism: Mechanism, size: usize| {
        find("bandwidth", bandwidth_label(mechanism), "", size).map(|r| r.rate)
    };
    for (size, target) in [(4 * KIB, "≥ 0.8"), (MIB, "≥ 0.9"), (64 * MIB, "≥ 0.9")] {
        compare(
            format!(
                "{} echo bandwidth, tandem raw / two-copy floor",
                report::size(size)
            ),
            bandwidth(Mechanism::TandemDefault, size),
            bandwidth(Mechanism::SpinFloor, size),
            target,
        );
    }
    compare(
        "64 MiB echo bandwidth, typed owned `Vec<u64>` / raw".to_owned(),
        bandwidth(Mechanism::TypedWords, 64 * MIB),
        bandwidth(Mechanism::TandemDefault, 64 * MIB),
        "≥ 0.8 (with decoding into reused storage)",
    );
    compare(
        "64 MiB echo bandwidth, typed owned `Vec<u8>` / raw".to_owned(),
        bandwidth(Mechanism::TypedBytes, 64 * MIB),
        bandwidth(Mechanism::TandemDefault, 64 * MIB),
        "≥ 0.8 (with decoding into reused storage)",
    );
    for size in [4 * KIB, MIB, 64 * MIB] {
        compare(
            format!("{} one way, typed borrowed / raw", report::size(size)),
            bandwidth(Mechanism::TypedBorrowedOneWay, size),
            bandwidth(Mechanism::RawOneWay, size),
            "≥ 0.95",
        );
    }
    for r in records.iter().filter(|r| r.section == "codec target") {
        lines.push(format!(
            "| codec, {} | {:.2}× | {} |",
            r.mechanism,
            r.ratio.unwrap_or(f64::NAN),
            r.condition
        ));
    }
    for r in records.iter().filter(|r| r.section == "channels") {
        if r.mechanism == Mechanism::TandemDefault.label() {
            let (what, target) = if r.condition.ends_with("p99 of the worst channel") {
                ("aggregate transitions/s", "≥ 1")
            } else {
                ("worst-channel p99", "≤ 2")
            };
            lines.push(format!(
                "| 8 channels, tandem default / tandem futex only, {what} | {:.2}× | {target} |",
                r.ratio.unwrap_or(f64::NAN)
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    println!("\n## Targets of issue 10, from this run\n");
    println!("| figure | ratio | target |\n| --- | --- | --- |");
    for line in lines {
        println!("{line}");
    }
}

fn plots(records: &[Record]) -> Vec<(&'static str, String)> {
    let mut plots = Vec::new();
    let mut groups: Vec<report::BarGroup> = Vec::new();
    for r in records.iter().filter(|r| r.section == "latency") {
        let bar = (r.condition.clone(), r.p50_ns, r.p99_ns);
        match groups.iter_mut().find(|(name, _)| *name == r.mechanism) {
            Some((_, bars)) => bars.push(bar),
            None => groups.push((r.mechanism.clone(), vec![bar])),
        }
    }
    if !groups.is_empty() {
        plots.push((
            "latency.svg",
            report::latency_svg("8-byte round trip between two processes", &groups),
        ));
    }
    let series = |metric: fn(&Record) -> f64, echo_only: bool| {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for r in records.iter().filter(|r| r.section == "bandwidth") {
            if echo_only && r.condition != "echo" {
                continue;
            }
            let point = (r.bytes as f64, metric(r));
            match series.iter_mut().find(|(name, _)| *name == r.mechanism) {
                Some((_, points)) => points.push(point),
                None => series.push((r.mechanism.clone(), vec![point])),
            }
        }
        series
    };
    let bandwidth = series(|r| r.rate, false);
    if !bandwidth.is_empty() {
        plots.push((
            "bandwidth.svg",
            report::lines_svg(
                "Bandwidth against payload size (p50)",
                "payload size",
                "GB/s",
                |x| report::size(x as usize),
                |y| format!("{y}"),
                &bandwidth,
            ),
        ));
        plots.push((
            "round_trip.svg",
            report::lines_svg(
                "Echo round trip against payload size (p50)",
                "payload size",
                "round trip",
                |x| report::size(x as usize),
                report::time,
                &series(|r| r.p50_ns, true),
            ),
        ));
    }
    plots
}
