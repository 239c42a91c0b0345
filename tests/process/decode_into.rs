//! Decoding into storage the caller reuses: `decode_from_into` keeps the allocations of the
//! previous value, fresh decodes allocate nested vectors once, and `TypedController::call_into`
//! refills the previous output of a real worker process.
//! This test binary re-runs itself as the worker (the ignored `worker_entry` test).

use crate::support;

use std::time::Duration;

use support::{role, role_command};
use tandem::{
    codec::decode_from_into, decode_from, encode_to_vec, zerocopy, ChannelError, Context, Options,
    Payload, Transitions, WorkerError,
};

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
struct Particle {
    pdg_id: i32,
    status: i32,
    momentum: [f64; 4],
}

#[derive(Payload, Debug, Clone, PartialEq, Default)]
struct Event {
    number: u64,
    particles: Vec<Particle>,
    names: Vec<String>,
}

#[derive(Payload, Debug, Clone, PartialEq)]
enum Shape {
    Empty,
    Points(Vec<f64>),
    Named { name: String, points: Vec<f64> },
}

fn particles(count: usize, seed: i32) -> Vec<Particle> {
    (0..count)
        .map(|i| Particle {
            pdg_id: seed + i as i32,
            status: 1,
            momentum: [i as f64, seed as f64, 0.5, -1.0],
        })
        .collect()
}

fn event(number: u64, count: usize) -> Event {
    Event {
        number,
        particles: particles(count, number as i32),
        names: (0..count % 7)
            .map(|i| format!("jet {number}.{i}"))
            .collect(),
    }
}

#[test]
fn plain_data_vectors_refill_the_capacity_they_have() {
    let mut reused = particles(1000, 1);
    let buffer = reused.as_ptr();
    for (count, seed) in [(1000, 2), (10, 3), (0, 4), (999, 5)] {
        let next = particles(count, seed);
        decode_from_into(&encode_to_vec(&next), &mut reused).unwrap();
        assert_eq!(reused, next);
        assert_eq!(
            reused.as_ptr(),
            buffer,
            "{count} elements refilled in place"
        );
    }
    let larger = particles(5000, 6);
    decode_from_into(&encode_to_vec(&larger), &mut reused).unwrap();
    assert_eq!(reused, larger, "grown when too small");
}

#[test]
fn nested_values_keep_their_inner_buffers() {
    let mut reused = event(1, 500);
    reused.names = vec!["a long enough name".to_owned(); 3];
    let particles = reused.particles.as_ptr();
    let names: Vec<*const u8> = reused.names.iter().map(|name| name.as_ptr()).collect();
    let next = Event {
        number: 2,
        particles: self::particles(400, 2),
        names: vec!["short".to_owned(), "names".to_owned()],
    };
    decode_from_into(&encode_to_vec(&next), &mut reused).unwrap();
    assert_eq!(reused, next);
    assert_eq!(reused.particles.as_ptr(), particles);
    let kept: Vec<*const u8> = reused.names.iter().map(|name| name.as_ptr()).collect();
    assert_eq!(
        kept,
        names[..2],
        "strings refilled in place, the third dropped"
    );

    // The same enum variant decodes into its fields; another one replaces the value.
    let mut shape = Shape::Named {
        name: "calorimeter".to_owned(),
        points: vec![1.0; 64],
    };
    let Shape::Named { points, .. } = &shape else {
        unreachable!()
    };
    let points = points.as_ptr();
    let next = Shape::Named {
        name: "tracker".to_owned(),
        points: vec![2.0; 32],
    };
    decode_from_into(&encode_to_vec(&next), &mut shape).unwrap();
    assert_eq!(shape, next);
    assert!(matches!(&shape, Shape::Named { points: kept, .. } if kept.as_ptr() == points));
    for next in [
        Shape::Points(vec![3.0; 5]),
        Shape::Empty,
        Shape::Points(vec![]),
    ] {
        decode_from_into(&encode_to_vec(&next), &mut shape).unwrap();
        assert_eq!(shape, next);
    }
}

#[test]
fn fresh_nested_vectors_are_allocated_once_at_their_length() {
    // Pre-allocated from the length prefix (the bytes left allow it), not grown by pushes.
    let names: Vec<(u32, String)> = (0..100_000).map(|i| (i, i.to_string())).collect();
    let decoded = decode_from::<Vec<(u32, String)>>(&encode_to_vec(&names)).unwrap();
    assert_eq!(decoded.capacity(), decoded.len());
    let events: Vec<Event> = (0..1000).map(|i| event(i, (i % 50) as usize)).collect();
    let decoded = decode_from::<Vec<Event>>(&encode_to_vec(&events)).unwrap();
    assert_eq!(decoded, events);
    assert_eq!(decoded.capacity(), decoded.len());
    assert!(decoded
        .iter()
        .all(|event| event.particles.capacity() == event.particles.len()));
}

#[test]
fn a_failed_decode_into_leaves_a_valid_value() {
    // Invalid UTF-8 in the second name: the first name and the particles hold the new
    // bytes, the string that failed is empty, and the value stays usable.
    let next = Event {
        number: 7,
        particles: particles(3, 7),
        names: vec!["first".to_owned(), "seco".to_owned()],
    };
    let mut bytes = encode_to_vec(&next);
    let at = bytes.len() - 1;
    bytes[at] = 0xFF;
    let mut reused = event(1, 20);
    let error = decode_from_into(&bytes, &mut reused).unwrap_err();
    assert_eq!(error, decode_from::<Event>(&bytes).unwrap_err());
    assert_eq!(reused.particles, next.particles);
    assert_eq!(reused.names.first().map(String::as_str), Some("first"));
    assert!(reused
        .names
        .iter()
        .all(|name| std::str::from_utf8(name.as_bytes()).is_ok()));
    // Truncated input: an error, and the value still decodes the next message.
    let mut reused = event(2, 30);
    let full = encode_to_vec(&event(3, 30));
    assert!(decode_from_into(&full[..full.len() / 2], &mut reused).is_err());
    decode_from_into(&full, &mut reused).unwrap();
    assert_eq!(reused, event(3, 30));
}

#[derive(Transitions)]
enum Source {
    /// An event of `count` particles; kept when `count` is even; fails at `u64::MAX`.
    #[transition(input = u64, output = Event)]
    Next,
}

struct Worker;

impl SourceWorker for Worker {
    fn next(&mut self, context: &mut Context, count: u64) -> Result<Event, WorkerError> {
        if count == u64::MAX {
            return Err("no such event".into());
        }
        context.set_keep(count.is_multiple_of(2));
        Ok(event(context.id(), count as usize))
    }
}

#[test]
#[ignore = "run as a worker by the other tests"]
fn worker_entry() {
    if role().is_some() {
        let served = Worker::serve_from_env(|()| Ok(Worker));
        assert!(matches!(served, Ok(true)), "{served:?}");
    }
}

#[test]
fn call_into_refills_the_previous_output_of_a_worker() {
    let options = Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5));
    let mut source = SourceController::spawn(
        role_command("decode_into::worker_entry", "source"),
        43,
        options,
        &(),
    )
    .unwrap();
    let mut output = Event::default();
    let keep = source
        .typed_mut()
        .call_into_unchecked(Source::Next, 1, &100_000u64, &mut output)
        .unwrap();
    assert!(keep);
    assert_eq!(output, event(1, 100_000));
    let buffer = output.particles.as_ptr();
    for (id, count) in [(2, 99_999u64), (3, 100_000), (4, 0), (5, 64_000)] {
        let keep = source
            .typed_mut()
            .call_into_unchecked(Source::Next, id, &count, &mut output)
            .unwrap();
        assert_eq!(keep, count % 2 == 0);
        let fresh = source.next(id, &count).unwrap();
        assert_eq!(output, fresh.output);
        assert_eq!(
            output.particles.as_ptr(),
            buffer,
            "event {id} refilled in place"
        );
    }
    let error = source
        .typed_mut()
        .call_into_unchecked(Source::Next, 6, &u64::MAX, &mut output)
        .unwrap_err();
    assert!(
        matches!(&error, ChannelError::WorkerFailed { message, .. } if message.contains("no such event")),
        "{error}"
    );
    assert_eq!(output, event(5, 64_000), "untouched by a failed transition");
    drop(source);
    support::assert_nothing_in_dev_shm(std::process::id());
}
