//! The generated pool: one method per replay, item and end transition, with the declared
//! types, and no method for a transition without a role.
use std::process::Command;

use tandem::{Payload, PoolError, PoolOptions, Transitions, pool::{EndOutput, ItemResult}};

#[derive(Payload, Debug, Clone, PartialEq)]
struct Summary {
    events: u64,
}

#[derive(Transitions)]
#[transitions(setup = String)]
enum Job {
    #[transition(input = u32, replay)]
    BeginRun,
    #[transition(replay)]
    BeginLumi,
    #[transition(input = Vec<u64>, output = (u64, bool), item)]
    Event,
    #[transition(output = Summary, end)]
    EndLumi,
    #[transition(input = String, output = u64, end)]
    EndRun,
    #[transition(output = String)]
    Status,
}

fn drive(command: fn() -> Command) -> Result<(), PoolError> {
    let mut pool = JobPool::start(command, &"setup".to_owned(), PoolOptions::new(2))?;
    pool.begin_run(1, &7);
    pool.begin_lumi(1);
    pool.event(
        (1..=3u64).map(|id| (id, vec![id; 3])),
        |result: Result<ItemResult<(u64, bool)>, PoolError>| {
            let _ = result;
        },
    )?;
    let lumi: Vec<EndOutput<Summary>> = pool.end_lumi(1);
    let run: Vec<EndOutput<u64>> = pool.end_run(1, &"done".to_owned());
    let _ = (lumi, run, pool.take_events(), pool.stopper(), pool.pool().live_workers());
    pool.shutdown();
    Ok(())
}

pub fn main() {
    let _ = drive;
}
