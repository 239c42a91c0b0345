//! Buffers without a channel: a `WriteBuffer`/`ReadBuffer` pair created on its own, one end
//! handed to a child process (this test binary, re-run as `standalone_buffers::child_entry`).
//! The two take turns over the child's stdin (one command per line) and stdout (one `answer`
//! line per command). Covered: growth past the first page in both directions, each reader's own
//! limit, a writer that forges the shared descriptor and the data's size, and forged
//! tokens.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::{role, role_command};
use tandem::buffer::BufferHandoff;
use tandem::{BufferError, ReadBuffer, WriteBuffer};

/// How long one answer or the child's exit may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// Environment variables of the child: its own limit, and the tokens the opener tries.
const MAX_ENV: &str = "STANDALONE_TEST_MAX";
const FORGED_ENV: &str = "STANDALONE_TEST_FORGED";

/// Offsets of the length and capacity words in the shared descriptor (after the 32-bit
/// generation and a reserved word): what a forging writer overwrites.
const LENGTH_OFFSET: u64 = 8;
const CAPACITY_OFFSET: u64 = 16;

/// The bytes of a test message: its length and seed decide every byte.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(u32::from(seed)) as u8)
        .collect()
}

/// A short name for each error, for the answers.
fn kind(error: &BufferError) -> &'static str {
    match error {
        BufferError::TooLarge { .. } => "too-large",
        BufferError::CorruptDescriptor { .. } => "corrupt",
        BufferError::Segment { .. } => "segment",
        BufferError::OutOfMemory { .. } => "out-of-memory",
        BufferError::InvalidToken { .. } => "invalid-token",
        BufferError::InvalidName { .. } => "invalid-name",
        _ => "other",
    }
}

/// The child process and its two pipes.
struct Peer {
    child: Child,
    turns: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl Peer {
    /// Starts this binary as `role`, with `handoff`'s end of a buffer and `env`.
    fn start(role: &str, handoff: &BufferHandoff, env: &[(&str, String)]) -> Peer {
        let mut command = role_command("standalone_buffers::child_entry", role);
        handoff.prepare_command(&mut command);
        command.envs(env.iter().map(|(key, value)| (key, value)));
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the child starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // The test harness prints its own lines too: only `answer` lines count.
        let (send, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(answer) = line.strip_prefix("answer ") {
                    if send.send(answer.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Peer {
            turns: child.stdin.take(),
            child,
            answers,
        }
    }

    /// The child's next answer.
    fn answer(&mut self) -> String {
        match self.answers.recv_timeout(PATIENCE) {
            Ok(answer) => answer,
            Err(_) => {
                let _ = self.child.kill();
                panic!("no answer from the child: {:?}", self.child.wait());
            }
        }
    }

    /// Sends one command line and returns the answer.
    fn ask(&mut self, command: &str) -> String {
        let turns = self.turns.as_mut().expect("stdin still open");
        writeln!(turns, "{command}").expect("the child reads its stdin");
        turns.flush().expect("the child reads its stdin");
        self.answer()
    }

    /// Closes the child's stdin and checks that it exits successfully.
    fn finish(mut self) {
        drop(self.turns.take());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                assert!(status.success(), "the child failed: {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the child did not exit");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The child's side of each test, chosen by its role.
#[test]
#[ignore = "run as a child process by the other tests"]
fn child_entry() {
    let Some(role) = role() else { return };
    let max: usize = std::env::var(MAX_ENV).map_or(usize::MAX, |max| max.parse().unwrap());
    let mut out = std::io::stdout().lock();
    let mut answer = |text: String| {
        writeln!(out, "answer {text}").unwrap();
        out.flush().unwrap();
    };
    match role.as_str() {
        "reader" => {
            let mut reader = ReadBuffer::from_env(max).unwrap().expect("a reader token");
            assert!(
                std::env::var(BufferHandoff::ENV).is_err(),
                "the token is not passed on to this process's children"
            );
            for line in std::io::stdin().lock().lines() {
                assert_eq!(line.unwrap(), "read");
                answer(match reader.read_to_vec() {
                    Ok(message) => {
                        let seed = message.first().copied().unwrap_or(0);
                        let intact = message == pattern(message.len(), seed);
                        format!("{} seed {seed} intact {intact}", message.len())
                    }
                    Err(error) => format!("error {} {error}", kind(&error)),
                });
            }
        }
        "writer" => {
            let mut writer = WriteBuffer::from_env(max).unwrap().expect("a writer token");
            for line in std::io::stdin().lock().lines() {
                let line = line.unwrap();
                let (len, seed) = line
                    .strip_prefix("write ")
                    .and_then(|rest| rest.split_once(' '))
                    .expect("write <len> <seed>");
                let (len, seed): (usize, u8) = (len.parse().unwrap(), seed.parse().unwrap());
                answer(match writer.write(&pattern(len, seed)) {
                    Ok(()) => format!("written capacity {}", writer.capacity()),
                    Err(error) => format!("error {} {error}", kind(&error)),
                });
            }
        }
        "forger" => {
            // A writer that is no tandem code: it writes the shared descriptor and resizes
            // the data through the descriptors it was handed.
            let token = std::env::var(BufferHandoff::ENV).unwrap();
            let (descriptor, data) = token.rsplit_once(':').unwrap().1.split_once(',').unwrap();
            // SAFETY: the two descriptors the parent handed to this process, open and
            // owned by nothing else here (the token is not opened by tandem).
            let (descriptor, data) = unsafe {
                (
                    std::fs::File::from_raw_fd(descriptor.parse().unwrap()),
                    std::fs::File::from_raw_fd(data.parse().unwrap()),
                )
            };
            for line in std::io::stdin().lock().lines() {
                let line = line.unwrap();
                let words: Vec<&str> = line.split(' ').collect();
                let number = |i: usize| words[i].parse::<u64>().unwrap();
                match words[0] {
                    "publish" => {
                        descriptor
                            .write_all_at(&number(1).to_le_bytes(), LENGTH_OFFSET)
                            .unwrap();
                        descriptor
                            .write_all_at(&number(2).to_le_bytes(), CAPACITY_OFFSET)
                            .unwrap();
                    }
                    "resize" => data.set_len(number(1)).unwrap(),
                    "fill" => data
                        .write_all_at(&pattern(number(1) as usize, 3), 0)
                        .unwrap(),
                    other => panic!("unknown command {other}"),
                }
                answer("done".to_owned());
            }
        }
        "opener" => {
            let mut opened = Vec::new();
            for (i, token) in std::env::var(FORGED_ENV).unwrap().split(';').enumerate() {
                answer(match ReadBuffer::open(token, max) {
                    Ok(reader) => {
                        opened.push(reader);
                        format!("{i} ok")
                    }
                    Err(error) => format!("{i} error {} {error}", kind(&error)),
                });
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_child_reads_messages_that_grow_past_the_first_page() {
    let (mut writer, handoff) = WriteBuffer::create("down", 16 << 20).unwrap();
    assert_eq!(writer.capacity(), 4096, "one page to start with");
    let mut child = Peer::start("reader", &handoff, &[(MAX_ENV, (8 << 20).to_string())]);
    drop(handoff);
    for (step, len) in [0usize, 100, 4096, 4097, 200_000, 5 << 20]
        .into_iter()
        .enumerate()
    {
        let seed = step as u8 + 1;
        writer.write(&pattern(len, seed)).unwrap();
        let seed = if len == 0 { 0 } else { seed };
        assert_eq!(
            child.ask("read"),
            format!("{len} seed {seed} intact true"),
            "message {step}"
        );
    }
    assert!(writer.capacity() >= 5 << 20, "{}", writer.capacity());
    // The reader's own limit (8 MiB) holds whatever the writer's (16 MiB) allows.
    writer.write(&pattern(9 << 20, 7)).unwrap();
    let answer = child.ask("read");
    assert!(answer.starts_with("error too-large"), "{answer}");
    child.finish();
    crate::support::assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn a_child_writes_and_the_parent_reads() {
    let (mut reader, handoff) = ReadBuffer::create("up", 8 << 20).unwrap();
    let mut child = Peer::start("writer", &handoff, &[(MAX_ENV, (16 << 20).to_string())]);
    drop(handoff);
    for (step, len) in [10usize, 5000, 300_000, 3 << 20].into_iter().enumerate() {
        let seed = step as u8 + 1;
        let answer = child.ask(&format!("write {len} {seed}"));
        assert!(answer.starts_with("written"), "{answer}");
        assert_eq!(
            reader.read_to_vec().unwrap(),
            pattern(len, seed),
            "message {step}"
        );
    }
    // The writer's own limit refuses before anything is allocated.
    let answer = child.ask(&format!("write {} 1", 17 << 20));
    assert!(answer.starts_with("error too-large"), "{answer}");
    // The parent's limit (8 MiB) holds against a writer that allows more.
    let answer = child.ask(&format!("write {} 1", 9 << 20));
    assert!(answer.starts_with("written"), "{answer}");
    let error = reader.read_to_vec().unwrap_err();
    assert!(matches!(error, BufferError::TooLarge { .. }), "{error}");
    child.finish();
}

#[test]
fn a_forging_writer_gets_errors_never_a_crash() {
    let (mut reader, handoff) = ReadBuffer::create("forged", 1 << 20).unwrap();
    let mut child = Peer::start("forger", &handoff, &[]);
    drop(handoff);
    let mut forge = |command: &str| assert_eq!(child.ask(command), "done", "{command}");

    let refused = |reader: &mut ReadBuffer, expected: &str| {
        let error = reader.read_to_vec().unwrap_err();
        assert!(
            matches!(
                error,
                BufferError::CorruptDescriptor { .. } | BufferError::TooLarge { .. }
            ),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{error}");
    };
    forge("publish 10 5");
    refused(&mut reader, "exceeds the published capacity 5");
    forge("publish 0 2097152");
    refused(&mut reader, "exceeds the limit of 1048576 bytes");
    forge("publish 0 8192");
    refused(&mut reader, "exceeds the segment's 0 bytes");
    // A sparse file: reading it would make the reader allocate its holes.
    forge("resize 524288");
    forge("publish 524288 524288");
    refused(&mut reader, "never written");

    // Bytes really written are read, within the file the reader checked.
    forge("fill 100");
    forge("publish 100 524288");
    assert_eq!(reader.read_to_vec().unwrap(), pattern(100, 3));
    // A capacity below what the reader already maps.
    forge("publish 100 4096");
    refused(&mut reader, "below the 524288 bytes already published");
    child.finish();
}

#[test]
fn forged_tokens_are_refused() {
    let (_writer, handoff) = WriteBuffer::create("tok", 1 << 20).unwrap();
    let token = handoff.token().to_owned();
    let (descriptor, data) = token.rsplit_once(':').unwrap().1.split_once(',').unwrap();
    let forged = [
        "tandem:tok:reader:12".to_owned(),
        format!("tandem:tok:writer:{descriptor},{data}"),
        // The two descriptors swapped: the data memfd lacks the descriptor's seals.
        format!("tandem:tok:reader:{data},{descriptor}"),
        // Stdin is no memfd.
        format!("tandem:tok:reader:0,{data}"),
        // A descriptor the child does not have.
        format!("tandem:tok:reader:987,{data}"),
        token.clone(),
        // Claimed by the reader just opened.
        token.clone(),
    ];
    let mut child = Peer::start("opener", &handoff, &[(FORGED_ENV, forged.join(";"))]);
    drop(handoff);
    let expected = [
        "0 error invalid-token",
        "1 error invalid-token",
        // The data memfd carries the descriptor's seals too (it is sealed like a channel's
        // input): its size gives it away.
        "2 error corrupt",
        "3 error segment",
        "4 error segment",
        "5 ok",
        "6 error segment",
    ];
    let details = [
        "not a buffer token",
        "open it with `WriteBuffer::open`",
        "not 24",
        "not a memfd",
        "Bad file descriptor",
        "",
        "already in use",
    ];
    for (expected, detail) in expected.into_iter().zip(details) {
        let answer = child.answer();
        assert!(answer.starts_with(expected), "{answer}");
        assert!(answer.contains(detail), "{answer}");
    }
    child.finish();

    for name in ["", "has space", "a:b", &"x".repeat(33)] {
        let error = WriteBuffer::create(name, 1 << 20).unwrap_err();
        assert!(matches!(error, BufferError::InvalidName { .. }), "{error}");
        let error = ReadBuffer::create(name, 1 << 20).unwrap_err();
        assert!(matches!(error, BufferError::InvalidName { .. }), "{error}");
    }
}
