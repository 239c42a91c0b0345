//! [`ReplayLog`]: the last input of every replayable transition, which a typed controller
//! (blocking or async) runs again, in declaration order, after it restarts its worker.

use super::input::EncodeInput;
use super::protocol::Transitions;

/// One transition to run again after a restart.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) kind: u32,
    pub(crate) id: u64,
    pub(crate) input: Vec<u8>,
}

/// The inputs a restarted worker needs to reach its predecessor's state.
#[derive(Debug, Default)]
pub(crate) struct ReplayLog {
    entries: Vec<Recorded>,
}

impl ReplayLog {
    /// Records `input` of a successful transition `kind` if `T` marks it `replay`. A later
    /// input of a kind supersedes the earlier one and those of later kinds (a new begin-run
    /// closes the previous run's blocks); earlier kinds stay, in order.
    pub(crate) fn record<T: Transitions, I: EncodeInput + ?Sized>(
        &mut self,
        kind: u32,
        id: u64,
        input: &I,
    ) {
        if !T::REPLAY.get(kind as usize).copied().unwrap_or(false) {
            return;
        }
        self.close_block(kind);
        let mut bytes = vec![0; input.input_len()];
        input.encode_input(&mut bytes);
        self.entries.push(Recorded {
            kind,
            id,
            input: bytes,
        });
    }

    /// Forgets the inputs of kind `kind` and later kinds: their block ended, so a restarted
    /// worker must not be put back into it.
    pub(crate) fn close_block(&mut self, kind: u32) {
        self.entries.retain(|recorded| recorded.kind < kind);
    }

    /// The inputs to run again, in order.
    pub(crate) fn entries(&self) -> &[Recorded] {
        &self.entries
    }
}
