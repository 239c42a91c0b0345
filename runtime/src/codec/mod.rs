//! Placeholder: the codec is being written in its own branch.
