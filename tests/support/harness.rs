//! The runner of the `harness = false` test targets, on top of libtest-mimic.
//!
//! These targets keep their own `main` because the *child* processes they start must run on
//! their real main thread (a stack overflow of the main thread, a worker serving on it): each
//! `main` decides its role from the environment before this runner is reached, and only the
//! test runner itself comes here. The runner's tests only start and check child processes, so
//! they may run on any thread.
//!
//! libtest-mimic parses the usual libtest command line, so these targets behave like every
//! other one for `cargo test`, `cargo nextest` and IDEs: `--list` (with `--format terse`, as
//! nextest asks), a name filter, `--exact`, `--skip`, `--ignored`/`--include-ignored`,
//! `--test-threads`, `--quiet`, `--nocapture` (always in effect).

use libtest_mimic::{Arguments, Trial};

/// A named test.
pub type Test = (&'static str, fn());

/// How the tests of a target run when the command line has no `--test-threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All at once, each on its own thread: the tests mostly wait for child processes.
    Parallel,
    /// One after the other, on the runner's main thread.
    Sequential,
}

/// Runs `tests` as the command line asks and exits with libtest's status (101 if a test
/// failed).
pub fn run(tests: &[Test], mode: Mode) -> ! {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(match mode {
            Mode::Parallel => tests.len().max(1),
            Mode::Sequential => 1,
        });
    }
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}
