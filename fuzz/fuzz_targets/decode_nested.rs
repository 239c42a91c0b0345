//! Decodes arbitrary bytes as a representative nested payload; whatever decodes must
//! re-encode to bytes that decode to an equal value (compared through their encoding, since
//! floats may be NaN and hash maps have no fixed order).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, HashMap};
use tandem::{decode_from, encode_to_vec, Payload};
use zerocopy::{FromBytes, Immutable, IntoBytes};

#[derive(Payload, IntoBytes, FromBytes, Immutable, Debug, Clone, Copy)]
#[payload(pod)]
#[repr(C)]
struct Particle {
    pdg_id: i32,
    status: i32,
    momentum: [f64; 4],
}

#[derive(Payload, Debug)]
enum Vertex {
    Primary,
    Displaced(f64, f64, f64),
    Decay { parent: u32, products: Vec<u32>, label: Option<String> },
    Nested(Box<Vertex>),
}

#[derive(Payload, Debug)]
struct Event {
    run: u32,
    flag: bool,
    tag: char,
    particles: Vec<Particle>,
    vertices: Vec<Vertex>,
    names: Vec<String>,
    weights: BTreeMap<String, f64>,
    counters: HashMap<u16, Vec<()>>,
    comment: Option<Box<String>>,
    seeds: [u64; 2],
    big: (u128, i128, usize, isize),
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = decode_from::<Event>(data) {
        let bytes = encode_to_vec(&event);
        assert_eq!(bytes.len(), event.encoded_len(0));
        assert_eq!(bytes.len(), data.len());
        let again: Event = decode_from(&bytes).expect("re-encoded bytes must decode");
        // Decoding accepts map entries in any order (a `HashMap` sender may talk to a
        // `BTreeMap` receiver); with at most one entry per map the order is fixed and the
        // encoding is canonical, so the bytes must match exactly.
        if event.counters.len() <= 1 && event.weights.len() <= 1 {
            assert_eq!(bytes, data);
        }
        assert_eq!(encode_to_vec(&again).len(), bytes.len());
    }
});
