//! The runtime core driven through real processes: this test binary re-runs itself as the
//! worker (the ignored `worker_entry` test) or as a controller (`controller_entry`).

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::{assert_nothing_in_dev_shm, dev_shm_entries_of, role, role_command, wait_gone};
use tandem::{
    process::ExitReason, ChannelError, Controller, ControllerChannel, Options, ProcessOptions,
    TransitionRequest, WorkerChannel,
};

const EVENT: u32 = 1;
const END_LUMI: u32 = 2;
const SLEEP: u32 = 3;

fn worker(role: &str) -> Command {
    role_command("channel::worker_entry", role)
}

fn fast_options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5))
}

/// Deterministic payload for transition `n` of channel `channel`: varying sizes, from empty
/// to 300 KiB, with content that depends on every index.
fn payload(channel: u32, n: u64) -> Vec<u8> {
    let size = match n % 7 {
        0 => 0,
        1 => 1,
        2 => 4096,
        3 => (n as usize * 131) % 20_000,
        4 => 300 * 1024,
        5 => 17,
        _ => (n as usize * 7919) % 70_000,
    };
    (0..size)
        .map(|i| (i as u64 ^ n.wrapping_mul(31) ^ (u64::from(channel) * 97)) as u8)
        .collect()
}

/// What the echo worker sends back: the input reversed, each byte plus one.
fn transformed(input: &[u8]) -> Vec<u8> {
    input.iter().rev().map(|b| b.wrapping_add(1)).collect()
}

fn echo(request: &mut TransitionRequest<'_>) -> Result<(), String> {
    let reply = transformed(request.trusted_input().map_err(|e| e.to_string())?);
    request.output().write(&reply).map_err(|e| e.to_string())
}

fn serve(role: &str, worker: &mut WorkerChannel) -> Result<(), ChannelError> {
    match role {
        "standard" => {
            let mut seen = Vec::new();
            worker.handle_transitions(|request| -> Result<(), String> {
                seen.push((request.kind(), request.id()));
                let input = request.trusted_input().map_err(|e| e.to_string())?.to_vec();
                match (request.kind(), request.id()) {
                    (EVENT, 2) => {
                        check(input == b"event 2 input", "event 2 input")?;
                        check(
                            request.input_buffer().remap_count() == 1,
                            "one mapping for event 2",
                        )?;
                        request
                            .output()
                            .write(b"event 2 output")
                            .map_err(|e| e.to_string())?;
                        request.set_keep(true);
                    }
                    (EVENT, 3) => {
                        check(input == vec![3u8; 10_000], "event 3 input")?;
                        check(
                            request.input_buffer().remap_count() == 2,
                            "remap for the larger event 3",
                        )?;
                        request
                            .output()
                            .write(&[9u8; 20_000])
                            .map_err(|e| e.to_string())?;
                        check(
                            request.output().generation() == 2,
                            "worker's buffer grew once",
                        )?;
                    }
                    (END_LUMI, 1) => {
                        check(input.is_empty(), "empty end-lumi input")?;
                        request.output().write(b"").map_err(|e| e.to_string())?;
                    }
                    other => return Err(format!("unexpected transition {other:?}")),
                }
                Ok(())
            })?;
            let expected = [(EVENT, 2), (EVENT, 3), (END_LUMI, 1)];
            std::process::exit(if seen == expected { 0 } else { 3 });
        }
        "buffer_sequence" => worker.handle_transitions(|request| -> Result<(), String> {
            // id = step + 1, see `BUFFER_STEPS`.
            let step = &BUFFER_STEPS[request.id() as usize - 1];
            let must_remap = request.input_buffer().must_remap();
            let input = request.trusted_input().map_err(|e| e.to_string())?.to_vec();
            let buffer = request.input_buffer();
            check(input == sequence_bytes(step.len), "bytes and length")?;
            check(buffer.remap_count() == step.remaps, "remap count")?;
            check(buffer.mapped_capacity() == step.capacity, "mapped capacity")?;
            check(buffer.label().ends_with(":c2w"), "buffer label")?;
            let reply = format!("{must_remap}");
            request
                .output()
                .write(reply.as_bytes())
                .map_err(|e| e.to_string())
        }),
        "echo" => worker.handle_transitions(echo),
        // Answers each transition only once the controller's retry callback opened its
        // gate: the first wait always times out, however loaded the machine.
        "slow" => worker.handle_transitions(|request| -> Result<(), String> {
            gate_wait(&format!("transition-{}", request.id()));
            echo(request)
        }),
        "sleepy" => worker.handle_transitions(|request| -> Result<(), String> {
            if request.kind() == SLEEP {
                std::thread::sleep(Duration::from_secs(30));
            }
            echo(request)
        }),
        "failing" => worker.handle_transitions(|request| -> Result<(), String> {
            if request.id() == 7 {
                return Err("generator exploded at event 7".to_owned());
            }
            echo(request)
        }),
        other => panic!("unknown worker role {other}"),
    }
}

/// One step of `buffer_sequence_grows_in_place`: what the controller writes (`len` bytes),
/// the buffer's generation and capacity after the write, and how many times the worker's
/// reader has mapped more of it once it read the step.
struct BufferStep {
    len: usize,
    generation: u32,
    capacity: usize,
    remaps: u64,
}

/// A message fits while it fits the capacity (the first page is there from the start);
/// growth is by half at least, in pages.
const BUFFER_STEPS: [BufferStep; 6] = [
    BufferStep {
        len: 4,
        generation: 0,
        capacity: 4096,
        remaps: 1,
    },
    BufferStep {
        len: 3,
        generation: 0,
        capacity: 4096,
        remaps: 1,
    },
    BufferStep {
        len: 4096,
        generation: 0,
        capacity: 4096,
        remaps: 1,
    },
    BufferStep {
        len: 5000,
        generation: 1,
        capacity: 8192,
        remaps: 2,
    },
    BufferStep {
        len: 5001,
        generation: 1,
        capacity: 8192,
        remaps: 2,
    },
    BufferStep {
        len: 9000,
        generation: 2,
        capacity: 12288,
        remaps: 3,
    },
];

fn sequence_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Environment variable naming the directory of a worker's gates.
const GATE_ENV: &str = "TANDEM_TEST_GATES";

/// A directory of gates (files) that a controller opens for its worker.
struct Gates(std::path::PathBuf);

impl Gates {
    fn new(name: &str) -> Gates {
        let dir = std::env::temp_dir().join(format!("tandem-gates-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Gates(dir)
    }

    fn open(&self, gate: &str) {
        std::fs::write(self.0.join(gate), b"").unwrap();
    }

    fn worker(&self, role: &str) -> Command {
        let mut command = worker(role);
        command.env(GATE_ENV, &self.0);
        command
    }
}

impl Drop for Gates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// In a worker: waits until the controller opens `gate` (at most 10 s, then goes on and
/// lets the test fail on what follows).
fn gate_wait(gate: &str) {
    let dir = std::env::var_os(GATE_ENV).expect("started with gates");
    let path = std::path::Path::new(&dir).join(gate);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn check(condition: bool, what: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!("worker check failed: {what}"))
    }
}

#[test]
#[ignore = "worker half of the process tests, started by them"]
fn worker_entry() {
    let Some(role) = role() else { return };
    if role == "late" {
        std::thread::sleep(Duration::from_secs(3));
    }
    if role == "slow_setup" {
        gate_wait("setup");
    }
    let mut worker = WorkerChannel::from_env(0)
        .expect("open channel")
        .expect("started as a worker");
    let role = if role == "slow_setup" {
        "echo".to_owned()
    } else {
        role
    };
    match serve(&role, &mut worker) {
        Ok(()) => {}
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

#[test]
fn standard_exchange() {
    let mut controller = Controller::spawn(worker("standard"), "std", 0, fast_options()).unwrap();
    // The setup kind is refused before anything is posted: the caller's mistake, which
    // leaves the channel usable.
    let error = controller.do_transition(u32::MAX, 1, |_| ()).unwrap_err();
    assert!(
        matches!(error, ChannelError::ReservedKind { kind: u32::MAX }),
        "{error}"
    );
    assert!(!error.requires_restart(), "{error}");
    controller.to_worker().write(b"event 2 input").unwrap();
    let (output, keep, remaps) = controller
        .do_transition(EVENT, 2, |mut reply| {
            (
                reply.to_vec().unwrap(),
                reply.keep(),
                reply.buffer().remap_count(),
            )
        })
        .unwrap();
    assert_eq!(output, b"event 2 output");
    assert!(keep);
    assert_eq!(remaps, 1);
    assert_eq!(
        controller.to_worker().generation(),
        0,
        "a small input fits the first page"
    );

    controller.to_worker().write(&[3u8; 10_000]).unwrap();
    assert_eq!(
        controller.to_worker().generation(),
        1,
        "the larger input grows the buffer"
    );
    let (output, keep, remaps) = controller
        .do_transition(EVENT, 3, |mut reply| {
            (
                reply.to_vec().unwrap(),
                reply.keep(),
                reply.buffer().remap_count(),
            )
        })
        .unwrap();
    assert_eq!(output, vec![9u8; 20_000]);
    assert!(!keep);
    assert_eq!(remaps, 2);
    assert!(!controller.channel().keep());

    controller.to_worker().write(b"").unwrap();
    let output = controller
        .do_transition(END_LUMI, 1, |mut reply| reply.bytes().unwrap().len())
        .unwrap();
    assert_eq!(output, 0);
    let worker_pid = controller.pid().unwrap();
    let held = assert_nothing_in_dev_shm(worker_pid);
    assert!(held >= 3, "the worker holds its channel's memfds ({held})");
    assert!(assert_nothing_in_dev_shm(std::process::id()) >= 3);
    let exit = controller.shutdown();
    assert_eq!(
        exit,
        Some(ExitReason::Exited(0)),
        "the worker saw exactly three transitions"
    );
}

#[test]
fn buffer_sequence_grows_in_place() {
    let mut controller =
        Controller::spawn(worker("buffer_sequence"), "buf", 0, fast_options()).unwrap();
    let mut previous_capacity = 0;
    for (step, expected) in BUFFER_STEPS.iter().enumerate() {
        let buffer = controller.to_worker();
        buffer.write(&sequence_bytes(expected.len)).unwrap();
        assert_eq!(
            (buffer.generation(), buffer.capacity()),
            (expected.generation, expected.capacity),
            "step {step}"
        );
        let reply = controller
            .do_transition(EVENT, step as u64 + 1, |mut reply| reply.to_vec().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            (expected.capacity != previous_capacity).to_string(),
            "step {step}: reader's remap decision"
        );
        previous_capacity = expected.capacity;
    }
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
}

#[test]
fn setup_times_out_when_the_worker_is_late() {
    let options = fast_options().setup_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let error = Controller::spawn(worker("late"), "late", 0, options).unwrap_err();
    assert!(
        matches!(error, ChannelError::SetupTimedOut { retries: 0, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("timed out after"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn setup_retry_reports_its_count_and_waits_while_told() {
    // Retries run out before the late worker shows up: the error counts them.
    let mut channel = ControllerChannel::create(
        "retry",
        0,
        fast_options().setup_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let mut asked = 0;
    let mut late = None;
    let error = channel
        .setup_worker_with_retry(
            |channel| {
                let mut command = worker("late");
                channel.prepare_command(&mut command);
                let child = command.spawn()?;
                late = Some(child.id());
                Ok(child)
            },
            || {
                asked += 1;
                asked <= 2
            },
        )
        .unwrap_err();
    // The worker that never opened its channel was killed and reaped with the failed setup:
    // it holds no memory of the channel any more.
    let late = late.expect("the late worker was launched");
    assert!(
        wait_gone(late, Duration::from_millis(100)).is_some(),
        "worker {late} still runs after the failed setup"
    );
    assert!(
        matches!(error, ChannelError::SetupTimedOut { retries: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("2 retries"), "{error}");
    drop(channel);
    assert_nothing_in_dev_shm(std::process::id());

    // A slow worker (500 ms) with a 100 ms setup time-out succeeds while retry says yes.
    let mut channel = ControllerChannel::create(
        "retry",
        1,
        fast_options().setup_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    // The worker sets up only once the second retry opened its gate.
    let gates = Gates::new("setup");
    let mut retries = 0;
    let mut child = channel
        .setup_worker_with_retry(
            |channel| {
                let mut command = gates.worker("slow_setup");
                channel.prepare_command(&mut command);
                command.spawn()
            },
            || {
                retries += 1;
                if retries == 2 {
                    gates.open("setup");
                }
                true
            },
        )
        .unwrap();
    assert!(retries >= 2, "retried {retries} times");
    channel.to_worker().write(b"abc").unwrap();
    let reply = channel
        .do_transition(EVENT, 1, |mut r| r.to_vec().unwrap())
        .unwrap();
    assert_eq!(reply, transformed(b"abc"));
    channel.stop_worker();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_launcher_that_fails_is_reported_with_the_program_it_prepared() {
    let mut channel = ControllerChannel::create("launch", 0, fast_options()).unwrap();
    let error = channel
        .setup_worker(|channel| {
            let mut command = Command::new("/nonexistent/tandem-worker");
            channel.prepare_command(&mut command);
            command.spawn()
        })
        .unwrap_err();
    match &error {
        ChannelError::Spawn { command, source } => {
            assert_eq!(command, "/nonexistent/tandem-worker");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other}"),
    }
    assert!(
        error.to_string().contains("`/nonexistent/tandem-worker`"),
        "{error}"
    );
    // A launcher that fails before it prepared anything names no program.
    let error = channel
        .setup_worker(|_| Err(std::io::Error::other("no slot on the batch node")))
        .unwrap_err();
    assert!(matches!(error, ChannelError::Launch { .. }), "{error}");
    assert!(
        error.to_string().contains("no slot on the batch node"),
        "{error}"
    );
    // No worker set up: the channel refuses transitions, and says why.
    let error = channel.do_transition(EVENT, 1, |_| ()).unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Unusable {
                reason: tandem::channel::UnusableReason::NotSetUp
            }
        ),
        "{error}"
    );
}

#[test]
fn transition_times_out_and_the_channel_then_refuses_work() {
    let options = fast_options().transition_timeout(Duration::from_millis(200));
    let mut controller = Controller::spawn(worker("sleepy"), "tmo", 0, options).unwrap();
    let start = Instant::now();
    let error = controller.do_transition(SLEEP, 5, |_| ()).unwrap_err();
    assert!(
        matches!(error, ChannelError::TransitionTimedOut { retries: 0, .. }),
        "{error}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    let error = controller.do_transition(EVENT, 6, |_| ()).unwrap_err();
    assert!(matches!(error, ChannelError::Unusable { .. }), "{error}");
    // The refusal keeps the time-out that caused it, as its kind and as its source.
    assert!(error.requires_restart(), "{error}");
    let earlier = error.earlier().expect("the failure that broke the channel");
    assert!(
        matches!(earlier, ChannelError::TransitionTimedOut { transition, .. } if transition.id == 5),
        "{earlier}"
    );
    assert!(
        earlier.is_timeout() && !earlier.is_worker_lost(),
        "{earlier}"
    );
    let source = std::error::Error::source(&error).expect("a source");
    assert!(source.to_string().contains("timed out"), "{source}");
    assert!(error.to_string().contains("timed out after"), "{error}");
}

#[test]
fn dropping_the_controller_kills_a_worker_that_does_not_stop() {
    let options =
        ProcessOptions::new(fast_options().transition_timeout(Duration::from_millis(100)))
            .shutdown_grace(Duration::from_millis(200));
    let mut controller = Controller::spawn(worker("sleepy"), "drop", 0, options).unwrap();
    let pid = controller.pid().unwrap();
    controller.do_transition(SLEEP, 1, |_| ()).unwrap_err();
    let start = Instant::now();
    drop(controller);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
    assert!(
        wait_gone(pid, Duration::from_secs(1)).is_some(),
        "worker {pid} still runs"
    );
    assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn ok_with_retry_for_a_slow_worker() {
    let options = fast_options()
        .setup_timeout(Duration::from_millis(100))
        .transition_timeout(Duration::from_millis(100));
    let mut channel = ControllerChannel::create("slow", 0, options).unwrap();
    let gates = Gates::new("slow");
    let mut child = channel
        .setup_worker_with_retry(
            |channel| {
                let mut command = gates.worker("slow");
                channel.prepare_command(&mut command);
                command.spawn()
            },
            || true,
        )
        .unwrap();
    for id in 0..3u64 {
        let input = payload(0, id + 10);
        channel.to_worker().write(&input).unwrap();
        let mut retries = 0;
        let reply = channel
            .do_transition_with_retry(
                EVENT,
                id,
                |mut r| r.to_vec().unwrap(),
                || {
                    retries += 1;
                    gates.open(&format!("transition-{id}"));
                    true
                },
            )
            .unwrap();
        assert_eq!(reply, transformed(&input));
        assert!(retries >= 1, "transition {id} needed retries");
    }
    channel.stop_worker();
    assert!(child.wait().unwrap().success());
}

#[test]
fn worker_error_message_reaches_the_controller() {
    let mut controller = Controller::spawn(worker("failing"), "fail", 0, fast_options()).unwrap();
    let start = Instant::now();
    let error = controller.do_transition(EVENT, 7, |_| ()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "an error is not a time-out"
    );
    match &error {
        ChannelError::WorkerFailed {
            transition,
            message,
        } => {
            assert_eq!(transition.id, 7);
            assert_eq!(message, "generator exploded at event 7");
        }
        other => panic!("expected WorkerFailed, got {other}"),
    }
    // The worker is alive and the channel still works.
    controller.to_worker().write(b"next").unwrap();
    let reply = controller
        .do_transition(EVENT, 8, |mut r| r.to_vec().unwrap())
        .unwrap();
    assert_eq!(reply, transformed(b"next"));
}

#[test]
fn sigkilled_worker_is_detected_at_once() {
    let mut controller = Controller::spawn(worker("sleepy"), "kill", 0, fast_options()).unwrap();
    let pid = controller.pid().unwrap() as i32;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let killed_at = Instant::now();
        // SAFETY: plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        killed_at
    });
    let error = controller.do_transition(SLEEP, 42, |_| ()).unwrap_err();
    let noticed_at = Instant::now();
    let killed_at = killer.join().unwrap();
    let delay = noticed_at.duration_since(killed_at);
    eprintln!("SIGKILL noticed after {delay:?}");
    assert!(
        delay < Duration::from_secs(1),
        "death noticed after {delay:?}"
    );
    match &error {
        ChannelError::WorkerDied {
            reason, transition, ..
        } => {
            assert_eq!(*reason, Some(ExitReason::Signaled(libc::SIGKILL)));
            assert_eq!(transition.id, 42);
        }
        other => panic!("expected WorkerDied, got {other}"),
    }
    assert!(error.to_string().contains("SIGKILL"), "{error}");
    drop(controller);
    assert_nothing_in_dev_shm(std::process::id());
}

#[test]
#[ignore = "controller half of the process tests, started by them"]
fn controller_entry() {
    let Some(role) = role() else { return };
    match role.as_str() {
        // Starts a worker, tells the test who is who, then either sits in a transition the
        // worker never finishes or stays idle, until the test kills this process.
        "victim_busy" | "victim_idle" => {
            let controller = Controller::spawn(
                worker("sleepy"),
                "victim",
                0,
                fast_options().transition_timeout(Duration::from_secs(60)),
            )
            .unwrap();
            println!(
                "victim {} {}",
                controller.pid().unwrap(),
                std::process::id()
            );
            let mut controller = controller;
            if role == "victim_busy" {
                let _ = controller.do_transition(SLEEP, 1, |_| ());
            }
            std::thread::sleep(Duration::from_secs(60));
        }
        // One of many controllers started at once.
        "crowd" => {
            let mut controller =
                Controller::spawn(worker("echo"), "crowd", 0, fast_options()).unwrap();
            for n in 0..20 {
                let input = payload(1, n);
                controller.to_worker().write(&input).unwrap();
                let reply = controller
                    .do_transition(EVENT, n, |mut r| r.to_vec().unwrap())
                    .unwrap();
                assert_eq!(reply, transformed(&input));
            }
            assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
        }
        other => panic!("unknown controller role {other}"),
    }
}

/// Starts a controller process in `role`; returns it with its worker's pid.
fn start_victim(role: &str) -> (std::process::Child, u32) {
    let mut victim = role_command("channel::controller_entry", role)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(victim.stdout.take().unwrap());
    while !line.starts_with("victim ") {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        assert_ne!(read, 0, "the controller ended early");
    }
    let worker_pid = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    (victim, worker_pid)
}

fn controller_dies(role: &str) {
    let (mut victim, worker_pid) = start_victim(role);
    let victim_pid = victim.id();
    if role == "victim_busy" {
        std::thread::sleep(Duration::from_millis(100));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let gone_after = wait_gone(worker_pid, Duration::from_secs(5));
    eprintln!("{role}: worker gone {gone_after:?} after the controller's SIGKILL");
    assert!(
        gone_after.is_some_and(|d| d < Duration::from_secs(3)),
        "worker still running"
    );
    let left = dev_shm_entries_of(&[victim_pid, worker_pid]);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn worker_exits_when_its_idle_controller_is_killed() {
    controller_dies("victim_idle");
}

#[test]
fn worker_exits_when_its_busy_controller_is_killed() {
    controller_dies("victim_busy");
}

#[test]
fn a_job_killed_outright_leaves_nothing() {
    let (mut victim, worker_pid) = start_victim("victim_idle");
    let victim_pid = victim.id();
    // Both processes die at once: nobody is left to clean up, and nothing needs it.
    // SAFETY: plain kill(2) of a grandchild we were told about.
    assert_eq!(unsafe { libc::kill(worker_pid as i32, libc::SIGKILL) }, 0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(wait_gone(worker_pid, Duration::from_secs(5)).is_some());
    let left = dev_shm_entries_of(&[victim_pid, worker_pid]);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn eight_channels_from_eight_threads() {
    const CHANNELS: u32 = 8;
    // 16 processes on a 2-CPU machine: enough calls to interleave every pair many times.
    const TRANSITIONS: u64 = 200;
    let barrier = Arc::new(Barrier::new(CHANNELS as usize));
    let threads: Vec<_> = (0..CHANNELS)
        .map(|channel| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut controller =
                    Controller::spawn(worker("echo"), "eight", channel, fast_options()).unwrap();
                barrier.wait();
                for n in 0..TRANSITIONS {
                    let input = payload(channel, n);
                    controller.to_worker().write(&input).unwrap();
                    let reply = controller
                        .do_transition(EVENT, n, |mut r| r.to_vec().unwrap())
                        .unwrap();
                    assert!(
                        reply == transformed(&input),
                        "channel {channel} transition {n}: bytes differ"
                    );
                }
                assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn twenty_controllers_at_once() {
    let children: Vec<_> = (0..20)
        .map(|_| {
            role_command("channel::controller_entry", "crowd")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a controller failed: {:?}",
            output.status
        );
    }
    let left = dev_shm_entries_of(&pids);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn descriptors_that_were_not_handed_over_are_refused_untouched() {
    // Standard streams: open and not close-on-exec, but not memfds.
    let error = WorkerChannel::open("tandem:foreign:0:0,1,2,2,2,2", 0).unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Buffer(tandem::BufferError::Segment { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("F_GET_SEALS"), "{error}");
    assert!(
        error.to_string().contains("tandem:foreign:0:ctl"),
        "{error}"
    );
    for fd in 0..3 {
        assert!(
            std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists(),
            "descriptor {fd} was closed"
        );
    }
    // Descriptors that are not open.
    let error = WorkerChannel::open("tandem:foreign:0:900,901,902,903,904,905", 0).unwrap_err();
    assert!(error.to_string().contains("F_GETFD"), "{error}");
    // The channel's own descriptors are close-on-exec in the controller: not handed over.
    let channel = ControllerChannel::create("foreign", 1, fast_options()).unwrap();
    let error = WorkerChannel::open(channel.token(), 0).unwrap_err();
    assert!(error.to_string().contains("not handed over"), "{error}");
    // Not a token at all.
    let error = WorkerChannel::open("/tandem-missing-0-0", 0).unwrap_err();
    assert!(matches!(error, ChannelError::NotAWorker { .. }), "{error}");
}
