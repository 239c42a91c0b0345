//! Fallible exact allocation and UTF-8 conversion for the decoder: what std offers only
//! through a slower safe path (a `try_reserve_exact` on an empty `Vec` goes through the
//! general growth code, out of line; `String::from_utf8` calls the full validator for every
//! string, however short) written here once, with the `unsafe` it needs.

use std::alloc::Layout;
use std::collections::TryReserveError;
use std::string::FromUtf8Error;

/// An empty `Vec` with room for exactly `capacity` elements, allocated fallibly: the
/// allocator's refusal is an error, never an abort. Equivalent to `Vec::new()` followed by
/// `try_reserve_exact(capacity)`, with one call to the allocator and nothing else.
///
/// # Errors
///
/// The [`TryReserveError`] std reports for this reservation: the size overflows `isize`, or
/// the allocator refuses.
#[inline]
pub(crate) fn try_with_capacity<T>(capacity: usize) -> Result<Vec<T>, TryReserveError> {
    let layout = match Layout::array::<T>(capacity) {
        Ok(layout) if layout.size() != 0 => layout,
        // Nothing to allocate (zero-sized elements or no room asked), or a size std refuses:
        // std's own path says which.
        _ => return reserve_exact_the_std_way(capacity),
    };
    // SAFETY: `layout` has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc(layout) };
    if ptr.is_null() {
        // Ask std for the same room: it is refused again, and std builds the error (which
        // has no public constructor); should it succeed this time, the room is as good.
        return reserve_exact_the_std_way(capacity);
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of an array of
    // `capacity` elements of `T` (so aligned for `T`, of `capacity × size_of::<T>()` bytes),
    // and no element is claimed initialised (length 0).
    Ok(unsafe { Vec::from_raw_parts(ptr.cast::<T>(), 0, capacity) })
}

#[cold]
fn reserve_exact_the_std_way<T>(capacity: usize) -> Result<Vec<T>, TryReserveError> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(capacity)?;
    Ok(vec)
}

/// `String::from_utf8`, with the common case of ASCII text checked inline (a word at a time)
/// instead of by a call to the full validator, which costs more than the check for the
/// short strings of a typical message.
///
/// # Errors
///
/// As `String::from_utf8`: the bytes are not UTF-8.
#[inline]
pub(crate) fn string_from_utf8(bytes: Vec<u8>) -> Result<String, FromUtf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(unsafe { String::from_utf8_unchecked(bytes) });
    }
    String::from_utf8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_exactly_and_refuses_impossible_sizes() {
        let vec = try_with_capacity::<u64>(10).unwrap();
        assert_eq!((vec.len(), vec.capacity()), (0, 10));
        assert_eq!(try_with_capacity::<u8>(0).unwrap().capacity(), 0);
        assert_eq!(try_with_capacity::<()>(usize::MAX).unwrap().len(), 0);
        assert!(try_with_capacity::<u64>(usize::MAX / 4).is_err());
        assert!(try_with_capacity::<u8>(isize::MAX as usize + 1).is_err());
    }

    #[test]
    fn converts_ascii_and_other_utf8_and_refuses_the_rest() {
        assert_eq!(string_from_utf8(b"track7".to_vec()).unwrap(), "track7");
        assert_eq!(string_from_utf8("π ≈ 3".into()).unwrap(), "π ≈ 3");
        let error = string_from_utf8(vec![b'a', 0xff, b'b']).unwrap_err();
        assert_eq!(error.utf8_error().valid_up_to(), 1);
        assert_eq!(error.into_bytes(), [b'a', 0xff, b'b']);
    }
}
