//! Tests whose worker processes need this binary's own `main` (`harness = false`): workers that
//! serve or crash on their process's real main thread (libtest would run them on a spawned
//! thread), and the worker binary of `typed_e2e`, which must be another executable than its
//! controller's. One binary for all of them, so that `cargo test` links one executable rather
//! than one per file.
//!
//! `main` first looks at the environment: re-executed as a child (`TANDEM_TEST_ROLE` set to
//! `module/role`, or `TANDEM_MONITOR_SCENARIO`), the process plays that role and never reaches
//! the test runner. Otherwise it runs the tests of every module (`support/harness.rs`; names
//! `module::test`, libtest's command line).

#[path = "../support/mod.rs"]
mod support;

#[path = "../generator_types/mod.rs"]
mod generator_types;

mod crash;
mod crash_backtrace;
mod generator_worker;
mod generator_worker_changed;
mod monitor;
mod sandbox;

use support::harness::{self, Group, Mode};

fn main() {
    if let Some(role) = support::role() {
        let (module, role) = role.split_once('/').unwrap_or((role.as_str(), ""));
        match module {
            "crash" => crash::run_worker(role),
            "crash_backtrace" => crash_backtrace::run_worker(),
            "sandbox" => sandbox::run_worker(role),
            "generator_worker" => generator_worker::serve(),
            "generator_worker_changed" => generator_worker_changed::serve(),
            other => panic!("unknown role `{other}`"),
        }
        return;
    }
    if let Ok(scenario) = std::env::var(monitor::SCENARIO_VAR) {
        monitor::run_scenario(&scenario);
        return;
    }
    harness::run(&[
        Group {
            module: "crash",
            tests: crash::TESTS,
            mode: Mode::Parallel,
        },
        // One at a time: each unwinds and symbolizes crashes, which takes a CPU.
        Group {
            module: "crash_backtrace",
            tests: crash_backtrace::TESTS,
            mode: Mode::Sequential,
        },
        Group {
            module: "monitor",
            tests: monitor::TESTS,
            mode: Mode::Sequential,
        },
        Group {
            module: "sandbox",
            tests: sandbox::TESTS,
            mode: Mode::Sequential,
        },
    ]);
}
