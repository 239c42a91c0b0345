//! Worker crashes as the controller sees them, and restarting a crashed worker.
//!
//! A worker must serve its transitions on its process's real main thread, so that the
//! stack-overflow case really overflows the main thread (libtest runs every test on a spawned
//! thread, even with `--test-threads=1`): the tests below (all at once on their own threads)
//! start workers by re-executing this binary with the role `crash/<role>`, which `main.rs`
//! reads before the runner parses the command line, so a worker ignores its arguments.
//!
//! Detection delays are measured on `CLOCK_MONOTONIC`, which is shared by all processes: the
//! worker writes the time to stderr as its last line before it faults (the controller reads
//! it back from the error's stderr tail), or the test takes it just before it kills the
//! worker from outside. Each test prints its delay.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
use support::faults::divide_by_zero;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use support::faults::illegal_instruction;
use support::faults::recurse;
use support::harness::Test;
use support::{assert_nothing_in_dev_shm, role_command};
use tandem::{
    process::{ExitReason, WorkerStatus},
    ChannelError, Controller, Options, TransitionRequest, WorkerChannel,
};

const BEGIN_RUN: u32 = 0;
const BEGIN_LUMI: u32 = 1;
const EVENT: u32 = 2;
const KIND_NAMES: &[&str] = &["begin_run", "begin_lumi", "event"];

/// Upper bound between a fault and the controller's error.
const DETECTION_BOUND: Duration = Duration::from_secs(1);
/// Prefix of the worker's last stderr line before it faults; the time follows.
const FAULT_LINE: &str = "crasher: faulting now, t=";
/// Environment variable naming the generator's crash-once flag file.
const CRASH_FLAG_ENV: &str = "TANDEM_CRASH_FLAG";

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes on one machine.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// SplitMix64: the generator's deterministic random-number step.
fn splitmix(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31), next)
}

fn encode(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<u64> {
    assert_eq!(
        bytes.len() % 8,
        0,
        "{} bytes is not a list of u64",
        bytes.len()
    );
    bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

/// A write through a null pointer, in machine code so that Rust's own null checks cannot turn
/// it into a panic or an abort: a real SIGSEGV.
fn null_write() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: deliberately not: the point is to fault.
    unsafe {
        std::arch::asm!("mov dword ptr [{address}], 1", address = in(reg) std::hint::black_box(0usize));
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: deliberately not: the point is to fault (0x10 lies in the unmapped null page).
    unsafe {
        std::ptr::write_volatile(std::hint::black_box(0x10usize) as *mut u32, 1);
    }
}

fn on_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Writes the last line before a fault, with the time, to stderr (unbuffered).
fn announce_fault() {
    eprintln!("{FAULT_LINE}{}", monotonic_ns());
}

/// The `crasher` worker: each event's input names what to do.
fn serve_crasher(request: &mut TransitionRequest<'_>) -> Result<(), String> {
    let mode = String::from_utf8(request.trusted_input().map_err(|e| e.to_string())?.to_vec())
        .map_err(|e| e.to_string())?;
    eprintln!(
        "crasher: transition {} (id {}): {mode}",
        request.kind(),
        request.id()
    );
    eprintln!("crasher: about to {mode}");
    match mode.as_str() {
        "echo" => {
            return request
                .output()
                .write(b"still serving")
                .map_err(|e| e.to_string())
        }
        "segv" => {
            announce_fault();
            null_write();
        }
        "abort" => {
            announce_fault();
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() };
        }
        "overflow" => {
            if !on_main_thread() {
                return Err("the overflow case must run on the worker's main thread".to_owned());
            }
            eprintln!("crasher: on the main thread, recursing");
            announce_fault();
            eprintln!("depth {}", recurse(0));
        }
        "sleep" => {
            eprintln!("crasher: sleeping in the transition");
            thread::sleep(Duration::from_secs(30));
        }
        #[cfg(target_arch = "x86_64")]
        "divide" => {
            announce_fault();
            divide_by_zero();
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        "illegal" => {
            announce_fault();
            illegal_instruction();
        }
        "panic" => panic!("crasher panicked on purpose (t={})", monotonic_ns()),
        "exit" => {
            announce_fault();
            std::process::exit(7);
        }
        "later_segv" => {
            // Crashes 100 ms after this transition returned, while the worker is idle.
            thread::spawn(|| {
                thread::sleep(Duration::from_millis(100));
                eprintln!("crasher: background thread faulting between transitions");
                null_write();
            });
            return request.output().write(b"done").map_err(|e| e.to_string());
        }
        "thread_segv" => {
            let faulting = thread::spawn(|| {
                eprintln!("crasher: on a secondary thread");
                announce_fault();
                null_write();
            });
            let _ = faulting.join();
        }
        other => return Err(format!("unknown mode {other:?}")),
    }
    Err(format!("{mode}: still alive after the fault"))
}

/// The `generator` worker, modelled on the reference's external generator: the setup payload
/// is the seed; begin-lumi and event receive the controller's random state and return the
/// advanced one (begin-lumi: `[state]`, event: `[values.., state]`).
///
/// On its first life only it crashes in event 5: the crash consumes the flag file named by
/// [`CRASH_FLAG_ENV`], so a restarted worker finds none.
fn serve_generator(worker: &mut WorkerChannel) -> Result<(), ChannelError> {
    let seed = decode(worker.trusted_input().expect("setup payload"))[0];
    let flag = std::env::var_os(CRASH_FLAG_ENV).map(PathBuf::from);
    let mut run = None;
    let mut lumi = None;
    worker.handle_transitions(|request| -> Result<(), String> {
        let input = decode(request.trusted_input().map_err(|e| e.to_string())?);
        let reply = match (request.kind(), input.as_slice()) {
            (BEGIN_RUN, &[number]) => {
                run = Some(number);
                lumi = None;
                Vec::new()
            }
            (BEGIN_LUMI, &[number, state]) => {
                let run = run.ok_or("begin-lumi before begin-run")?;
                lumi = Some(number);
                let (_, state) =
                    splitmix(state ^ seed ^ run.rotate_left(17) ^ number.rotate_left(41));
                vec![state]
            }
            (EVENT, &[number, mut state]) => {
                let (Some(run), Some(lumi)) = (run, lumi) else {
                    return Err("event outside a lumi".to_owned());
                };
                if number == 5
                    && flag
                        .as_deref()
                        .is_some_and(|flag| std::fs::remove_file(flag).is_ok())
                {
                    eprintln!("generator: event 5, first life: crashing");
                    null_write();
                }
                let mut values = vec![seed ^ (run << 32) ^ (lumi << 16) ^ number];
                let (count, next) = splitmix(state);
                state = next;
                for _ in 0..1 + count % 16 {
                    let (value, next) = splitmix(state);
                    values.push(value);
                    state = next;
                }
                values.push(state);
                values
            }
            (kind, input) => {
                return Err(format!(
                    "unexpected transition kind {kind} with input {input:?}"
                ))
            }
        };
        request
            .output()
            .write(&encode(&reply))
            .map_err(|e| e.to_string())
    })
}

pub fn run_worker(role: &str) {
    let mut worker = WorkerChannel::from_env(0)
        .expect("open channel")
        .expect("started as a worker");
    let result = match role {
        "crasher" => worker.handle_transitions(serve_crasher),
        "generator" => serve_generator(&mut worker),
        other => panic!("unknown worker role {other}"),
    };
    match result {
        Ok(()) => {}
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Controller side
// ---------------------------------------------------------------------------------------------

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(Duration::from_secs(10))
}

fn spawn_crasher(base: &str) -> Controller {
    let mut command = role_command("worker", "crash/crasher");
    // Keeps the panic case's stderr short.
    command.env_remove("RUST_BACKTRACE");
    let mut controller = Controller::spawn(command, base, 0, options()).unwrap();
    controller.set_transition_names(KIND_NAMES);
    controller
}

/// How the worker is expected to end.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// Its monitor caught this signal: `WorkerCrashed`.
    Crashed(i32),
    /// It ended this way without a handler: `WorkerDied`.
    Died(ExitReason),
}

impl Expected {
    fn exit_reason(self) -> ExitReason {
        match self {
            Expected::Crashed(signal) => ExitReason::Signaled(signal),
            Expected::Died(reason) => reason,
        }
    }
}

/// The time in the worker's `FAULT_LINE`, found in `text`.
fn fault_time(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|line| line.starts_with(FAULT_LINE))
        .unwrap_or_else(|| panic!("no fault line in {text:?}"));
    line[FAULT_LINE.len()..].trim().parse().unwrap()
}

fn stderr_tail(error: &ChannelError) -> &str {
    match error {
        ChannelError::WorkerCrashed { stderr_tail, .. }
        | ChannelError::WorkerDied { stderr_tail, .. } => stderr_tail
            .as_deref()
            .unwrap_or_else(|| panic!("no stderr tail in {error:?}")),
        other => panic!("no stderr tail in {other:?}"),
    }
}

/// Runs one event in `mode` (id `id`) that ends the worker, optionally killing it from
/// outside with `kill` after 200 ms; checks the error against `expected`, prints the
/// detection delay under the name `case` and returns the stderr tail.
fn crash_case(case: &str, mode: &str, id: u64, kill: Option<i32>, expected: Expected) -> String {
    let mut controller = spawn_crasher(&format!("crash-{case}"));
    let pid = controller.pid().unwrap();
    let killer = kill.map(|signal| {
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            let killed_at = monotonic_ns();
            // SAFETY: plain kill(2) of our own child, which is not reaped before the
            // transition ends.
            assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
            killed_at
        })
    });
    controller.to_worker().write(mode.as_bytes()).unwrap();
    let started = Instant::now();
    let result = controller.do_transition(EVENT, id, |_| ());
    let noticed_at = monotonic_ns();
    let error = result.expect_err("the transition must fail");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let tail = stderr_tail(&error).to_owned();
    let faulted_at = match killer {
        Some(killer) => killer.join().unwrap(),
        None => fault_time(&tail),
    };
    let delay = Duration::from_nanos(noticed_at.saturating_sub(faulted_at));
    eprintln!("detection delay [{case}]: {delay:?}  ({error:?})");
    assert!(noticed_at >= faulted_at, "noticed before the fault?");
    assert!(
        delay < DETECTION_BOUND,
        "{case}: noticed {delay:?} after the fault"
    );

    // The variant, the signal or status, the transition, the message.
    let label = match (&error, expected) {
        (
            ChannelError::WorkerCrashed {
                pid: reported,
                signal,
                transition,
                while_idle,
                ..
            },
            Expected::Crashed(expected),
        ) => {
            assert!(!while_idle, "{error}");
            assert_eq!(*signal, expected, "{error}");
            assert_eq!(*reported, pid, "{error}");
            *transition
        }
        (
            ChannelError::WorkerDied {
                pid: reported,
                reason,
                transition,
                ..
            },
            Expected::Died(expected),
        ) => {
            assert_eq!(*reason, Some(expected), "{error}");
            assert_eq!(*reported, pid, "{error}");
            *transition
        }
        (other, expected) => panic!("{case}: expected {expected:?}, got {other:?}"),
    };
    assert_eq!(
        (label.kind, label.name, label.id),
        (EVENT, Some("event"), id),
        "{error}"
    );
    let what = match expected {
        Expected::Crashed(signal) => {
            format!("crashed with {}", tandem::monitor::signal_name(signal))
        }
        Expected::Died(reason) => reason.to_string(),
    };
    let headline = format!("worker {pid} {what} during transition `event` (id {id})");
    let text = error.to_string();
    assert!(
        text.starts_with(&headline),
        "{text:?} does not start with {headline:?}"
    );
    assert!(error.is_worker_lost());

    // The tail: the worker's last line before the fault is in the error and its text.
    let last = match kill {
        Some(_) => "crasher: sleeping in the transition".to_owned(),
        None => tail
            .lines()
            .find(|l| l.starts_with(FAULT_LINE))
            .unwrap()
            .to_owned(),
    };
    assert!(
        tail.contains(&format!("crasher: about to {mode}")),
        "{tail}"
    );
    assert!(tail.contains(&last), "{last:?} not in {tail:?}");
    assert!(text.contains(&last), "{last:?} not in {text:?}");

    // The process really ended that way, and the channel refuses work until a restart.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !controller.worker_status().has_ended() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        controller.worker_status(),
        WorkerStatus::Ended(expected.exit_reason())
    );
    let again = controller.do_transition(EVENT, id + 1, |_| ()).unwrap_err();
    assert!(matches!(again, ChannelError::Unusable { .. }), "{again}");
    // The refusal keeps the loss that caused it (not a time-out), and says what it was.
    let earlier = again.earlier().expect("the failure that broke the channel");
    assert!(
        earlier.is_worker_lost() && !earlier.is_timeout(),
        "{earlier}"
    );
    assert_eq!(
        std::mem::discriminant(earlier),
        std::mem::discriminant(&error),
        "{earlier}"
    );
    assert!(again.to_string().contains(&headline), "{again}");

    drop(controller);
    assert_nothing_in_dev_shm(std::process::id());
    tail
}

fn null_write_is_reported_as_sigsegv() {
    let tail = crash_case("segv", "segv", 42, None, Expected::Crashed(libc::SIGSEGV));
    assert!(!tail.contains("overflowed its stack"), "{tail}");
}

fn abort_is_reported_as_sigabrt() {
    crash_case("abort", "abort", 43, None, Expected::Crashed(libc::SIGABRT));
}

fn main_thread_stack_overflow_is_reported_as_sigsegv() {
    let tail = crash_case(
        "overflow",
        "overflow",
        44,
        None,
        Expected::Crashed(libc::SIGSEGV),
    );
    assert!(tail.contains("crasher: on the main thread"), "{tail}");
    assert!(
        tail.contains("tandem: a thread has overflowed its stack"),
        "{tail}"
    );
}

fn sigkill_from_outside_is_reported_as_death() {
    crash_case(
        "sigkill",
        "sleep",
        45,
        Some(libc::SIGKILL),
        Expected::Died(ExitReason::Signaled(libc::SIGKILL)),
    );
}

fn sigterm_from_outside_is_reported_as_crash() {
    crash_case(
        "sigterm",
        "sleep",
        46,
        Some(libc::SIGTERM),
        Expected::Crashed(libc::SIGTERM),
    );
}

/// Only where integer division by zero traps (x86_64; aarch64 returns 0 instead).
#[cfg(target_arch = "x86_64")]
fn division_by_zero_is_reported_as_sigfpe() {
    crash_case(
        "sigfpe",
        "divide",
        47,
        None,
        Expected::Crashed(libc::SIGFPE),
    );
}

/// An undefined instruction in the worker: the monitor catches SIGILL and the controller
/// reports the crash with that signal, the instruction's address as the fault address and the
/// function that holds it as the innermost frame.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn illegal_instruction_is_reported_as_sigill() {
    let mut controller = spawn_crasher("crash-sigill-report");
    controller.to_worker().write(b"illegal").unwrap();
    let error = controller.do_transition(EVENT, 53, |_| ()).unwrap_err();
    let ChannelError::WorkerCrashed {
        signal, backtrace, ..
    } = &error
    else {
        panic!("expected WorkerCrashed, got {error:?}");
    };
    assert_eq!(*signal, libc::SIGILL, "{error}");
    let report = error.to_string();
    let first = backtrace
        .frames()
        .first()
        .unwrap_or_else(|| panic!("no frames: {report}"));
    assert_eq!(backtrace.fault_address(), Some(first.address()), "{report}");
    assert!(
        first
            .function()
            .is_some_and(|name| name.ends_with("::illegal_instruction")),
        "{report}"
    );
    drop(controller);
    // The report as for every crash: the signal's name, the transition, the stderr tail.
    crash_case(
        "sigill",
        "illegal",
        52,
        None,
        Expected::Crashed(libc::SIGILL),
    );
}

fn exit_inside_a_transition_is_reported_with_its_status() {
    crash_case(
        "exit",
        "exit",
        48,
        None,
        Expected::Died(ExitReason::Exited(7)),
    );
}

fn crash_on_a_secondary_thread_is_reported_as_sigsegv() {
    let tail = crash_case(
        "thread-segv",
        "thread_segv",
        49,
        None,
        Expected::Crashed(libc::SIGSEGV),
    );
    assert!(tail.contains("crasher: on a secondary thread"), "{tail}");
}

fn crash_between_transitions_is_labelled_as_such() {
    let mut controller = spawn_crasher("crash-idle");
    controller.to_worker().write(b"later_segv").unwrap();
    controller.do_transition(EVENT, 60, |_| ()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !controller.worker_status().has_ended() {
        assert!(Instant::now() < deadline, "the worker did not crash");
        thread::sleep(Duration::from_millis(5));
    }
    controller.to_worker().write(b"echo").unwrap();
    let error = controller.do_transition(EVENT, 61, |_| ()).unwrap_err();
    match &error {
        ChannelError::WorkerCrashed {
            signal,
            transition,
            while_idle,
            ..
        } => {
            assert_eq!(*signal, libc::SIGSEGV);
            assert!(*while_idle, "{error}");
            assert_eq!(transition.id, 61);
        }
        other => panic!("expected WorkerCrashed, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(
            "crashed with SIGSEGV between transitions, before transition `event` (id 61)"
        ),
        "{text}"
    );
    assert!(
        text.contains("background thread faulting between transitions"),
        "{text}"
    );
}

fn panic_is_reported_with_its_location_and_the_worker_goes_on() {
    let mut controller = spawn_crasher("crash-panic");
    let pid = controller.pid().unwrap();
    controller.to_worker().write(b"panic").unwrap();
    let error = controller.do_transition(EVENT, 50, |_| ()).unwrap_err();
    let noticed_at = monotonic_ns();
    let ChannelError::WorkerFailed {
        transition,
        message,
    } = &error
    else {
        panic!("expected WorkerFailed, got {error:?}");
    };
    let panicked_at: u64 = message
        .split("(t=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {message:?}"));
    let delay = Duration::from_nanos(noticed_at - panicked_at);
    eprintln!("detection delay [panic]: {delay:?}  ({error:?})");
    assert!(delay < DETECTION_BOUND, "panic: noticed {delay:?} after it");
    assert_eq!(
        (transition.kind, transition.name, transition.id),
        (EVENT, Some("event"), 50)
    );
    assert!(message.contains("crasher panicked on purpose"), "{message}");
    // The location, file:line:column, points at the `panic!` in this file.
    let location = message
        .split_whitespace()
        .find(|word| word.starts_with("tests/main_thread/crash.rs:"))
        .unwrap_or_else(|| panic!("no location in {message:?}"));
    let line: usize = location.split(':').nth(1).unwrap().parse().unwrap();
    let source_line = include_str!("crash.rs").lines().nth(line - 1).unwrap();
    assert!(
        source_line.contains("panic!(\"crasher panicked on purpose"),
        "{location} is {source_line:?}"
    );
    assert!(
        error.to_string().starts_with(
            "worker failed during transition `event` (id 50): panic at tests/main_thread/crash.rs:"
        ),
        "{error}"
    );
    assert!(!error.is_worker_lost());

    // Still the same worker, still serving.
    controller.to_worker().write(b"echo").unwrap();
    let reply = controller
        .do_transition(EVENT, 51, |mut reply| reply.to_vec().unwrap())
        .unwrap();
    assert_eq!(reply, b"still serving");
    assert_eq!(controller.pid(), Some(pid));
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
    assert_nothing_in_dev_shm(std::process::id());
}

const SEED: u64 = 0x5EED_F00D_CAFE;
const RUN: u64 = 1;
const LUMI: u64 = 3;
const EVENTS: u64 = 10;

/// What one generator job produced.
struct Job {
    /// The values of each event, in order.
    outputs: Vec<Vec<u64>>,
    /// The errors that made the controller restart the worker.
    crashes: Vec<ChannelError>,
    /// Worker pids, one per life.
    pids: Vec<u32>,
    restarts: u32,
}

/// Runs the transition and decodes the reply.
fn transition(
    controller: &mut Controller,
    kind: u32,
    id: u64,
    input: &[u64],
) -> Result<Vec<u64>, ChannelError> {
    controller.to_worker().write(&encode(input)).unwrap();
    controller.do_transition(kind, id, |mut reply| decode(&reply.to_vec().unwrap()))
}

/// Begin-run and begin-lumi: what a fresh worker needs before events. Returns the random
/// state after begin-lumi.
fn begin(controller: &mut Controller, lumi_state: u64) -> Result<u64, ChannelError> {
    assert_eq!(
        transition(controller, BEGIN_RUN, RUN, &[RUN])?,
        Vec::<u64>::new()
    );
    let reply = transition(controller, BEGIN_LUMI, LUMI, &[LUMI, lumi_state])?;
    assert_eq!(reply.len(), 1);
    Ok(reply[0])
}

/// A job of one run, one lumi and [`EVENTS`] events, which restarts the worker whenever it is
/// lost and replays begin-run and begin-lumi with the same inputs, then retries the event with
/// the same random state.
fn generate(base: &str, crash_flag: &Path) -> Job {
    let mut command = role_command("worker", "crash/generator");
    command.env(CRASH_FLAG_ENV, crash_flag);
    let mut controller =
        Controller::spawn_with_raw_setup(command, base, 0, options(), encode(&[SEED])).unwrap();
    controller.set_transition_names(KIND_NAMES);
    let mut pids = vec![controller.pid().unwrap()];
    let lumi_state = splitmix(SEED).0;
    let mut state = begin(&mut controller, lumi_state).unwrap();
    let after_lumi = state;
    let mut outputs = Vec::new();
    let mut crashes = Vec::new();
    for event in 1..=EVENTS {
        let mut attempts = 0;
        let mut values = loop {
            attempts += 1;
            match transition(&mut controller, EVENT, event, &[event, state]) {
                Ok(values) => break values,
                Err(error) if error.is_worker_lost() && attempts < 2 => {
                    crashes.push(error);
                    controller.restart().unwrap();
                    pids.push(controller.pid().unwrap());
                    let replayed = begin(&mut controller, lumi_state).unwrap();
                    assert_eq!(replayed, after_lumi, "begin-lumi replayed differently");
                }
                Err(error) => panic!("event {event}, attempt {attempts}: {error}"),
            }
        };
        state = values.pop().unwrap();
        outputs.push(values);
    }
    let restarts = controller.restarts();
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
    assert_nothing_in_dev_shm(std::process::id());
    Job {
        outputs,
        crashes,
        pids,
        restarts,
    }
}

fn flag_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "tandem-crash-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn restarted_generator_reproduces_an_uninterrupted_run() {
    let no_flag = flag_path("none");
    let reference = generate("gen-clean", &no_flag);
    assert!(reference.crashes.is_empty());
    assert_eq!(reference.restarts, 0);

    let flag = flag_path("once");
    std::fs::write(&flag, b"crash in event 5").unwrap();
    let started = Instant::now();
    let job = generate("gen-crash", &flag);
    let flag_left = flag.exists();
    let _ = std::fs::remove_file(&flag);
    eprintln!(
        "generator job with a crash and a restart: {:?}",
        started.elapsed()
    );
    assert!(!flag_left, "the first worker never reached its crash");

    assert_eq!(job.restarts, 1);
    assert_eq!(job.pids.len(), 2);
    assert_ne!(job.pids[0], job.pids[1], "the restart made a new process");
    match job.crashes.as_slice() {
        [ChannelError::WorkerCrashed {
            pid,
            signal,
            transition,
            ..
        }] => {
            assert_eq!(*pid, job.pids[0]);
            assert_eq!(*signal, libc::SIGSEGV);
            assert_eq!((transition.kind, transition.id), (EVENT, 5));
        }
        other => panic!("expected one WorkerCrashed, got {other:?}"),
    }
    assert_eq!(job.outputs.len() as u64, EVENTS);
    let mut distinct = reference.outputs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len() as u64,
        EVENTS,
        "every event has its own output"
    );
    assert_eq!(
        job.outputs, reference.outputs,
        "outputs after the restart differ from an uninterrupted run"
    );
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

pub const TESTS: &[Test] = &[
    (
        "crash_between_transitions_is_labelled_as_such",
        crash_between_transitions_is_labelled_as_such,
    ),
    (
        "null_write_is_reported_as_sigsegv",
        null_write_is_reported_as_sigsegv,
    ),
    ("abort_is_reported_as_sigabrt", abort_is_reported_as_sigabrt),
    (
        "main_thread_stack_overflow_is_reported_as_sigsegv",
        main_thread_stack_overflow_is_reported_as_sigsegv,
    ),
    (
        "sigkill_from_outside_is_reported_as_death",
        sigkill_from_outside_is_reported_as_death,
    ),
    (
        "sigterm_from_outside_is_reported_as_crash",
        sigterm_from_outside_is_reported_as_crash,
    ),
    #[cfg(target_arch = "x86_64")]
    (
        "division_by_zero_is_reported_as_sigfpe",
        division_by_zero_is_reported_as_sigfpe,
    ),
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    (
        "illegal_instruction_is_reported_as_sigill",
        illegal_instruction_is_reported_as_sigill,
    ),
    (
        "exit_inside_a_transition_is_reported_with_its_status",
        exit_inside_a_transition_is_reported_with_its_status,
    ),
    (
        "crash_on_a_secondary_thread_is_reported_as_sigsegv",
        crash_on_a_secondary_thread_is_reported_as_sigsegv,
    ),
    (
        "panic_is_reported_with_its_location_and_the_worker_goes_on",
        panic_is_reported_with_its_location_and_the_worker_goes_on,
    ),
    (
        "restarted_generator_reproduces_an_uninterrupted_run",
        restarted_generator_reproduces_an_uninterrupted_run,
    ),
];
