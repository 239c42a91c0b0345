//! The worker sandbox (issue 18) with real processes: a sandboxed worker serves like an
//! unsandboxed one; after setup, forbidden calls end in a typed `SandboxViolation` naming
//! the call; Landlock confines reads to the listed paths; resource limits end in typed
//! errors. We run as root (CI too): every restriction checked here holds for root, which is
//! the point of seccomp and Landlock.
//!
//! Re-executed with `TANDEM_TEST_ROLE=sandbox/<role>` the binary is a worker that serves on
//! its main thread (`main.rs`); otherwise it runs the tests below, one after the other. Delays from a forbidden call
//! to the controller's error are printed, not asserted (the machine is shared).

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::harness::Test;
use support::{assert_nothing_in_dev_shm, ROLE_ENV};
use tandem::{
    sandbox::LandlockEnforcement, ChannelError, Controller, Options, Sandbox, TransitionRequest,
    WorkerChannel,
};

const EVENT: u32 = 1;

/// Where a `file-writer` worker opens, during its setup, the file its `fill` verb writes to.
const FILE_ENV: &str = "TANDEM_TEST_SANDBOX_FILE";

/// The descriptor of that file (-1 in other workers).
static FILE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

/// SplitMix64: the deterministic "physics" of an event.
fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A write through a null pointer: a real SIGSEGV.
fn null_write() {
    // SAFETY: deliberately not: the point is to fault (0x10 lies in the unmapped null page).
    unsafe { std::ptr::write_volatile(std::hint::black_box(0x10usize) as *mut u32, 1) };
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// One transition: the input names what to do, `verb` or `verb:argument`.
fn serve(request: &mut TransitionRequest<'_>) -> Result<(), String> {
    let input = String::from_utf8(request.trusted_input().map_err(|e| e.to_string())?.to_vec())
        .map_err(|e| e.to_string())?;
    let (verb, argument) = input.split_once(':').unwrap_or((&input, ""));
    let reply: Vec<u8> = match verb {
        "event" => {
            let seed: u64 = argument.parse().map_err(|_| "bad seed")?;
            splitmix(seed).to_le_bytes().to_vec()
        }
        "grow" => {
            let len: usize = argument.parse().map_err(|_| "bad length")?;
            (0..len).map(|i| (i % 251) as u8).collect()
        }
        "thread" => {
            let handle =
                std::thread::spawn(|| (0..1000u64).map(splitmix).fold(0, u64::wrapping_add));
            handle
                .join()
                .map_err(|_| "thread panicked")?
                .to_le_bytes()
                .to_vec()
        }
        "crash" => {
            null_write();
            Vec::new()
        }
        "open" => {
            // SAFETY: a NUL-terminated path and plain flags.
            let fd = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
            format!("open returned {fd}").into_bytes()
        }
        "socket" => {
            // SAFETY: plain integers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            format!("socket returned {fd}").into_bytes()
        }
        "execve" => {
            let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated strings and null-terminated arrays.
            let rc = unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            format!("execve returned {rc}").into_bytes()
        }
        "ptrace" => {
            // SAFETY: PTRACE_TRACEME takes no pointers.
            let rc = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
            format!("ptrace returned {rc}").into_bytes()
        }
        "sigsys_handler" => {
            // SAFETY: a valid sigaction with a handler that does nothing.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = ignore_signal as *const () as usize;
                libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut())
            };
            format!("sigaction returned {rc}").into_bytes()
        }
        "block_sigsys_then_socket" => {
            // Hostile code that hides its next violation from the handler: the kernel then
            // kills the worker with SIGSYS at once, and the report names no call.
            // SAFETY: a valid signal set; plain integers for socket.
            let fd = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGSYS);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0)
            };
            format!("socket returned {fd}").into_bytes()
        }
        "fill" => {
            let len: usize = argument.parse().map_err(|_| "bad length")?;
            let bytes = vec![7u8; len];
            let fd = FILE_FD.load(std::sync::atomic::Ordering::Relaxed);
            // SAFETY: `bytes` is valid for `len` bytes; `fd` is the file opened at setup.
            let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), len) };
            format!("write returned {written}").into_bytes()
        }
        "read" => std::fs::read(argument).map_err(|e| format!("read {argument}: {e}"))?,
        "write" => {
            std::fs::write(argument, b"overwritten")
                .map_err(|e| format!("write {argument}: {e}"))?;
            b"written".to_vec()
        }
        "spin" => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(splitmix(x));
            }
        }
        "alloc" => {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                kept.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&kept);
            }
        }
        other => return Err(format!("unknown verb `{other}`")),
    };
    request.output().write(&reply).map_err(|e| e.to_string())
}

pub fn run_worker(role: &str) {
    if role == "skips-sandbox" {
        // A worker of another tandem that does not know the sandbox: it never installs it.
        std::env::remove_var(tandem::sandbox::SANDBOX_ENV);
    }
    if role == "file-writer" {
        // Setup code may still open files: the seccomp filter comes with `setup_done`.
        let path = std::env::var(FILE_ENV).expect("the file to write");
        let file = std::fs::File::create(path).expect("create the file at setup");
        FILE_FD.store(
            std::os::fd::IntoRawFd::into_raw_fd(file),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    let mut worker = WorkerChannel::from_env(0)
        .expect("open the channel")
        .expect("started as a worker");
    worker.handle_transitions(serve).expect("serve");
}

// ---------------------------------------------------------------------------------------------
// Controller side
// ---------------------------------------------------------------------------------------------

fn worker_command(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .env(ROLE_ENV, format!("sandbox/{role}"))
        .stdout(Stdio::null());
    command
}

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(Duration::from_secs(10))
}

fn spawn(base: &str, options: Options) -> Controller {
    Controller::spawn(worker_command("worker"), base, 0, options).expect("spawn the worker")
}

fn call(controller: &mut Controller, id: u64, input: &str) -> Result<Vec<u8>, ChannelError> {
    controller.to_worker().write(input.as_bytes())?;
    controller
        .do_transition(EVENT, id, |mut reply| reply.to_vec())?
        .map_err(ChannelError::from)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Acceptance 1: 10,000 transitions, output 4 KiB → 64 MiB, idle gaps, a thread, a crash,
/// restart and replay. Returns the digest of the events.
fn serving_run(base: &str, options: Options) -> u64 {
    let started = Instant::now();
    let mut controller = spawn(base, options);
    if let Some(status) = controller.sandbox_status() {
        assert!(status.seccomp_verified, "{status:?}");
        println!("{base}: sandbox in force, Landlock {}", status.landlock);
    }
    let mut digest = 0u64;
    for id in 0..10_000u64 {
        let reply = call(&mut controller, id, &format!("event:{id}")).expect("event");
        assert_eq!(reply, splitmix(id).to_le_bytes());
        digest = digest.wrapping_mul(31).wrapping_add(splitmix(id));
        if id % 2500 == 0 {
            // Idle longer than the wait path's 2 ms look period, so it looks again.
            std::thread::sleep(Duration::from_millis(15));
        }
    }
    let mut len = 4 << 10;
    while len <= 64 << 20 {
        let reply = call(&mut controller, 20_000, &format!("grow:{len}")).expect("grow");
        assert_eq!(reply.len(), len);
        assert_eq!(reply[len - 1], ((len - 1) % 251) as u8);
        len *= 4;
    }
    let reply = call(&mut controller, 30_000, "thread").expect("a thread in a transition");
    assert_eq!(
        reply,
        (0..1000u64)
            .map(splitmix)
            .fold(0, u64::wrapping_add)
            .to_le_bytes()
    );
    let pid = controller.pid().expect("a worker");
    match call(&mut controller, 40_000, "crash") {
        Err(ChannelError::WorkerCrashed { signal, .. }) => assert_eq!(signal, libc::SIGSEGV),
        other => panic!("expected a crash, got {other:?}"),
    }
    controller.restart().expect("restart after the crash");
    // Replay the last events: the same answers from the new worker.
    for id in 9_990..10_000u64 {
        controller.set_attempt(2);
        let reply = call(&mut controller, id, &format!("event:{id}")).expect("replayed event");
        assert_eq!(reply, splitmix(id).to_le_bytes());
    }
    assert_nothing_in_dev_shm(pid);
    println!(
        "{base}: 10,000 events, 4 KiB..64 MiB, thread, crash + replay in {:?}",
        started.elapsed()
    );
    digest
}

fn sandboxed_worker_serves_like_an_unsandboxed_one() {
    let control = serving_run("sbx-control", options());
    let sandboxed = serving_run("sbx-serve", options().sandbox(Sandbox::new()));
    assert_eq!(control, sandboxed);
}

/// Acceptance 2: each forbidden call ends the worker with a typed violation naming it; the
/// controller restarts it and goes on.
fn forbidden_calls_are_typed_violations() {
    let cases: [(&str, &[&str]); 6] = [
        ("open", &["openat", "open"]),
        ("socket", &["socket"]),
        ("execve", &["execve"]),
        ("ptrace", &["ptrace"]),
        ("sigsys_handler", &["rt_sigaction"]),
        ("block_sigsys_then_socket", &["unknown"]),
    ];
    let mut controller = spawn("sbx-violate", options().sandbox(Sandbox::new()));
    for (id, (verb, names)) in cases.into_iter().enumerate() {
        let id = id as u64;
        assert_eq!(
            call(&mut controller, id, "event:7").expect("serving"),
            splitmix(7).to_le_bytes()
        );
        let pid = controller.pid().expect("a worker");
        let started = Instant::now();
        let error = call(&mut controller, id, verb).expect_err("the sandbox refuses it");
        let elapsed = started.elapsed();
        match &error {
            ChannelError::SandboxViolation {
                syscall,
                transition,
                pid: reported,
                while_idle,
                ..
            } => {
                assert!(
                    names.contains(&syscall.name),
                    "{verb}: reported {syscall}: {error}"
                );
                assert_eq!(syscall.number >= 0, syscall.name != "unknown");
                assert_eq!(transition.id, id);
                assert_eq!(*reported, pid);
                assert!(!while_idle);
            }
            other => panic!("{verb}: expected a sandbox violation, got {other}"),
        }
        assert!(error.is_worker_lost() && error.requires_restart());
        println!("{verb}: violation reported after {elapsed:?}: {error}");
        controller.restart().expect("the next worker");
    }
    assert_eq!(
        call(&mut controller, 99, "event:9").expect("serving"),
        splitmix(9).to_le_bytes()
    );
}

/// The same calls without a sandbox succeed or fail as the OS decides: the control.
fn forbidden_calls_run_without_a_sandbox() {
    let mut controller = spawn("sbx-nosbx", options());
    for verb in ["open", "socket", "sigsys_handler"] {
        let reply = call(&mut controller, 1, verb).expect("no sandbox, no violation");
        println!("without a sandbox: {}", text(&reply));
    }
    let passwd = call(&mut controller, 2, "read:/etc/passwd").expect("read without Landlock");
    assert!(!passwd.is_empty());
}

/// A worker that does not install the sandbox is refused before its first transition.
fn a_worker_without_the_sandbox_is_refused() {
    let result = Controller::spawn(
        worker_command("skips-sandbox"),
        "sbx-skip",
        0,
        options().sandbox(Sandbox::new()),
    );
    match result {
        Err(ChannelError::SandboxNotInForce {
            no_new_privs,
            seccomp,
            ..
        }) => {
            assert_eq!(no_new_privs, Some(1), "set at spawn by the controller");
            assert_eq!(seccomp, Some(0));
        }
        other => panic!("expected SandboxNotInForce, got {other:?}"),
    }
}

fn uname_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Acceptance 3: Landlock lets the worker read the listed path, and nothing else; writing it
/// fails too.
fn landlock_confines_reads_to_listed_paths() {
    let dir = std::env::temp_dir().join(format!("tandem-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a data directory");
    let data: PathBuf = dir.join("pdfset.dat");
    std::fs::write(&data, b"alpha_s = 0.118").expect("a data file");
    let sandbox = Sandbox::new()
        .allow_read(&dir)
        // Opening and reading files after setup: seccomp lets them through, Landlock decides.
        .allow_syscalls(["openat", "read", "statx", "fstat", "newfstatat", "lseek"]);
    let mut controller = spawn("sbx-landlock", options().sandbox(sandbox));
    let status = controller.sandbox_status().expect("a sandbox");
    println!("kernel {}: Landlock {}", uname_release(), status.landlock);
    let data_path = data.display().to_string();
    match status.landlock {
        LandlockEnforcement::FullyEnforced | LandlockEnforcement::PartiallyEnforced { .. } => {
            let read = call(&mut controller, 1, &format!("read:{data_path}")).expect("listed path");
            assert_eq!(read, b"alpha_s = 0.118");
            let unlisted = call(&mut controller, 2, "read:/etc/passwd").expect_err("unlisted path");
            assert!(
                matches!(&unlisted, ChannelError::WorkerFailed { message, .. } if message.contains("Permission denied")),
                "{unlisted}"
            );
            let write = call(&mut controller, 3, &format!("write:{data_path}"))
                .expect_err("listed path is read-only");
            assert!(
                matches!(write, ChannelError::WorkerFailed { .. }),
                "{write}"
            );
            assert_eq!(std::fs::read(&data).unwrap(), b"alpha_s = 0.118");
        }
        other => println!(
            "SKIPPED: kernel {} lacks Landlock ({other}): reading unlisted paths and writing \
             listed ones are NOT refused on this machine",
            uname_release()
        ),
    }
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Acceptance 4: CPU time and data size limits end the worker with typed errors.
fn resource_limits_are_typed_errors() {
    let cpu = Sandbox::new().cpu_time_limit(Duration::from_secs(1));
    let mut controller = spawn("sbx-cpu", options().sandbox(cpu));
    let started = Instant::now();
    match call(&mut controller, 1, "spin") {
        Err(ChannelError::ResourceLimitExceeded { limit, signal, .. }) => {
            assert_eq!(limit, "CPU time");
            assert_eq!(signal, libc::SIGXCPU);
        }
        other => panic!("expected the CPU limit, got {other:?}"),
    }
    println!("CPU limit of 1 s reported after {:?}", started.elapsed());

    let data = Sandbox::new().data_size_limit(128 << 20);
    let mut controller = spawn("sbx-data", options().sandbox(data));
    match call(&mut controller, 1, "alloc") {
        Err(ChannelError::ResourceLimitExceeded { limit, .. }) => assert_eq!(limit, "data size"),
        other => panic!("expected the data-size limit, got {other:?}"),
    }
    // The channel's own buffers are shared mappings, outside RLIMIT_DATA (RLIMIT_AS would
    // count them): a 64 MiB reply, built in a 64 MiB private vector, fits under 128 MiB.
    controller.restart().expect("restart");
    let big = call(&mut controller, 2, &format!("grow:{}", 64 << 20)).expect("a 64 MiB reply");
    assert_eq!(big.len(), 64 << 20);

    // A file opened at setup (no Landlock rules, so setup may create it) may not grow past
    // the limit: a write beyond it is SIGXFSZ, reported as the limit.
    let dir = std::env::temp_dir().join(format!("tandem-sbx-fsize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("out");
    let fsize = Sandbox::new()
        .without_file_system_rules()
        .file_size_limit(4096);
    let mut command = worker_command("file-writer");
    command.env(FILE_ENV, &file);
    let mut controller = Controller::spawn(command, "sbx-fsize", 0, options().sandbox(fsize))
        .expect("spawn the file writer");
    let small = call(&mut controller, 1, "fill:1000").expect("a write under the limit");
    assert_eq!(text(&small), "write returned 1000");
    // The kernel writes up to the limit and returns the short count; the next write, at
    // the limit, is the one that gets SIGXFSZ.
    let short = call(&mut controller, 2, "fill:8192").expect("a write cut at the limit");
    assert_eq!(text(&short), "write returned 3096");
    match call(&mut controller, 3, "fill:1") {
        Err(ChannelError::ResourceLimitExceeded { limit, signal, .. }) => {
            assert_eq!(limit, "file size");
            assert_eq!(signal, libc::SIGXFSZ);
        }
        other => panic!("expected the file-size limit, got {other:?}"),
    }
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}

pub const TESTS: &[Test] = &[
    (
        "sandboxed_worker_serves_like_an_unsandboxed_one",
        sandboxed_worker_serves_like_an_unsandboxed_one,
    ),
    (
        "forbidden_calls_are_typed_violations",
        forbidden_calls_are_typed_violations,
    ),
    (
        "forbidden_calls_run_without_a_sandbox",
        forbidden_calls_run_without_a_sandbox,
    ),
    (
        "a_worker_without_the_sandbox_is_refused",
        a_worker_without_the_sandbox_is_refused,
    ),
    (
        "landlock_confines_reads_to_listed_paths",
        landlock_confines_reads_to_listed_paths,
    ),
    (
        "resource_limits_are_typed_errors",
        resource_limits_are_typed_errors,
    ),
];
