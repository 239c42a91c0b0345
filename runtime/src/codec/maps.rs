//! [`Payload`] for maps and sets, and what their storage is charged against the decode
//! memory budget (see [`budget`](super::budget)).

use super::budget::{btree_bytes, hash_table_bytes};
use super::{DecodeError, Decoder, Encoder, Fingerprint, Payload};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, TryReserveError};
use std::hash::{BuildHasher, Hash};

/// How a map or set stores its entries: what room for `len` of them costs, and how to make
/// that room without aborting.
trait Table: Sized {
    /// An upper bound of the bytes the collection allocates for `len` entries.
    fn memory(len: usize) -> usize;

    /// An empty collection, which allocates nothing.
    fn empty() -> Self;

    /// Room for `len` entries in an empty collection, allocated fallibly where the
    /// collection can (hash tables); B-trees allocate node by node as they grow, infallibly,
    /// so their room is only charged, by [`Table::memory`], before it is made.
    fn try_reserve_entries(&mut self, len: usize) -> Result<(), TryReserveError>;
}

impl<K, V> Table for BTreeMap<K, V> {
    fn memory(len: usize) -> usize {
        let align = core::mem::align_of::<K>().max(core::mem::align_of::<V>());
        btree_bytes(
            len,
            core::mem::size_of::<K>(),
            core::mem::size_of::<V>(),
            align,
        )
    }

    fn empty() -> Self {
        BTreeMap::new()
    }

    fn try_reserve_entries(&mut self, _len: usize) -> Result<(), TryReserveError> {
        Ok(())
    }
}

impl<K> Table for BTreeSet<K> {
    fn memory(len: usize) -> usize {
        btree_bytes(
            len,
            core::mem::size_of::<K>(),
            0,
            core::mem::align_of::<K>(),
        )
    }

    fn empty() -> Self {
        BTreeSet::new()
    }

    fn try_reserve_entries(&mut self, _len: usize) -> Result<(), TryReserveError> {
        Ok(())
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> Table for HashMap<K, V, S> {
    fn memory(len: usize) -> usize {
        hash_table_bytes(
            len,
            core::mem::size_of::<(K, V)>(),
            core::mem::align_of::<(K, V)>(),
        )
    }

    fn empty() -> Self {
        HashMap::with_hasher(S::default())
    }

    fn try_reserve_entries(&mut self, len: usize) -> Result<(), TryReserveError> {
        self.try_reserve(len)
    }
}

impl<K: Eq + Hash, S: BuildHasher + Default> Table for HashSet<K, S> {
    fn memory(len: usize) -> usize {
        hash_table_bytes(len, core::mem::size_of::<K>(), core::mem::align_of::<K>())
    }

    fn empty() -> Self {
        HashSet::with_hasher(S::default())
    }

    fn try_reserve_entries(&mut self, len: usize) -> Result<(), TryReserveError> {
        self.try_reserve(len)
    }
}

/// Room for `len` entries (already charged) in the empty `table`; a hash table that is large
/// enough already keeps its allocation.
#[inline]
fn reserve_entries<T: Table>(
    decoder: &Decoder<'_>,
    table: &mut T,
    len: usize,
) -> Result<(), DecodeError> {
    table.try_reserve_entries(len).map_err(|source| {
        decoder.out_of_memory(T::memory(len), core::any::type_name::<T>(), source)
    })
}

/// Bytes of a map's or set's entries, starting at `offset`.
#[inline]
fn entries_encoded_len<'a, E: Payload + 'a>(
    entries: impl Iterator<Item = (&'a E, Option<&'a E>)>,
    offset: usize,
) -> usize {
    let mut end = offset;
    for (first, second) in entries {
        end += first.encoded_len(end);
        if let Some(second) = second {
            end += second.encoded_len(end);
        }
    }
    end - offset
}

macro_rules! maps {
    ($($map:ident<K: $($kbound:path),+ $(; $hasher:ident)?>),*) => {$(
        impl<K, V $(, $hasher)?> Payload for $map<K, V $(, $hasher)?>
        where
            K: Payload $(+ $kbound)+,
            V: Payload,
            $($hasher: BuildHasher + Default,)?
        {
            const FINGERPRINT: u64 = Fingerprint::new("map")
                .u64(K::FINGERPRINT)
                .u64(V::FINGERPRINT)
                .finish();
            const MIN_ENCODED_LEN: usize = 8;

            fn encoded_len(&self, offset: usize) -> usize {
                let mut end = offset + 8;
                for (key, value) in self {
                    end += key.encoded_len(end);
                    end += value.encoded_len(end);
                }
                end - offset
            }

            fn encode(&self, encoder: &mut Encoder<'_>) {
                encoder.put_len(self.len());
                for (key, value) in self {
                    key.encode(encoder);
                    value.encode(encoder);
                }
            }

            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                let len = decoder.get_len_charging::<(K, V)>(<Self as Table>::memory)?;
                let mut map = <Self as Table>::empty();
                reserve_entries(decoder, &mut map, len)?;
                for _ in 0..len {
                    let offset = decoder.position();
                    let key = K::decode(decoder)?;
                    let value = V::decode(decoder)?;
                    if map.insert(key, value).is_some() {
                        return Err(DecodeError::DuplicateKey {
                            offset,
                            type_name: core::any::type_name::<Self>(),
                        });
                    }
                }
                Ok(map)
            }

            fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
                let len = decoder.get_len_charging::<(K, V)>(<Self as Table>::memory)?;
                self.clear();
                reserve_entries(decoder, self, len)?;
                for _ in 0..len {
                    let offset = decoder.position();
                    let key = K::decode(decoder)?;
                    let value = V::decode(decoder)?;
                    if self.insert(key, value).is_some() {
                        return Err(DecodeError::DuplicateKey {
                            offset,
                            type_name: core::any::type_name::<Self>(),
                        });
                    }
                }
                Ok(())
            }
        }
    )*};
}

macro_rules! sets {
    ($($set:ident<K: $($kbound:path),+ $(; $hasher:ident)?>),*) => {$(
        impl<K $(, $hasher)?> Payload for $set<K $(, $hasher)?>
        where
            K: Payload $(+ $kbound)+,
            $($hasher: BuildHasher + Default,)?
        {
            const FINGERPRINT: u64 = Fingerprint::new("set").u64(K::FINGERPRINT).finish();
            const MIN_ENCODED_LEN: usize = 8;

            fn encoded_len(&self, offset: usize) -> usize {
                8 + entries_encoded_len(self.iter().map(|key| (key, None)), offset + 8)
            }

            fn encode(&self, encoder: &mut Encoder<'_>) {
                encoder.put_len(self.len());
                for key in self {
                    key.encode(encoder);
                }
            }

            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                let len = decoder.get_len_charging::<K>(<Self as Table>::memory)?;
                let mut set = <Self as Table>::empty();
                reserve_entries(decoder, &mut set, len)?;
                for _ in 0..len {
                    let offset = decoder.position();
                    if !set.insert(K::decode(decoder)?) {
                        return Err(DecodeError::DuplicateKey {
                            offset,
                            type_name: core::any::type_name::<Self>(),
                        });
                    }
                }
                Ok(set)
            }

            fn decode_into(&mut self, decoder: &mut Decoder<'_>) -> Result<(), DecodeError> {
                let len = decoder.get_len_charging::<K>(<Self as Table>::memory)?;
                self.clear();
                reserve_entries(decoder, self, len)?;
                for _ in 0..len {
                    let offset = decoder.position();
                    if !self.insert(K::decode(decoder)?) {
                        return Err(DecodeError::DuplicateKey {
                            offset,
                            type_name: core::any::type_name::<Self>(),
                        });
                    }
                }
                Ok(())
            }
        }
    )*};
}

maps!(BTreeMap<K: Ord>, HashMap<K: Eq, Hash; S>);
sets!(BTreeSet<K: Ord>, HashSet<K: Eq, Hash; S>);
