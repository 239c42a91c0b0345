//! Copies of OS errors: `io::Error` is not `Clone`, and a channel broken by a failure keeps a
//! copy of the error it returned (see `ChannelError::duplicate`).

use std::io;

/// A copy of an OS error: the same code, or the same kind and message.
pub(crate) fn duplicate(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    #[test]
    fn a_copy_keeps_the_code_or_the_kind_and_message() {
        let copy = super::duplicate(&io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(copy.raw_os_error(), Some(libc::ENOSPC));
        let copy = super::duplicate(&io::Error::new(io::ErrorKind::InvalidData, "bad length"));
        assert_eq!(copy.kind(), io::ErrorKind::InvalidData);
        assert_eq!(copy.to_string(), "bad length");
    }
}
