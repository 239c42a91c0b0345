//! A worker that keeps rewriting its reply while the controller decodes it: strings, maps,
//! enums, characters, booleans and plain-data vectors. The controller copies each byte once
//! into the value it builds and validates the copy, so every decode ends in a valid value or
//! a typed error: never an invalid `String`, `char` or `bool`, never a panic.
//!
//! The test binary re-runs itself as the worker (the ignored `worker_entry` test).

use crate::support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{assert_nothing_in_dev_shm, role, role_command};
use tandem::{
    codec::{decode_shared, encode_into},
    Controller, Options, Payload, WorkerChannel,
};

#[derive(Payload, Debug, Clone, PartialEq)]
enum Shape {
    Point(u32),
    Named(String),
    Empty,
}

#[derive(Payload, Debug, Clone, PartialEq)]
struct Reply {
    text: String,
    tags: BTreeMap<String, u32>,
    shapes: Vec<Shape>,
    energies: Vec<f64>,
    symbol: char,
    flag: bool,
}

fn honest_reply() -> Reply {
    Reply {
        text: "détecteur à muons ".repeat(40),
        tags: (0..16).map(|i| (format!("tag-{i}-é"), i)).collect(),
        shapes: (0..32)
            .map(|i| match i % 3 {
                0 => Shape::Point(i),
                1 => Shape::Named(format!("forme {i} ✓")),
                _ => Shape::Empty,
            })
            .collect(),
        energies: (0..256).map(f64::from).collect(),
        symbol: 'μ',
        flag: true,
    }
}

const GO: u32 = 0;

/// The bytes of the last reply, which the rewriting thread keeps changing. Only atomics touch
/// them, so the worker itself stays free of data races; the controller sees arbitrary bytes.
struct Mangled {
    start: AtomicUsize,
    len: AtomicUsize,
}

fn rewrite_forever(target: Arc<Mangled>) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    loop {
        let start = target.start.load(Ordering::Acquire);
        let len = target.len.load(Ordering::Acquire);
        if start == 0 || len == 0 {
            std::thread::yield_now();
            continue;
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let offset = (state as usize) % len;
        // Invalid UTF-8 leads, stray continuation bytes, huge lengths and tags, or zero.
        let byte = match (state >> 32) % 4 {
            0 => 0xFF,
            1 => 0x80,
            2 => (state >> 40) as u8,
            _ => 0,
        };
        // SAFETY: `start..start + len` is this worker's own reply mapping, which stays mapped
        // (the reply never grows, so it is never remapped) for the life of the process; an
        // `AtomicU8` has the size and alignment of a `u8`.
        let cell = unsafe { AtomicU8::from_ptr((start + offset) as *mut u8) };
        // One byte at a time goes bad and comes back, so that decodes see every mix: the
        // honest reply, a torn one that is still valid, and garbage.
        let original = cell.swap(byte, Ordering::Relaxed);
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        cell.store(original, Ordering::Relaxed);
    }
}

#[test]
#[ignore = "run as a worker by the other tests"]
fn worker_entry() {
    if role().is_none() {
        return;
    }
    let Some(mut worker) = WorkerChannel::from_env(0).unwrap() else {
        return;
    };
    let reply = honest_reply();
    let target = Arc::new(Mangled {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
    });
    let rewriter = Arc::clone(&target);
    std::thread::spawn(move || rewrite_forever(rewriter));
    let served = worker.handle_transitions(|request| -> Result<(), tandem::BufferError> {
        let len = reply.encoded_len(0);
        request.output().write_with(len, |bytes| {
            encode_into(&reply, bytes);
            target.len.store(bytes.len(), Ordering::Release);
            target
                .start
                .store(bytes.as_mut_ptr() as usize, Ordering::Release);
        })
    });
    // The controller may stop us in the middle of anything; either way is fine here.
    let _ = served;
}

#[test]
fn a_reply_rewritten_while_it_is_decoded_never_yields_an_invalid_value() {
    let options = Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5));
    let mut controller = Controller::spawn(
        role_command("hostile_rewrite::worker_entry", "rewrite"),
        "rewrite",
        1,
        options,
    )
    .unwrap();
    let honest = honest_reply();
    let (mut decoded, mut refused, mut intact) = (0, 0, 0usize);
    for id in 0..3000 {
        controller.to_worker().write(&[]).unwrap();
        let outcome = controller
            .do_transition(GO, id, |mut reply| {
                let bytes = reply.bytes().map_err(|error| error.to_string())?;
                decode_shared::<Reply>(bytes).map_err(|error| error.to_string())
            })
            .unwrap();
        match outcome {
            Ok(value) => {
                decoded += 1;
                intact += usize::from(value == honest);
                assert_valid(&value);
            }
            Err(_) => refused += 1,
        }
    }
    assert_eq!(decoded + refused, 3000);
    eprintln!("3000 decodes of a reply under rewriting: {decoded} values ({intact} intact), {refused} typed errors");
    let pid = controller.pid().unwrap();
    drop(controller);
    assert_nothing_in_dev_shm(pid);
}

/// Checks every invariant the types promise, on values the compiler trusts: a decode that
/// kept bytes other than those it validated would break one of these.
fn assert_valid(reply: &Reply) {
    let strings = std::iter::once(&reply.text).chain(reply.tags.keys()).chain(
        reply.shapes.iter().filter_map(|shape| match shape {
            Shape::Named(name) => Some(name),
            _ => None,
        }),
    );
    for string in strings {
        assert!(
            std::str::from_utf8(string.as_bytes()).is_ok(),
            "a decoded String holds invalid UTF-8"
        );
    }
    assert!(char::from_u32(u32::from(reply.symbol)).is_some());
    let flag_byte: u8 = reply.flag.into();
    assert!(flag_byte <= 1);
    for shape in &reply.shapes {
        assert!(matches!(
            shape,
            Shape::Point(_) | Shape::Named(_) | Shape::Empty
        ));
    }
}
