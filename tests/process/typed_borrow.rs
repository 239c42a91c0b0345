//! `#[transition(input = Vec<E>, borrow)]` through real processes: the worker reads the
//! controller's plain-old-data input in place, and the controller sends it from a slice.
//! This test binary re-runs itself as the worker (the ignored `worker_entry` test).

use crate::support;

use std::time::Duration;

use support::{role, role_command};
use tandem::{zerocopy, Context, Options, Payload, Transitions, TrustedSlice, WorkerError};

/// A calorimeter hit: plain old data, borrowed in place by the worker.
#[derive(
    Payload,
    Debug,
    Clone,
    Copy,
    PartialEq,
    zerocopy::IntoBytes,
    zerocopy::FromBytes,
    zerocopy::Immutable,
)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
struct Hit {
    cell: u32,
    layer: u32,
    energy: f64,
}

#[derive(Payload, Debug, Clone, PartialEq)]
struct Sums {
    hits: u64,
    energy: f64,
    /// Whether the worker read its input in place (in the shared mapping) rather than a copy.
    in_place: bool,
}

#[derive(Transitions)]
enum Calorimeter {
    /// Sums the hits without copying them.
    #[transition(input = Vec<Hit>, output = Sums, borrow)]
    Sum,
    /// The same sum from an owned copy, for comparison.
    #[transition(input = Vec<Hit>, output = Sums)]
    SumOwned,
}

struct Worker;

fn sums(hits: &[Hit], in_place: bool) -> Sums {
    Sums {
        hits: hits.len() as u64,
        energy: hits
            .iter()
            .map(|hit| hit.energy * f64::from(hit.layer + 1))
            .sum(),
        in_place,
    }
}

impl CalorimeterWorker for Worker {
    fn sum(
        &mut self,
        context: &mut Context,
        input: TrustedSlice<'_, Hit>,
    ) -> Result<Sums, WorkerError> {
        context.set_keep(!input.is_empty());
        // A copy would live in private memory of this process, a view in the shared mapping.
        let in_place = !input.is_empty() && !heap_owned(input.as_slice());
        Ok(sums(&input, in_place))
    }

    fn sum_owned(&mut self, _: &mut Context, input: Vec<Hit>) -> Result<Sums, WorkerError> {
        Ok(sums(&input, false))
    }
}

/// Whether `hits` lies in a private anonymous mapping or the heap of this process rather than
/// a shared one, from `/proc/self/maps`.
fn heap_owned(hits: &[Hit]) -> bool {
    let address = hits.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            return false;
        };
        let Some((start, end)) = range.split_once('-') else {
            return false;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            return false;
        };
        (start..end).contains(&address) && perms.ends_with('p')
    })
}

#[test]
#[ignore = "run as a worker by the other tests"]
fn worker_entry() {
    if role().is_some() {
        let served = Worker::serve_from_env(|()| Ok(Worker));
        assert!(matches!(served, Ok(true)), "{served:?}");
    }
}

fn hits(count: u32) -> Vec<Hit> {
    (0..count)
        .map(|i| Hit {
            cell: i * 7,
            layer: i % 4,
            energy: f64::from(i) * 0.25,
        })
        .collect()
}

#[test]
fn a_borrowing_worker_reads_the_input_in_place_and_agrees_with_an_owned_copy() {
    let options = Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5));
    let mut controller = CalorimeterController::spawn(
        role_command("typed_borrow::worker_entry", "borrow"),
        41,
        options,
        &(),
    )
    .unwrap();
    for (id, count) in [(1, 0), (2, 1), (3, 1000), (4, 100_000)] {
        let input = hits(count);
        let borrowed = controller.sum(id, &input).unwrap();
        let owned = controller.sum_owned(id, &input).unwrap();
        assert_eq!(borrowed.output.hits, u64::from(count));
        assert_eq!(borrowed.output.energy, owned.output.energy);
        assert_eq!(borrowed.keep, count > 0);
        assert_eq!(borrowed.output.in_place, count > 0, "count {count}");
        assert!(!owned.output.in_place);
    }
    drop(controller);
    support::assert_nothing_in_dev_shm(std::process::id());
}
