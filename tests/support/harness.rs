//! The runner of the `main_thread` test binary (`harness = false`), on top of libtest-mimic.
//!
//! That binary keeps its own `main` because the *child* processes it starts must run on their
//! real main thread (a stack overflow of the main thread, a worker serving on it): `main`
//! decides the role from the environment before this runner is reached, and only the test
//! runner itself comes here. The runner's tests only start and check child processes, so they
//! may run on any thread.
//!
//! libtest-mimic parses the usual libtest command line, so the binary behaves like every other
//! one for `cargo test`, `cargo nextest` and IDEs: `--list` (with `--format terse`, as nextest
//! asks), a name filter, `--exact`, `--skip`, `--ignored`/`--include-ignored`,
//! `--test-threads`, `--quiet`, `--nocapture` (always in effect). Test names are
//! `module::test`, like those of a libtest binary with modules.

use std::sync::{Arc, Mutex, PoisonError};

use libtest_mimic::{Arguments, Trial};

/// A named test.
pub type Test = (&'static str, fn());

/// How the tests of a group run beside the others when the command line has no
/// `--test-threads` (with it, libtest's rule holds: that many at once, whatever the group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All at once, each on its own thread: the tests mostly wait for child processes.
    Parallel,
    /// One after the other within the group; beside the tests of other groups.
    Sequential,
}

/// The tests of one module.
pub struct Group {
    /// The module's name, the first part of its tests' names.
    pub module: &'static str,
    /// Its tests.
    pub tests: &'static [Test],
    /// How they run.
    pub mode: Mode,
}

/// Runs the tests of `groups` as the command line asks and exits with libtest's status (101
/// if a test failed).
pub fn run(groups: &[Group]) -> ! {
    let mut args = Arguments::from_args();
    let mut trials = Vec::new();
    for group in groups {
        // A group's turn: a test of a sequential group runs while holding it.
        let turn = Arc::new(Mutex::new(()));
        for &(name, test) in group.tests {
            let (mode, turn) = (group.mode, Arc::clone(&turn));
            trials.push(Trial::test(
                format!("{}::{name}", group.module),
                move || {
                    // A failed test poisons nothing that matters: the lock guards no data.
                    let _turn = (mode == Mode::Sequential)
                        .then(|| turn.lock().unwrap_or_else(PoisonError::into_inner));
                    test();
                    Ok(())
                },
            ));
        }
    }
    // Every test on its own thread unless the command line says otherwise; the groups' locks
    // order the sequential ones.
    args.test_threads = args.test_threads.or(Some(trials.len().max(1)));
    libtest_mimic::run(&args, trials).exit()
}
