//! The peers: this binary re-executed with `--peer ROLE`, one per measured pair, and the
//! controller-side handles that drive them ([`Link`]). Every mechanism echoes: the peer sends
//! back what it received, so one round is one round trip and both directions copy.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tandem::{Context, Controller, Options, TrustedSlice, WorkerChannel, WorkerError};

use crate::busy::{self, Waits};
use crate::reuse;
use crate::sys::{self, SharedMap};

/// Raw kinds: echo the input; sum the input's words and reply with the 8-byte sum; work for
/// the input's 8 bytes of nanoseconds, then echo them (the work ladder); reply with a
/// [`busy::Report`] of the worker's CPU time and wait statistics.
pub const ECHO: u32 = 0;
pub const SUM: u32 = 1;
pub const WORK: u32 = 2;
pub const REPORT: u32 = 3;

/// The message that asks the work ladder's floor peer for its CPU time instead of work.
pub const FLOOR_REPORT: u64 = u64::MAX;

/// The typed protocol of the comparison.
#[derive(tandem::Transitions)]
pub enum Bench {
    /// The 8-byte round trip.
    #[transition(input = u64, output = u64)]
    Ping,
    /// Echo of bytes, decoded into an owned vector on each side; the worker keeps its input
    /// and output between calls (`reuse`), as the controller does with `call_into`.
    #[transition(input = Vec<u8>, output = Vec<u8>, reuse)]
    EchoBytes,
    /// Echo of plain-data words, decoded into an owned vector on each side, kept likewise.
    #[transition(input = Vec<u64>, output = Vec<u64>, reuse)]
    EchoWords,
    /// The worker reads the words in place and replies with their sum.
    #[transition(input = Vec<u64>, output = u64, borrow)]
    SumBorrowed,
}

struct TypedWorker;

impl BenchWorker for TypedWorker {
    fn ping(&mut self, _: &mut Context, input: u64) -> Result<u64, WorkerError> {
        Ok(input)
    }

    // The echo hands this call's input over as the output and keeps the previous output's
    // storage for the next input: no allocation, no copy besides decode and encode.
    fn echo_bytes(
        &mut self,
        _: &mut Context,
        input: &mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> Result<(), WorkerError> {
        std::mem::swap(input, output);
        Ok(())
    }

    fn echo_words(
        &mut self,
        _: &mut Context,
        input: &mut Vec<u64>,
        output: &mut Vec<u64>,
    ) -> Result<(), WorkerError> {
        std::mem::swap(input, output);
        Ok(())
    }

    fn sum_borrowed(
        &mut self,
        _: &mut Context,
        input: TrustedSlice<'_, u64>,
    ) -> Result<u64, WorkerError> {
        Ok(sum_words(&input))
    }
}

/// The pool of the work section: one item transition, the worker busy for the input's
/// nanoseconds.
#[derive(tandem::Transitions)]
pub enum PoolWork {
    /// Works for `input` nanoseconds, replies with it.
    #[transition(input = u64, output = u64, item)]
    Item,
}

struct PoolWorker;

impl PoolWorkWorker for PoolWorker {
    fn item(&mut self, _: &mut Context, input: u64) -> Result<u64, WorkerError> {
        busy::busy(input);
        Ok(input)
    }
}

/// The work of a one-way transfer's receiver: it reads every word once.
pub fn sum_words(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |sum, word| sum.wrapping_add(*word))
}

/// Where a peer (and the controller while it drives it) may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler puts them.
    Unpinned,
    /// The controller on CPU 0, the peer on CPU 1.
    Apart,
    /// Both on CPU 0.
    Together,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Placement::Unpinned, Placement::Apart, Placement::Together];

    pub fn label(self) -> &'static str {
        match self {
            Placement::Unpinned => "unpinned",
            Placement::Apart => "pinned apart",
            Placement::Together => "pinned together",
        }
    }

    /// The peer's CPU, if pinned.
    fn peer_cpu(self) -> Option<usize> {
        match self {
            Placement::Unpinned => None,
            Placement::Apart => Some(1),
            Placement::Together => Some(0),
        }
    }

    /// Pins (or unpins) the calling thread as the controller's side of this placement.
    pub fn apply_to_controller(self, all: &libc::cpu_set_t) {
        let result = match self {
            Placement::Unpinned => sys::set_affinity(all),
            Placement::Apart | Placement::Together => sys::pin_to(0),
        };
        result.expect("set the controller's CPU affinity");
    }
}

/// The mechanisms a [`Link`] can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Untyped controller, default options.
    TandemDefault,
    /// Untyped controller, `Options::spin(Duration::ZERO)`.
    TandemFutex,
    /// Untyped controller with a 50 µs spin forced on both sides.
    TandemSpin50,
    /// `#[derive(Transitions)]`: `Ping`, a `u64` each way.
    TypedPing,
    /// `#[derive(Transitions)]`: `EchoBytes` (`Vec<u8>`).
    TypedBytes,
    /// `#[derive(Transitions)]`: `EchoWords` (plain-data `Vec<u64>`).
    TypedWords,
    /// One way: untyped write, the worker sums the words in place, replies 8 bytes.
    RawOneWay,
    /// One way: `SumBorrowed`, sent from a slice, read in place by the worker.
    TypedBorrowedOneWay,
    /// Two processes spinning on a shared word; the payload copied in and out of a mapping.
    SpinFloor,
    /// The spin floor whose peer works for the message's nanoseconds (the work ladder).
    WorkFloor,
    /// Futex wait/wake between two processes; the payload as for the spin floor.
    FutexFloor,
    /// A Unix stream socket pair.
    Socket,
    /// A pipe each way.
    Pipe,
}

impl Mechanism {
    pub fn label(self) -> &'static str {
        match self {
            Mechanism::TandemDefault => "tandem, default options",
            Mechanism::TandemFutex => "tandem, futex only (spin 0)",
            Mechanism::TandemSpin50 => "tandem, 50 µs spin forced",
            Mechanism::TypedPing => "tandem typed",
            Mechanism::TypedBytes => "tandem typed owned, `Vec<u8>`",
            Mechanism::TypedWords => "tandem typed owned, `Vec<u64>`",
            Mechanism::RawOneWay => "one way: tandem raw, read in place",
            Mechanism::TypedBorrowedOneWay => "one way: tandem typed borrowed",
            Mechanism::SpinFloor => "floor: spinning on a shared word",
            Mechanism::WorkFloor => "floor: spinning on a shared word, the peer working",
            Mechanism::FutexFloor => "floor: futex wait/wake",
            Mechanism::Socket => "Unix socket pair",
            Mechanism::Pipe => "pipe pair",
        }
    }

    /// Spinning floors on one CPU only measure the scheduler's time slice.
    pub fn spins(self) -> bool {
        matches!(
            self,
            Mechanism::SpinFloor | Mechanism::WorkFloor | Mechanism::TandemSpin50
        )
    }
}

/// The controller's end of one pair; dropping it stops the peer.
pub enum Link {
    Tandem {
        controller: Box<Controller>,
        id: u64,
    },
    Typed {
        controller: Box<BenchController>,
        id: u64,
        bytes: Vec<u8>,
        words: Vec<u64>,
        received: Vec<u8>,
        received_words: Vec<u64>,
    },
    Floor {
        map: SharedMap,
        child: Child,
        spin: bool,
        seq: u32,
    },
    Stream {
        write: Box<dyn Write + Send>,
        read: Box<dyn Read + Send>,
        child: Child,
    },
}

// Layout of a floor's mapping: the controller's word, the peer's word, each on its own cache
// line, then the region the controller writes and the region the peer writes.
const PING: usize = 0;
const PONG: usize = 128;
const READY: usize = 256;
const REGIONS: usize = 4096;
const STOP: u32 = u32::MAX;

pub fn self_command(role: &str, placement: Placement) -> Command {
    let exe = std::env::current_exe().expect("the comparison program's path");
    let mut command = Command::new(exe);
    command.args(["--peer", role]);
    if let Some(cpu) = placement.peer_cpu() {
        command.args(["--cpu", &cpu.to_string()]);
    }
    command
}

/// Distinct channel ids for the segments of concurrent links.
fn next_channel_id() -> u32 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether tandem workers run sandboxed (`--sandbox`).
static SANDBOXED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every tandem worker started from now on run in `Sandbox::new()`.
pub fn sandbox_workers() {
    SANDBOXED.store(true, Ordering::Relaxed);
}

/// Default options, with time-outs long enough for a loaded machine; sandboxed workers with
/// `--sandbox`.
pub fn options() -> Options {
    let options = Options::default()
        .setup_timeout(Duration::from_secs(10))
        .transition_timeout(Duration::from_secs(30));
    if SANDBOXED.load(Ordering::Relaxed) {
        options.sandbox(tandem::Sandbox::new())
    } else {
        options
    }
}

impl Link {
    /// Starts a peer for `mechanism` able to echo `capacity` bytes. The controller's affinity
    /// must be set already: default options follow it, as for a user under `taskset`.
    pub fn open(mechanism: Mechanism, placement: Placement, capacity: usize) -> Link {
        let options = options();
        match mechanism {
            Mechanism::TandemDefault
            | Mechanism::TandemFutex
            | Mechanism::TandemSpin50
            | Mechanism::RawOneWay => {
                let options = match mechanism {
                    Mechanism::TandemFutex => options.spin(Duration::ZERO),
                    Mechanism::TandemSpin50 => options.spin(Duration::from_micros(50)),
                    _ => options,
                };
                let command = self_command("tandem-raw", placement);
                let controller = Controller::spawn(command, "tbench", next_channel_id(), options)
                    .expect("spawn a tandem worker");
                Link::Tandem {
                    controller: Box::new(controller),
                    id: 0,
                }
            }
            Mechanism::TypedPing
            | Mechanism::TypedBytes
            | Mechanism::TypedWords
            | Mechanism::TypedBorrowedOneWay => {
                let command = self_command("tandem-typed", placement);
                let controller = BenchController::spawn(command, next_channel_id(), options, &())
                    .expect("spawn a typed tandem worker");
                Link::Typed {
                    controller: Box::new(controller),
                    id: 0,
                    bytes: vec![0; capacity],
                    words: vec![0; capacity / 8],
                    received: Vec::new(),
                    received_words: Vec::new(),
                }
            }
            Mechanism::SpinFloor | Mechanism::WorkFloor | Mechanism::FutexFloor => {
                let spin = mechanism != Mechanism::FutexFloor;
                let map = SharedMap::create(REGIONS + 2 * capacity.max(8)).expect("memfd mapping");
                let role = match mechanism {
                    Mechanism::SpinFloor => "spin-floor",
                    Mechanism::WorkFloor => "work-floor",
                    _ => "futex-floor",
                };
                let mut command = self_command(role, placement);
                command.args(["--fd", &map.fd().to_string()]);
                command.args(["--size", &capacity.max(8).to_string()]);
                let child = command.spawn().expect("spawn a floor peer");
                let start = Instant::now();
                while map.word(READY).load(Ordering::Acquire) == 0 {
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "floor peer never started"
                    );
                    std::thread::sleep(Duration::from_micros(100));
                }
                Link::Floor {
                    map,
                    child,
                    spin,
                    seq: 0,
                }
            }
            Mechanism::Socket => {
                let (ours, theirs) = UnixStream::pair().expect("socket pair");
                sys::inheritable(theirs.as_raw_fd()).expect("socket flags");
                let mut command = self_command("stream", placement);
                command.args(["--fd", &theirs.as_raw_fd().to_string()]);
                command.args(["--fd2", &theirs.as_raw_fd().to_string()]);
                let child = command.spawn().expect("spawn a socket peer");
                drop(theirs);
                let read = ours.try_clone().expect("socket clone");
                Link::Stream {
                    write: Box::new(ours),
                    read: Box::new(read),
                    child,
                }
            }
            Mechanism::Pipe => {
                let (their_read, our_write) = sys::pipe().expect("pipe");
                let (our_read, their_write) = sys::pipe().expect("pipe");
                sys::inheritable(their_read.as_raw_fd()).expect("pipe flags");
                sys::inheritable(their_write.as_raw_fd()).expect("pipe flags");
                let mut command = self_command("stream", placement);
                command.args(["--fd", &their_read.as_raw_fd().to_string()]);
                command.args(["--fd2", &their_write.as_raw_fd().to_string()]);
                let child = command.spawn().expect("spawn a pipe peer");
                drop((their_read, their_write));
                Link::Stream {
                    write: Box::new(our_write),
                    read: Box::new(our_read),
                    child,
                }
            }
        }
    }

    /// Sends `message` and reads the echo into `reply` (same length). One-way mechanisms
    /// send `message` and read back 8 bytes only.
    pub fn round(&mut self, mechanism: Mechanism, message: &[u8], reply: &mut [u8]) {
        match self {
            Link::Tandem { controller, id } => {
                *id += 1;
                controller
                    .to_worker()
                    .write(message)
                    .expect("write the input");
                let kind = if mechanism == Mechanism::RawOneWay {
                    SUM
                } else {
                    ECHO
                };
                controller
                    .do_transition(kind, *id, |mut reply_bytes| {
                        let bytes = reply_bytes.bytes().expect("read the reply");
                        let len = if kind == SUM { 8 } else { reply.len() };
                        assert!(bytes.copy_to(0, &mut reply[..len]), "short reply");
                    })
                    .expect("transition");
            }
            Link::Typed {
                controller,
                id,
                bytes,
                words,
                received,
                received_words,
            } => {
                *id += 1;
                match mechanism {
                    Mechanism::TypedPing => {
                        let value = u64::from_ne_bytes(message.try_into().expect("8 bytes"));
                        let echoed = controller.ping(*id, &value).expect("ping").output;
                        reply.copy_from_slice(&echoed.to_ne_bytes());
                    }
                    Mechanism::TypedBytes => {
                        // The typed input is a `Vec<u8>` the caller owns (`bytes`, the same
                        // length as `message`); the reply is decoded into `received`.
                        reuse::echo_bytes(controller, *id, bytes, received);
                        assert_eq!(received.len(), message.len());
                    }
                    Mechanism::TypedWords => {
                        reuse::echo_words(controller, *id, words, received_words);
                        assert_eq!(received_words.len(), words.len());
                    }
                    Mechanism::TypedBorrowedOneWay => {
                        let sum = controller.sum_borrowed(*id, words).expect("sum").output;
                        reply[..8].copy_from_slice(&sum.to_ne_bytes());
                    }
                    other => unreachable!("{other:?} is not a typed mechanism"),
                }
            }
            Link::Floor { map, spin, seq, .. } => {
                *seq += 1;
                map.write(REGIONS, message);
                map.word(PING).store(*seq, Ordering::Release);
                let pong = map.word(PONG);
                if *spin {
                    while pong.load(Ordering::Acquire) != *seq {
                        std::hint::spin_loop();
                    }
                } else {
                    sys::futex_wake(map.word(PING));
                    loop {
                        let seen = pong.load(Ordering::Acquire);
                        if seen == *seq {
                            break;
                        }
                        sys::futex_wait(pong, seen);
                    }
                }
                let capacity = (map.len() - REGIONS) / 2;
                map.read(REGIONS + capacity, reply);
            }
            Link::Stream { write, read, .. } => {
                write.write_all(message).expect("stream write");
                read.read_exact(reply).expect("stream read");
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        match self {
            Link::Tandem { .. } | Link::Typed { .. } => {}
            Link::Floor { map, child, .. } => {
                map.word(PING).store(STOP, Ordering::Release);
                sys::futex_wake(map.word(PING));
                let _ = child.wait();
            }
            Link::Stream { write, read, child } => {
                // Closing our descriptors (both: a socket's are clones) ends the peer's loop.
                *write = Box::new(std::io::sink());
                *read = Box::new(std::io::empty());
                let _ = child.wait();
            }
        }
    }
}

/// Runs this process as the peer `role` (from its command line); returns whether it was one.
pub fn serve(args: &crate::Args) -> bool {
    let Some(role) = args.peer.as_deref() else {
        return false;
    };
    if let Some(cpu) = args.cpu {
        sys::pin_to(cpu).expect("pin the peer");
    }
    match role {
        "tandem-raw" => {
            let mut worker = WorkerChannel::from_env(0)
                .expect("open the channel")
                .expect("started as a worker");
            // The counters at the last `WORK` request, for the next report.
            let mut before = Waits::default();
            let result = worker.handle_transitions(|request| {
                let kind = request.kind();
                // The counters are read for the work ladder's kinds only: the echo stays as
                // it was.
                let waits = match kind {
                    WORK | REPORT => Waits::of(&request.wait_stats()),
                    _ => Waits::default(),
                };
                let (input, output) = request.trusted_input_and_output();
                let input = input?;
                match kind {
                    WORK => {
                        before = waits;
                        let ns = input
                            .get(..8)
                            .map_or(0, |w| u64::from_ne_bytes(w.try_into().expect("8 bytes")));
                        busy::busy(ns);
                        output.write(input)
                    }
                    REPORT => {
                        let cpu_ns = sys::process_cpu_ns();
                        let report = busy::Report {
                            cpu_ns,
                            now: waits,
                            before,
                        };
                        output.write(&report.to_bytes())
                    }
                    SUM => {
                        let mut sum = 0u64;
                        for word in input.chunks_exact(8) {
                            let word = u64::from_ne_bytes(word.try_into().expect("8"));
                            sum = sum.wrapping_add(word);
                        }
                        output.write(&sum.to_ne_bytes())
                    }
                    _ => output.write(input),
                }
            });
            result.expect("serve transitions");
        }
        "tandem-typed" => {
            let served = TypedWorker::serve_from_env(|()| Ok(TypedWorker));
            assert!(matches!(served, Ok(true)), "typed worker: {served:?}");
        }
        "spin-floor" | "futex-floor" | "work-floor" => {
            let fd = args.fd.expect("--fd");
            let size = args.size.expect("--size");
            let map = SharedMap::open(fd, REGIONS + 2 * size).expect("map the floor");
            floor_peer(&map, role != "futex-floor", role == "work-floor", size);
        }
        "tandem-pool" => {
            let served = PoolWorker::serve_from_env(|()| Ok(PoolWorker));
            assert!(matches!(served, Ok(true)), "pool worker: {served:?}");
        }
        "crasher" => crate::crash::serve_crasher(),
        "stream" => {
            let mut read = sys::inherited_file(args.fd.expect("--fd"));
            let mut write = if args.fd2 == args.fd {
                read.try_clone().expect("clone the socket")
            } else {
                sys::inherited_file(args.fd2.expect("--fd2"))
            };
            let mut message = [0u8; 8];
            while read.read_exact(&mut message).is_ok() {
                write.write_all(&message).expect("echo");
            }
        }
        other => panic!(
            "unknown peer role {other}: use tandem-raw, tandem-typed, tandem-pool, spin-floor, \
             futex-floor, work-floor, crasher or stream"
        ),
    }
    true
}

/// The floor's peer: waits for each message, copies it out of the mapping into private memory
/// and back into the reply region (the copies tandem makes), then answers. A working peer
/// first works for the message's first 8 bytes of nanoseconds, or replies with its CPU time
/// if they hold [`FLOOR_REPORT`].
fn floor_peer(map: &SharedMap, spin: bool, work: bool, size: usize) {
    let mut private = vec![0u8; size];
    let ping = map.word(PING);
    map.word(READY).store(1, Ordering::Release);
    let mut expected = 1u32;
    loop {
        let seen = loop {
            let seen = ping.load(Ordering::Acquire);
            if seen == expected || seen == STOP {
                break seen;
            }
            if spin {
                std::hint::spin_loop();
            } else {
                sys::futex_wait(ping, seen);
            }
        };
        if seen == STOP {
            return;
        }
        // The controller's message length is not sent: the floor always copies `size`
        // bytes, which is the message size the controller opened it for.
        map.read(REGIONS, &mut private);
        if work {
            let ns = u64::from_ne_bytes(private[..8].try_into().expect("8 bytes"));
            if ns == FLOOR_REPORT {
                private[..8].copy_from_slice(&sys::process_cpu_ns().to_ne_bytes());
            } else {
                busy::busy(ns);
            }
        }
        map.write(REGIONS + size, &private);
        map.word(PONG).store(expected, Ordering::Release);
        if !spin {
            sys::futex_wake(map.word(PONG));
        }
        expected += 1;
    }
}
