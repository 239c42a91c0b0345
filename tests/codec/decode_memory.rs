//! The documented memory bound of a decode, measured: peak heap ≤ K × input bytes + C, with
//! K = [`MEMORY_PER_BYTE`] and C = [`MEMORY_BASE`] + 16 KiB (the error's field path), for
//! every shape (recursive, large inline elements, maps, strings, nested vectors), at 64 B,
//! 64 KiB and 1 MiB, for hostile inputs (length prefixes claiming far more than the input
//! holds) and valid ones, fresh and into reused storage (see `docs/decoding.md`).
//!
//! The counting global allocator of this binary (`counting_alloc.rs`)
//! measures, per thread, the peak of the bytes a decode holds at once and the total it
//! reserves. Besides the bound, each case checks that the decoder charged every byte it
//! reserved: the total allocated never exceeds what the memory budget was charged, plus the
//! error's field path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tandem::codec::{Decoder, MEMORY_BASE, MEMORY_PER_BYTE};
use tandem::{codec::decode_from_into, decode_from, encode_to_vec, DecodeError, Payload};

use crate::counting_alloc::measure;

/// The input sizes every shape is measured at.
const SIZES: [usize; 3] = [64, 64 * 1024, 1 << 20];

/// `C` of the documented bound: the memory budget's base, plus the error's field path (at
/// most `MAX_DEPTH` boxed errors of at most 64 bytes).
const C: usize = MEMORY_BASE + 16 * 1024;

/// The documented bound of the heap a decode of `len` bytes holds at once.
fn bound(len: usize) -> usize {
    MEMORY_PER_BYTE * len + C
}

/// Whether a case must decode.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Valid,
    Refused,
    /// Either: a worst case for memory whose bytes may happen to form a valid value.
    Either,
}

/// Decodes `bytes` as `T` fresh, into an empty `T` and into `previous` (reused storage), and
/// checks for each: the result is as expected and the same, the heap held at once stays
/// within the documented bound, and everything allocated was charged to the memory budget
/// first (plus the error's field path, which is not charged).
fn check<T: Payload + Default>(name: &str, bytes: &[u8], expect: Expect, previous: &mut T) {
    let len = bytes.len();
    // A fresh decode through a `Decoder`, to read what it charged.
    let (usage, (result, charged)) = measure(|| {
        let mut decoder = Decoder::new(bytes);
        let result = T::decode(&mut decoder).map(drop);
        let charged = MEMORY_PER_BYTE * len + MEMORY_BASE - decoder.memory_left();
        (result, charged)
    });
    let result = result.and_then(|()| decode_from::<T>(bytes).map(drop));
    let summary = format!(
        "{name}, {len} bytes: peak {} bytes, total {} bytes, charged {charged}, bound {}: {:?}",
        usage.peak,
        usage.total,
        bound(len),
        result.as_ref().map_err(DecodeError::root_cause)
    );
    eprintln!("{summary}");
    match expect {
        Expect::Valid => assert!(result.is_ok(), "{summary}"),
        Expect::Refused => assert!(result.is_err(), "{summary}"),
        Expect::Either => {}
    }
    assert!(usage.peak <= bound(len), "over the bound: {summary}");
    let error_path = if result.is_ok() { 0 } else { 16 * 1024 };
    assert!(
        usage.total <= charged + error_path,
        "allocated more than was charged: {summary}"
    );
    for (storage, target) in [("empty", &mut T::default()), ("reused", previous)] {
        let (usage, into) = measure(|| decode_from_into(bytes, target));
        assert_eq!(
            into, result,
            "{name}, {len} bytes, into {storage} storage, disagrees with a fresh decode"
        );
        assert!(
            usage.peak <= bound(len),
            "{name}, {len} bytes, into {storage} storage: peak {} over the bound {}",
            usage.peak,
            bound(len)
        );
    }
}

/// An input, what it is, and whether it must decode.
type Attack = (&'static str, Vec<u8>, Expect);

/// A valid value of at most each size, and hostile inputs of each size.
struct Shape<T> {
    name: &'static str,
    valid: fn(usize) -> T,
    hostile: fn(usize) -> Vec<Attack>,
}

impl<T: Payload + Default + PartialEq + std::fmt::Debug> Shape<T> {
    /// Checks every input; the storage reused for decoding into is a valid value of the
    /// largest size.
    fn run(&self) {
        let mut previous = (self.valid)(SIZES[SIZES.len() - 1]);
        for len in SIZES {
            let value = (self.valid)(len);
            let bytes = encode_to_vec(&value);
            assert!(
                bytes.len() <= len,
                "{}: the valid value of at most {len} bytes encodes to {}",
                self.name,
                bytes.len()
            );
            check(self.name, &bytes, Expect::Valid, &mut previous);
            assert_eq!(decode_from::<T>(&bytes).unwrap(), value, "{}", self.name);
            for (attack, bytes, expect) in (self.hostile)(len) {
                assert_eq!(bytes.len(), len, "{}: {attack}", self.name);
                let name = format!("{} ({attack})", self.name);
                check(&name, &bytes, expect, &mut previous);
            }
        }
    }
}

/// `len` bytes: `prefixes` (little-endian `u64`s) then `fill`.
fn prefixed(len: usize, prefixes: &[u64], fill: u8) -> Vec<u8> {
    let mut bytes: Vec<u8> = prefixes.iter().flat_map(|p| p.to_le_bytes()).collect();
    bytes.resize(len, fill);
    bytes.truncate(len);
    bytes
}

/// `len` bytes of up to 256 nested length prefixes, each announcing `announce(bytes left
/// after it)` elements, then zeros.
fn nested(len: usize, announce: impl Fn(usize) -> u64) -> Vec<u8> {
    let prefixes: Vec<u64> = (0..256.min(len / 8))
        .map(|level| announce(len - 8 * (level + 1)))
        .collect();
    prefixed(len, &prefixes, 0)
}

/// Length prefixes that claim more than the input holds, for a sequence of elements of at
/// least `min` bytes: one element more than the rest can hold, one per byte left at every
/// level where the type nests, 2^40 and `u64::MAX`; and the worst case for memory, as many
/// elements as the rest can hold at every level (which may happen to be valid).
fn claims(len: usize, min: usize) -> Vec<Attack> {
    let at_most = move |left: usize| (left / min) as u64;
    let per_byte = if min > 1 {
        Expect::Refused
    } else {
        Expect::Either
    };
    vec![
        (
            "as many elements as fit, at every level",
            nested(len, at_most),
            Expect::Either,
        ),
        (
            "one element more than fits",
            prefixed(len, &[at_most(len - 8) + 1], 0),
            Expect::Refused,
        ),
        (
            "an element per byte left, at every level",
            nested(len, |left| left as u64),
            per_byte,
        ),
        (
            "2^40 elements",
            prefixed(len, &[1 << 40], 0xff),
            Expect::Refused,
        ),
        (
            "u64::MAX elements",
            prefixed(len, &[u64::MAX], 0),
            Expect::Refused,
        ),
    ]
}

#[derive(Payload, Debug, PartialEq, Default)]
struct Tree {
    children: Vec<Tree>,
}

#[derive(Payload, Debug, PartialEq, Default)]
struct Labelled {
    children: Vec<Labelled>,
    label: Option<Box<Self>>,
}

/// A tree of `len / 8` nodes: a chain 100 deep whose last node holds the rest as leaves.
fn tree(len: usize) -> Tree {
    let nodes = len / 8;
    let depth = nodes.min(100);
    let mut tree = Tree {
        children: (depth..nodes).map(|_| Tree::default()).collect(),
    };
    for _ in 1..depth {
        tree = Tree {
            children: vec![tree],
        };
    }
    tree
}

/// A labelled tree of `len / 9` nodes: a chain of labels 100 deep whose last node holds the
/// rest as leaves.
fn labelled(len: usize) -> Labelled {
    let nodes = len / 9;
    let depth = nodes.min(100);
    let mut tree = Labelled {
        children: (depth..nodes).map(|_| Labelled::default()).collect(),
        label: None,
    };
    for _ in 1..depth {
        tree = Labelled {
            children: vec![],
            label: Some(Box::new(tree)),
        };
    }
    tree
}

#[test]
fn recursive() {
    Shape::<Tree> {
        name: "Tree",
        valid: tree,
        hostile: |len| claims(len, 8),
    }
    .run();
    Shape::<Labelled> {
        name: "Labelled",
        valid: labelled,
        hostile: |len| {
            let mut attacks = claims(len, 9);
            // A chain of `Some` labels: only the depth limit stops it.
            let mut chain = Vec::new();
            while chain.len() + 9 <= len {
                chain.extend([0; 8]);
                chain.push(1);
            }
            chain.resize(len, 0);
            // 64 bytes hold 7 levels, a valid value; the larger inputs pass the depth limit.
            let expect = if len > 64 {
                Expect::Refused
            } else {
                Expect::Either
            };
            attacks.push(("labels nested past the depth limit", chain, expect));
            attacks
        },
    }
    .run();
    assert_eq!(Tree::MIN_ENCODED_LEN, 8);
    assert_eq!(Labelled::MIN_ENCODED_LEN, 9);
}

/// Large in memory, small when encoded: a unit variant takes 4 bytes, the value 520.
#[derive(Payload, Debug, PartialEq, Default)]
#[allow(clippy::large_enum_variant)] // large next to its small variants: the point
enum Big {
    #[default]
    Empty,
    Small(u8),
    Large([u64; 64]),
}

#[test]
fn large_inline_elements() {
    // Valid values whose memory fits: one large element (516 bytes encoded, up to 7 more of
    // alignment padding) for every 10 small ones (5 bytes each).
    Shape::<Vec<Big>> {
        name: "Vec<Big>",
        valid: |len| {
            (0..(len - 8) / 573)
                .flat_map(|i| {
                    let large = Big::Large([i as u64; 64]);
                    std::iter::once(large).chain((0..10).map(|j| Big::Small(j as u8)))
                })
                .chain((0..(len - 8) % 573 / 5).map(|_| Big::Small(1)))
                .collect::<Vec<_>>()
        },
        hostile: |len| {
            let mut attacks = claims(len, 4);
            // Valid bytes, but 520 bytes of memory per 4 input bytes: over the budget, except
            // at 64 bytes, where they fit in `MEMORY_BASE`.
            let units = (len - 8) / 4;
            let expect = if units * size_of::<Big>() > MEMORY_PER_BYTE * len + MEMORY_BASE {
                Expect::Refused
            } else {
                Expect::Valid
            };
            let bytes = prefixed(len, &[units as u64], 0);
            attacks.push(("valid, only unit variants", bytes, expect));
            attacks
        },
    }
    .run();
    Shape::<Vec<Option<[u8; 4096]>>> {
        name: "Vec<Option<[u8; 4096]>>",
        valid: |len| vec![Some([7; 4096]); (len - 8) / 4097],
        hostile: |len| {
            let mut attacks = claims(len, 1);
            // Valid bytes, but 4097 bytes of memory per input byte: over the budget.
            let bytes = prefixed(len, &[len as u64 - 8], 0);
            attacks.push(("valid, all None", bytes, Expect::Refused));
            attacks
        },
    }
    .run();
    Shape::<Vec<[Box<()>; 16]>> {
        name: "Vec<[Box<()>; 16]>",
        // 128 bytes of memory per element that encodes to nothing: 8 bytes of input only.
        valid: |_| vec![std::array::from_fn(|_| Box::new(())); 100],
        hostile: |len| {
            vec![
                (
                    "2^20 elements of nothing",
                    prefixed(len, &[1 << 20], 0),
                    Expect::Refused,
                ),
                (
                    "u64::MAX elements of nothing",
                    prefixed(len, &[u64::MAX], 0),
                    Expect::Refused,
                ),
            ]
        },
    }
    .run();
}

#[test]
fn maps() {
    Shape::<HashMap<u32, String>> {
        name: "HashMap<u32, String>",
        valid: |len| {
            (0..(len - 8) as u32 / 20)
                .map(|i| (i, format!("{i:08}")))
                .collect()
        },
        hostile: |len| claims(len, 12),
    }
    .run();
    Shape::<BTreeMap<u64, Vec<u8>>> {
        name: "BTreeMap<u64, Vec<u8>>",
        valid: |len| {
            (0..(len - 8) as u64 / 20)
                .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), vec![i as u8; 4]))
                .collect()
        },
        hostile: |len| claims(len, 16),
    }
    .run();
    Shape::<BTreeSet<u16>> {
        name: "BTreeSet<u16>",
        valid: |len| {
            (0..((len - 8) / 2).min(1 << 16) as u32)
                .map(|i| i as u16)
                .collect()
        },
        hostile: |len| claims(len, 2),
    }
    .run();
    Shape::<HashSet<u8>> {
        name: "HashSet<u8>",
        valid: |len| (0..((len - 8).min(256)) as u16).map(|i| i as u8).collect(),
        hostile: |len| claims(len, 1),
    }
    .run();
}

#[test]
fn strings() {
    Shape::<String> {
        name: "String",
        valid: |len| "é".repeat((len - 8) / 2),
        hostile: |len| claims(len, 1),
    }
    .run();
    Shape::<Vec<String>> {
        name: "Vec<String>",
        valid: |len| {
            (0..(len - 8) / 12)
                .map(|i| format!("{:04}", i % 10_000))
                .collect()
        },
        hostile: |len| claims(len, 8),
    }
    .run();
    Shape::<Vec<Option<String>>> {
        name: "Vec<Option<String>>",
        // Mostly `None`: 24 bytes of memory per input byte, within K = 32.
        valid: |len| {
            (0..len - 8 - 9)
                .map(|i| (i == 0).then(String::new))
                .collect()
        },
        hostile: |len| claims(len, 1),
    }
    .run();
}

#[test]
fn nested_vectors() {
    Shape::<Vec<Vec<Vec<u8>>>> {
        name: "Vec<Vec<Vec<u8>>>",
        valid: |len| {
            let inner = vec![vec![1u8; 8]; 4];
            vec![inner; (len - 8) / (8 + 4 * 16)]
        },
        hostile: |len| claims(len, 8),
    }
    .run();
    Shape::<Vec<Vec<u64>>> {
        name: "Vec<Vec<u64>>",
        valid: |len| vec![vec![3u64; 7]; (len - 8) / 64],
        hostile: |len| claims(len, 8),
    }
    .run();
    Shape::<Vec<Vec<()>>> {
        name: "Vec<Vec<()>>",
        valid: |len| vec![vec![(); 8]; (len - 8) / 8],
        hostile: |len| claims(len, 8),
    }
    .run();
}
