//! Crash reports that say where (issue 17): the crashed thread's backtrace, captured in the
//! worker's signal handler, unwound and symbolized in the controller.
//!
//! Like `crash.rs`, these tests need the binary's own `main` (`harness = false`): workers crash on
//! their process's real main thread, so the stack-overflow case overflows the main thread.
//! The runner re-executes this binary with `TANDEM_TEST_ROLE=worker`; each transition's input
//! names the crash to perform. The C cases use `tests/c/levels.c`, which the runner compiles
//! into a shared library (the `cc` crate) that the worker `dlopen`s: its frames come from a
//! module loaded after setup, found only because the controller reads the worker's memory
//! map while the worker is parked in its handler.
//!
//! A test binary is built with debug info in the `test` and `dev` profiles, so every Rust
//! frame has a file and line.

use crate::support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::hint::black_box;
use support::harness::Test;
use tandem::{
    crash::{CrashBacktrace, CrashCapture},
    ChannelError, Controller, Options, TransitionRequest, WorkerChannel,
};

const EVENT: u32 = 1;
/// Names the shared library built from `tests/c/levels.c`, for the worker.
const LEVELS_LIB_ENV: &str = "TANDEM_LEVELS_LIB";

// ---------------------------------------------------------------------------------------------
// An allocator whose lock a test can hold
// ---------------------------------------------------------------------------------------------

/// The system allocator behind a gate: while [`ALLOCATOR_HELD`] is set, every allocation and
/// free waits, as if another thread held the allocator's lock. A crash report that needed
/// the heap (in the handler or the crash hook) would then hang the worker.
struct GatedAllocator;

static ALLOCATOR_HELD: AtomicBool = AtomicBool::new(false);

fn pass_gate() {
    while ALLOCATOR_HELD.load(Ordering::Acquire) {
        // SAFETY: sched_yield has no preconditions (and does not allocate).
        unsafe { libc::sched_yield() };
    }
}

// SAFETY: forwards to `System` unchanged; the gate only delays the calls.
unsafe impl GlobalAlloc for GatedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        pass_gate();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        pass_gate();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        pass_gate();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: GatedAllocator = GatedAllocator;

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

/// The faulting end of the Rust chain: a write through a null pointer, in machine code so
/// that Rust's own checks cannot turn it into a panic.
#[inline(never)]
fn level_c(x: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: deliberately not: the point is to fault.
    unsafe {
        std::arch::asm!("mov dword ptr [{address}], 1", address = in(reg) black_box(0usize));
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: deliberately not: the point is to fault (0x10 lies in the unmapped null page).
    unsafe {
        std::ptr::write_volatile(black_box(0x10usize) as *mut u32, 1);
    }
    x
}

/// `black_box` on the result keeps the call from being a tail call.
#[inline(never)]
fn level_b(x: u64) -> u64 {
    black_box(level_c(black_box(x) + 1))
}

#[inline(never)]
fn level_a(x: u64) -> u64 {
    black_box(level_b(black_box(x) + 1))
}

/// Recurses with 4 KiB frames until the stack overflows.
#[inline(never)]
fn overflow_here(depth: u64) -> u64 {
    let frame = [depth as u8; 4096];
    black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    black_box(overflow_here(depth + 1)) + u64::from(frame[depth as usize % frame.len()])
}

/// Calls `c_level_a(mode)` of the C library named by [`LEVELS_LIB_ENV`].
fn call_c_levels(mode: i32) {
    let path = std::env::var(LEVELS_LIB_ENV).expect("the runner names the C library");
    let path = CString::new(path).unwrap();
    // SAFETY: a valid C string; the library has no initialisers.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen failed");
    // SAFETY: `handle` is a live library handle, the name a valid C string.
    let symbol = unsafe { libc::dlsym(handle, c"c_level_a".as_ptr()) };
    assert!(!symbol.is_null(), "c_level_a not found");
    // SAFETY: `c_level_a` has this signature in tests/c/levels.c.
    let level_a: extern "C" fn(i32) = unsafe { std::mem::transmute(symbol) };
    level_a(mode);
}

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes on one machine.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Prefix of the worker's last stderr line before it faults; the time follows.
const FAULT_LINE: &str = "crash_backtrace: faulting at t=";

fn serve(request: &mut TransitionRequest<'_>) -> Result<(), String> {
    let mode = String::from_utf8(request.trusted_input().map_err(|e| e.to_string())?.to_vec())
        .map_err(|e| e.to_string())?;
    match mode.as_str() {
        "rust" => {
            eprintln!("{FAULT_LINE}{}", monotonic_ns());
            level_a(1);
        }
        "c-null" => call_c_levels(0),
        "c-abort" => call_c_levels(1),
        "rust-allocator-held" => {
            let held = std::sync::Arc::new(AtomicBool::new(false));
            let flag = std::sync::Arc::clone(&held);
            std::thread::spawn(move || {
                ALLOCATOR_HELD.store(true, Ordering::Release);
                flag.store(true, Ordering::Release);
                loop {
                    std::thread::park();
                }
            });
            while !held.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            // From here on no thread of this process can allocate or free.
            level_a(1);
        }
        "storm" => {
            let allocations = std::sync::Arc::new(AtomicU64::new(0));
            let count = std::sync::Arc::clone(&allocations);
            std::thread::spawn(move || {
                let mut kept: Vec<Vec<u8>> = Vec::new();
                for i in 0u64.. {
                    kept.push(vec![i as u8; (i % 4096) as usize + 1]);
                    if kept.len() > 64 {
                        kept.swap_remove((i % 64) as usize);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
            while allocations.load(Ordering::Relaxed) < 1000 {
                std::hint::spin_loop();
            }
            level_a(1);
        }
        "overflow-main" => {
            overflow_here(0);
        }
        "overflow-thread" => {
            std::thread::spawn(|| overflow_here(0))
                .join()
                .map_err(|_| "the thread panicked".to_owned())?;
        }
        "sleep" => std::thread::sleep(Duration::from_secs(60)),
        "echo" => {}
        other => return Err(format!("unknown mode {other}")),
    }
    Ok(())
}

pub fn run_worker() {
    let mut worker = WorkerChannel::from_env(0)
        .expect("open channel")
        .expect("started as a worker");
    match worker.handle_transitions(serve) {
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

/// Builds `tests/c/levels.c` into a shared library, once per runner, with debug info and no
/// optimisation (frames and lines as written).
fn levels_library() -> &'static PathBuf {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash_backtrace");
        std::fs::create_dir_all(&dir).unwrap();
        // One library per runner (another run may be using its own); those of runners that
        // are gone are removed here.
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let runner = name
                .strip_prefix("liblevels-")
                .and_then(|rest| rest.strip_suffix(".so"));
            if runner.is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let target = if cfg!(target_arch = "aarch64") {
            "aarch64-unknown-linux-gnu"
        } else {
            "x86_64-unknown-linux-gnu"
        };
        let compiler = cc::Build::new()
            .target(target)
            .host(target)
            .opt_level(0)
            .debug(true)
            .cargo_metadata(false)
            .cargo_warnings(false)
            .get_compiler();
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c/levels.c");
        let library = dir.join(format!("liblevels-{}.so", std::process::id()));
        let status = compiler
            .to_command()
            .args(["-shared", "-fPIC", "-fno-omit-frame-pointer", "-o"])
            .arg(&library)
            .arg(&source)
            .status()
            .expect("run the C compiler");
        assert!(status.success(), "compiling {}", source.display());
        library
    })
}

fn worker_command() -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .env(support::ROLE_ENV, "crash_backtrace/worker")
        .env(LEVELS_LIB_ENV, levels_library())
        .env_remove("RUST_BACKTRACE");
    command
}

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(Duration::from_secs(10))
}

fn spawn(base: &str, capture: CrashCapture) -> Controller {
    Controller::spawn(worker_command(), base, 0, options().crash_capture(capture))
        .expect("spawn the worker")
}

/// Runs one transition with input `mode` and returns the crash it must end in, with the
/// worker's pid.
fn crash(controller: &mut Controller, mode: &str) -> (CrashBacktrace, u32, ChannelError) {
    let pid = controller.pid().expect("a worker");
    controller.to_worker().write(mode.as_bytes()).unwrap();
    let error = controller.do_transition(EVENT, 1, |_| ()).unwrap_err();
    match &error {
        ChannelError::WorkerCrashed { backtrace, .. } => (backtrace.clone(), pid, error),
        other => panic!("expected WorkerCrashed for {mode}, got {other}"),
    }
}

/// The innermost function names of the frames, leaving out the C library's frames at the
/// top (`abort` and what it calls).
fn names_after_libc(backtrace: &CrashBacktrace) -> Vec<String> {
    backtrace
        .frames()
        .iter()
        .skip_while(|frame| frame.module().is_some_and(|m| m.contains("/libc.so")))
        .map(|frame| frame.function().unwrap_or("<unknown>").to_owned())
        .collect()
}

/// The first frame's function that is not the standard library's: an overflow may hit inside
/// `core::hint::black_box`, which a debug build calls rather than inlines.
fn first_own_frame(backtrace: &CrashBacktrace) -> Option<String> {
    names_after_libc(backtrace)
        .into_iter()
        .find(|name| !name.starts_with("core::") && !name.starts_with("std::"))
}

/// Asserts that the first frames (after libc's) are `expected`, in order, by name suffix.
fn assert_first_frames(backtrace: &CrashBacktrace, expected: &[&str], report: &str) {
    let names = names_after_libc(backtrace);
    assert!(names.len() >= expected.len(), "{report}");
    for (name, want) in names.iter().zip(expected) {
        assert!(
            name == want || name.ends_with(&format!("::{want}")),
            "expected {expected:?} first, got {names:?}\n{report}"
        );
    }
}

/// Asserts that the first frame after libc's has a file ending in `file` and a line.
fn assert_located(backtrace: &CrashBacktrace, file: &str, report: &str) {
    let frame = backtrace
        .frames()
        .iter()
        .find(|frame| !frame.module().is_some_and(|m| m.contains("/libc.so")))
        .expect("a frame outside libc");
    let symbol = frame.symbols().first().expect("a symbol");
    assert!(
        symbol.file().is_some_and(|f| f.ends_with(file)) && symbol.line().is_some(),
        "{report}"
    );
}

fn rust_chain_segv_names_its_functions_with_lines() {
    let mut controller = spawn("bt-rust", CrashCapture::new());
    let started = Instant::now();
    let (backtrace, pid, error) = crash(&mut controller, "rust");
    let to_error = started.elapsed();
    let received_ns = monotonic_ns();
    assert!(!backtrace.is_resolved(), "resolved on the restart path");
    let resolve_started = Instant::now();
    let report = error.to_string();
    let first_resolve = resolve_started.elapsed();
    assert!(report.contains("fault address: 0x0"), "{report}");
    assert!(report.contains("stack backtrace"), "{report}");
    assert_eq!(backtrace.thread_id(), Some(pid), "the main thread crashed");
    assert_eq!(backtrace.fault_address(), Some(0));
    assert_first_frames(&backtrace, &["level_c", "level_b", "level_a"], &report);
    assert_located(&backtrace, "crash_backtrace.rs", &report);
    // Fault to typed error, from the worker's own clock reading just before it faulted.
    if let Some(delay) = fault_to_error(&error, received_ns) {
        println!(
            "cost: fault to WorkerCrashed with the capture copied: {delay:?} (transition round {to_error:?})"
        );
    }
    println!("cost: first unwind + symbolize (modules parsed): {first_resolve:?}");
    println!("{report}");
    controller.restart().unwrap();
    let (again, _, _) = crash(&mut controller, "rust");
    let cached = Instant::now();
    let frames = again.frames().len();
    println!(
        "cost: unwind + symbolize of a later crash (modules cached): {:?} ({frames} frames)",
        cached.elapsed()
    );
    // The same crash without capture, for comparison.
    let mut plain = spawn("bt-rust-plain", CrashCapture::disabled());
    let (_, _, error) = crash(&mut plain, "rust");
    let received_ns = monotonic_ns();
    if let Some(delay) = fault_to_error(&error, received_ns) {
        println!("cost: fault to WorkerCrashed without capture: {delay:?}");
    }
}

/// The time from the fault (the worker's last stderr line) to `received_ns`.
fn fault_to_error(error: &ChannelError, received_ns: u64) -> Option<Duration> {
    let ChannelError::WorkerCrashed {
        stderr_tail: Some(tail),
        ..
    } = error
    else {
        return None;
    };
    let fault_ns: u64 = tail
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(FAULT_LINE)?.trim().parse().ok())?;
    Some(Duration::from_nanos(received_ns.saturating_sub(fault_ns)))
}

fn c_null_dereference_names_its_functions_with_lines() {
    let mut controller = spawn("bt-c-null", CrashCapture::new());
    let (backtrace, _, error) = crash(&mut controller, "c-null");
    let report = error.to_string();
    assert_eq!(backtrace.fault_address(), Some(0), "{report}");
    assert_first_frames(
        &backtrace,
        &["c_level_c", "c_level_b", "c_level_a"],
        &report,
    );
    assert_located(&backtrace, "levels.c", &report);
    // Below the C library, the Rust caller.
    assert!(
        names_after_libc(&backtrace)
            .iter()
            .any(|name| name.ends_with("call_c_levels")),
        "{report}"
    );
}

fn c_abort_names_its_functions_after_libc_frames() {
    let mut controller = spawn("bt-c-abort", CrashCapture::new());
    let (backtrace, _, error) = crash(&mut controller, "c-abort");
    let report = error.to_string();
    assert!(report.contains("SIGABRT"), "{report}");
    assert_eq!(
        backtrace.fault_address(),
        None,
        "abort sends a signal: no fault address"
    );
    assert_first_frames(
        &backtrace,
        &["c_level_c", "c_level_b", "c_level_a"],
        &report,
    );
    assert_located(&backtrace, "levels.c", &report);
}

fn crash_while_another_thread_holds_the_allocator() {
    let mut controller = spawn("bt-alloc-held", CrashCapture::new());
    let started = Instant::now();
    let (backtrace, _, error) = crash(&mut controller, "rust-allocator-held");
    let report = error.to_string();
    // The worker could not have finished its report had it allocated: it is reported
    // within the acknowledgement bound, with its frames.
    assert!(started.elapsed() < Duration::from_secs(5), "{report}");
    assert_first_frames(&backtrace, &["level_c", "level_b", "level_a"], &report);
}

fn overflow_on_the_main_thread_names_the_overflowing_function() {
    let mut controller = spawn("bt-overflow-main", CrashCapture::new());
    let (backtrace, pid, error) = crash(&mut controller, "overflow-main");
    let report = error.to_string();
    assert_eq!(backtrace.thread_id(), Some(pid), "{report}");
    assert!(
        first_own_frame(&backtrace).is_some_and(|name| name.ends_with("overflow_here")),
        "{report}"
    );
}

fn overflow_on_a_secondary_thread_names_the_overflowing_function() {
    let mut controller = spawn("bt-overflow-thread", CrashCapture::new());
    let (backtrace, pid, error) = crash(&mut controller, "overflow-thread");
    let report = error.to_string();
    assert_ne!(backtrace.thread_id(), Some(pid), "{report}");
    assert!(
        first_own_frame(&backtrace).is_some_and(|name| name.ends_with("overflow_here")),
        "{report}"
    );
}

fn two_hundred_crashes_with_an_allocating_thread_are_all_reported() {
    const CRASHES: usize = 200;
    let mut controller = spawn("bt-storm", CrashCapture::new());
    let started = Instant::now();
    let mut pids = std::collections::HashSet::new();
    for round in 0..CRASHES {
        let (backtrace, pid, error) = crash(&mut controller, "storm");
        // Each report is this worker's own: its main thread, never an earlier worker's.
        assert_eq!(backtrace.thread_id(), Some(pid), "round {round}: {error}");
        assert!(pids.insert(pid), "round {round}: pid {pid} seen before");
        if round % 20 == 0 || round == CRASHES - 1 {
            assert_first_frames(
                &backtrace,
                &["level_c", "level_b", "level_a"],
                &error.to_string(),
            );
        }
        controller.restart().unwrap();
    }
    println!(
        "cost: {CRASHES} crashes with backtraces, restarts included: {:?}",
        started.elapsed()
    );
}

fn sigkill_reports_no_backtrace_never_a_stale_one() {
    let mut controller = spawn("bt-sigkill", CrashCapture::new());
    // A first crash, captured and reported...
    let (first, _, _) = crash(&mut controller, "rust");
    assert!(first.missing_reason().is_none());
    controller.restart().unwrap();
    // ... then a SIGKILL of the next worker: no handler runs, so no backtrace at all.
    let pid = controller.pid().unwrap();
    controller.to_worker().write(b"sleep").unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: kill has no memory preconditions; `pid` is our unreaped child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let error = controller.do_transition(EVENT, 2, |_| ()).unwrap_err();
    killer.join().unwrap();
    match &error {
        ChannelError::WorkerDied { .. } => {}
        other => panic!("expected WorkerDied, got {other}"),
    }
    let report = error.to_string();
    assert!(!report.contains("stack backtrace"), "{report}");
}

fn disabled_capture_says_so() {
    let mut controller = spawn("bt-disabled", CrashCapture::disabled());
    let (backtrace, _, error) = crash(&mut controller, "rust");
    let report = error.to_string();
    assert!(backtrace.frames().is_empty());
    assert!(
        report.contains("no backtrace: crash capture is disabled for this channel"),
        "{report}"
    );
}

pub const TESTS: &[Test] = &[
    (
        "rust_chain_segv_names_its_functions_with_lines",
        rust_chain_segv_names_its_functions_with_lines,
    ),
    (
        "c_null_dereference_names_its_functions_with_lines",
        c_null_dereference_names_its_functions_with_lines,
    ),
    (
        "c_abort_names_its_functions_after_libc_frames",
        c_abort_names_its_functions_after_libc_frames,
    ),
    (
        "crash_while_another_thread_holds_the_allocator",
        crash_while_another_thread_holds_the_allocator,
    ),
    (
        "overflow_on_the_main_thread_names_the_overflowing_function",
        overflow_on_the_main_thread_names_the_overflowing_function,
    ),
    (
        "overflow_on_a_secondary_thread_names_the_overflowing_function",
        overflow_on_a_secondary_thread_names_the_overflowing_function,
    ),
    (
        "two_hundred_crashes_with_an_allocating_thread_are_all_reported",
        two_hundred_crashes_with_an_allocating_thread_are_all_reported,
    ),
    (
        "sigkill_reports_no_backtrace_never_a_stale_one",
        sigkill_reports_no_backtrace_never_a_stale_one,
    ),
    ("disabled_capture_says_so", disabled_capture_says_so),
];
