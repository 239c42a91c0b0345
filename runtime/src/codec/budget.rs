//! The two budgets of a decode, and what the standard collections are charged.
//!
//! Elements bound the work: every element of a sequence is charged when its length is read,
//! so a `Vec<()>` announcing 2^60 elements is refused before the first one is decoded. Bytes
//! bound the memory: every allocation the input drives is charged before it is made, with
//! what it takes (a `Vec<T>`'s `len × size_of::<T>()`, a `Box<T>`'s `size_of::<T>()`, a hash
//! table's buckets, a B-tree's nodes), counted over the whole decode and never refunded, so
//! the sum of the reservations, and therefore the peak, stays within the memory budget.
//!
//! The charges are a function of the bytes and the type only, never of storage a value
//! already holds: [`Payload::decode_into`](super::Payload::decode_into) charges exactly what
//! [`Payload::decode`](super::Payload::decode) charges, so both succeed or fail alike.

use super::{BUDGET_BASE, BUDGET_PER_BYTE, MEMORY_BASE, MEMORY_PER_BYTE};

/// What a decode may still spend.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    /// Elements that may still be decoded.
    elements: usize,
    /// Bytes of memory that may still be reserved.
    memory: usize,
}

impl Budget {
    /// The budget of a decode of `len` input bytes.
    pub(super) fn for_input(len: usize) -> Self {
        Budget {
            elements: len
                .saturating_mul(BUDGET_PER_BYTE)
                .saturating_add(BUDGET_BASE),
            memory: len
                .saturating_mul(MEMORY_PER_BYTE)
                .saturating_add(MEMORY_BASE),
        }
    }

    pub(super) fn elements_left(&self) -> usize {
        self.elements
    }

    pub(super) fn memory_left(&self) -> usize {
        self.memory
    }

    /// Takes `elements` from the element budget, or leaves it unchanged and returns `false`.
    #[inline]
    pub(super) fn take_elements(&mut self, elements: u64) -> bool {
        match usize::try_from(elements) {
            Ok(elements) if elements <= self.elements => {
                self.elements -= elements;
                true
            }
            _ => false,
        }
    }

    /// Takes `bytes` from the memory budget, or leaves it unchanged and returns `false`.
    #[inline]
    pub(super) fn take_memory(&mut self, bytes: usize) -> bool {
        if bytes <= self.memory {
            self.memory -= bytes;
            true
        } else {
            false
        }
    }
}

/// An upper bound of the bytes a `HashMap`/`HashSet` allocates for room for `len` entries of
/// `entry` bytes aligned to `align`: std's table (hashbrown) has a power-of-two number of
/// buckets, at least `len × 8 / 7` (up to 16 for tables of fewer than 15 entries), each an
/// entry and a control byte, plus 16 control bytes and the alignment of the control bytes.
/// `usize::MAX` when the size overflows (the budget then refuses it).
#[inline]
pub(super) fn hash_table_bytes(len: usize, entry: usize, align: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let buckets = if len < 15 {
        Some(16)
    } else {
        len.checked_mul(8)
            .and_then(|adjusted| (adjusted / 7 + 1).checked_next_power_of_two())
    };
    buckets
        .and_then(|buckets| buckets.checked_mul(entry.saturating_add(1)))
        .and_then(|table| table.checked_add(16 + align.max(16)))
        .unwrap_or(usize::MAX)
}

/// B-tree nodes hold up to 11 entries; a node other than the root is made by splitting a
/// full one and holds at least 5.
const BTREE_CAPACITY: usize = 11;
const BTREE_MIN_FILL: usize = 5;

/// An upper bound of the bytes a `BTreeMap`/`BTreeSet` allocates for `len` entries of
/// `key` and `value` bytes (aligned to at most `align`), inserted in any order without
/// removals: at most `1 + len / 5` nodes (every node but the root holds at least 5
/// entries), each at most an internal node's size (11 keys, 11 values, 12 child pointers, a
/// parent pointer, two `u16`s, padding). `usize::MAX` when the size overflows.
#[inline]
pub(super) fn btree_bytes(len: usize, key: usize, value: usize, align: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let nodes = 1 + len / BTREE_MIN_FILL;
    key.checked_add(value)
        .and_then(|entry| entry.checked_mul(BTREE_CAPACITY))
        .and_then(|entries| entries.checked_add((BTREE_CAPACITY + 2) * 8 + 4 + 2 * align))
        .and_then(|node| node.checked_mul(nodes))
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn budgets_scale_with_the_input_and_saturate() {
        let budget = Budget::for_input(1000);
        assert_eq!(budget.elements_left(), 1000 * BUDGET_PER_BYTE + BUDGET_BASE);
        assert_eq!(budget.memory_left(), 1000 * MEMORY_PER_BYTE + MEMORY_BASE);
        let huge = Budget::for_input(usize::MAX);
        assert_eq!(
            (huge.elements_left(), huge.memory_left()),
            (usize::MAX, usize::MAX)
        );
    }

    #[test]
    fn taking_more_than_is_left_changes_nothing() {
        let mut budget = Budget::for_input(0);
        assert!(!budget.take_elements(u64::MAX));
        assert!(!budget.take_elements(BUDGET_BASE as u64 + 1));
        assert!(budget.take_elements(BUDGET_BASE as u64));
        assert_eq!(budget.elements_left(), 0);
        assert!(!budget.take_memory(MEMORY_BASE + 1));
        assert!(budget.take_memory(MEMORY_BASE - 1));
        assert!(budget.take_memory(1));
        assert!(!budget.take_memory(1));
        assert!(budget.take_memory(0));
    }

    #[test]
    fn hash_table_charge_covers_the_capacity_std_gives() {
        for len in [
            1usize, 3, 4, 7, 8, 13, 14, 15, 28, 29, 100, 1000, 4097, 100_000,
        ] {
            let mut map = HashMap::<u64, u64>::new();
            map.try_reserve(len).unwrap();
            // A table of `buckets` buckets has room for `buckets × 7 / 8` entries (all but one
            // for tables of fewer than 8); the charge must cover at least those buckets.
            let capacity = map.capacity();
            assert!(capacity >= len);
            let charged = hash_table_bytes(len, 16, 8);
            let buckets = if capacity < 8 {
                capacity + 1
            } else {
                capacity * 8 / 7
            }
            .next_power_of_two();
            assert!(
                charged >= buckets * 17 + 16,
                "{len} entries: {charged} bytes charged for {buckets} buckets"
            );
        }
        assert_eq!(hash_table_bytes(0, 16, 8), 0);
        assert_eq!(hash_table_bytes(usize::MAX, 16, 8), usize::MAX);
        assert_eq!(hash_table_bytes(usize::MAX / 8, 16, 8), usize::MAX);
    }

    #[test]
    fn btree_charge_counts_one_node_per_five_entries() {
        let node = 11 * 16 + 13 * 8 + 4 + 16;
        assert_eq!(btree_bytes(0, 8, 8, 8), 0);
        assert_eq!(btree_bytes(1, 8, 8, 8), node);
        assert_eq!(btree_bytes(4, 8, 8, 8), node);
        assert_eq!(btree_bytes(5, 8, 8, 8), 2 * node);
        assert_eq!(btree_bytes(1000, 8, 8, 8), 201 * node);
        assert_eq!(btree_bytes(usize::MAX, 8, 8, 8), usize::MAX);
    }
}
