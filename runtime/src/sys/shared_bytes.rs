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
use std::mem::MaybeUninit;
use std::ptr::NonNull;

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
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst`; `false` (nothing copied) if
    /// the range does not hold them.
    pub fn copy_to(&self, offset: usize, dst: &mut [u8]) -> bool {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and every byte
        // written through the cast is an initialised `u8`.
        let uninit = unsafe { &mut *(dst as *mut [u8] as *mut [MaybeUninit<u8>]) };
        self.copy_to_uninit(offset, uninit)
    }

    /// Copies `dst.len()` bytes starting at `offset` into possibly uninitialised memory (a
    /// `Vec`'s spare capacity); `false` (nothing copied) if the range does not hold them.
    /// On `true`, every byte of `dst` is initialised.
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
    pub fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut bytes = [0u8; N];
        self.copy_to(offset, &mut bytes).then_some(bytes)
    }

    /// A copy of the whole range.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len);
        let copied = self.copy_to_uninit(0, &mut bytes.spare_capacity_mut()[..self.len]);
        debug_assert!(copied, "the whole range is in range");
        // SAFETY: `copy_to_uninit` initialised the first `len` bytes of the spare capacity.
        unsafe { bytes.set_len(self.len) };
        bytes
    }

    /// The sub-range `offset..offset + len`, or `None` if it does not fit.
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
}
