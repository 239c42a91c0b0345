//! What `#[derive(Transitions)]` implements ([`Transitions`], [`ItemTransition`]) and what
//! a worker method sees and returns ([`Context`], [`Response`], [`WorkerError`]).

use crate::codec::Payload;

/// What a worker method returns on failure: any error, sent to the controller as text
/// ([`ChannelError::WorkerFailed`](crate::ChannelError::WorkerFailed)). `"message".into()` and `?` on most errors both work.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A set of transitions, implemented by `#[derive(Transitions)]` on a fieldless enum.
///
/// # Examples
/// ```
/// use tandem::Transitions;
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u64, replay)]
///     BeginRun,
///     #[transition(output = Vec<f64>)]
///     Event,
/// }
///
/// assert_eq!(Generator::NAMES, ["begin_run", "event"]);
/// assert_eq!(Generator::REPLAY, [true, false]);
/// assert_eq!(Generator::Event.kind(), 1);
/// ```
pub trait Transitions: 'static {
    /// The setup payload delivered to the worker during the handshake.
    type Setup: Payload;
    /// Transition names (snake case) indexed by kind.
    const NAMES: &'static [&'static str];
    /// Whether each kind re-establishes worker state and is replayed after a restart
    /// (`#[transition(replay)]`): a [`Pool`](crate::Pool) sends these to every worker before
    /// its next item.
    const REPLAY: &'static [bool];
    /// Whether each kind ends a block (`#[transition(end)]`): a [`Pool`](crate::Pool) sends
    /// it to every worker that took part in the block, after the block's last item.
    const END: &'static [bool] = &[];
    /// Fingerprint of the transitions and of every payload type they use.
    const FINGERPRINT: u64;
    /// Prefix of the channel's segment names.
    const BASE_NAME: &'static str;
    /// The kind sent over the channel.
    fn kind(&self) -> u32;
}

/// The `#[transition(item)]` of a protocol: what a [`Pool`](crate::Pool) distributes, one
/// call per item, with its payload types. `#[derive(Transitions)]` implements it when a
/// transition is marked `item`, and generates the typed `<Enum>Pool` over it.
///
/// # Examples
/// ```
/// use tandem::{Transitions, pool::ItemTransition};
///
/// #[derive(Transitions)]
/// enum Generator {
///     #[transition(input = u32, replay)]
///     BeginLumi,
///     #[transition(input = u64, output = Vec<f64>, item)]
///     Event,
/// }
///
/// /// Numbers the inputs of items for a pool of `T`, whose item input type it knows.
/// fn numbered<T: ItemTransition>(inputs: Vec<T::Input>) -> Vec<(u64, T::Input)> {
///     (1..).zip(inputs).collect()
/// }
///
/// assert_eq!(Generator::KIND, 1);
/// let items: Vec<(u64, u64)> = numbered::<Generator>(vec![17, 42]);
/// assert_eq!(items, [(1, 17), (2, 42)]);
/// ```
pub trait ItemTransition: Transitions {
    /// The input of one item.
    type Input: Payload;
    /// The output of one item, decoded by the worker's thread and handed to the caller's.
    type Output: Payload + Send + 'static;
    /// The item transition's kind.
    const KIND: u32;
}

/// What a worker method sees besides its input: the transition's id and name, and the keep
/// flag it returns with its output.
///
/// # Examples
/// ```
/// use tandem::{Context, Transitions, WorkerError};
///
/// #[derive(Transitions)]
/// enum Skim {
///     #[transition(input = Vec<f64>, output = f64)]
///     Event,
/// }
///
/// struct MuonSkim;
///
/// impl SkimWorker for MuonSkim {
///     fn event(&mut self, context: &mut Context, pts: Vec<f64>) -> Result<f64, WorkerError> {
///         if pts.iter().any(|pt| pt.is_nan()) {
///             // Sent to the controller as `ChannelError::WorkerFailed`; the worker serves on.
///             return Err(format!("event {}: a muon pt is NaN", context.id()).into());
///         }
///         let leading = pts.iter().copied().fold(0.0, f64::max);
///         // Keep the event only with a muon above 24 GeV; the controller reads `Response::keep`.
///         context.set_keep(leading > 24.0);
///         Ok(leading)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Context {
    // Filled and read by the serving side (`worker.rs`).
    pub(super) id: u64,
    pub(super) name: &'static str,
    pub(super) attempt: u32,
    pub(super) keep: bool,
}

impl Context {
    /// The transition id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Which attempt at the same work this is: 1 for the first, 2 and more when the
    /// controller retries it after the previous worker was lost (a [`Pool`](crate::Pool)
    /// does). A generator that must behave the same on every attempt ignores it; a test
    /// that injects a failure on the first attempt only reads it.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The transition's name.
    pub fn transition(&self) -> &'static str {
        self.name
    }

    /// Sets the keep flag returned with the output (false unless set).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }
}

/// A transition's output with the keep flag the worker set.
///
/// # Examples
/// ```
/// use tandem::Response;
///
/// /// The outputs of the events their worker decided to keep.
/// fn kept<O>(responses: Vec<Response<O>>) -> Vec<O> {
///     responses.into_iter().filter(|r| r.keep).map(|r| r.output).collect()
/// }
///
/// let responses = vec![
///     Response { output: 101_u64, keep: true },
///     Response { output: 102, keep: false },
/// ];
/// assert_eq!(kept(responses), [101]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response<O> {
    /// The decoded output.
    pub output: O,
    /// The worker's keep flag for this transition.
    pub keep: bool,
}
