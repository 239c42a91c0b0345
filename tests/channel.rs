//! The runtime core driven through real processes: this test binary re-runs itself as the
//! worker (the ignored `worker_entry` test) or as a controller (`controller_entry`).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::{leftover_segments, role, role_command, wait_gone};
use tandem::{
    ChannelError, Controller, ControllerChannel, ExitReason, Options, TransitionRequest,
    WorkerChannel,
};

const EVENT: u32 = 1;
const END_LUMI: u32 = 2;
const SLEEP: u32 = 3;

fn worker(role: &str) -> Command {
    role_command("worker_entry", role)
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
    let reply = transformed(request.input().map_err(|e| e.to_string())?);
    request.output().write(&reply).map_err(|e| e.to_string())
}

fn serve(role: &str, worker: &mut WorkerChannel) -> Result<(), ChannelError> {
    match role {
        "standard" => {
            let mut seen = Vec::new();
            worker.handle_transitions(|request| -> Result<(), String> {
                seen.push((request.kind(), request.id()));
                let input = request.input().map_err(|e| e.to_string())?.to_vec();
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
                            request.output().identifier() == 2,
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
            // id = step; the controller wrote "test", "tes", "testin", "testing".
            let expected: &[u8] = match request.id() {
                1 => b"test",
                2 => b"tes",
                3 => b"testin",
                _ => b"testing",
            };
            let remaps_expected = [0, 1, 1, 2, 3][request.id() as usize];
            let suffix_expected = [".", ".0", ".0", ".1", ".0"][request.id() as usize];
            let must_remap = request.input_buffer().must_remap();
            let input = request.input().map_err(|e| e.to_string())?.to_vec();
            let buffer = request.input_buffer();
            check(input == expected, "bytes and length")?;
            check(buffer.remap_count() == remaps_expected, "remap count")?;
            check(
                buffer
                    .segment_name()
                    .is_some_and(|n| n.ends_with(suffix_expected)),
                "segment name",
            )?;
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
            std::process::exit(tandem::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

#[test]
fn standard_exchange() {
    let mut controller = Controller::spawn(worker("standard"), "std", 0, fast_options()).unwrap();
    controller.to_worker().write(b"event 2 input").unwrap();
    let (output, keep, remaps) = controller
        .do_transition(EVENT, 2, |mut reply| {
            (
                reply.read().unwrap().to_vec(),
                reply.keep(),
                reply.buffer().remap_count(),
            )
        })
        .unwrap();
    assert_eq!(output, b"event 2 output");
    assert!(keep);
    assert_eq!(remaps, 1);
    assert_eq!(controller.to_worker().identifier(), 1);

    controller.to_worker().write(&[3u8; 10_000]).unwrap();
    assert_eq!(
        controller.to_worker().identifier(),
        2,
        "the larger input needs a new segment"
    );
    let (output, keep, remaps) = controller
        .do_transition(EVENT, 3, |mut reply| {
            (
                reply.read().unwrap().to_vec(),
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
        .do_transition(END_LUMI, 1, |mut reply| reply.read().unwrap().len())
        .unwrap();
    assert_eq!(output, 0);
    let segments = controller.channel().segment_names();
    let exit = controller.shutdown();
    assert_eq!(
        exit,
        Some(ExitReason::Exited(0)),
        "the worker saw exactly three transitions"
    );
    for name in segments {
        assert!(!support::segment_exists(&name), "{name} left behind");
    }
}

#[test]
fn buffer_sequence_remaps_like_the_reference() {
    let mut controller =
        Controller::spawn(worker("buffer_sequence"), "buf", 0, fast_options()).unwrap();
    let steps: [(&[u8], u32, u32, &str); 4] = [
        (b"test", 1, 0, "true"),
        (b"tes", 1, 0, "false"),
        (b"testin", 2, 1, "true"),
        (b"testing", 3, 0, "true"),
    ];
    for (step, (bytes, identifier, index, remapped)) in steps.into_iter().enumerate() {
        let buffer = controller.to_worker();
        buffer.write(bytes).unwrap();
        assert_eq!(
            (buffer.identifier(), buffer.index()),
            (identifier, index),
            "step {step}"
        );
        let reply = controller
            .do_transition(EVENT, step as u64 + 1, |mut reply| {
                reply.read().unwrap().to_vec()
            })
            .unwrap();
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            remapped,
            "step {step}: reader's remap decision"
        );
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
            |token| {
                late = Some(worker("late").env(tandem::CHANNEL_ENV, token).spawn()?);
                Ok(())
            },
            || {
                asked += 1;
                asked <= 2
            },
        )
        .unwrap_err();
    let mut late = late.expect("the late worker was launched");
    late.kill().unwrap();
    late.wait().unwrap();
    assert!(
        matches!(error, ChannelError::SetupTimedOut { retries: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("2 retries"), "{error}");
    let name = channel.token().to_owned();
    drop(channel);
    assert!(leftover_segments(&name, Duration::from_secs(5)).is_empty());

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
            |token| {
                gates
                    .worker("slow_setup")
                    .env(tandem::CHANNEL_ENV, token)
                    .spawn()
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
        .do_transition(EVENT, 1, |mut r| r.read().unwrap().to_vec())
        .unwrap();
    assert_eq!(reply, transformed(b"abc"));
    channel.stop_worker();
    assert!(child.wait().unwrap().success());
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
}

#[test]
fn dropping_the_controller_kills_a_worker_that_does_not_stop() {
    let options = fast_options()
        .transition_timeout(Duration::from_millis(100))
        .shutdown_grace(Duration::from_millis(200));
    let mut controller = Controller::spawn(worker("sleepy"), "drop", 0, options).unwrap();
    let pid = controller.pid().unwrap();
    let token = controller.token().to_owned();
    controller.do_transition(SLEEP, 1, |_| ()).unwrap_err();
    let start = Instant::now();
    drop(controller);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
    assert!(
        wait_gone(pid, Duration::from_secs(1)).is_some(),
        "worker {pid} still runs"
    );
    assert!(leftover_segments(&token, Duration::from_secs(1)).is_empty());
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
            |token| gates.worker("slow").env(tandem::CHANNEL_ENV, token).spawn(),
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
                |mut r| r.read().unwrap().to_vec(),
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
        .do_transition(EVENT, 8, |mut r| r.read().unwrap().to_vec())
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
    let names = controller.channel().segment_names();
    drop(controller);
    for name in names {
        assert!(!support::segment_exists(&name), "{name} left behind");
    }
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
            println!("{} {}", controller.pid().unwrap(), controller.token());
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
            println!("{}", controller.token());
            for n in 0..20 {
                let input = payload(1, n);
                controller.to_worker().write(&input).unwrap();
                let reply = controller
                    .do_transition(EVENT, n, |mut r| r.read().unwrap().to_vec())
                    .unwrap();
                assert_eq!(reply, transformed(&input));
            }
            assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
        }
        other => panic!("unknown controller role {other}"),
    }
}

/// Starts a controller process in `role`; returns it with its worker's pid and its token.
fn start_victim(role: &str) -> (std::process::Child, u32, String) {
    let mut victim = role_command("controller_entry", role)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(victim.stdout.take().unwrap());
    while !line.contains("/tandem-") {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        assert_ne!(read, 0, "the controller ended early");
    }
    let mut parts = line.split_whitespace();
    let worker_pid = parts.next().unwrap().parse().unwrap();
    let token = parts.next().unwrap().to_owned();
    (victim, worker_pid, token)
}

fn controller_dies(role: &str) {
    let (mut victim, worker_pid, token) = start_victim(role);
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
    let left = leftover_segments(&token, Duration::from_secs(2));
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
fn segments_of_jobs_killed_outright_can_be_swept() {
    let (mut victim, worker_pid, token) = start_victim("victim_idle");
    // Both processes die at once: nobody is left to clean up.
    // SAFETY: plain kill(2) of a grandchild we were told about.
    assert_eq!(unsafe { libc::kill(worker_pid as i32, libc::SIGKILL) }, 0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(wait_gone(worker_pid, Duration::from_secs(5)).is_some());
    let stale = support::segments_containing(&token);
    assert!(!stale.is_empty(), "the job should have left its segments");

    let removed = tandem::remove_stale_segments().unwrap();
    for name in &stale {
        assert!(
            removed.contains(name),
            "{name} was not removed: {removed:?}"
        );
    }
    assert!(support::segments_containing(&token).is_empty());
    // Live jobs are untouched.
    let mut live = Controller::spawn(worker("echo"), "live", 0, fast_options()).unwrap();
    tandem::remove_stale_segments().unwrap();
    live.to_worker().write(b"still here").unwrap();
    let reply = live
        .do_transition(EVENT, 1, |mut r| r.read().unwrap().to_vec())
        .unwrap();
    assert_eq!(reply, transformed(b"still here"));
}

#[test]
fn eight_channels_from_eight_threads() {
    const CHANNELS: u32 = 8;
    const TRANSITIONS: u64 = 1000;
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
                        .do_transition(EVENT, n, |mut r| r.read().unwrap().to_vec())
                        .unwrap();
                    assert!(
                        reply == transformed(&input),
                        "channel {channel} transition {n}: bytes differ"
                    );
                }
                let token = controller.token().to_owned();
                assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
                token
            })
        })
        .collect();
    let tokens: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for token in tokens {
        assert!(leftover_segments(&token, Duration::from_secs(1)).is_empty());
    }
}

#[test]
fn twenty_controllers_at_once() {
    let children: Vec<_> = (0..20)
        .map(|_| {
            role_command("controller_entry", "crowd")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tokens = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a controller failed: {:?}",
            output.status
        );
        let token = String::from_utf8(output.stdout).unwrap();
        let token = token
            .lines()
            .find(|l| l.starts_with("/tandem-"))
            .unwrap()
            .to_owned();
        tokens.push(token);
    }
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20, "names collided");
    for token in tokens {
        assert!(
            leftover_segments(&token, Duration::from_secs(1)).is_empty(),
            "{token} left segments"
        );
    }
}

#[test]
fn foreign_segments_are_refused_untouched() {
    for (magic, version) in [(*b"NOTOURS\0", 1u32), (*b"TANDEM\x01\x00", 99)] {
        let token = format!("/tandem-foreign-{}-{version}", std::process::id());
        let path = format!("/dev/shm/{}.ctl", token.trim_start_matches('/'));
        let mut bytes = vec![0u8; 4096];
        bytes[..8].copy_from_slice(&magic);
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let error = WorkerChannel::open(&token, 0).unwrap_err();
        let after = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(error, ChannelError::IncompatibleLayout { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("same tandem release"), "{error}");
        assert_eq!(after, bytes, "the segment was modified");
    }
    let error = WorkerChannel::open("/tandem-missing-0-0", 0).unwrap_err();
    assert!(error.to_string().contains("tandem-missing"), "{error}");
}
