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
//! memory the caller owns, and the compiler is kept from forwarding later reads of the copy
//! back to the shared source. How depends on the size, because the decoder reads millions of
//! small scalars and its speed is decided there:
//! - up to [`SMALL_COPY`] bytes (a length prefix, a tag, a scalar, a short string) travel
//!   through registers, a word at a time, each word passed through an empty `asm!` block that
//!   the compiler must assume changes it ([`opaque`]): the value kept is not, as far as the
//!   compiler knows, the source's, so it cannot re-read the source for it. The block touches
//!   no memory, so the caller's other state (the decoder's position and budgets) stays in
//!   registers across it;
//! - longer ranges are one `memcpy`, after which the destination is passed to `black_box`,
//!   which the compiler must assume rewrote it: one barrier per bulk copy.

use std::marker::PhantomData;
use std::mem::{size_of, MaybeUninit};
use std::ptr::NonNull;
use zerocopy::FromBytes;

/// Copies of at most this many bytes go through registers ([`copy_small`]); longer ones are
/// one `memcpy`. 64 covers scalars, plain-old-data structs of a few fields and short strings,
/// where a call to `memcpy` and a barrier on all memory cost more than the copy.
pub(crate) const SMALL_COPY: usize = 64;

/// `value`, hidden from the optimiser: an empty `asm!` block takes it and gives it back, and
/// the compiler must assume the block changed it. A value read from shared memory and passed
/// through here cannot be replaced by a second read of the source (the compiler does not know
/// they are equal), and the block cannot be repeated (it may have side effects). It reads and
/// writes no memory, so unlike `black_box` on a pointer it does not make the compiler reload
/// every other value from memory.
#[inline(always)]
fn opaque(value: u64) -> u64 {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let mut value = value;
        // SAFETY: the template is a comment: the block executes no instruction, touches only
        // the register holding `value` (`nomem`, `nostack`) and leaves the flags alone.
        unsafe {
            core::arch::asm!("/* {0} */", inout(reg) value, options(nomem, nostack, preserves_flags));
        }
        value
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::hint::black_box(value)
    }
}

/// Reads `len` (at most 8) bytes at `src` once, little-endian, into the low bytes of a `u64`
/// (the others zero): one load of 4, 2 and 1 bytes each as `len` needs, so that no byte is
/// read twice and no wider load of narrower stores stalls.
///
/// # Safety
/// `src..src + len` must be readable, and `len <= 8`.
#[inline(always)]
unsafe fn read_partial(src: *const u8, len: usize) -> u64 {
    debug_assert!(len <= 8);
    if len == 8 {
        // SAFETY: 8 readable bytes at `src` (the caller's contract); unaligned read.
        return opaque(u64::from_le(unsafe { src.cast::<u64>().read_unaligned() }));
    }
    let mut value = 0u64;
    let mut done = 0;
    if len & 4 != 0 {
        // SAFETY: `done + 4 <= len` bytes at `src` are readable.
        let word = unsafe { src.cast::<u32>().read_unaligned() };
        value |= u64::from(u32::from_le(word));
        done = 4;
    }
    if len & 2 != 0 {
        // SAFETY: `done + 2 <= len`.
        let half = unsafe { src.add(done).cast::<u16>().read_unaligned() };
        value |= u64::from(u16::from_le(half)) << (done * 8);
        done += 2;
    }
    if len & 1 != 0 {
        // SAFETY: `done + 1 <= len`.
        let byte = unsafe { src.add(done).read() };
        value |= u64::from(byte) << (done * 8);
    }
    opaque(value)
}

/// Copies `len` bytes (at most [`SMALL_COPY`]) from `src` to `dst` through registers, a word
/// at a time, each source byte read once and each word made [`opaque`]; for a constant `len`
/// the loop unrolls into a few loads and stores. Returns the bitwise or of the words copied
/// (the bytes past `len` zero), whose high bits say whether the bytes were ASCII: a string
/// is checked as it is copied, in the registers that carry it.
///
/// # Safety
/// `src..src + len` must be readable, `dst..dst + len` writable, and the two must not overlap.
#[inline(always)]
unsafe fn copy_small(src: *const u8, dst: *mut u8, len: usize) -> u64 {
    let mut any = 0;
    let mut done = 0;
    while len - done >= 8 {
        // SAFETY: `done + 8 <= len`, so both 8-byte ranges are in bounds (the caller's
        // contract); unaligned reads and writes.
        unsafe {
            let word = opaque(src.add(done).cast::<u64>().read_unaligned());
            dst.add(done).cast::<u64>().write_unaligned(word);
            any |= word;
        }
        done += 8;
    }
    let tail = len - done;
    if tail != 0 {
        // SAFETY: `tail < 8` bytes left at `src + done`, writable at `dst + done`.
        unsafe {
            let value = read_partial(src.add(done), tail);
            write_partial(dst.add(done), tail, value);
            any |= value;
        }
    }
    any
}

/// The high bit of every byte of a word: a word `w` of bytes is ASCII when `w & HIGH_BITS`
/// is zero.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Writes the low `len` (less than 8) bytes of `value` at `dst`, little-endian, with the
/// stores [`read_partial`] mirrors (no call to `memcpy` for a variable length).
///
/// # Safety
/// `dst..dst + len` must be writable, and `len < 8`.
#[inline(always)]
unsafe fn write_partial(dst: *mut u8, len: usize, value: u64) {
    let mut done = 0;
    if len & 4 != 0 {
        // SAFETY: `done + 4 <= len` bytes at `dst` are writable.
        unsafe { dst.cast::<u32>().write_unaligned((value as u32).to_le()) };
        done = 4;
    }
    if len & 2 != 0 {
        let half = (value >> (done * 8)) as u16;
        // SAFETY: `done + 2 <= len`.
        unsafe { dst.add(done).cast::<u16>().write_unaligned(half.to_le()) };
        done += 2;
    }
    if len & 1 != 0 {
        // SAFETY: `done + 1 <= len`.
        unsafe { dst.add(done).write((value >> (done * 8)) as u8) };
    }
}

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
        if dst.len() <= SMALL_COPY {
            // SAFETY: `offset + dst.len() <= len` (checked above), so the source range lies
            // in the mapping the invariant guarantees; `dst` is memory of ours that cannot
            // overlap a range we only read. Each source byte is read once, into a register
            // the compiler cannot trace back to the source.
            unsafe {
                copy_small(
                    self.ptr.as_ptr().add(offset),
                    dst.as_mut_ptr().cast::<u8>(),
                    dst.len(),
                );
            }
            return true;
        }
        // SAFETY: as above; one `memcpy`, each source byte read once.
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

    /// Reads the `len` bytes at `offset` once, `len` at most 8, as the low bytes of a
    /// little-endian `u64` (the others zero), or `None` if the range does not hold them (or
    /// `len > 8`). Reads exactly those bytes, without copying them through memory: for
    /// padding, which must be checked zero, and short fields.
    #[inline]
    pub fn read_le_bytes(&self, offset: usize, len: usize) -> Option<u64> {
        let in_range = len <= 8 && offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range {
            return None;
        }
        // SAFETY: `offset + len <= self.len` and `len <= 8` (checked above): the bytes lie in
        // the mapping the invariant guarantees.
        Some(unsafe { read_partial(self.ptr.as_ptr().add(offset), len) })
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
        if vec.capacity() - vec.len() < count {
            reserve_more(vec, count);
        }
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

    /// [`SharedBytes::append_to`] into a new `Vec` of exactly `count` values, allocated
    /// fallibly: `None` if the range does not hold them, `Some(Err)` if the allocator
    /// refuses. Checks the range before it allocates.
    #[inline]
    pub(crate) fn read_vec<T: FromBytes>(
        &self,
        offset: usize,
        count: usize,
    ) -> Option<Result<Vec<T>, std::collections::TryReserveError>> {
        let size = count.checked_mul(size_of::<T>())?;
        let in_range = offset.checked_add(size).is_some_and(|end| end <= self.len);
        if !in_range {
            return None;
        }
        let mut vec = match super::alloc::try_with_capacity::<T>(count) {
            Ok(vec) => vec,
            Err(error) => return Some(Err(error)),
        };
        let spare = &mut vec.spare_capacity_mut()[..count];
        // SAFETY: `spare` is `count` elements of `vec`'s own capacity, `size` bytes in all;
        // viewing them as possibly uninitialised bytes asserts nothing about their contents.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<MaybeUninit<u8>>(), size)
        };
        let copied = self.copy_to_uninit(offset, bytes);
        debug_assert!(copied, "the range was checked above");
        // SAFETY: `copy_to_uninit` initialised the `count` elements (the range check above
        // makes it succeed), and every byte pattern is a valid `T` (`T: FromBytes`).
        unsafe { vec.set_len(count) };
        Some(Ok(vec))
    }

    /// A new `String` of the `len` bytes at `offset`: copied once into an allocation of
    /// exactly `len` bytes, then validated as UTF-8 there (the bytes checked are the bytes
    /// kept). A short string is checked for ASCII in the registers that copy it; only other
    /// text goes through the full validator. `None` if the range does not hold `len` bytes
    /// (checked before anything is allocated).
    #[inline(always)]
    pub(crate) fn read_string(&self, offset: usize, len: usize) -> Option<ReadString> {
        let in_range = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range {
            return None;
        }
        let mut bytes = match super::alloc::try_with_capacity::<u8>(len) {
            Ok(bytes) => bytes,
            Err(error) => return Some(ReadString::OutOfMemory(error)),
        };
        let spare = &mut bytes.spare_capacity_mut()[..len];
        let ascii = if len <= SMALL_COPY {
            // SAFETY: `offset + len <= self.len` (checked above), so the source range lies in
            // the mapping the invariant guarantees; `spare` is `len` bytes of our own
            // allocation, which cannot overlap a range we only read.
            let any = unsafe {
                copy_small(
                    self.ptr.as_ptr().add(offset),
                    spare.as_mut_ptr().cast(),
                    len,
                )
            };
            any & HIGH_BITS == 0
        } else {
            let copied = self.copy_to_uninit(offset, spare);
            debug_assert!(copied, "the range was checked above");
            false
        };
        // SAFETY: both branches initialised the `len` bytes after the (empty) start.
        unsafe { bytes.set_len(len) };
        if ascii {
            // SAFETY: ASCII bytes are valid UTF-8.
            return Some(ReadString::Text(unsafe {
                String::from_utf8_unchecked(bytes)
            }));
        }
        Some(match super::alloc::string_from_utf8(bytes) {
            Ok(text) => ReadString::Text(text),
            Err(error) => ReadString::NotUtf8(error),
        })
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

/// What [`SharedBytes::read_string`] read.
#[derive(Debug)]
pub(crate) enum ReadString {
    /// Valid UTF-8, in its own allocation.
    Text(String),
    /// The bytes copied are not UTF-8.
    NotUtf8(std::string::FromUtf8Error),
    /// The allocator refused the room for them.
    OutOfMemory(std::collections::TryReserveError),
}

/// Grows `vec` by `count` (out of line: the callers reserve first).
#[cold]
#[inline(never)]
fn reserve_more<T>(vec: &mut Vec<T>, count: usize) {
    vec.reserve(count);
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
    fn copies_every_length_through_registers_or_memcpy() {
        let data: Vec<u8> = (1..=200).collect();
        let bytes = SharedBytes::from_private(&data);
        for len in 0..=super::SMALL_COPY + 9 {
            for offset in [0, 1, 3, 7] {
                let mut out = vec![0u8; len];
                assert!(bytes.copy_to(offset, &mut out));
                assert_eq!(out, data[offset..offset + len], "{len} bytes at {offset}");
            }
        }
    }

    #[test]
    fn reads_up_to_eight_bytes_as_a_little_endian_word() {
        let data: Vec<u8> = (1..=16).collect();
        let bytes = SharedBytes::from_private(&data);
        for len in 0..=8 {
            let expected = data[3..3 + len]
                .iter()
                .rev()
                .fold(0u64, |word, &byte| word << 8 | u64::from(byte));
            assert_eq!(bytes.read_le_bytes(3, len), Some(expected), "{len} bytes");
        }
        assert_eq!(bytes.read_le_bytes(0, 9), None, "more than a word");
        assert_eq!(bytes.read_le_bytes(13, 4), None, "past the end");
        assert_eq!(bytes.read_le_bytes(16, 0), Some(0));
        assert_eq!(bytes.read_le_bytes(usize::MAX, 1), None);
    }

    #[test]
    fn reads_strings_checking_ascii_as_it_copies() {
        use super::ReadString;
        let text = |bytes: &[u8], len| match SharedBytes::from_private(bytes).read_string(0, len) {
            Some(ReadString::Text(text)) => Ok(text),
            Some(ReadString::NotUtf8(error)) => Err(error.utf8_error().valid_up_to()),
            other => panic!("{other:?}"),
        };
        let long = "x".repeat(super::SMALL_COPY + 3);
        let long_greek = format!("{long}αβγ");
        for sample in [
            "",
            "track7",
            "sixteen bytes!!!",
            "πλ",
            "a≈b",
            &long,
            &long_greek,
        ] {
            assert_eq!(text(sample.as_bytes(), sample.len()), Ok(sample.to_owned()));
        }
        assert_eq!(text(b"ab\xffcd", 5), Err(2), "short and not UTF-8");
        let mut bad = long.clone().into_bytes();
        bad.push(0xc0);
        assert_eq!(text(&bad, bad.len()), Err(long.len()), "long and not UTF-8");
        assert_eq!(text("é".as_bytes(), 1), Err(0), "cut inside a character");
        assert!(SharedBytes::from_private(b"abc")
            .read_string(1, 3)
            .is_none());
        assert!(SharedBytes::from_private(b"abc")
            .read_string(usize::MAX, 2)
            .is_none());
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
