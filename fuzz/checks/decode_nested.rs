//! The checks of the decoder fuzz target, shared by `fuzz_targets/decode_nested.rs` (libFuzzer,
//! nightly) and the bounded stable run `tests/fuzz_decode/main.rs`. Decodes arbitrary bytes as
//! a representative nested payload, through `decode_shared` (the path the controller takes for
//! its worker's reply); whatever decodes must re-encode to bytes
//! that decode to an equal value (compared through their encoding, since floats may be NaN and
//! hash maps have no fixed order). The same bytes are also decoded as the shapes that once
//! amplified (recursive types, elements that encode to nothing or to far fewer bytes than
//! they take, nested zero-sized sequences, maps): the heap they hold at once must stay within
//! the documented bound, `MEMORY_PER_BYTE × len + MEMORY_BASE + 16 KiB` (see
//! `docs/decoding.md`), and everything they allocate must have been charged to the decode's
//! memory budget first (counted by [`Counting`], which the program installs as its global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use tandem::codec::{decode_shared, Decoder, SharedBytes, MEMORY_BASE, MEMORY_PER_BYTE};
use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
use tandem::{decode_from, encode_to_vec, Payload};

#[derive(Payload, IntoBytes, FromBytes, Immutable, Debug, Clone, Copy)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
pub struct Particle {
    pub pdg_id: i32,
    pub status: i32,
    pub momentum: [f64; 4],
}

#[derive(Payload, Debug)]
pub enum Vertex {
    Primary,
    Displaced(f64, f64, f64),
    Decay {
        parent: u32,
        products: Vec<u32>,
        label: Option<String>,
    },
    Nested(Box<Vertex>),
}

#[derive(Payload, Debug)]
pub struct Event {
    pub run: u32,
    pub flag: bool,
    pub tag: char,
    pub particles: Vec<Particle>,
    pub vertices: Vec<Vertex>,
    pub names: Vec<String>,
    pub weights: BTreeMap<String, f64>,
    pub counters: HashMap<u16, Vec<()>>,
    // A `Box` around a heap type on purpose: the decoder's `Box` path is a shape to check.
    #[allow(clippy::box_collection)]
    pub comment: Option<Box<String>>,
    pub seeds: [u64; 2],
    pub big: (u128, i128, usize, isize),
}

#[derive(Payload, Debug)]
pub struct Tree {
    pub children: Vec<Tree>,
    pub label: Option<Box<Tree>>,
}

/// 520 bytes in memory, 4 bytes encoded when `Empty`.
#[derive(Payload, Debug)]
#[allow(clippy::large_enum_variant)] // large next to its small variants: the point
pub enum Big {
    Empty,
    Large([u64; 64]),
}

/// Counts the bytes allocated (the fuzzer runs one input at a time): in total, and live
/// with their peak. The program that runs [`check`] installs it as its global allocator.
pub struct Counting;

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn record(grown: isize) {
    let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
    PEAK.fetch_max(live, Ordering::Relaxed);
    if grown > 0 {
        TOTAL.fetch_add(grown as usize, Ordering::Relaxed);
    }
}

// SAFETY: forwards to `System` unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// The error's field path: at most `MAX_DEPTH` boxed errors of at most 64 bytes, the part of
/// the documented `C` that is not charged to the memory budget.
const ERROR_PATH: usize = 16 * 1024;

/// Decodes `data` as `T` and checks the documented bound of the heap held at once, and that
/// everything allocated was charged to the memory budget first.
fn within_bound<T: Payload>(data: &[u8]) {
    let budget = MEMORY_PER_BYTE * data.len() + MEMORY_BASE;
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    let before = TOTAL.load(Ordering::Relaxed);
    let mut decoder = Decoder::new(data);
    drop(T::decode(&mut decoder));
    let allocated = TOTAL.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed).max(0) as usize;
    let charged = budget - decoder.memory_left();
    assert!(
        peak <= budget + ERROR_PATH,
        "{} input bytes held {peak} bytes at once as {}",
        data.len(),
        core::any::type_name::<T>()
    );
    assert!(
        allocated <= charged + ERROR_PATH,
        "{} input bytes allocated {allocated} bytes as {}, but charged {charged}",
        data.len(),
        core::any::type_name::<T>()
    );
}

/// The checks on one input; panics when one fails.
pub fn check(data: &[u8]) {
    within_bound::<Tree>(data);
    within_bound::<Vec<[Box<()>; 16]>>(data);
    within_bound::<Vec<Vec<()>>>(data);
    within_bound::<Vec<Big>>(data);
    within_bound::<Vec<Option<Box<Big>>>>(data);
    within_bound::<HashMap<u16, Vec<String>>>(data);
    within_bound::<BTreeMap<u32, Option<String>>>(data);
    within_bound::<Event>(data);
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
}
