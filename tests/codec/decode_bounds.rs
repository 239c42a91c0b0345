//! Bounded decoding: whatever the bytes, a decode reserves memory and does work bounded by a
//! small multiple of the input's length (see the codec module docs, "Validation and limits",
//! and `docs/decoding.md`).
//!
//! A counting global allocator measures, per thread, the peak of the bytes a single decode
//! holds at once and the total it reserved; each case asserts both against a bound written in
//! terms of the input length for its shape, and the peak against the documented bound of
//! every decode, `MEMORY_PER_BYTE × len + MEMORY_BASE + 16 KiB`. The hostile inputs are the
//! ones that amplified before the bounds existed: a recursive type announcing a huge child
//! count at every level, elements that take memory but encode to nothing or to far fewer
//! bytes than they take, nested zero-sized sequences, and huge length prefixes.
//! `decode_memory.rs` measures the documented bound shape by shape at 64 B, 64 KiB and
//! 1 MiB; `decode_rlimit.rs` decodes a hostile 1 MiB tree under `ulimit -v`.

use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tandem::codec::{BUDGET_BASE, BUDGET_PER_BYTE, MEMORY_BASE, MEMORY_PER_BYTE};
use tandem::{codec::decode_from_into, decode_from, encode_to_vec, DecodeError, Payload};

use crate::counting_alloc::measure;

/// The elements a decode of `len` input bytes may charge (the codec's documented budget).
fn budget(len: usize) -> usize {
    BUDGET_PER_BYTE * len + BUDGET_BASE
}

/// The bound every case asserts: each charged element may cost up to `per_element` bytes of
/// memory (its size, or a collection's per-entry overhead, times the growth slack of a `Vec`),
/// and the bytes copied out of the input (strings, plain-old-data vectors) cost at most their
/// length once more. Generous, but orders of magnitude below what the hostile inputs cost
/// without the bound.
fn bound(len: usize, per_element: usize) -> usize {
    per_element * budget(len) + 2 * len + 4096
}

/// The documented bound of the heap any decode of `len` bytes holds at once: K × len + C,
/// with C the memory budget's base plus the error's field path (16 KiB).
fn documented_bound(len: usize) -> usize {
    MEMORY_PER_BYTE * len + MEMORY_BASE + 16 * 1024
}

/// Checks the bound for a fresh decode of `bytes` as `T` and for a decode into a reused
/// (empty) `T`, which must agree; returns the result.
fn assert_bounded<T: Payload + Default>(
    name: &str,
    bytes: &[u8],
    per_element: usize,
) -> Result<(), DecodeError> {
    let fresh = assert_bounded_with(name, bytes, per_element, || {
        decode_from::<T>(bytes).map(drop)
    });
    let mut reused = T::default();
    let into = assert_bounded_with(&format!("{name} (into)"), bytes, per_element, || {
        decode_from_into(bytes, &mut reused)
    });
    assert_eq!(fresh, into, "{name}: decode_into disagrees with decode");
    fresh
}

fn assert_bounded_with(
    name: &str,
    bytes: &[u8],
    per_element: usize,
    decode: impl FnOnce() -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let (usage, result) = measure(decode);
    let limit = bound(bytes.len(), per_element);
    eprintln!(
        "{name}: {} input bytes, peak {} bytes, total {} bytes (bound {limit}), {:?}",
        bytes.len(),
        usage.peak,
        usage.total,
        result.as_ref().map_err(DecodeError::root_cause),
    );
    assert!(
        usage.peak <= limit && usage.total <= limit,
        "{name}: {} input bytes made the decoder hold {} and reserve {} bytes, over the bound of {limit}",
        bytes.len(),
        usage.peak,
        usage.total
    );
    assert!(
        usage.peak <= documented_bound(bytes.len()),
        "{name}: {} input bytes made the decoder hold {} bytes, over the documented bound of {}",
        bytes.len(),
        usage.peak,
        documented_bound(bytes.len())
    );
    result
}

#[derive(Payload, Debug, PartialEq, Default)]
struct Tree {
    children: Vec<Tree>,
}

/// `levels` nested length prefixes, each announcing `announce(remaining bytes)` children,
/// padded with zeros to `len` bytes.
fn nested_prefixes(levels: usize, len: usize, announce: impl Fn(usize) -> u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    for level in 0..levels {
        let remaining = len.saturating_sub(8 * (level + 1));
        bytes.extend_from_slice(&announce(remaining).to_le_bytes());
    }
    bytes.resize(len.max(bytes.len()), 0);
    bytes
}

#[test]
fn recursive_type_announcing_many_children_at_every_level() {
    let per_tree = 2 * size_of::<Tree>();
    for (name, announce) in [
        ("2^20 children", (|_| 1 << 20) as fn(usize) -> u64),
        ("as many children as bytes left", |remaining| {
            remaining as u64
        }),
        ("a child per 8 bytes left", |remaining| {
            (remaining / 8) as u64
        }),
        ("4096 children", |_| 4096),
        ("u64::MAX children", |_| u64::MAX),
    ] {
        for len in [2_048, 35_000] {
            let bytes = nested_prefixes(256, len, announce);
            let result = assert_bounded::<Tree>(&format!("Tree, {name}"), &bytes, per_tree);
            assert!(result.is_err(), "{name}: the input is not a valid tree");
        }
    }
}

#[test]
fn deep_valid_tree_still_decodes() {
    let mut tree = Tree { children: vec![] };
    for _ in 0..200 {
        tree = Tree {
            children: vec![tree, Tree { children: vec![] }],
        };
    }
    let bytes = encode_to_vec(&tree);
    let per_tree = 2 * size_of::<Tree>();
    assert_bounded::<Tree>("valid deep tree", &bytes, per_tree).unwrap();
    assert_eq!(decode_from::<Tree>(&bytes).unwrap(), tree);
}

#[test]
fn elements_that_take_memory_but_encode_to_nothing() {
    type Boxes = Vec<[Box<()>; 16]>;
    let per_element = 2 * size_of::<[Box<()>; 16]>();
    for announced in [1u64 << 20, 1 << 30, u64::MAX] {
        let bytes = announced.to_le_bytes();
        let result = assert_bounded::<Boxes>("Vec<[Box<()>; 16]>", &bytes, per_element);
        assert!(matches!(
            result.as_ref().map_err(DecodeError::root_cause),
            Err(DecodeError::BudgetExceeded { .. })
        ));
    }
    // Within the budget the same shape decodes.
    let value: Boxes = (0..100)
        .map(|_| std::array::from_fn(|_| Box::new(())))
        .collect();
    let bytes = encode_to_vec(&value);
    assert_eq!(
        assert_bounded::<Boxes>("100 × [Box<()>; 16]", &bytes, per_element),
        Ok(())
    );
}

#[test]
fn nested_zero_sized_sequences() {
    // Each outer element is an 8-byte prefix announcing 2^20 units: the work, not the memory,
    // amplified (2^20 elements per 8 input bytes).
    let per_element = 2 * size_of::<Vec<()>>();
    for outer in [1usize, 64, 1000] {
        let mut bytes = (outer as u64).to_le_bytes().to_vec();
        for _ in 0..outer {
            bytes.extend_from_slice(&(1u64 << 20).to_le_bytes());
        }
        let result = assert_bounded::<Vec<Vec<()>>>("Vec<Vec<()>>", &bytes, per_element);
        assert!(
            matches!(
                result.as_ref().map_err(DecodeError::root_cause),
                Err(DecodeError::BudgetExceeded { .. })
            ),
            "{outer} × 2^20 units must exceed the budget of {} elements",
            budget(bytes.len())
        );
    }
    let deep = vec![vec![vec![(); 8]; 8]; 8];
    let bytes = encode_to_vec(&deep);
    assert_eq!(
        decode_from::<Vec<Vec<Vec<()>>>>(&bytes).unwrap(),
        deep,
        "a value within the budget decodes"
    );
    // The budget counts every element: a `Vec<()>` longer than the budget of its 8 bytes is
    // refused with a message naming the budget.
    let units = (budget(8) as u64 + 1).to_le_bytes();
    let error = decode_from::<Vec<()>>(&units).unwrap_err();
    assert!(
        matches!(error, DecodeError::BudgetExceeded { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("budget"), "{error}");
    let units = (budget(8) as u64 - 1).to_le_bytes();
    assert_eq!(decode_from::<Vec<()>>(&units).unwrap().len(), budget(8) - 1);
}

#[derive(Payload, Debug, Default)]
#[allow(dead_code)] // only decoded
struct Mixed {
    names: Vec<String>,
    words: String,
    numbers: Vec<u64>,
    map: HashMap<u32, String>,
    tree: BTreeMap<u16, Vec<u8>>,
    set: BTreeSet<i64>,
    options: Vec<Option<Box<[u8; 64]>>>,
}

#[test]
fn huge_length_prefixes() {
    for announced in [u64::MAX, 1 << 62, 1 << 40, 1 << 20, 4096] {
        let prefix = announced.to_le_bytes();
        let mut bytes = prefix.to_vec();
        bytes.resize(1024, 0xFF);
        assert!(assert_bounded::<Vec<u64>>("Vec<u64>", &bytes, 0).is_err());
        assert!(assert_bounded::<String>("String", &bytes, 0).is_err());
        assert!(assert_bounded::<Vec<String>>("Vec<String>", &bytes, 2 * 24).is_err());
        assert!(assert_bounded::<Vec<Vec<u8>>>("Vec<Vec<u8>>", &bytes, 2 * 24).is_err());
        // A hash table with capacity n takes up to ~2.3 n buckets of entry + control byte.
        assert!(assert_bounded::<HashMap<u32, String>>("HashMap", &bytes, 3 * 33).is_err());
        assert!(assert_bounded::<Mixed>("Mixed", &bytes, 3 * 33 + 2 * 72).is_err());
    }
}

#[test]
fn valid_values_decode_within_the_bound() {
    let mixed = Mixed {
        names: (0..100).map(|i| format!("name {i}")).collect(),
        words: "words ".repeat(50),
        numbers: (0..1000).collect(),
        map: (0..50).map(|i| (i, i.to_string())).collect(),
        tree: (0..50).map(|i| (i, vec![i as u8; 3])).collect(),
        set: (0..100).collect(),
        options: (0..20)
            .map(|i| (i % 2 == 0).then(|| Box::new([i as u8; 64])))
            .collect(),
    };
    let bytes = encode_to_vec(&mixed);
    // B-tree nodes hold up to 11 entries each, allocated whole.
    assert_eq!(
        assert_bounded::<Mixed>("valid Mixed", &bytes, 11 * 40),
        Ok(())
    );
}

/// A recursive type through `Vec<Self>` and `Option<Box<Self>>`.
#[derive(Payload, Debug, PartialEq, Default)]
struct Labelled {
    children: Vec<Labelled>,
    label: Option<Box<Self>>,
}

/// A recursive enum through `Box<Self>` alone, the shape whose minimum once made a const
/// cycle.
#[derive(Payload, Debug, PartialEq, Default)]
enum List {
    #[default]
    Nil,
    Cons(u8, Box<List>),
}

/// A generic recursive type, named by path inside itself.
#[derive(Payload, Debug, PartialEq, Default)]
struct Node<T> {
    value: T,
    next: Option<Box<self::Node<T>>>,
    by_key: HashMap<u16, Node<T>>,
}

/// A recursive type inside a set, which needs `Ord` of its elements.
#[derive(Payload, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Ordered {
    kids: BTreeSet<Ordered>,
    pair: (u8, Option<Box<(Ordered, u16)>>),
}

/// An element type that takes far more memory than its smallest encoding: 520 bytes, from
/// 4 bytes for `Empty`.
#[derive(Payload, Debug, PartialEq, Default, Clone)]
#[allow(clippy::large_enum_variant)] // large next to its small variants: the point
enum Big {
    #[default]
    Empty,
    Large([u64; 64]),
}

#[test]
fn recursive_types_count_what_each_reference_back_costs() {
    // Each reference back costs its length prefix or tag, never less than what the type
    // really takes: the length check refuses a prefix by the real minimum.
    assert_eq!(Tree::MIN_ENCODED_LEN, 8);
    assert_eq!(Labelled::MIN_ENCODED_LEN, 9);
    assert_eq!(List::MIN_ENCODED_LEN, 4);
    assert_eq!(Node::<u32>::MIN_ENCODED_LEN, 4 + 1 + 8);
    assert_eq!(Ordered::MIN_ENCODED_LEN, 8 + 1 + 1);
    assert_eq!(Vec::<Tree>::MIN_ENCODED_LEN, 8);
    // The smallest values encode to exactly their minimum: it is the real one.
    for (name, encoded, min) in [
        (
            "Labelled",
            encode_to_vec(&Labelled::default()),
            Labelled::MIN_ENCODED_LEN,
        ),
        ("List", encode_to_vec(&List::Nil), List::MIN_ENCODED_LEN),
        (
            "Node<u32>",
            encode_to_vec(&Node::<u32>::default()),
            Node::<u32>::MIN_ENCODED_LEN,
        ),
        (
            "Ordered",
            encode_to_vec(&Ordered::default()),
            Ordered::MIN_ENCODED_LEN,
        ),
    ] {
        assert_eq!(encoded.len(), min, "{name}");
    }
    // A prefix announcing one element more than the bytes left hold is refused before
    // anything is reserved.
    let mut bytes = 9u64.to_le_bytes().to_vec();
    bytes.extend([0; 9 * 8]);
    let error = decode_from::<Vec<Labelled>>(&bytes).unwrap_err();
    assert!(
        matches!(error, DecodeError::LengthTooLarge { len: 9, max: 8, .. }),
        "{error}"
    );
    let list = List::Cons(1, Box::new(List::Cons(2, Box::new(List::Nil))));
    assert_eq!(decode_from::<List>(&encode_to_vec(&list)).unwrap(), list);
}

#[test]
fn large_inline_elements_are_charged_their_memory() {
    // 1000 `None`s: 1008 bytes of input, 4 MB of memory. Valid, but over the memory budget.
    let nones: Vec<Option<[u8; 4096]>> = vec![None; 1000];
    let bytes = encode_to_vec(&nones);
    let error = assert_bounded::<Vec<Option<[u8; 4096]>>>("1000 × None", &bytes, 0).unwrap_err();
    assert_eq!(
        error,
        DecodeError::MemoryBudgetExceeded {
            offset: 0,
            what: "core::option::Option<[u8; 4096]>",
            bytes: 1000 * 4097,
            left: MEMORY_PER_BYTE * bytes.len() + MEMORY_BASE,
            len: bytes.len(),
        }
    );
    assert!(error.to_string().contains("box the large part"), "{error}");
    // Boxed, the same value costs 8 bytes per `None`, and decodes.
    let boxed: Vec<Option<Box<[u8; 4096]>>> = vec![None; 1000];
    let bytes = encode_to_vec(&boxed);
    assert_eq!(
        decode_from::<Vec<Option<Box<[u8; 4096]>>>>(&bytes).unwrap(),
        boxed
    );
    // A box is charged its value's size before it is allocated: 520 bytes per 5 input bytes.
    let boxes = vec![Some(Box::new(Big::Empty)); 1000];
    let bytes = encode_to_vec(&boxes);
    let error = assert_bounded::<Vec<Option<Box<Big>>>>("boxed Big", &bytes, 2 * 528).unwrap_err();
    assert!(
        matches!(
            error.root_cause(),
            DecodeError::MemoryBudgetExceeded { bytes: 520, .. }
        ),
        "{error}"
    );
    // Within the budget the same shapes decode.
    let fits = vec![Big::Empty; 100];
    let bytes = encode_to_vec(&fits);
    assert_eq!(
        assert_bounded::<Vec<Big>>("100 × Big", &bytes, 2 * 520),
        Ok(())
    );
    let fits = vec![Some(Box::new(Big::Large([7; 64]))); 100];
    let bytes = encode_to_vec(&fits);
    assert_eq!(
        assert_bounded::<Vec<Option<Box<Big>>>>("100 × boxed Big", &bytes, 2 * 528),
        Ok(())
    );
}

#[test]
fn decode_into_reused_storage_stays_within_the_bound() {
    // The storage of a large valid value, then hostile and valid inputs decoded into it: what
    // the decode adds to the heap stays within the documented bound, and the result is a
    // fresh decode's.
    let mut tree = Tree {
        children: (0..2000).map(|_| Tree::default()).collect(),
    };
    let hostile = nested_prefixes(256, 35_000, |remaining| (remaining / 8) as u64);
    for bytes in [
        hostile,
        encode_to_vec(&Tree::default()),
        encode_to_vec(&tree),
    ] {
        let mut reused = Tree {
            children: std::mem::take(&mut tree.children),
        };
        let fresh = decode_from::<Tree>(&bytes).map(drop);
        let into = assert_bounded_with("Tree into reused storage", &bytes, 48, || {
            decode_from_into(&bytes, &mut reused)
        });
        assert_eq!(into, fresh);
        tree.children = (0..2000).map(|_| Tree::default()).collect();
    }
    let mut strings: Vec<String> = (0..500).map(|i| "x".repeat(i)).collect();
    for announced in [u64::MAX, 1 << 20, 100] {
        let mut bytes = announced.to_le_bytes().to_vec();
        for _ in 0..100 {
            bytes.extend(1_000_000u64.to_le_bytes());
        }
        let fresh = decode_from::<Vec<String>>(&bytes).map(drop);
        let into = assert_bounded_with("Vec<String> into reused storage", &bytes, 48, || {
            decode_from_into(&bytes, &mut strings)
        });
        assert_eq!(into, fresh);
        assert!(into.is_err());
    }
}

/// Bytes built from length prefixes chosen to hurt (zero, small, the bytes left, 2^20,
/// `u64::MAX`) mixed with random bytes, so that decoding gets past the first prefix.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(0u64.to_le_bytes().to_vec()),
        (0u64..16).prop_map(|n| n.to_le_bytes().to_vec()),
        Just((1u64 << 20).to_le_bytes().to_vec()),
        Just(u64::MAX.to_le_bytes().to_vec()),
        (0u64..5000).prop_map(|n| n.to_le_bytes().to_vec()),
        vec(any::<u8>(), 0..24),
    ];
    vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_input_stays_within_the_bound(bytes in prop_oneof![vec(any::<u8>(), 0..2048), hostile_bytes()]) {
        let _ = assert_bounded::<Tree>("Tree", &bytes, 2 * size_of::<Tree>());
        let _ = assert_bounded::<Vec<Vec<()>>>("Vec<Vec<()>>", &bytes, 2 * 24);
        let _ = assert_bounded::<Vec<[Box<()>; 16]>>("Vec<[Box<()>; 16]>", &bytes, 2 * 128);
        let _ = assert_bounded::<Mixed>("Mixed", &bytes, 11 * 40 + 3 * 33);
        let _ = assert_bounded::<Vec<Option<Tree>>>("Vec<Option<Tree>>", &bytes, 2 * 24);
        let _ = assert_bounded::<Labelled>("Labelled", &bytes, 3 * size_of::<Labelled>());
        let _ = assert_bounded::<List>("List", &bytes, 2 * size_of::<List>());
        let _ = assert_bounded::<Vec<Big>>("Vec<Big>", &bytes, 2 * size_of::<Big>());
        let _ = assert_bounded::<Vec<Option<Box<Big>>>>("Vec<Option<Box<Big>>>", &bytes, 2 * 528);
        let _ = assert_bounded::<Vec<Option<[u8; 256]>>>("Vec<Option<[u8; 256]>>", &bytes, 2 * 257);
        let _ = assert_bounded::<BTreeMap<u8, String>>("BTreeMap<u8, String>", &bytes, 11 * 40);
        let _ = assert_bounded::<HashMap<u16, Vec<u8>>>("HashMap<u16, Vec<u8>>", &bytes, 3 * 33);
    }
}
