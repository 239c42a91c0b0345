//! Bytes that another process may rewrite while this one reads them.
//!
//! A `&[u8]` over such memory would be a promise to the compiler that it does not change,
//! which the peer can break at any moment: the compiler may then read a byte twice and see two
//! values (a length checked against a bound, then used after the peer enlarged it). The
//! kernel's answer for user memory is `copy_from_user`: load a scalar once into a local, copy
//! payload bytes into private memory, and validate only the copy. [`SharedBytes`] is that
//! discipline as a type: it hands out nothing but copies.
//!
//! Each method reads every byte it is asked for exactly once, through a raw pointer, into
//! memory the caller owns; after the copy the compiler is told the destination may have
//! changed (`black_box`), so it cannot forward later reads of the copy back to the shared
//! source.

use std::marker::PhantomData;
use std::mem::{size_of, MaybeUninit};
use std::ptr::NonNull;
use zerocopy::FromBytes;

/// A readable range of bytes that may change under the reader (the peer's shared buffer), or
/// a private slice treated the same way. Only copies come out.
#[derive(Debug, Clone, Copy)]
pub struct SharedBytes<'a> {
    // INVARIANT: `ptr..ptr + len` is mapped readable for `'a`; nothing assumes its contents
    // stay the same between two reads.
    ptr: NonNull<u8>,
    len: usize,
    _mapping: PhantomData<&'a [u8]>,
}

// SAFETY: `SharedBytes` only reads through its pointer, into memory the caller owns; the
// mapping it points into is valid for `'a` whichever thread reads it.
unsafe impl Send for SharedBytes<'_> {}
// SAFETY: as for `Send`: every method takes `&self` and only copies out.
unsafe impl Sync for SharedBytes<'_> {}

impl<'a> SharedBytes<'a> {
    /// Bytes of this process that nobody else writes (tests, private copies, decoding a
    /// `Vec<u8>`): the same copying discipline, at no risk.
    pub fn from_private(bytes: &'a [u8]) -> Self {
        SharedBytes {
            ptr: NonNull::from(bytes).cast(),
            len: bytes.len(),
            _mapping: PhantomData,
        }
    }

    /// A range of a mapping another process may write.
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay mapped and readable for `'a` (its contents may change).
    pub(crate) unsafe fn from_raw(ptr: NonNull<u8>, len: usize) -> Self {
        SharedBytes {
            ptr,
            len,
            _mapping: PhantomData,
        }
    }

    /// The number of bytes in the range.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst`; `false` (nothing copied) if
    /// the range does not hold them.
    #[inline]
    pub fn copy_to(&self, offset: usize, dst: &mut [u8]) -> bool {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and every byte
        // written through the cast is an initialised `u8`.
        let uninit = unsafe { &mut *(dst as *mut [u8] as *mut [MaybeUninit<u8>]) };
        self.copy_to_uninit(offset, uninit)
    }

    /// Copies `dst.len()` bytes starting at `offset` into possibly uninitialised memory (a
    /// `Vec`'s spare capacity); `false` (nothing copied) if the range does not hold them.
    /// On `true`, every byte of `dst` is initialised.
    #[inline]
    pub fn copy_to_uninit(&self, offset: usize, dst: &mut [MaybeUninit<u8>]) -> bool {
        let in_range = offset
            .checked_add(dst.len())
            .is_some_and(|end| end <= self.len);
        if !in_range {
            return false;
        }
        if dst.is_empty() {
            return true;
        }
        // SAFETY: `offset + dst.len() <= len` (checked above), so the source range lies in
        // the mapping the invariant guarantees; `dst` is memory of ours that cannot overlap a
        // range we only read. Each source byte is read once.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr().cast::<u8>(),
                dst.len(),
            );
        }
        // The copy is the value from now on: keep the compiler from re-reading the source
        // in place of it.
        std::hint::black_box(dst.as_mut_ptr());
        true
    }

    /// Copies `N` bytes starting at `offset` into an array (a length prefix, a tag, a
    /// scalar): read once, then used as a local.
    #[inline]
    pub fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut bytes = [0u8; N];
        self.copy_to(offset, &mut bytes).then_some(bytes)
    }

    /// A copy of the whole range.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len);
        let copied = self.append_to(0, self.len, &mut bytes);
        debug_assert!(copied, "the whole range is in range");
        bytes
    }

    /// Copies one `T` from the `size_of::<T>()` bytes at `offset` (no alignment needed), or
    /// `None` if the range does not hold them. Any bytes make a valid `T` (`FromBytes`), so
    /// the value needs no validation that a concurrent writer could race.
    #[inline]
    pub fn read<T: FromBytes>(&self, offset: usize) -> Option<T> {
        let mut value = MaybeUninit::<T>::uninit();
        // SAFETY: the `size_of::<T>()` bytes of `value` are ours, and viewing them as
        // possibly uninitialised bytes asserts nothing about their contents.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                value.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                size_of::<T>(),
            )
        };
        if !self.copy_to_uninit(offset, bytes) {
            return None;
        }
        // SAFETY: `copy_to_uninit` initialised every byte of `value`, and every byte pattern
        // is a valid `T` (`T: FromBytes`).
        Some(unsafe { value.assume_init() })
    }

    /// Appends `count` values of `T` copied from the bytes at `offset` to `vec`, straight
    /// into its spare capacity: one copy, no zero-fill, and the bytes kept are the bytes
    /// read (validate them in `vec`, not here). Reserves only what is missing, so a `vec`
    /// made with `Vec::with_capacity(count)` is not reallocated. `false` (and `vec`
    /// unchanged) if the range does not hold `count` values or `vec` cannot grow by them.
    #[inline]
    pub fn append_to<T: FromBytes>(&self, offset: usize, count: usize, vec: &mut Vec<T>) -> bool {
        let Some(size) = count.checked_mul(size_of::<T>()) else {
            return false;
        };
        let in_range = offset.checked_add(size).is_some_and(|end| end <= self.len);
        let Some(new_len) = vec.len().checked_add(count) else {
            return false;
        };
        if !in_range || new_len > isize::MAX as usize {
            return false;
        }
        vec.reserve(count);
        let spare = &mut vec.spare_capacity_mut()[..count];
        // SAFETY: `spare` is `count` elements of `vec`'s own capacity, `size` bytes in all;
        // viewing them as possibly uninitialised bytes asserts nothing about their contents.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<MaybeUninit<u8>>(), size)
        };
        let copied = self.copy_to_uninit(offset, bytes);
        debug_assert!(copied, "the range was checked above");
        // SAFETY: `copy_to_uninit` initialised the `count` elements after `len` (the range
        // check above makes it succeed), and every byte pattern is a valid `T`
        // (`T: FromBytes`).
        unsafe { vec.set_len(new_len) };
        true
    }

    /// The sub-range `offset..offset + len`, or `None` if it does not fit.
    #[inline]
    pub fn range(&self, offset: usize, len: usize) -> Option<SharedBytes<'a>> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        Some(SharedBytes {
            // SAFETY: `offset <= len`, so the pointer stays within (or one past) the range.
            ptr: unsafe { self.ptr.add(offset) },
            len,
            _mapping: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SharedBytes;

    #[test]
    fn copies_only_what_is_in_range() {
        let data: Vec<u8> = (0..32).collect();
        let bytes = SharedBytes::from_private(&data);
        assert_eq!(bytes.len(), 32);
        assert_eq!(bytes.array::<4>(28), Some([28, 29, 30, 31]));
        assert_eq!(bytes.array::<4>(29), None);
        assert_eq!(bytes.array::<1>(usize::MAX), None);
        let mut out = [0u8; 3];
        assert!(bytes.copy_to(5, &mut out));
        assert_eq!(out, [5, 6, 7]);
        assert!(bytes.copy_to(32, &mut []));
        assert!(!bytes.copy_to(33, &mut []));
        assert_eq!(bytes.to_vec(), data);
        let tail = bytes.range(30, 2).unwrap();
        assert_eq!(tail.to_vec(), [30, 31]);
        assert!(bytes.range(31, 2).is_none());
        assert!(SharedBytes::from_private(&[]).to_vec().is_empty());
    }

    #[test]
    fn reads_values_and_appends_into_spare_capacity() {
        let data: Vec<u8> = (0..32).collect();
        let bytes = SharedBytes::from_private(&data);
        assert_eq!(bytes.read::<u32>(1), Some(u32::from_le_bytes([1, 2, 3, 4])));
        assert_eq!(bytes.read::<u64>(25), None);
        assert_eq!(bytes.read::<()>(32), Some(()));
        let mut words: Vec<u16> = Vec::with_capacity(4);
        let buffer = words.as_ptr();
        assert!(bytes.append_to(2, 4, &mut words));
        assert_eq!(words, [0x0302, 0x0504, 0x0706, 0x0908]);
        assert_eq!(words.as_ptr(), buffer, "filled in place");
        assert!(bytes.append_to(30, 1, &mut words));
        assert_eq!(words.len(), 5);
        assert!(!bytes.append_to(31, 1, &mut words), "past the end");
        assert!(
            !bytes.append_to(0, usize::MAX, &mut words),
            "overflowing count"
        );
        assert_eq!(words.len(), 5, "unchanged on failure");
        let mut units: Vec<()> = Vec::new();
        assert!(bytes.append_to(32, 1 << 40, &mut units));
        assert_eq!(units.len(), 1 << 40);
    }
}
