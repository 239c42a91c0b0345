//! `#[transition(..., reuse)]` through real processes: the worker's serve loop keeps a
//! transition's input and output between calls, so a worker refilling a 1 MiB output works
//! in the same heap block every call and finds there what it left the call before.
//! This test binary re-runs itself as the worker (the ignored `worker_entry` test).

use crate::support;

use std::time::Duration;

use support::{role, role_command};
use tandem::{ChannelError, Context, Options, Payload, Transitions, TrustedSlice, WorkerError};

/// 1 MiB of `u32`.
const WORDS: usize = 1 << 18;

/// What the worker saw on entering one `scramble` call.
#[derive(Payload, Debug, Clone, PartialEq)]
struct Seen {
    /// Where the kept output's elements were, and how many there were.
    output_at: u64,
    output_len: u64,
    /// The kept output's first element (0 when empty).
    output_first: u32,
    /// Where this call's input was decoded.
    input_at: u64,
    input_capacity: u64,
}

#[derive(Transitions)]
enum Scrambler {
    /// XORs every word of the input with the call's id, into the kept output.
    #[transition(input = Vec<u32>, output = Vec<u32>, reuse)]
    Scramble,
    /// What the worker saw on entering each `scramble`, in order.
    #[transition(output = Vec<Seen>)]
    Log,
    /// Running sums of words read in place, into the kept output.
    #[transition(input = Vec<u64>, output = Vec<u64>, borrow, reuse)]
    PrefixSums,
    /// Fails when the input is odd; keeps the last even input otherwise.
    #[transition(input = u64, reuse)]
    Remember,
}

#[derive(Default)]
struct Worker {
    seen: Vec<Seen>,
}

impl ScramblerWorker for Worker {
    fn scramble(
        &mut self,
        context: &mut Context,
        input: &mut Vec<u32>,
        output: &mut Vec<u32>,
    ) -> Result<(), WorkerError> {
        self.seen.push(Seen {
            output_at: output.as_ptr() as u64,
            output_len: output.len() as u64,
            output_first: output.first().copied().unwrap_or(0),
            input_at: input.as_ptr() as u64,
            input_capacity: input.capacity() as u64,
        });
        let id = context.id() as u32;
        output.clear();
        output.extend(input.iter().map(|word| word ^ id));
        Ok(())
    }

    fn log(&mut self, _: &mut Context) -> Result<Vec<Seen>, WorkerError> {
        Ok(self.seen.clone())
    }

    fn prefix_sums(
        &mut self,
        _: &mut Context,
        input: TrustedSlice<'_, u64>,
        output: &mut Vec<u64>,
    ) -> Result<(), WorkerError> {
        output.clear();
        let mut sum = 0u64;
        output.extend(input.iter().map(|word| {
            sum = sum.wrapping_add(*word);
            sum
        }));
        Ok(())
    }

    fn remember(&mut self, _: &mut Context, input: &mut u64) -> Result<(), WorkerError> {
        if *input % 2 == 1 {
            return Err(format!("{input} is odd").into());
        }
        Ok(())
    }
}

#[test]
#[ignore = "run as a worker by the other tests"]
fn worker_entry() {
    if role().is_some() {
        let served = Worker::serve_from_env(|()| Ok(Worker::default()));
        assert!(matches!(served, Ok(true)), "{served:?}");
    }
}

fn spawn(id: u32) -> ScramblerController {
    let options = Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5));
    ScramblerController::spawn(
        role_command("typed_reuse::worker_entry", "reuse"),
        id,
        options,
        &(),
    )
    .unwrap()
}

#[test]
fn a_reusing_worker_refills_the_same_output_every_call() {
    let mut controller = spawn(51);
    let input: Vec<u32> = (0..WORDS as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let ids = [3_u64, 5, 7, 11];
    for id in ids {
        let output = controller.scramble(id, &input).unwrap().output;
        assert_eq!(output.len(), WORDS);
        assert!(
            output.iter().zip(&input).all(|(o, i)| *o == i ^ id as u32),
            "call {id}: wrong output"
        );
    }
    let seen = controller.log(1).unwrap().output;
    assert_eq!(seen.len(), ids.len());
    // The first call starts from `Default::default()`.
    assert_eq!((seen[0].output_len, seen[0].output_first), (0, 0));
    for (call, previous_id) in seen[1..].iter().zip(ids) {
        // Each later call finds the previous call's output where it was left.
        assert_eq!(call.output_len, WORDS as u64);
        assert_eq!(call.output_first, input[0] ^ previous_id as u32);
        assert_eq!(call.output_at, seen[1].output_at, "the output moved");
        // The input is decoded into the storage of the previous call's input.
        assert_eq!(call.input_at, seen[0].input_at, "the input moved");
        assert_eq!(call.input_capacity, seen[0].input_capacity);
    }
    drop(controller);
    support::assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn borrowing_and_failing_reuse_transitions_keep_serving() {
    let mut controller = spawn(52);
    for count in [1000_u64, 10, 0, 5000] {
        let words: Vec<u64> = (1..=count).collect();
        let sums = controller.prefix_sums(count, &words).unwrap().output;
        assert_eq!(sums.len() as u64, count);
        assert_eq!(
            sums.last().copied(),
            (count > 0).then(|| count * (count + 1) / 2)
        );
    }
    controller.remember(1, &4).unwrap();
    match controller.remember(2, &7) {
        Err(ChannelError::WorkerFailed { message, .. }) => {
            assert!(message.contains("7 is odd"), "{message}")
        }
        other => panic!("expected the worker's failure, got {other:?}"),
    }
    // The worker serves on after a failed `reuse` transition.
    controller.remember(3, &8).unwrap();
    let sums = controller.prefix_sums(4, &[2, 2]).unwrap().output;
    assert_eq!(sums, [2, 4]);
    drop(controller);
    support::assert_nothing_in_dev_shm(std::process::id());
}
