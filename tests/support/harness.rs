//! A small test runner for `harness = false` test targets, whose `main` must stay free for
//! the worker role (a stack overflow has to happen on the real main thread). Prints
//! libtest's lines, so the output reads like every other test target.

use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::Instant;

/// A named test.
pub type Test = (&'static str, fn());

/// How the tests of a target run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each on its own thread, all at once.
    Parallel,
    /// One after the other on the main thread.
    Sequential,
}

/// Runs the tests whose name contains one of the command line's non-flag arguments (all of
/// them without such arguments) and exits with status 101 if one failed.
pub fn run(tests: &[Test], mode: Mode) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<Test> = tests
        .iter()
        .copied()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let filtered_out = tests.len() - selected.len();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let timed = |test: fn()| {
        let started = Instant::now();
        let passed = panic::catch_unwind(AssertUnwindSafe(test)).is_ok();
        (passed, started.elapsed())
    };
    let results: Vec<(&str, bool, u128)> = match mode {
        Mode::Sequential => selected
            .iter()
            .map(|&(name, test)| {
                let (passed, elapsed) = timed(test);
                report(name, passed, elapsed.as_millis());
                (name, passed, elapsed.as_millis())
            })
            .collect(),
        Mode::Parallel => {
            let running: Vec<_> = selected
                .iter()
                .map(|&(name, test)| {
                    let thread = thread::Builder::new()
                        .name(name.to_owned())
                        .spawn(move || timed(test))
                        .expect("spawn a test thread");
                    (name, thread)
                })
                .collect();
            running
                .into_iter()
                .map(|(name, thread)| {
                    let (passed, elapsed) = thread.join().unwrap_or((false, Default::default()));
                    report(name, passed, elapsed.as_millis());
                    (name, passed, elapsed.as_millis())
                })
                .collect()
        }
    };
    let failed: Vec<&str> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let passed = results.len() - failed.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures: {failed:?}");
    }
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

fn report(name: &str, passed: bool, millis: u128) {
    let verdict = if passed { "ok" } else { "FAILED" };
    println!("test {name} ... {verdict} ({millis} ms)");
}
