//! A pool must never signal a pid it no longer owns. Its own test binary: it moves the
//! kernel's last pid backwards to put a decoy on a reaped worker's pid, which makes other
//! processes started meanwhile reuse recent pids too, and would disturb tests that check
//! processes by pid if they ran beside it.

#[path = "support/mod.rs"]
mod support;

#[path = "process/pool_job.rs"]
mod pool_job;

/// The entry test the pool's workers run: `pool_job::start` names it `pool::worker_entry`, its
/// path in the `process` binary.
mod pool {
    #[test]
    #[ignore = "run as a worker by the other tests"]
    fn worker_entry() {
        super::pool_job::serve_if_worker();
    }
}

use std::process::Command;
use std::time::Duration;

use pool_job::{scratch_dir, start, Out, Setup};
use tandem::{pool::ItemResult, PoolError};

/// Puts a process on `pid` (free, just reaped): sets the kernel's last pid to `pid - 1`
/// and spawns, retrying while another process takes it first. Root only.
fn decoy_on(pid: u32) -> std::process::Child {
    for _ in 0..200 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let mut decoy = Command::new("sleep").arg("30").spawn().unwrap();
        if decoy.id() == pid {
            return decoy;
        }
        let _ = decoy.kill();
        let _ = decoy.wait();
    }
    panic!("could not place a decoy on pid {pid}");
}

/// A pool dropped while a worker restarts must not signal the lost worker's pid, which the
/// restart has reaped and the kernel may have given to another process (here a decoy put
/// there on purpose).
#[test]
fn a_pool_dropped_during_a_restart_signals_no_reused_pid() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: placing a process on a given pid needs root");
        return;
    }
    let dir = scratch_dir("decoy");
    let setup = Setup {
        killed_on_first_attempt: vec![1],
        slow_restart_dir: dir.to_string_lossy().into_owned(),
        ..Setup::default()
    };
    let mut pool = start(1, &setup);
    pool.begin_run(1, &1);
    pool.begin_block(1, &1);
    let lost = pool.pool().worker_pids()[0];
    let stopper = pool.stopper();
    let placer = std::thread::spawn(move || {
        // Item 1 kills the worker; the restart reaps it, then sets up a slow new one.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{lost}")).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "worker {lost} not reaped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let decoy = decoy_on(lost);
        stopper.stop();
        decoy
    });
    let result = pool.work(
        std::iter::once((1u64, 1u64)),
        |_: Result<ItemResult<Out>, _>| {},
    );
    assert!(matches!(result, Err(PoolError::Interrupted)), "{result:?}");
    let mut decoy = placer.join().unwrap();
    drop(pool);
    let status = decoy.try_wait().unwrap();
    let _ = decoy.kill();
    let _ = decoy.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        status, None,
        "the decoy on the reaped pid {lost} was signalled"
    );
}
