//! Tests of the crate-internal crash hook and `ensure_installed`. Each scenario runs in a
//! fresh child process (this test binary re-executed with `--exact monitor::tests::child`),
//! because it installs process-wide handlers and ends by dying of a signal.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::*;

const SCENARIO_VAR: &str = "TANDEM_MONITOR_UNIT_SCENARIO";

/// The crash hook of the tests: writes `<prefix><signal>\n` to stdout with one `write(2)`
/// (async-signal-safe).
fn print_hook(prefix: &'static [u8]) -> CrashHook {
    CrashHook::new(move |signal, _| print_line(prefix, signal))
}

fn print_line(prefix: &[u8], signal: i32) {
    let mut line = [0u8; 32];
    let mut len = 0;
    for &b in prefix.iter().take(24) {
        line[len] = b;
        len += 1;
    }
    let signal = u8::try_from(signal).unwrap_or(0);
    if signal >= 10 {
        line[len] = b'0' + signal / 10;
        len += 1;
    }
    line[len] = b'0' + signal % 10;
    line[len + 1] = b'\n';
    sys::write_all(libc::STDOUT_FILENO, &line[..len + 2]);
}

static HOOK_PREFIX: &[u8] = b"HOOK ";

fn print_hook_installed() {
    set_crash_hook(Some(print_hook(HOOK_PREFIX)));
}

/// Raises `signal` through the installed disposition (unlike `sys::die_of`).
fn raise(signal: i32) -> ! {
    sys::raise(signal).unwrap();
    unreachable!("signal {signal} did not end the process");
}

/// The child side: does nothing unless started by `run_child`.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO_VAR) else {
        return;
    };
    match scenario.as_str() {
        "hook_without_monitor" => {
            ensure_installed().unwrap();
            ensure_installed().unwrap(); // idempotent
            print_hook_installed();
            raise(libc::SIGSEGV);
        }
        "hook_before_stuck_action" => {
            print_hook_installed();
            let monitor = WorkerMonitor::builder()
                .ack_timeout(Duration::from_millis(200))
                .action(|signal| {
                    println!("ACTION {}", signal.as_raw());
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                    }
                })
                .start()
                .unwrap();
            let _keep = monitor;
            raise(libc::SIGABRT);
        }
        "pinned_survives_stop" => {
            ensure_installed().unwrap();
            let monitor = WorkerMonitor::start().unwrap();
            monitor.set_action(|signal| println!("ACTION {}", signal.as_raw()));
            monitor.stop().unwrap();
            assert!(sys::query_action(libc::SIGSEGV)
                .unwrap()
                .runs::<FatalSignalHandler>());
            print_hook_installed();
            raise(libc::SIGSEGV);
        }
        "hook_replaced_and_cleared" => {
            static OTHER_PREFIX: &[u8] = b"OTHER ";
            ensure_installed().unwrap();
            print_hook_installed();
            set_crash_hook(Some(print_hook(OTHER_PREFIX)));
            set_crash_hook(None);
            assert!(CRASH_HOOK.is_empty());
            set_crash_hook(Some(print_hook(OTHER_PREFIX)));
            raise(libc::SIGBUS);
        }
        other => panic!("unknown scenario {other}"),
    }
}

struct Outcome {
    status: ExitStatus,
    stdout: String,
    elapsed: Duration,
}

fn run_child(scenario: &str) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "monitor::tests::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_VAR, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(5) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("scenario {scenario} did not end within 5 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    Outcome {
        status,
        stdout,
        elapsed,
    }
}

#[test]
fn crash_hook_runs_when_only_ensure_installed_was_called() {
    let out = run_child("hook_without_monitor");
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{}", out.stdout);
    assert!(out.stdout.contains("HOOK 11\n"), "{}", out.stdout);
}

#[test]
fn crash_hook_runs_before_the_action_and_a_stuck_action_is_bounded() {
    let out = run_child("hook_before_stuck_action");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", out.stdout);
    let hook = out.stdout.find("HOOK 6\n").expect(&out.stdout);
    let action = out.stdout.find("ACTION 6\n").expect(&out.stdout);
    assert!(hook < action, "{}", out.stdout);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn ensure_installed_handlers_survive_a_monitor_stop() {
    let out = run_child("pinned_survives_stop");
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{}", out.stdout);
    assert!(out.stdout.contains("HOOK 11\n"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("ACTION"),
        "action of a stopped monitor ran: {}",
        out.stdout
    );
}

#[test]
fn replaced_crash_hook_is_the_one_called() {
    let out = run_child("hook_replaced_and_cleared");
    assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{}", out.stdout);
    assert!(out.stdout.contains("OTHER 7\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("HOOK"), "{}", out.stdout);
}

#[test]
fn signal_names() {
    assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
    assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
    assert_eq!(signal_name(64), "unknown signal");
    for signal in MONITORED {
        assert_eq!(FatalSignal::from_raw(signal.as_raw()), Some(signal));
        assert_eq!(signal.to_string(), signal_name(signal.as_raw()));
    }
    assert_eq!(FatalSignal::from_raw(libc::SIGKILL), None);
}
