//! A shared-memory buffer on its own, without a channel: this program writes messages of
//! growing size into a `WriteBuffer`, and a child process (the same program, started again)
//! reads them through its `ReadBuffer`. Run: `cargo run --example standalone_buffers`.
//!
//! The buffer starts with one page and grows in place as the messages do; the child remaps
//! its read-only view when it sees the larger size. The two processes take turns over the
//! child's stdin and stdout: one line "written" per message, one line back with what the
//! child read. See `docs/standalone-parts.md` for what is handed to the child and how.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use tandem::{ReadBuffer, WriteBuffer};

/// The largest message either side accepts (each side states its own limit).
const MAX_BYTES: usize = 64 << 20;

/// A checksum both sides compute over a message (FNV-1a, 64 bits).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The child: reads one message per line on stdin, answers its length and checksum.
fn read_messages(mut reader: ReadBuffer) -> Result<(), Box<dyn std::error::Error>> {
    let mut answers = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        if line? != "written" {
            return Err("the parent broke the turn-taking".into());
        }
        let message = reader.read_to_vec()?;
        writeln!(answers, "{} {:016x}", message.len(), checksum(&message))?;
        answers.flush()?;
    }
    Ok(()) // stdin closed: the parent is done
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Started by the parent below: the reading end comes from the environment.
    if let Some(reader) = ReadBuffer::from_env(MAX_BYTES)? {
        return read_messages(reader);
    }

    let (mut writer, handoff) = WriteBuffer::create("standalone", MAX_BYTES)?;
    let mut command = Command::new(std::env::current_exe()?);
    handoff
        .prepare_command(&mut command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command.spawn()?;
    // The child inherited its two descriptors: this process's copies can go.
    drop(handoff);
    let mut turns = child.stdin.take().ok_or("no pipe to the child")?;
    let mut answers = BufReader::new(child.stdout.take().ok_or("no pipe from the child")?);

    println!("the buffer starts with {} bytes", writer.capacity());
    for step in 0..8u32 {
        let len = 1000usize << (2 * step); // 1 kB to 16 MB
        let expected = writer.write_with(len, |message| {
            for (i, byte) in message.iter_mut().enumerate() {
                *byte = (i as u32).wrapping_mul(31).wrapping_add(step) as u8;
            }
            checksum(message)
        })?;
        writeln!(turns, "written")?;
        turns.flush()?;
        let mut answer = String::new();
        answers.read_line(&mut answer)?;
        if answer.trim() != format!("{len} {expected:016x}") {
            return Err(format!(
                "the child read `{}` for a {len}-byte message",
                answer.trim()
            )
            .into());
        }
        println!(
            "message {step}: {len:>8} bytes, buffer {:>8} bytes, read back intact by the child",
            writer.capacity()
        );
    }
    drop(turns); // end of input: the child returns
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    println!("done: the child exited with {status}");
    Ok(())
}
