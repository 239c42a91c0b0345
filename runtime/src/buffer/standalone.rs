//! Buffers on their own: a [`WriteBuffer`] and its [`ReadBuffer`] in two processes, without
//! a channel.
//!
//! [`BufferHandoff`]'s documentation describes what is handed over, how, and the turns.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::Arc;

use super::descriptor::{BufferDescriptor, DescriptorHome, Direction};
use super::{BufferError, ReadBuffer, WriteBuffer};
use crate::sys::memfd::{
    Access, Segment, SharedView, WriterSegment, BUFFER_SEALS, CONTROL_SEALS, PAGE,
};
use crate::sys::spawn::inherit_fds;

/// The other end of a standalone buffer, to hand to one child process.
///
/// Returned by [`WriteBuffer::create`] (the child reads) and [`ReadBuffer::create`] (the
/// child writes). It owns the child's two descriptors, so keep it until the child is
/// spawned: the numbers in the [`token`](Self::token) must name them when the child starts.
/// Dropping it afterwards closes this process's copies; the child keeps its own.
///
/// # What is created, what is handed over
/// The process that creates the buffer keeps one end and gets this handoff for the other.
/// A buffer is two memfds, sealed
/// before anyone else sees them and without a name in any file system:
/// - the data (`tandem:<name>:data`), sealed against shrinking (`F_SEAL_SHRINK`), so that no
///   mapping of it can ever reach past its end;
/// - the shared descriptor (`tandem:<name>:desc`, 24 bytes, sealed against resizing), where
///   the writer publishes the data's capacity and each message's length.
///
/// The handoff owns the peer's two descriptors: the data's (read-only when the peer reads,
/// so it cannot write what this process writes) and the descriptor's. Like a channel's, they
/// reach exactly one child: [`prepare_command`](Self::prepare_command) clears their close-on-exec
/// flag in that child only (between `fork` and `exec`, the way
/// [`ControllerChannel::prepare_command`](crate::ControllerChannel::prepare_command) hands a
/// worker its channel) and puts the token, which carries their numbers, in the child's
/// environment ([`ENV`](Self::ENV)). The child opens its end with
/// [`ReadBuffer::from_env`] or [`WriteBuffer::from_env`] (or `open` with a token it got
/// another way); each descriptor is checked (open, handed over and not yet claimed, a memfd
/// with the seals above, the descriptor exactly 24 bytes), taken over and made close-on-exec
/// again, so the child's own children inherit nothing.
///
/// # Growth and validation
/// As in a channel: the writer grows the data memfd in place (`fallocate`, then `mremap`)
/// and publishes the new capacity; the reader loads the capacity and the length once,
/// checks them against its own limit (the `max_bytes` it was opened with, whatever the
/// writer's), against each other and against the file's size, and `mremap`s its read-only
/// mapping. It hands out only copies ([`ReadBuffer::bytes`], [`ReadBuffer::read_to_vec`]):
/// nothing the writer publishes or writes can make the reader fault or read outside its
/// mapping. The repository's `docs/standalone-parts.md` has the details.
///
/// # Turns
/// A standalone buffer has no turn-taking of its own: the two processes agree on turns by
/// other means (a pipe, a socket, the child's stdin and stdout). The writer writes a
/// message, then tells the reader; the reader reads, then tells the writer it may write
/// again. A read that overlaps a write is still safe (copies only, every value checked) but
/// may return a mix of two messages or a [`BufferError::CorruptDescriptor`].
///
/// # Examples
/// A parent writes a message larger than the buffer's first page; a child (the same
/// program, started again) reads it and answers on its stdout.
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::process::{Command, Stdio};
/// use tandem::{ReadBuffer, WriteBuffer};
///
/// const MAX: usize = 1 << 20;
///
/// // In the child: the reading end, from the environment prepared below.
/// if let Some(mut reader) = ReadBuffer::from_env(MAX)? {
///     let mut turn = String::new();
///     std::io::stdin().read_line(&mut turn)?; // the parent's "written"
///     let message = reader.read_to_vec()?;
///     println!("{} bytes, last {}", message.len(), message[message.len() - 1]);
///     return Ok(());
/// }
///
/// let (mut writer, handoff) = WriteBuffer::create("doc", MAX)?;
/// let mut command = Command::new(std::env::current_exe()?);
/// handoff.prepare_command(&mut command);
/// let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
/// drop(handoff); // the child has its descriptors now
///
/// writer.write(&[7; 10_000])?; // grows past the first page
/// writeln!(child.stdin.take().unwrap(), "written")?;
/// let mut answer = String::new();
/// BufReader::new(child.stdout.take().unwrap()).read_line(&mut answer)?;
/// assert_eq!(answer.trim(), "10000 bytes, last 7");
/// assert!(child.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BufferHandoff {
    token: String,
    /// The child's descriptor of the shared descriptor segment.
    descriptor: OwnedFd,
    /// The child's descriptor of the data: read-only when the child reads.
    data: OwnedFd,
}

/// Which end a token hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Read,
    Write,
}

impl End {
    fn word(self) -> &'static str {
        match self {
            End::Read => "reader",
            End::Write => "writer",
        }
    }
}

impl BufferHandoff {
    /// The environment variable [`prepare_command`](Self::prepare_command) sets and
    /// `from_env` reads: `TANDEM_BUFFER`.
    pub const ENV: &'static str = "TANDEM_BUFFER";

    fn new(label: &str, end: End, descriptor: OwnedFd, data: OwnedFd) -> BufferHandoff {
        let token = format!(
            "{label}:{}:{},{}",
            end.word(),
            descriptor.as_raw_fd(),
            data.as_raw_fd()
        );
        BufferHandoff {
            token,
            descriptor,
            data,
        }
    }

    /// What the child needs to open its end, `tandem:<name>:<reader|writer>:<fd>,<fd>`: the
    /// end it opens and the numbers of the two descriptors it inherits. For a child that
    /// gets more than one buffer, pass each token its own way (an argument, another
    /// variable) and prepare the command with [`inherit`](Self::inherit).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Prepares `command` to start the child that opens the other end: sets
    /// [`ENV`](Self::ENV) to the [`token`](Self::token) and makes the child, and only it,
    /// inherit the two descriptors (see [`inherit`](Self::inherit)).
    pub fn prepare_command<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env(Self::ENV, &self.token);
        self.inherit(command)
    }

    /// Makes `command`'s process, and only it, inherit the two descriptors across its
    /// `exec`, with the numbers the token names: their close-on-exec flag is cleared in
    /// the child between `fork` and `exec`, so processes other threads spawn meanwhile get
    /// nothing. Keep this handoff until the command is spawned.
    pub fn inherit<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        inherit_fds(
            command,
            [self.descriptor.as_raw_fd(), self.data.as_raw_fd()],
        );
        command
    }
}

/// The shared descriptor of a standalone buffer: one memfd of its own, mapped read-write by
/// both ends (only the writer stores to it; the writer never reads back what is there).
#[derive(Debug)]
struct DescriptorSegment {
    view: SharedView<BufferDescriptor>,
}

impl DescriptorHome for DescriptorSegment {
    // A standalone buffer has one direction: both ends name it the same way.
    fn descriptor(&self, _direction: Direction) -> &BufferDescriptor {
        self.view.get()
    }
}

/// The direction a standalone buffer passes to the buffer types, which use it only to ask
/// their [`DescriptorSegment`] for its one descriptor.
const STANDALONE: Direction = Direction::ToWorker;

const DESCRIPTOR_SIZE: usize = std::mem::size_of::<BufferDescriptor>();

fn corrupt(name: &str, detail: String) -> BufferError {
    BufferError::CorruptDescriptor {
        name: name.to_owned(),
        detail,
    }
}

impl DescriptorSegment {
    /// Creates the descriptor memfd (zeroed, sealed against resizing) and a descriptor of it
    /// for the peer.
    fn create(label: &str) -> Result<(DescriptorSegment, OwnedFd), BufferError> {
        let name = format!("{label}:desc");
        let failure = |f| BufferError::segment(&name, DESCRIPTOR_SIZE, f);
        let segment = Segment::create(&name, DESCRIPTOR_SIZE, CONTROL_SEALS, Access::ReadWrite)
            .map_err(failure)?;
        let for_peer = segment.duplicate_fd().map_err(failure)?;
        segment.forbid_reopening().map_err(failure)?;
        let view = SharedView::new(segment)
            .ok_or_else(|| corrupt(&name, "a fresh mapping cannot hold a descriptor".to_owned()))?;
        Ok((DescriptorSegment { view }, for_peer))
    }

    /// Takes over the descriptor memfd `fd` that this process inherited, after checking it.
    fn adopt(label: &str, fd: RawFd) -> Result<DescriptorSegment, BufferError> {
        let name = format!("{label}:desc");
        let mut segment = Segment::adopt(&name, fd, Access::ReadWrite, CONTROL_SEALS)
            .map_err(|f| BufferError::segment(&name, 0, f))?;
        let found = segment
            .file_size()
            .map_err(|f| BufferError::segment(&name, 0, f))?;
        if found != DESCRIPTOR_SIZE {
            return Err(corrupt(
                &name,
                format!("the descriptor segment holds {found} bytes, not {DESCRIPTOR_SIZE}"),
            ));
        }
        segment
            .remap(DESCRIPTOR_SIZE)
            .map_err(|f| BufferError::segment(&name, DESCRIPTOR_SIZE, f))?;
        let view = SharedView::new(segment)
            .ok_or_else(|| corrupt(&name, "the mapping cannot hold a descriptor".to_owned()))?;
        Ok(DescriptorSegment { view })
    }
}

/// Checks both descriptors of a token before either is claimed, so that a refused token
/// leaves them as they were (a forged or mistaken token costs the right one nothing).
fn check_handed_over(label: &str, descriptor: RawFd, data: RawFd) -> Result<(), BufferError> {
    let name = format!("{label}:desc");
    Segment::check_adoptable(descriptor, CONTROL_SEALS)
        .map_err(|f| BufferError::segment(&name, 0, f))?;
    let found = Segment::file_size_of(descriptor).map_err(|f| BufferError::segment(&name, 0, f))?;
    if found != DESCRIPTOR_SIZE {
        return Err(corrupt(
            &name,
            format!("the descriptor segment holds {found} bytes, not {DESCRIPTOR_SIZE}"),
        ));
    }
    let data_name = format!("{label}:data");
    Segment::check_adoptable(data, BUFFER_SEALS)
        .map_err(|f| BufferError::segment(&data_name, 0, f))?;
    Ok(())
}

/// `tandem:<name>`, if `name` is usable in labels and tokens (the rule of channel names).
fn label_of(name: &str) -> Result<String, BufferError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > 32 {
        "it is longer than 32 bytes"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        "only ASCII letters, digits, `_` and `-` are allowed"
    } else {
        return Ok(format!("tandem:{name}"));
    };
    Err(BufferError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// A parsed token: the buffer's label and the descriptor and data descriptors.
fn parse_token(token: &str, end: End) -> Result<(String, RawFd, RawFd), BufferError> {
    let invalid = |reason| BufferError::InvalidToken {
        token: token.to_owned(),
        reason,
    };
    let shape = "not a buffer token (`tandem:<name>:<reader|writer>:<fd>,<fd>`)";
    let (rest, fds) = token.rsplit_once(':').ok_or_else(|| invalid(shape))?;
    let (label, word) = rest.rsplit_once(':').ok_or_else(|| invalid(shape))?;
    let name = label
        .strip_prefix("tandem:")
        .ok_or_else(|| invalid(shape))?;
    label_of(name).map_err(|_| invalid("the buffer name in the token is not a valid name"))?;
    let (descriptor, data) = fds.split_once(',').ok_or_else(|| invalid(shape))?;
    let number = |text: &str| {
        text.parse::<RawFd>()
            .ok()
            .filter(|&fd| fd >= 0)
            .ok_or_else(|| invalid("a descriptor number is not a non-negative integer"))
    };
    let (descriptor, data) = (number(descriptor)?, number(data)?);
    if word != end.word() {
        return Err(invalid(match (word, end) {
            ("writer", End::Read) => {
                "it hands over the writing end: open it with `WriteBuffer::open`"
            }
            ("reader", End::Write) => {
                "it hands over the reading end: open it with `ReadBuffer::open`"
            }
            _ => shape,
        }));
    }
    Ok((label.to_owned(), descriptor, data))
}

/// The token in [`BufferHandoff::ENV`], removed from this process's environment so that its
/// own children do not see it; `None` if the variable is absent.
fn token_from_env() -> Result<Option<String>, BufferError> {
    match std::env::var(BufferHandoff::ENV) {
        Ok(token) => {
            std::env::remove_var(BufferHandoff::ENV);
            Ok(Some(token))
        }
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => Err(BufferError::InvalidToken {
            token: raw.to_string_lossy().into_owned(),
            reason: "not valid UTF-8",
        }),
    }
}

impl WriteBuffer {
    /// Creates a buffer on its own, named `name` (ASCII letters, digits, `_` and `-`, at
    /// most 32 bytes; it labels the memfds, `tandem:<name>:data` and `…:desc`, in errors
    /// and `/proc/<pid>/fd`), whose reader is another process: returns this writing end
    /// and the [`BufferHandoff`] that starts the reader's process. Messages above
    /// `max_bytes` are refused ([`BufferError::TooLarge`]); the buffer starts with one page
    /// of memory and grows as messages need, up to that limit. See the
    /// [`BufferHandoff`] for what is handed over and how turns are taken.
    ///
    /// # Errors
    /// [`BufferError::InvalidName`] for a bad `name`, [`BufferError::Segment`] or
    /// [`BufferError::OutOfMemory`] if a memfd cannot be created.
    pub fn create(
        name: &str,
        max_bytes: usize,
    ) -> Result<(WriteBuffer, BufferHandoff), BufferError> {
        let label = label_of(name)?;
        let (home, peer_descriptor) = DescriptorSegment::create(&label)?;
        let data_name = format!("{label}:data");
        let failure = |f| BufferError::segment(&data_name, PAGE, f);
        // Sized for `max_bytes` at once, sparse, and sealed against any other writer (as a
        // channel's input): this mapping is the file's only writer.
        let segment = WriterSegment::create_input(&data_name, max_bytes).map_err(failure)?;
        // The reader's descriptor allows reading only; then nobody but root can open the
        // memfd again through `/proc/<pid>/fd`, and the seals stop root from writing it.
        let peer_data = segment.segment().reopen_read_only().map_err(failure)?;
        segment.segment().forbid_reopening().map_err(failure)?;
        let writer = WriteBuffer::new(Arc::new(home), STANDALONE, segment, max_bytes);
        let handoff = BufferHandoff::new(&label, End::Read, peer_descriptor, peer_data);
        Ok((writer, handoff))
    }

    /// Opens the writing end of a buffer that another process created with
    /// [`ReadBuffer::create`] and handed to this one: `token` is the handoff's
    /// [`token`](BufferHandoff::token), naming descriptors this process inherited. Each is
    /// checked (handed over and not yet claimed, a memfd with the buffer's seals), taken over
    /// (closed when the buffer drops) and made close-on-exec again. This end refuses
    /// messages above `max_bytes`.
    ///
    /// # Errors
    /// [`BufferError::InvalidToken`] if the token is malformed or hands over the reading
    /// end, [`BufferError::Segment`] if a descriptor is not one a creator handed over,
    /// [`BufferError::CorruptDescriptor`] if the descriptor segment has the wrong size.
    pub fn open(token: &str, max_bytes: usize) -> Result<WriteBuffer, BufferError> {
        let (label, descriptor, data) = parse_token(token, End::Write)?;
        check_handed_over(&label, descriptor, data)?;
        let home = DescriptorSegment::adopt(&label, descriptor)?;
        let data_name = format!("{label}:data");
        let segment = WriterSegment::adopt_reply(&data_name, data)
            .map_err(|f| BufferError::segment(&data_name, 0, f))?;
        Ok(WriteBuffer::new(
            Arc::new(home),
            STANDALONE,
            segment,
            max_bytes,
        ))
    }

    /// Opens the writing end named by [`BufferHandoff::ENV`] (set by
    /// [`BufferHandoff::prepare_command`]), or returns `Ok(None)` if the variable is absent.
    /// The variable is removed from this process's environment.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_env(max_bytes: usize) -> Result<Option<WriteBuffer>, BufferError> {
        token_from_env()?
            .map(|token| WriteBuffer::open(&token, max_bytes))
            .transpose()
    }
}

impl ReadBuffer {
    /// Creates a buffer on its own, named as for [`WriteBuffer::create`], whose writer is
    /// another process: returns this reading end and the [`BufferHandoff`] that starts the
    /// writer's process. This end refuses anything the writer publishes above `max_bytes`;
    /// the buffer has no memory until the writer's first message.
    ///
    /// # Errors
    /// As [`WriteBuffer::create`].
    pub fn create(
        name: &str,
        max_bytes: usize,
    ) -> Result<(ReadBuffer, BufferHandoff), BufferError> {
        let label = label_of(name)?;
        let (home, peer_descriptor) = DescriptorSegment::create(&label)?;
        let data_name = format!("{label}:data");
        let failure = |f| BufferError::segment(&data_name, 0, f);
        let segment =
            Segment::create(&data_name, 0, BUFFER_SEALS, Access::ReadOnly).map_err(failure)?;
        let peer_data = segment.duplicate_fd().map_err(failure)?;
        segment.forbid_reopening().map_err(failure)?;
        let reader = ReadBuffer::new(Arc::new(home), STANDALONE, segment, max_bytes);
        let handoff = BufferHandoff::new(&label, End::Write, peer_descriptor, peer_data);
        Ok((reader, handoff))
    }

    /// Opens the reading end of a buffer that another process created with
    /// [`WriteBuffer::create`] and handed to this one, as [`WriteBuffer::open`] does for
    /// the writing end. This end refuses anything the writer publishes above `max_bytes`.
    ///
    /// # Errors
    /// As [`WriteBuffer::open`] (with the ends swapped).
    pub fn open(token: &str, max_bytes: usize) -> Result<ReadBuffer, BufferError> {
        let (label, descriptor, data) = parse_token(token, End::Read)?;
        check_handed_over(&label, descriptor, data)?;
        let home = DescriptorSegment::adopt(&label, descriptor)?;
        let data_name = format!("{label}:data");
        let segment = Segment::adopt(&data_name, data, Access::ReadOnly, BUFFER_SEALS)
            .map_err(|f| BufferError::segment(&data_name, 0, f))?;
        Ok(ReadBuffer::new(
            Arc::new(home),
            STANDALONE,
            segment,
            max_bytes,
        ))
    }

    /// Opens the reading end named by [`BufferHandoff::ENV`], or returns `Ok(None)` if the
    /// variable is absent, as [`WriteBuffer::from_env`] does for the writing end.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_env(max_bytes: usize) -> Result<Option<ReadBuffer>, BufferError> {
        token_from_env()?
            .map(|token| ReadBuffer::open(&token, max_bytes))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_token, End};
    use crate::BufferError;

    #[test]
    fn tokens_parse_and_refuse_other_shapes() {
        assert_eq!(
            parse_token("tandem:frames:reader:5,6", End::Read).unwrap(),
            ("tandem:frames".to_owned(), 5, 6)
        );
        for (bad, end) in [
            ("", End::Read),
            ("tandem:frames:reader:5", End::Read),
            ("tandem:frames:reader:5,6,7", End::Read),
            ("tandem:frames:reader:5,-6", End::Read),
            ("tandem:frames:5,6", End::Read),
            ("other:frames:reader:5,6", End::Read),
            ("tandem:fr ames:reader:5,6", End::Read),
            ("tandem:frames:reviewer:5,6", End::Read),
            ("tandem:frames:writer:5,6", End::Read),
            ("tandem:frames:reader:5,6", End::Write),
            ("tandem:gen:7:3,4,5,6,8,9", End::Read),
        ] {
            let error = parse_token(bad, end).unwrap_err();
            assert!(
                matches!(error, BufferError::InvalidToken { .. }),
                "{bad}: {error}"
            );
        }
        let error = parse_token("tandem:frames:writer:5,6", End::Read).unwrap_err();
        assert!(error.to_string().contains("WriteBuffer::open"), "{error}");
    }
}
