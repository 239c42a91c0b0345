//! `#[derive(Transitions)]` end to end: this test is the controller, and its workers run in a
//! separate binary, the `main_thread` test target (`main_thread/generator_worker.rs`, and
//! `main_thread/generator_worker_changed.rs` with a changed payload definition), running the
//! issue's example with real payloads.
//!
//! `cargo test --test process` alone would not build that binary, and an old build left in
//! `target/` would not match the current sources, so the test asks cargo to build it (a no-op
//! when it is up to date) and takes its path from cargo's JSON messages.

use crate::generator_types;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use generator_types::{
    GenConfig, GenEvent, Generator, GeneratorController, LumiHeader, LumiSummary, RngState,
    RunConfig, RunSummary, ToyGenerator,
};
use tandem::{
    process::ExitReason, typed::SlowTransition, ChannelError, Options, Response, RestartPolicy,
    TimeoutPolicy, Transitions,
};

/// The roles of the `main_thread` binary that serve as this test's workers.
const WORKER: &str = "generator_worker";
const CHANGED_WORKER: &str = "generator_worker_changed";
/// The test target whose binary plays them.
const WORKERS_TARGET: &str = "main_thread";

/// The worker command of `role`: the `main_thread` test binary, built once per process.
fn worker_command(role: &str) -> Command {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let mut command = Command::new(BUILT.get_or_init(build_workers));
    command.env(support::ROLE_ENV, role);
    command
}

fn build_workers() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    // `--workspace`: the features of the README's `cargo test --workspace`, so that under it
    // this finds everything built (other invocations may rebuild the facade once).
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--message-format=json", "--workspace"])
        .args(["--test", WORKERS_TARGET])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    // Build with the profile this test was built with: `target/<dir>/deps/process-<hash>`.
    let exe = std::env::current_exe().expect("test executable path");
    match exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|dir| dir.to_str())
    {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let output = command
        .output()
        .expect("running cargo to build the workers");
    assert!(
        output.status.success(),
        "building the worker binary failed: {}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).expect("cargo's JSON is UTF-8");
    let name = format!("\"name\":\"{WORKERS_TARGET}\",");
    let path = stdout
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\"") && line.contains(&name))
        .find_map(|line| {
            let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = start + line[start..].find('"')?;
            Some(PathBuf::from(&line[start..end]))
        })
        .unwrap_or_else(|| panic!("no executable for `{WORKERS_TARGET}` in cargo's output"));
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(30))
        .transition_timeout(Duration::from_secs(30))
}

fn config(label: &str) -> GenConfig {
    GenConfig {
        label: label.to_owned(),
        tune: Some("CP5".to_owned()),
        max_particles: 12,
        fail_event: None,
        crash_once: None,
        slow_event: None,
    }
}

fn spawn(worker: &str, id: u32, setup: &GenConfig) -> Result<GeneratorController, ChannelError> {
    GeneratorController::spawn(worker_command(worker), id, options(), setup)
}

/// Nothing of tandem under `/dev/shm`: the channels' memfds have no name (`id` kept for
/// the call sites, which name the test's channel).
fn assert_no_leftovers(_id: u32) {
    support::assert_nothing_in_dev_shm(std::process::id());
}

const RUN: RunConfig = RunConfig {
    run: 321,
    energy: 6500.0,
};

fn lumi_rng() -> RngState {
    RngState {
        state: 0x5EED_0000_0000_0001,
    }
}

fn event_rng(id: u64) -> RngState {
    RngState {
        state: 0xE7E7_0000_0000_0000 ^ id.wrapping_mul(0x9E37_79B9),
    }
}

/// A run of one lumi computed in this process: what the worker must answer.
struct Expected {
    header: LumiHeader,
    events: Vec<Response<GenEvent>>,
    lumi: LumiSummary,
    run: RunSummary,
}

fn expected(config: &GenConfig, ids: &[u64]) -> Expected {
    let mut generator = ToyGenerator::new(config.max_particles);
    generator.begin_run(RUN);
    let header = generator.begin_lumi(lumi_rng()).unwrap();
    let events = ids
        .iter()
        .map(|&id| {
            let (output, keep) = generator.event(event_rng(id)).unwrap();
            Response { output, keep }
        })
        .collect();
    let lumi = generator.end_lumi().unwrap();
    let run = generator
        .end_run(&config.label, config.tune.as_deref())
        .unwrap();
    Expected {
        header,
        events,
        lumi,
        run,
    }
}

#[test]
fn five_transitions_run_with_real_payloads_in_a_separate_worker_binary() {
    let id = 1;
    let setup = config("five transitions");
    let ids: Vec<u64> = (1..=8).collect();
    let want = expected(&setup, &ids);
    // The assertions below must be able to tell kept from dropped events.
    assert!(want.events.iter().any(|e| e.keep) && want.events.iter().any(|e| !e.keep));
    assert!(want.events.iter().all(|e| !e.output.particles.is_empty()));

    let mut controller = spawn(WORKER, id, &setup).expect("spawn the worker");
    assert!(
        controller.begin_run(10, &RUN).unwrap()
            == Response {
                output: (),
                keep: false
            }
    );
    let header = controller.begin_lumi(20, &lumi_rng()).unwrap();
    assert_eq!(header.output, want.header);
    assert!(!header.keep);
    for (&event_id, want) in ids.iter().zip(&want.events) {
        let got = controller.event(event_id, &event_rng(event_id)).unwrap();
        assert_eq!(&got, want, "event {event_id}");
        // The random-number state made the round trip: what went in, advanced once.
        let mut state = event_rng(event_id).state;
        generator_types::splitmix(&mut state);
        assert_eq!(got.output.rng, RngState { state });
    }
    let lumi = controller.end_lumi(30).unwrap();
    assert_eq!(lumi.output, want.lumi);
    assert_eq!(lumi.output.events, ids.len() as u32);
    let run = controller.end_run(40).unwrap();
    assert_eq!(run.output, want.run);
    // The setup payload reached the worker.
    assert_eq!(run.output.label, "five transitions");
    assert_eq!(run.output.tune.as_deref(), Some("CP5"));
    assert_eq!(controller.restarts(), 0);

    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
    assert_no_leftovers(id);
}

#[test]
fn a_worker_built_from_a_changed_payload_is_refused_at_setup() {
    let id = 2;
    let started = Instant::now();
    let error = spawn(CHANGED_WORKER, id, &config("changed"))
        .expect_err("a worker with a changed payload definition must be refused");
    let elapsed = started.elapsed();
    let message = error.to_string();
    let ChannelError::ProtocolMismatch { controller, worker } = error else {
        panic!("expected a protocol mismatch, got {error:?}");
    };
    assert_eq!(controller, Generator::FINGERPRINT);
    assert_ne!(worker, controller);
    assert!(
        message.contains(&format!("{controller:#018x}")),
        "{message}"
    );
    assert!(message.contains(&format!("{worker:#018x}")), "{message}");
    // Refused by the handshake, not by the 30 s setup time-out.
    assert!(
        elapsed < Duration::from_secs(5),
        "refused after {elapsed:?}"
    );
    assert_no_leftovers(id);
}

#[test]
fn a_worker_error_is_reported_with_its_message_and_the_worker_goes_on() {
    let id = 3;
    let setup = GenConfig {
        fail_event: Some(2),
        ..config("worker error")
    };
    let want = expected(&setup, &[1, 3]);
    let mut controller = spawn(WORKER, id, &setup).unwrap();
    controller.begin_run(1, &RUN).unwrap();
    controller.begin_lumi(1, &lumi_rng()).unwrap();
    assert_eq!(controller.event(1, &event_rng(1)).unwrap(), want.events[0]);
    match controller.event(2, &event_rng(2)) {
        Err(ChannelError::WorkerFailed {
            transition,
            message,
        }) => {
            assert_eq!(transition.name, Some("event"));
            assert_eq!(transition.id, 2);
            assert!(
                message.contains("the generator refuses event 2"),
                "{message}"
            );
        }
        other => panic!("expected WorkerFailed, got {other:?}"),
    }
    assert_eq!(controller.event(3, &event_rng(3)).unwrap(), want.events[1]);
    assert_eq!(controller.end_lumi(2).unwrap().output.events, 2);
    drop(controller);
    assert_no_leftovers(id);
}

fn kill(controller: &mut GeneratorController) -> u32 {
    let pid = controller
        .typed_mut()
        .controller()
        .pid()
        .expect("a running worker");
    // SAFETY: kill(2) with a pid we spawned and a valid signal number; no memory involved.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}");
    pid
}

#[test]
fn restart_replays_begin_run_and_begin_lumi() {
    let id = 4;
    let setup = config("replay");
    let want = expected(&setup, &[1, 2]);
    let mut controller = spawn(WORKER, id, &setup).unwrap();
    controller.begin_run(1, &RUN).unwrap();
    controller.begin_lumi(1, &lumi_rng()).unwrap();
    assert_eq!(controller.event(1, &event_rng(1)).unwrap(), want.events[0]);

    let pid = kill(&mut controller);
    match controller.event(2, &event_rng(2)) {
        Err(ChannelError::WorkerDied {
            pid: died, reason, ..
        }) => {
            assert_eq!(died, pid);
            assert_eq!(reason, Some(ExitReason::Signaled(libc::SIGKILL)));
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    controller.restart().unwrap();
    assert_eq!(controller.restarts(), 1);
    assert_ne!(controller.typed_mut().controller().pid(), Some(pid));
    // The new worker was given begin_run and begin_lumi again: same event as without a crash.
    assert_eq!(controller.event(2, &event_rng(2)).unwrap(), want.events[1]);

    // Without the replay the new worker would know no run: restart the untyped controller.
    controller.typed_mut().controller().restart().unwrap();
    match controller.event(3, &event_rng(3)) {
        Err(ChannelError::WorkerFailed { message, .. }) => {
            assert!(message.contains("event before begin_run"), "{message}");
        }
        other => panic!("expected WorkerFailed, got {other:?}"),
    }
    drop(controller);
    assert_no_leftovers(id);
}

#[test]
fn restart_policy_recovers_from_a_crash_and_records_it() {
    let id = 5;
    let flag = std::env::temp_dir().join(format!(
        "tandem-typed-e2e-crash-once-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&flag);
    let setup = GenConfig {
        crash_once: Some((4, flag.to_string_lossy().into_owned())),
        ..config("policy")
    };
    let ids: Vec<u64> = (1..=6).collect();
    let want = expected(&setup, &ids);
    let mut controller = spawn(WORKER, id, &setup).unwrap();
    controller.set_restart_policy(RestartPolicy {
        max_restarts: 1,
        backoff: Duration::ZERO,
    });
    controller.begin_run(1, &RUN).unwrap();
    controller.begin_lumi(1, &lumi_rng()).unwrap();
    for (&event_id, want) in ids.iter().zip(&want.events) {
        let got = controller.event(event_id, &event_rng(event_id));
        assert_eq!(got.as_ref().ok(), Some(want), "event {event_id}: {got:?}");
    }
    assert!(flag.exists(), "the worker never reached its crash");
    let _ = std::fs::remove_file(&flag);
    assert_eq!(controller.restarts(), 1);
    match controller.recovered_failures() {
        [ChannelError::WorkerCrashed {
            signal, transition, ..
        }] => {
            assert_eq!(*signal, libc::SIGABRT);
            assert_eq!(transition.name, Some("event"));
            assert_eq!(transition.id, 4);
        }
        other => panic!("expected one WorkerCrashed, got {other:?}"),
    }
    // The lumi was replayed into the new worker, which saw events 4 to 6 only.
    assert_eq!(controller.end_lumi(2).unwrap().output.events, 3);
    drop(controller);
    assert_no_leftovers(id);
}

/// A worker that sleeps 600 ms in event 2, under a 150 ms time-out.
fn slow_worker(id: u32, label: &str) -> GeneratorController {
    let setup = GenConfig {
        slow_event: Some((2, 600)),
        ..config(label)
    };
    let options = options().transition_timeout(Duration::from_millis(150));
    let mut controller =
        GeneratorController::spawn(worker_command(WORKER), id, options, &setup).unwrap();
    controller.begin_run(1, &RUN).unwrap();
    controller.begin_lumi(1, &lumi_rng()).unwrap();
    controller.event(1, &event_rng(1)).unwrap();
    controller
}

#[test]
fn a_slow_worker_is_a_time_out_not_a_loss_and_a_policy_waits_for_it() {
    let id = 6;
    let setup = GenConfig {
        slow_event: Some((2, 600)),
        ..config("slow")
    };
    let want = expected(&setup, &[1, 2, 3]);

    // Without a policy the call gives up: a time-out, the worker alive, nothing restarted.
    let mut controller = slow_worker(id, "slow");
    let error = controller.event(2, &event_rng(2)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(!error.is_worker_lost(), "{error}");
    assert!(error.requires_restart(), "{error}");
    assert!(
        matches!(error, ChannelError::TransitionTimedOut { retries: 0, .. }),
        "{error}"
    );
    drop(controller);

    // Waiting up to 20 more time-outs (3 s) is enough: same outputs, no restart.
    let mut controller = slow_worker(id, "slow");
    controller
        .typed_mut()
        .set_timeout_policy(TimeoutPolicy::wait_longer(20));
    assert_eq!(controller.event(2, &event_rng(2)).unwrap(), want.events[1]);
    assert_eq!(controller.event(3, &event_rng(3)).unwrap(), want.events[2]);
    assert_eq!(controller.restarts(), 0);
    drop(controller);
    assert_no_leftovers(id);
}

#[test]
fn the_time_out_callback_sees_each_extra_wait_and_can_give_up() {
    let id = 7;
    let mut controller = slow_worker(id, "callback");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<SlowTransition>::new()));
    let record = std::sync::Arc::clone(&seen);
    controller.typed_mut().on_timeout(move |slow| {
        record.lock().unwrap().push(*slow);
        slow.retries < 1
    });
    let error = controller.event(2, &event_rng(2)).unwrap_err();
    assert!(
        matches!(error, ChannelError::TransitionTimedOut { retries: 1, .. }),
        "{error}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].retries, 0);
    assert_eq!(seen[1].retries, 1);
    assert!(seen
        .iter()
        .all(|slow| slow.transition.name == Some("event") && slow.transition.id == 2));
    assert!(seen[1].waited > seen[0].waited);
    drop(controller);
    assert_no_leftovers(id);
}

#[test]
fn a_per_transition_time_out_lets_one_kind_wait_longer() {
    let id = 8;
    let setup = GenConfig {
        slow_event: Some((2, 600)),
        ..config("per-kind")
    };
    let want = expected(&setup, &[1, 2]);
    let mut controller = slow_worker(id, "per-kind");
    controller
        .typed_mut()
        .set_timeout(Generator::Event, Duration::from_secs(5));
    assert_eq!(controller.event(2, &event_rng(2)).unwrap(), want.events[1]);
    // A per-call time-out overrides it, for that call only.
    let error = controller
        .typed_mut()
        .call_unchecked_with_timeout::<_, GenEvent>(
            Generator::Event,
            2,
            &event_rng(2),
            Duration::from_millis(100),
        )
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    drop(controller);
    assert_no_leftovers(id);
}

#[test]
fn a_restart_policy_restarts_a_worker_that_stays_silent_past_every_extra_wait() {
    let id = 9;
    let flag =
        std::env::temp_dir().join(format!("tandem-typed-e2e-hang-once-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let mut controller = slow_worker(id, "silent");
    controller.set_restart_policy(RestartPolicy {
        max_restarts: 1,
        backoff: Duration::ZERO,
    });
    controller
        .typed_mut()
        .set_timeout_policy(TimeoutPolicy::wait_longer(1));
    // Event 2 sleeps 600 ms in every life: two time-outs of 150 ms are not enough, so the
    // worker is restarted once and the call still fails, as a time-out.
    let error = controller.event(2, &event_rng(2)).unwrap_err();
    assert!(
        matches!(error, ChannelError::TransitionTimedOut { retries: 1, .. }),
        "{error}"
    );
    assert_eq!(controller.restarts(), 1);
    assert!(matches!(
        controller.recovered_failures(),
        [ChannelError::TransitionTimedOut { retries: 1, .. }]
    ));
    drop(controller);
    assert_no_leftovers(id);
}
