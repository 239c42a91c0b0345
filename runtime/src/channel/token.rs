//! The channel token: what a worker needs to open its channel. It names the channel (its
//! label, `tandem:<base>:<id>`) and the numbers of the six descriptors the worker
//! inherited: `tandem:<base>:<id>:<ctl>,<c2w>,<w2c>,<pidfd>,<crash>,<bell>` (the pidfd refers
//! to the controller process, which the worker watches through it; the crash segment
//! receives a crashing worker's registers and stack; the doorbell is the eventfd it rings for
//! a controller parked in an event loop).

use std::os::fd::RawFd;

use crate::buffer::Direction;
use crate::sys::spawn::HANDED_FDS;

/// A parsed channel token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// `tandem:<base>:<id>`.
    pub(crate) label: String,
    /// Descriptor numbers: control block, controller → worker, worker → controller, the
    /// controller's pidfd, the crash segment, the doorbell.
    pub(crate) fds: [RawFd; HANDED_FDS],
}

impl Token {
    /// The token as it travels in the environment.
    pub(crate) fn render(&self) -> String {
        let [control, to_worker, from_worker, controller, crash, doorbell] = self.fds;
        format!(
            "{}:{control},{to_worker},{from_worker},{controller},{crash},{doorbell}",
            self.label
        )
    }

    /// Parses a token; `None` if it does not have the token's shape.
    pub(crate) fn parse(token: &str) -> Option<Token> {
        let (label, fds) = token.rsplit_once(':')?;
        if !label.starts_with("tandem:") {
            return None;
        }
        let mut numbers = fds
            .split(',')
            .map(|n| n.parse::<RawFd>().ok().filter(|&n| n >= 0));
        let fds = [
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
            numbers.next()??,
        ];
        if numbers.next().is_some() {
            return None;
        }
        Some(Token {
            label: label.to_owned(),
            fds,
        })
    }
}

/// The label of one of a channel's segments: `<channel label>:<part>`.
pub(crate) fn part_label(label: &str, part: &str) -> String {
    format!("{label}:{part}")
}

/// The label of `direction`'s buffer.
pub(crate) fn buffer_label(label: &str, direction: Direction) -> String {
    part_label(label, direction.suffix())
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn tokens_round_trip_and_refuse_other_shapes() {
        let token = Token {
            label: "tandem:gen-1:7".to_owned(),
            fds: [3, 4, 5, 6, 8, 9],
        };
        assert_eq!(token.render(), "tandem:gen-1:7:3,4,5,6,8,9");
        assert_eq!(Token::parse(&token.render()), Some(token));
        for bad in [
            "",
            "tandem:gen:7",
            "tandem:gen:7:3,4",
            "tandem:gen:7:3,4,5",
            "tandem:gen:7:3,4,5,6",
            "tandem:gen:7:3,4,5,6,7",
            "tandem:gen:7:3,4,5,6,7,9,10",
            "tandem:gen:7:3,-4,5,6,7,9",
            "other:gen:7:3,4,5,6,7",
            "/tandem-gen-1-7-0123456789abcdef",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
    }
}
