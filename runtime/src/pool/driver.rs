//! The [`Drive`] of a pool's real workers: a process behind a [`TypedController`], started
//! in a process group of its own, killed only through its pidfd.

use std::process::Command;
use std::sync::Arc;

use super::messages::Begin;
use super::options::PoolOptions;
use super::worker::{Drive, Start};
use crate::channel::ChannelError;
use crate::codec::decode_shared;
use crate::sys::process::PidFd;
use crate::typed::{ItemTransition, Response, TypedController};

/// One worker process of the protocol `T`.
pub(crate) struct ProcessDriver<T: ItemTransition> {
    controller: TypedController<T>,
}

impl<T: ItemTransition> ProcessDriver<T> {
    /// Starts workers from `command` with the encoded `setup` payload, as `options` say.
    pub(crate) fn starter(
        command: Arc<dyn Fn() -> Command + Send + Sync>,
        setup: Vec<u8>,
        options: &PoolOptions,
    ) -> Start<Self> {
        // Workers in a group of their own: a terminal's Ctrl-C reaches the controller only.
        let process = options.process.clone().own_process_group(true);
        let timeout_policy = options.timeout_policy;
        let setup_retry = options.setup_retry.clone();
        Arc::new(move |worker| {
            let mut controller = TypedController::<T>::spawn_encoded(
                command(),
                worker as u32,
                process.clone(),
                setup.clone(),
                setup_retry.clone(),
            )?;
            controller.set_timeout_policy(timeout_policy);
            Ok(ProcessDriver { controller })
        })
    }
}

impl<T: ItemTransition> Drive for ProcessDriver<T> {
    type Output = T::Output;

    fn call_item(
        &mut self,
        kind: u32,
        id: u64,
        input: &[u8],
        attempt: u32,
    ) -> Result<Response<T::Output>, ChannelError> {
        self.controller.set_attempt(attempt);
        self.controller
            .call_encoded(kind, id, input, decode_shared::<T::Output>)
    }

    fn call_begin(&mut self, begin: &Begin, attempt: u32) -> Result<(), ChannelError> {
        self.controller.set_attempt(attempt);
        // Whatever a begin returns is not the pool's business.
        self.controller
            .call_encoded(begin.kind, begin.id, &begin.input, |_| Ok(()))
            .map(|_| ())
    }

    fn call_end(&mut self, kind: u32, id: u64, input: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.controller
            .call_encoded(kind, id, input, |bytes| Ok(bytes.to_vec()))
            .map(|response| response.output)
    }

    fn close_block(&mut self, kind: u32) {
        self.controller.close_block(kind);
    }

    fn restart(&mut self) -> Result<(), ChannelError> {
        self.controller.restart()
    }

    fn recycle(&mut self) -> Result<(), ChannelError> {
        self.controller.recycle()
    }

    fn pid(&self) -> Option<u32> {
        self.controller.pid()
    }

    fn process(&self) -> Option<Arc<PidFd>> {
        self.controller.process()
    }

    fn resident_bytes(&self) -> Option<u64> {
        self.controller.process()?.resident_bytes()
    }
}
