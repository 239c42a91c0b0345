//! Fallible exact allocation and UTF-8 conversion for the decoder: what std offers only
//! through a slower safe path (a `try_reserve_exact` on an empty `Vec` goes through the
//! general growth code, out of line; `String::from_utf8` calls the full validator for every
//! string, however short) written here once, with the `unsafe` it needs.

use std::alloc::Layout;
use std::collections::TryReserveError;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
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

/// A free slot of a `Vec`'s buffer, to be filled with one value by [`Slot::write`], which
/// is the only way to the [`Filled`] proof that [`extend_in_place`] asks for. `'id` brands
/// the slot: it is a lifetime fresh for each slot (the function filling it must accept any),
/// and invariant, so the proof of one slot cannot stand for another.
#[doc(hidden)]
#[derive(Debug)]
pub struct Slot<'a, 'id, T> {
    slot: &'a mut MaybeUninit<T>,
    brand: PhantomData<fn(&'id ()) -> &'id ()>,
}

/// The proof that the [`Slot`] branded `'id` holds a value.
#[doc(hidden)]
#[derive(Debug)]
pub struct Filled<'id> {
    brand: PhantomData<fn(&'id ()) -> &'id ()>,
}

impl<'id, T> Slot<'_, 'id, T> {
    /// Moves `value` into the slot.
    #[inline(always)]
    pub fn write(self, value: T) -> Filled<'id> {
        self.slot.write(value);
        Filled { brand: PhantomData }
    }
}

/// Appends `count` elements to `vec`, each written by `write` straight into the next free
/// slot of `vec`'s buffer instead of being returned and moved there: a large element
/// returned through memory and then copied stalls on store forwarding when the copy's
/// loads are wider than the stores that wrote it, and the copy is work besides.
///
/// `write` proves that it filled the slot by returning the [`Filled`] of that slot's brand,
/// which only [`Slot::write`] makes. Stops at the first error; the elements written before
/// it stay in `vec`. Callers reserve room for `count` first, fallibly; should `vec` run out,
/// it grows infallibly.
///
/// # Errors
///
/// The first error `write` returns.
#[inline]
pub(crate) fn extend_in_place<T, E>(
    vec: &mut Vec<T>,
    count: usize,
    mut write: impl for<'a, 'id> FnMut(Slot<'a, 'id, T>) -> Result<Filled<'id>, E>,
) -> Result<(), E> {
    for _ in 0..count {
        if vec.len() == vec.capacity() {
            vec.reserve(count);
        }
        let slot = Slot {
            slot: &mut vec.spare_capacity_mut()[0],
            brand: PhantomData,
        };
        // The only `Filled` of this brand is the one `Slot::write` gives for `slot`.
        let _filled: Filled<'_> = write(slot)?;
        // SAFETY: `write` returned the proof that the first free slot holds a value (see
        // above), so counting it makes the next slot the first free one.
        unsafe { vec.set_len(vec.len() + 1) };
    }
    Ok(())
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
    fn extends_in_place() {
        let mut vec: Vec<String> = Vec::with_capacity(3);
        let mut next = 0;
        let result: Result<(), &str> = extend_in_place(&mut vec, 3, |slot| {
            next += 1;
            Ok(slot.write(next.to_string()))
        });
        assert_eq!(result, Ok(()));
        assert_eq!(vec, ["1", "2", "3"]);
        let mut calls = 0;
        let failed = extend_in_place(&mut vec, 3, |slot| {
            calls += 1;
            if calls == 2 {
                return Err("failed");
            }
            Ok(slot.write(String::from("more")))
        });
        assert_eq!((failed, vec.len()), (Err("failed"), 4));
        let mut units: Vec<()> = Vec::new();
        assert_eq!(
            extend_in_place(&mut units, 3, |slot| Ok::<_, ()>(slot.write(()))),
            Ok(())
        );
        assert_eq!(units.len(), 3);
        // Grows when the caller reserved too little.
        let mut grown: Vec<u64> = Vec::new();
        assert_eq!(
            extend_in_place(&mut grown, 5, |slot| Ok::<_, ()>(slot.write(7))),
            Ok(())
        );
        assert_eq!(grown, [7; 5]);
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
