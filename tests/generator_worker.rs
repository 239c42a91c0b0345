//! The worker binary of `typed_e2e`: built from the same definitions as its controller.
//!
//! A test target with its own `main` (`harness = false`) rather than a `[[bin]]` of the
//! facade: run by `cargo test` (or listed by `cargo nextest`) without a channel in its
//! environment it is a test target with no tests; `typed_e2e` starts it as a worker.

mod generator_types;

use generator_types::{GeneratorWorker, ToyWorker};

fn main() {
    match ToyWorker::serve_from_env(|config| Ok(ToyWorker::new(config))) {
        Ok(true) => {}
        // Not started as a worker (`cargo test`, `cargo nextest`, an IDE listing tests): a test
        // target without tests, which still answers `--list` and prints libtest's summary.
        Ok(false) => libtest_mimic::run(&libtest_mimic::Arguments::from_args(), Vec::new()).exit(),
        Err(error) => {
            eprintln!("generator_worker: {error}");
            std::process::exit(2);
        }
    }
}
