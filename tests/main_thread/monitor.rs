//! The WorkerMonitor in real processes.
//!
//! The runner re-executes this binary once per scenario with `TANDEM_MONITOR_SCENARIO` set;
//! `main.rs` then runs that scenario on the child's real main thread (needed for a stack
//! overflow of the main thread), and the child normally dies of a signal. The runner checks
//! how the child ended and what it printed, one test after the other.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
use support::faults::divide_by_zero;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use support::faults::illegal_instruction;
use support::faults::recurse;
use support::harness::Test;
use tandem::monitor::signal_name;
use tandem::{monitor::MonitorError, WorkerMonitor};

pub const SCENARIO_VAR: &str = "TANDEM_MONITOR_SCENARIO";
/// Upper bound for any child; a healthy one ends in well under a second.
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------------------------

/// Starts a monitor whose action reports the signal like the reference worker does.
fn start_reporting_monitor() -> WorkerMonitor {
    WorkerMonitor::builder()
        .action(|signal| println!("Worker: SIGNAL CAUGHT {}", signal.as_raw()))
        .start()
        .expect("start the monitor")
}

fn raise(signal: i32) {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(signal) };
}

/// A write to an invalid (unmapped, non-null) address: a real SIGSEGV.
fn invalid_write() {
    let address = 0x10 as *mut u32;
    // SAFETY: deliberately not: the point is to fault.
    unsafe { std::ptr::write_volatile(address, 1) };
}

fn overflow_stack() {
    println!("depth {}", recurse(0));
}

extern "C" fn third_party_handler(_: libc::c_int) {
    let message = b"THIRD PARTY HANDLER\n";
    // SAFETY: write and _exit are async-signal-safe; the buffer is valid.
    unsafe {
        libc::write(libc::STDOUT_FILENO, message.as_ptr().cast(), message.len());
        libc::_exit(3);
    }
}

fn install_third_party_segv_handler() {
    let handler = third_party_handler as extern "C" fn(libc::c_int);
    // SAFETY: installs an async-signal-safe handler with the plain signature.
    let previous = unsafe { libc::signal(libc::SIGSEGV, handler as libc::sighandler_t) };
    assert_ne!(previous, libc::SIG_ERR);
}

extern "C" fn foreign_thread_main(_: *mut libc::c_void) -> *mut libc::c_void {
    let installed = WorkerMonitor::install_alt_stack_for_current_thread().unwrap();
    println!("alt stack installed: {installed}");
    let again = WorkerMonitor::install_alt_stack_for_current_thread().unwrap();
    println!("alt stack installed again: {again}");
    overflow_stack();
    std::ptr::null_mut()
}

/// Runs on a thread created by `pthread_create`, which has no alternate signal stack.
fn overflow_on_foreign_thread() {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut thread: libc::pthread_t = 0;
    // SAFETY: attr is initialised by pthread_attr_init before use; the thread function has
    // the required signature and ignores its argument.
    unsafe {
        assert_eq!(libc::pthread_attr_init(attr.as_mut_ptr()), 0);
        assert_eq!(
            libc::pthread_attr_setstacksize(attr.as_mut_ptr(), 512 * 1024),
            0
        );
        let rc = libc::pthread_create(
            &mut thread,
            attr.as_ptr(),
            foreign_thread_main,
            std::ptr::null_mut(),
        );
        assert_eq!(rc, 0);
        libc::pthread_join(thread, std::ptr::null_mut());
    }
}

fn sleep_a_while() {
    thread::sleep(Duration::from_secs(10));
}

pub fn run_scenario(name: &str) {
    match name {
        "raise_abrt" => {
            let _monitor = start_reporting_monitor();
            raise(libc::SIGABRT);
        }
        "raise_segv" => {
            let _monitor = start_reporting_monitor();
            raise(libc::SIGSEGV);
        }
        "invalid_write" => {
            let _monitor = start_reporting_monitor();
            invalid_write();
        }
        "abort" => {
            let _monitor = start_reporting_monitor();
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() };
        }
        #[cfg(target_arch = "x86_64")]
        "divide_by_zero" => {
            let _monitor = start_reporting_monitor();
            divide_by_zero();
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        "illegal_instruction" => {
            let _monitor = start_reporting_monitor();
            illegal_instruction();
        }
        "overflow_main" => {
            let _monitor = start_reporting_monitor();
            overflow_stack();
        }
        "overflow_std_thread" => {
            let _monitor = start_reporting_monitor();
            let worker = thread::Builder::new().stack_size(256 * 1024).spawn(|| {
                let installed = WorkerMonitor::install_alt_stack_for_current_thread().unwrap();
                println!("alt stack installed: {installed}");
                overflow_stack();
            });
            let _ = worker.unwrap().join();
        }
        "overflow_foreign_thread" => {
            let _monitor = start_reporting_monitor();
            overflow_on_foreign_thread();
        }
        "crash_on_secondary_thread" => {
            let _monitor = start_reporting_monitor();
            let _ = thread::spawn(invalid_write).join();
        }
        "two_threads_crash" => {
            let _monitor = start_reporting_monitor();
            let barrier = Arc::new(Barrier::new(2));
            let other = Arc::clone(&barrier);
            // Never joined: one of the two crashes ends the process.
            let _faulting = thread::spawn(move || {
                other.wait();
                invalid_write();
            });
            barrier.wait();
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() };
        }
        "sigterm" => {
            let _monitor = start_reporting_monitor();
            // Not `println!`: the SIGTERM may arrive while this thread still holds the stdout
            // lock, and then the action's `println!` would wait for it until the bound.
            let ready = b"READY\n";
            // SAFETY: writes a valid buffer to stdout.
            unsafe { libc::write(libc::STDOUT_FILENO, ready.as_ptr().cast(), ready.len()) };
            sleep_a_while();
        }
        "stuck_action" => {
            let _monitor = WorkerMonitor::builder()
                .ack_timeout(Duration::from_millis(200))
                .action(|signal| {
                    println!("Worker: SIGNAL CAUGHT {}", signal.as_raw());
                    loop {
                        thread::sleep(Duration::from_secs(60));
                    }
                })
                .start()
                .unwrap();
            raise(libc::SIGSEGV);
        }
        "reinstall" => {
            let monitor = start_reporting_monitor();
            install_third_party_segv_handler();
            monitor.reinstall_handlers().unwrap();
            raise(libc::SIGSEGV);
        }
        "replaced_without_reinstall" => {
            let _monitor = start_reporting_monitor();
            install_third_party_segv_handler();
            raise(libc::SIGSEGV);
        }
        "no_monitor_overflow" => overflow_stack(),
        "stop_restores_std_handler" => {
            let monitor = start_reporting_monitor();
            monitor.stop().unwrap();
            overflow_stack();
        }
        "double_start" => {
            let first = start_reporting_monitor();
            match WorkerMonitor::start() {
                Err(MonitorError::AlreadyRunning) => println!("second start refused"),
                other => panic!("second start: {other:?}"),
            }
            drop(first);
            let third = WorkerMonitor::start().expect("start after drop");
            third.set_action(|signal| println!("third monitor caught {signal}"));
            raise(libc::SIGFPE);
        }
        other => panic!("unknown scenario {other:?}"),
    }
    println!("scenario {name} returned");
}

// ---------------------------------------------------------------------------------------------
// Runner side
// ---------------------------------------------------------------------------------------------

struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    fn assert_killed_by(&self, signal: i32) {
        assert_eq!(
            self.status.signal(),
            Some(signal),
            "expected death by {}, got {:?}\nstdout:\n{}\nstderr:\n{}",
            signal_name(signal),
            self.status,
            self.stdout,
            self.stderr
        );
    }

    fn assert_action_reported(&self, signal: i32) {
        let line = format!("Worker: SIGNAL CAUGHT {signal}\n");
        assert_eq!(
            self.stdout.matches(&line).count(),
            1,
            "expected exactly one {line:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// A running child whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    started: Instant,
    lines: mpsc::Receiver<String>,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
}

fn spawn_scenario(scenario: &str) -> Running {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(SCENARIO_VAR, scenario)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let stdout = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut all = String::new();
        let _ = err.read_to_string(&mut all);
        all
    });
    Running {
        child,
        started: Instant::now(),
        lines,
        stdout,
        stderr,
    }
}

impl Running {
    fn wait_for_line(&self, wanted: &str) {
        let deadline = self.started + CHILD_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == wanted => return,
                Ok(_) => {}
                Err(e) => panic!("child never printed {wanted:?}: {e}"),
            }
        }
    }

    fn finish(mut self) -> Outcome {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > CHILD_TIMEOUT {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                panic!("child did not end within {CHILD_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.started.elapsed();
        Outcome {
            status,
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
            elapsed,
        }
    }
}

fn run(scenario: &str) -> Outcome {
    spawn_scenario(scenario).finish()
}

fn raise_6_dies_of_sigabrt_after_the_action() {
    let out = run("raise_abrt");
    out.assert_killed_by(libc::SIGABRT);
    out.assert_action_reported(6);
}

fn raise_11_dies_of_sigsegv_after_the_action() {
    let out = run("raise_segv");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
}

fn invalid_write_dies_of_sigsegv() {
    let out = run("invalid_write");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    assert!(!out.stderr.contains("overflowed"), "{}", out.stderr);
}

fn abort_dies_of_sigabrt() {
    let out = run("abort");
    out.assert_killed_by(libc::SIGABRT);
    out.assert_action_reported(6);
}

/// Only where integer division by zero traps (x86_64; aarch64 returns 0 instead).
#[cfg(target_arch = "x86_64")]
fn integer_division_by_zero_dies_of_sigfpe() {
    let out = run("divide_by_zero");
    out.assert_killed_by(libc::SIGFPE);
    out.assert_action_reported(8);
}

/// An undefined instruction, executed: the action runs and the signal is re-raised.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn illegal_instruction_dies_of_sigill_after_the_action() {
    let out = run("illegal_instruction");
    out.assert_killed_by(libc::SIGILL);
    out.assert_action_reported(libc::SIGILL);
}

fn stack_overflow_on_main_thread() {
    let out = run("overflow_main");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    assert!(
        out.stderr
            .contains("tandem: a thread has overflowed its stack"),
        "{}",
        out.stderr
    );
}

fn stack_overflow_on_std_thread() {
    let out = run("overflow_std_thread");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    // Rust's runtime gave the thread an alternate stack already.
    assert!(
        out.stdout.contains("alt stack installed: false\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("tandem: a thread has overflowed its stack"),
        "{}",
        out.stderr
    );
}

fn stack_overflow_on_foreign_thread_with_installed_alt_stack() {
    let out = run("overflow_foreign_thread");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    assert!(
        out.stdout.contains("alt stack installed: true\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("alt stack installed again: false\n"),
        "{}",
        out.stdout
    );
}

fn crash_on_secondary_thread() {
    let out = run("crash_on_secondary_thread");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
}

fn two_concurrent_crashes_run_the_action_once() {
    let out = run("two_threads_crash");
    let signal = out.status.signal();
    assert!(
        signal == Some(libc::SIGSEGV) || signal == Some(libc::SIGABRT),
        "{:?}\n{}",
        out.status,
        out.stderr
    );
    assert_eq!(
        out.stdout.matches("Worker: SIGNAL CAUGHT").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        out.elapsed < Duration::from_millis(1500),
        "took {:?}",
        out.elapsed
    );
}

fn sigterm_from_outside_runs_the_action() {
    let running = spawn_scenario("sigterm");
    running.wait_for_line("READY");
    let pid = libc::pid_t::try_from(running.child.id()).unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is our un-reaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = running.finish();
    out.assert_killed_by(libc::SIGTERM);
    out.assert_action_reported(15);
    assert!(
        out.elapsed < Duration::from_millis(1500),
        "took {:?}",
        out.elapsed
    );
}

fn stuck_action_is_bounded_by_the_ack_timeout() {
    let out = run("stuck_action");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    // 200 ms bound; the default (2 s) would exceed this.
    assert!(
        out.elapsed < Duration::from_millis(1500),
        "took {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(200),
        "took {:?}",
        out.elapsed
    );
}

fn reinstall_handlers_takes_over_again() {
    let out = run("reinstall");
    out.assert_killed_by(libc::SIGSEGV);
    out.assert_action_reported(11);
    assert!(!out.stdout.contains("THIRD PARTY"), "{}", out.stdout);
}

fn replaced_handler_wins_without_reinstall() {
    let out = run("replaced_without_reinstall");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{:?}\n{}",
        out.status,
        out.stderr
    );
    assert!(out.stdout.contains("THIRD PARTY HANDLER"), "{}", out.stdout);
    assert!(!out.stdout.contains("SIGNAL CAUGHT"), "{}", out.stdout);
}

fn std_stack_overflow_message_without_monitor() {
    let out = run("no_monitor_overflow");
    out.assert_killed_by(libc::SIGABRT);
    assert!(
        out.stderr.contains("has overflowed its stack"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("tandem"), "{}", out.stderr);
}

fn stop_restores_std_stack_overflow_handler() {
    let out = run("stop_restores_std_handler");
    out.assert_killed_by(libc::SIGABRT);
    assert!(
        out.stderr.contains("has overflowed its stack"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("SIGNAL CAUGHT"), "{}", out.stdout);
}

fn second_start_is_refused_and_restart_works() {
    let out = run("double_start");
    out.assert_killed_by(libc::SIGFPE);
    assert!(
        out.stdout.contains("second start refused\n"),
        "{}",
        out.stdout
    );
    // The first monitor's action was cleared by its drop; the third one's ran.
    assert!(
        !out.stdout.contains("Worker: SIGNAL CAUGHT"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("third monitor caught SIGFPE\n"),
        "{}",
        out.stdout
    );
}

pub const TESTS: &[Test] = &[
    (
        "raise_6_dies_of_sigabrt_after_the_action",
        raise_6_dies_of_sigabrt_after_the_action,
    ),
    (
        "raise_11_dies_of_sigsegv_after_the_action",
        raise_11_dies_of_sigsegv_after_the_action,
    ),
    (
        "invalid_write_dies_of_sigsegv",
        invalid_write_dies_of_sigsegv,
    ),
    ("abort_dies_of_sigabrt", abort_dies_of_sigabrt),
    #[cfg(target_arch = "x86_64")]
    (
        "integer_division_by_zero_dies_of_sigfpe",
        integer_division_by_zero_dies_of_sigfpe,
    ),
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    (
        "illegal_instruction_dies_of_sigill_after_the_action",
        illegal_instruction_dies_of_sigill_after_the_action,
    ),
    (
        "stack_overflow_on_main_thread",
        stack_overflow_on_main_thread,
    ),
    ("stack_overflow_on_std_thread", stack_overflow_on_std_thread),
    (
        "stack_overflow_on_foreign_thread_with_installed_alt_stack",
        stack_overflow_on_foreign_thread_with_installed_alt_stack,
    ),
    ("crash_on_secondary_thread", crash_on_secondary_thread),
    (
        "two_concurrent_crashes_run_the_action_once",
        two_concurrent_crashes_run_the_action_once,
    ),
    (
        "sigterm_from_outside_runs_the_action",
        sigterm_from_outside_runs_the_action,
    ),
    (
        "stuck_action_is_bounded_by_the_ack_timeout",
        stuck_action_is_bounded_by_the_ack_timeout,
    ),
    (
        "reinstall_handlers_takes_over_again",
        reinstall_handlers_takes_over_again,
    ),
    (
        "replaced_handler_wins_without_reinstall",
        replaced_handler_wins_without_reinstall,
    ),
    (
        "std_stack_overflow_message_without_monitor",
        std_stack_overflow_message_without_monitor,
    ),
    (
        "stop_restores_std_stack_overflow_handler",
        stop_restores_std_stack_overflow_handler,
    ),
    (
        "second_start_is_refused_and_restart_works",
        second_start_is_refused_and_restart_works,
    ),
];
