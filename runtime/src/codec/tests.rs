//! Edge cases of the standard impls.
