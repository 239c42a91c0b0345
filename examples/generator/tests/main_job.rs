//! The main job end to end: the real binary, real worker processes, real shared memory.
//! Every test holds one lock, so that "no process of this binary is left" can be checked
//! after each run without another test's workers in the way.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tandem-generator");

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A path in the system's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "tandem-generator-test-{}-{name}.hepmc",
            std::process::id()
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the generator to completion, checks it left nothing behind and returns its output.
fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the generator binary runs");
    let pid = child.id();
    let output = child
        .wait_with_output()
        .expect("the generator's output reads");
    assert_nothing_left(Some(pid));
    output
}

/// Runs to completion and expects success; returns stdout.
fn run_ok(args: &[&str]) -> String {
    let output = run(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "generator {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The value after `label` in the summary.
fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
        .trim()
}

fn digest(stdout: &str) -> u128 {
    u128::from_str_radix(field(stdout, "digest "), 16).expect("32 hex digits")
}

fn restarts(stdout: &str) -> u32 {
    field(stdout, "restarts ").parse().expect("a count")
}

/// No process runs this binary and no segment of ours is in /dev/shm.
fn assert_nothing_left(controller: Option<u32>) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let running = processes_of_this_binary();
        if running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the generator still run: {running:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(pid) = controller {
        let marker = format!("-{pid}-");
        let left: Vec<String> = std::fs::read_dir("/dev/shm")
            .expect("/dev/shm lists")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("tandem-generator") && name.contains(&marker))
            .collect();
        assert!(left.is_empty(), "segments left behind: {left:?}");
    }
}

fn processes_of_this_binary() -> Vec<u32> {
    let binary = std::fs::canonicalize(BIN).expect("the binary exists");
    std::fs::read_dir("/proc")
        .expect("/proc lists")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            (exe == binary).then_some(pid)
        })
        .collect()
}

const SMALL: [&str; 4] = ["--events", "2000", "--events-per-lumi", "250"];

fn small(extra: &[&str]) -> Vec<String> {
    SMALL.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run_small(extra: &[&str]) -> String {
    let args = small(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args)
}

#[test]
fn digest_is_the_same_for_any_stream_count_crash_and_job_split() {
    let _serial = serial();
    let one = digest(&run_small(&["--seed", "11", "--streams", "1"]));
    let three = digest(&run_small(&["--seed", "11", "--streams", "3"]));
    assert_eq!(one, three, "1 stream and 3 streams");
    let mut split = 0u128;
    for job in ["0", "1", "2"] {
        let stdout = run_small(&[
            "--seed",
            "11",
            "--streams",
            "1",
            "--jobs",
            "3",
            "--job",
            job,
        ]);
        split = split.wrapping_add(digest(&stdout));
    }
    assert_eq!(one, split, "3 jobs added up");
    let other = digest(&run_small(&["--seed", "12", "--streams", "3"]));
    assert_ne!(one, other, "another seed");
}

#[test]
fn digest_survives_crashes_of_every_kind() {
    let _serial = serial();
    let reference = digest(&run_small(&["--seed", "5", "--streams", "3"]));
    for kind in ["segv", "abort", "overflow", "exit", "hang"] {
        let stdout = run_small(&[
            "--seed",
            "5",
            "--streams",
            "3",
            "--crash-probability",
            "0.002",
            "--crash-kind",
            kind,
            "--transition-timeout",
            "0.3",
        ]);
        assert!(
            restarts(&stdout) > 0,
            "{kind}: no crash happened:\n{stdout}"
        );
        assert_eq!(digest(&stdout), reference, "{kind}:\n{stdout}");
        assert!(
            field(&stdout, "events ").starts_with("2000 generated"),
            "{kind}: the run summary counts every event once:\n{stdout}"
        );
    }
}

#[test]
fn measured_acceptance_agrees_with_the_analytic_value() {
    let _serial = serial();
    let stdout = run_ok(&["--events", "8000", "--seed", "3", "--streams", "2"]);
    // `acceptance  0.85360 +- 0.00250 measured, 0.85542 analytic (...)`
    let words: Vec<&str> = field(&stdout, "acceptance ").split_whitespace().collect();
    let measured: f64 = words[0].parse().unwrap();
    let error: f64 = words[2].parse().unwrap();
    let analytic: f64 = words[4].parse().unwrap();
    assert!(error > 0.0);
    assert!(
        (measured - analytic).abs() < 4.0 * error,
        "{measured} +- {error} against {analytic}"
    );
    // The kept events are those the filter keeps: the count matches the acceptance.
    let kept: u64 = field(&stdout, "events ")
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!((kept as f64 / 8000.0 - measured).abs() < 1e-5);
}

#[test]
fn hepmc_file_reads_strictly_and_does_not_depend_on_streams() {
    let _serial = serial();
    let one = TempFile::new("one");
    let three = TempFile::new("three");
    let stdout = run_small(&["--streams", "1", "--hepmc", one.0.to_str().unwrap()]);
    let kept: usize = field(&stdout, "events ")
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let events = read_hepmc(&one.0);
    assert_eq!(events.len(), kept);
    run_small(&[
        "--streams",
        "3",
        "--crash-probability",
        "0.002",
        "--hepmc",
        three.0.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&one.0).unwrap(),
        std::fs::read(&three.0).unwrap(),
        "the file is the same byte for byte with 3 streams and crashes"
    );
}

#[test]
fn sigint_stops_workers_and_leaves_a_file_cut_at_an_event() {
    let _serial = serial();
    let file = TempFile::new("sigint");
    let mut child = Command::new(BIN)
        .args(["--events", "2000000", "--streams", "2", "--hepmc"])
        .arg(&file.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the generator starts");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&file.0).map_or(0, |m| m.len()) < 200_000 {
        assert!(Instant::now() < deadline, "no output after 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id();
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the generator did not stop within 5 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(130), "stdout:\n{stdout}");
    assert_nothing_left(Some(pid));
    let last: u64 = field(&stdout, "interrupted ")
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!(last < 2_000_000, "{stdout}");
    let events = read_hepmc(&file.0);
    let kept: usize = field(&stdout, "events ")
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(events.len(), kept);
    assert!(events.last().is_some_and(|&number| number <= last));
}

#[test]
fn bad_options_are_refused_with_a_message() {
    let _serial = serial();
    for args in [
        &["--events", "0"][..],
        &["--jobs", "3", "--job", "3"],
        &["--crash-probability", "1.5"],
        &["--crash-kind", "melt"],
        &["--transition-timeout", "-1"],
        &["--streams", "0"],
        &["--sum-digests", "xyz"],
    ] {
        let output = run(args);
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
    let sum = run_ok(&[
        "--sum-digests",
        "0000000000000000000000000000000f",
        "ffffffffffffffffffffffffffffffff",
    ]);
    assert_eq!(sum.trim(), "0000000000000000000000000000000e");
}

/// A reader that follows HepMC3 3.2's `ReaderAscii` and refuses what it would not read the
/// same way: returns the event numbers.
fn read_hepmc(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).expect("the file reads as UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "no header");
    assert!(
        lines[0].starts_with("HepMC::Version 3.02."),
        "version line: {}",
        lines[0]
    );
    assert_eq!(lines[1], "HepMC::Asciiv3-START_EVENT_LISTING");
    // The writer ends with the footer and an empty line; a run cut short by SIGINT still
    // closes its file at an event boundary.
    assert!(
        text.ends_with("HepMC::Asciiv3-END_EVENT_LISTING\n\n"),
        "the file does not end with the footer"
    );
    let body = &lines[2..lines.len() - 2];

    let mut numbers = Vec::new();
    let mut weight_names = 0;
    let mut index = 0;
    // Run information: weight names and tools, before the first event.
    while index < body.len() && !body[index].starts_with('E') {
        let line = body[index];
        match line.as_bytes()[0] {
            b'W' => weight_names = line[2..].split("\\|").count(),
            b'T' => assert_eq!(line[2..].split("\\|").count(), 3, "tool line: {line}"),
            _ => panic!("unexpected line before the first event: {line}"),
        }
        index += 1;
    }
    assert_eq!(weight_names, 1, "one weight name");
    while index < body.len() {
        let line = body[index];
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], "E", "event line expected: {line}");
        assert_eq!(
            fields.len(),
            4,
            "E number vertices particles, no position: {line}"
        );
        let number: u64 = fields[1].parse().expect("event number");
        let vertices: i32 = fields[2].parse().expect("vertex count");
        let particles: i32 = fields[3].parse().expect("particle count");
        if let Some(&previous) = numbers.last() {
            assert!(number > previous, "event {number} after {previous}");
        }
        numbers.push(number);
        index += 1;
        assert_eq!(
            body.get(index),
            Some(&"U GEV MM"),
            "units of event {number}"
        );
        index += 1;
        let weights = body[index].strip_prefix("W ").expect("weights line");
        let weights: Vec<f64> = weights
            .split(' ')
            .map(|w| w.parse().expect("a weight"))
            .collect();
        assert_eq!(weights.len(), weight_names, "weights of event {number}");
        index += 1;
        let mut saw_cross_section = false;
        while index < body.len() && body[index].starts_with('A') {
            let attribute: Vec<&str> = body[index].splitn(4, ' ').collect();
            assert_eq!(attribute.len(), 4, "A id name value: {}", body[index]);
            let _id: i32 = attribute[1].parse().expect("attribute id");
            if attribute[2] == "GenCrossSection" {
                let values: Vec<&str> = attribute[3].split(' ').collect();
                assert_eq!(values.len(), 4, "xs error accepted attempted");
                let sigma: f64 = values[0].parse().unwrap();
                let error: f64 = values[1].parse().unwrap();
                let _: i64 = values[2].parse().unwrap();
                let _: i64 = values[3].parse().unwrap();
                assert!(sigma > 0.0 && error == 0.0);
                saw_cross_section = true;
            }
            index += 1;
        }
        assert!(saw_cross_section, "event {number} has no GenCrossSection");

        let mut next_particle = 1;
        let mut explicit = BTreeSet::new();
        let mut implicit = HashSet::new();
        let mut balance = [0.0f64; 4];
        let mut scale = 0.0f64;
        while index < body.len() && matches!(body[index].as_bytes()[0], b'P' | b'V') {
            let line = body[index];
            let fields: Vec<&str> = line.split(' ').collect();
            if fields[0] == "V" {
                assert_eq!(fields.len(), 4, "V id status [in], no position: {line}");
                let id: i32 = fields[1].parse().expect("vertex id");
                assert!(id < 0 && id >= -vertices, "vertex id {id} in {line}");
                let _status: i32 = fields[2].parse().expect("vertex status");
                let list = fields[3]
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .expect("[list]");
                let incoming: Vec<i32> = list.split(',').map(|p| p.parse().unwrap()).collect();
                assert!(
                    incoming.len() > 1,
                    "a one-in vertex is never written: {line}"
                );
                assert!(incoming.windows(2).all(|w| w[0] < w[1]), "sorted: {line}");
                assert!(incoming.iter().all(|&p| p >= 1 && p < next_particle));
                assert!(explicit.insert(id), "vertex {id} written twice");
            } else {
                assert_eq!(fields.len(), 10, "P with nine fields: {line}");
                let id: i32 = fields[1].parse().unwrap();
                assert_eq!(id, next_particle, "particles in order: {line}");
                next_particle += 1;
                let parent: i32 = fields[2].parse().unwrap();
                assert!(parent >= -vertices && parent <= particles, "{line}");
                if parent > 0 {
                    assert!(parent < id, "mother read before: {line}");
                    implicit.insert(parent);
                } else if parent < 0 {
                    assert!(explicit.contains(&parent), "vertex line first: {line}");
                }
                let _pdg: i32 = fields[3].parse().unwrap();
                let values: Vec<f64> = fields[4..9]
                    .iter()
                    .map(|v| {
                        assert!(v.contains('e'), "%e format: {v}");
                        v.parse().unwrap()
                    })
                    .collect();
                let status: i32 = fields[9].parse().unwrap();
                let sign = match status {
                    4 => 1.0,
                    1 => -1.0,
                    _ => 0.0,
                };
                for (sum, value) in balance.iter_mut().zip(&values[..4]) {
                    *sum += sign * value;
                    scale = scale.max(value.abs());
                }
                let [px, py, pz, e, m] = values[..] else {
                    unreachable!()
                };
                let mass2 = e * e - px * px - py * py - pz * pz;
                assert!((mass2 - m * m).abs() < 1e-9 * e * e, "off shell: {line}");
            }
            index += 1;
        }
        assert_eq!(next_particle - 1, particles, "particles of event {number}");
        assert_eq!(
            (explicit.len() + implicit.len()) as i32,
            vertices,
            "vertices of event {number}"
        );
        for component in balance {
            assert!(
                component.abs() <= 1e-9 * scale,
                "event {number}: momentum not conserved: {balance:?}"
            );
        }
    }
    numbers
}
