//! Decodes arbitrary bytes as a representative nested payload, through `decode_shared` (the
//! path the controller takes for its worker's reply); whatever decodes must re-encode to bytes
//! that decode to an equal value (compared through their encoding, since floats may be NaN and
//! hash maps have no fixed order). The same bytes are also decoded as the shapes that once
//! amplified (a recursive type, elements that encode to nothing, nested zero-sized
//! sequences): what they allocate must stay within the documented bound (counted by the
//! global allocator below).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, HashMap};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tandem::codec::{BUDGET_BASE, BUDGET_PER_BYTE};
use tandem::{decode_from, decode_shared, encode_to_vec, Payload, SharedBytes};
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

#[derive(Payload, Debug)]
struct Tree {
    children: Vec<Tree>,
    label: Option<Box<Tree>>,
}

/// Counts every byte allocated (the fuzzer runs one input at a time).
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System` unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Decodes `data` as `T` and checks that the decode allocated no more than `per_element`
/// bytes per element of the budget (plus the input's length twice, for a `Vec`'s growth).
fn within_bound<T: Payload>(data: &[u8], per_element: usize) {
    let before = ALLOCATED.load(Ordering::Relaxed);
    drop(decode_from::<T>(data));
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    let budget = BUDGET_PER_BYTE * data.len() + BUDGET_BASE;
    assert!(
        allocated <= per_element * budget + 2 * data.len() + 4096,
        "{} input bytes allocated {allocated} bytes as {}",
        data.len(),
        core::any::type_name::<T>()
    );
}

fuzz_target!(|data: &[u8]| {
    within_bound::<Tree>(data, 2 * (size_of::<Tree>() + size_of::<Tree>()));
    within_bound::<Vec<[Box<()>; 16]>>(data, 2 * size_of::<[Box<()>; 16]>());
    within_bound::<Vec<Vec<()>>>(data, 2 * size_of::<Vec<()>>());
    if let Ok(event) = decode_shared::<Event>(SharedBytes::from_private(data)) {
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
