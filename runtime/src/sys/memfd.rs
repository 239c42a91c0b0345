//! Anonymous shared memory: sealed `memfd`s and their mappings.
//!
//! A [`Segment`] is one memfd and this process's mapping of it. Segments have no name in any
//! file system: they exist while a process holds their descriptor or a mapping, so a job
//! killed outright frees them with its last process, and no other user can list, open or
//! squat them. The controller creates every segment of a channel
//! (`MFD_CLOEXEC | MFD_ALLOW_SEALING`), seals them before any worker exists, and hands
//! the descriptors to the worker it starts (see [`super::spawn`]).
//!
//! Sizes only grow: every segment is sealed with `F_SEAL_SHRINK | F_SEAL_SEAL` (the control
//! block also with `F_SEAL_GROW`), so no process can shrink a file under another's mapping
//! or add seals that break its owner. A mapping never exceeds the file's size as `fstat`
//! reports it, so touching it never raises `SIGBUS`, whatever the peer does. A hole the peer
//! punches reads as zeros and costs the reader a page.
//!
//! Growing a buffer keeps its descriptor: the writer extends the file with `fallocate`
//! (which reserves the memory, so a memory limit is an error there, never a `SIGBUS` later)
//! and `mremap`s its mapping; the reader `mremap`s its own when it sees the larger size.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8};

use zerocopy::{FromBytes, IntoBytes, KnownLayout};

use super::shared_bytes::SharedBytes;
use super::{above_stdio, cvt};

/// A `#[repr(C)]` layout made only of atomics, so that two processes may read and write it
/// through shared references at the same time. Implemented only by [`atomics_only!`], which
/// checks it.
///
/// # Safety
/// Every byte of the type must belong to an atomic field (or an array or struct of atomic
/// fields): no plain field, no padding (the `IntoBytes` bound proves there is none). Then
/// any bit pattern is valid (the `FromBytes` bound proves that) and concurrent access from
/// another process is never a data race.
pub(crate) unsafe trait AtomicsOnly:
    FromBytes + IntoBytes + KnownLayout + Sync
{
}

/// A field type every byte of which belongs to an atomic: the atomic integers, arrays of
/// them, and the structs declared with [`atomics_only!`].
///
/// # Safety
/// Every byte of the type must lie inside an atomic.
pub(crate) unsafe trait AtomicField {}

// SAFETY: each atomic integer is one `UnsafeCell` of its own size, accessed only atomically.
unsafe impl AtomicField for AtomicU8 {}
// SAFETY: as above.
unsafe impl AtomicField for AtomicU32 {}
// SAFETY: as above.
unsafe impl AtomicField for AtomicU64 {}
// SAFETY: an array has no padding between its elements, each of which is all atomics.
unsafe impl<T: AtomicField, const N: usize> AtomicField for [T; N] {}

/// Declares that the shared struct `$ty`, whose fields are listed, is made only of atomics
/// ([`AtomicsOnly`]), after checking it at compile time: the list must name every field
/// (it is matched by an exhaustive pattern), each field must be an [`AtomicField`], and the
/// struct must derive `IntoBytes` (no padding). The struct can then be a field of another
/// such struct.
macro_rules! atomics_only {
    ($ty:ident { $($field:ident),+ $(,)? }) => {
        const _: () = {
            #[allow(dead_code)]
            fn every_field_is_atomic(value: &$ty) {
                fn atomic<T: $crate::sys::memfd::AtomicField>(_: &T) {}
                // No `..`: a field missing from the list does not compile.
                let $ty { $($field),+ } = value;
                $(atomic($field);)+
            }
        };
        // SAFETY: every field is an `AtomicField` (checked above, all of them), and the
        // `IntoBytes` bound of `AtomicsOnly` proves there is no padding between or after
        // them: every byte lies inside an atomic.
        unsafe impl $crate::sys::memfd::AtomicField for $ty {}
        // SAFETY: as above; `FromBytes`, `IntoBytes`, `KnownLayout` and `Sync` are bounds
        // the compiler checks.
        unsafe impl $crate::sys::memfd::AtomicsOnly for $ty {}
    };
}
pub(crate) use atomics_only;

/// Access a mapping grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
}

/// Seals every tandem segment carries: nobody shrinks it, nobody adds seals.
pub(crate) const BUFFER_SEALS: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
/// Seals of the control block: its size is fixed.
pub(crate) const CONTROL_SEALS: i32 = BUFFER_SEALS | libc::F_SEAL_GROW;
/// Seals of the controller's input buffer: its size is fixed (the file is as large as the
/// largest message from the start, sparse until the writer reserves it), and nothing can
/// write it except the one writable mapping made before the seal (`F_SEAL_FUTURE_WRITE`):
/// not `write(2)`, not a new writable mapping, not a hole punched, through any descriptor,
/// for root too.
pub(crate) const INPUT_SEALS: i32 = CONTROL_SEALS | libc::F_SEAL_FUTURE_WRITE;

/// Mappings grow in whole pages.
pub(crate) const PAGE: usize = 4096;

/// A memfd and this process's mapping of its first `len` bytes. Unmapped and closed on drop.
#[derive(Debug)]
pub(crate) struct Segment {
    label: String,
    fd: OwnedFd,
    // INVARIANT: when `len > 0`, `ptr` is the start of a live `MAP_SHARED` mapping of `len`
    // bytes of `fd` with `access` permissions, owned by this value and unmapped exactly once
    // (in `drop` or by `mremap`); `len` never exceeds the file's size, which never shrinks
    // (F_SEAL_SHRINK is checked at creation and adoption). When `len == 0`, nothing is
    // mapped and `ptr` is dangling.
    ptr: NonNull<u8>,
    len: usize,
    access: Access,
    /// The file's size when it is sealed against growth from the start (the controller's
    /// input): a larger reservation is refused as a file-size limit.
    fixed_size: Option<usize>,
    // INVARIANT: true only for the worker's adoption of its controller's input
    // ([`adopt_input`](Self::adopt_input)): a file sealed with `F_SEAL_FUTURE_WRITE`, so
    // that its only writer is the controller's one mapping, which writes only while the
    // worker does not hold the turn (see [`trusted_bytes`](Self::trusted_bytes)).
    trusted: bool,
}

// SAFETY: the mapping and the descriptor are owned by this value; nothing is tied to a thread.
unsafe impl Send for Segment {}
// SAFETY: `&Segment` only hands out raw pointers or copy-only views; every access through
// them is the caller's responsibility (atomics for the control block, turn-taking for
// buffers).
unsafe impl Sync for Segment {}

/// What went wrong with a segment, with the OS error.
#[derive(Debug)]
pub(crate) struct ShmFailure {
    pub(crate) operation: &'static str,
    pub(crate) error: io::Error,
}

impl ShmFailure {
    fn new(operation: &'static str, error: io::Error) -> Self {
        ShmFailure { operation, error }
    }

    fn invalid(operation: &'static str, detail: &'static str) -> Self {
        ShmFailure::new(
            operation,
            io::Error::new(io::ErrorKind::InvalidData, detail),
        )
    }

    /// Whether the kernel refused memory (ENOSPC, ENOMEM): a memory limit.
    pub(crate) fn is_out_of_memory(&self) -> bool {
        matches!(
            self.error.raw_os_error(),
            Some(libc::ENOSPC | libc::ENOMEM | libc::EFBIG)
        )
    }
}

/// The largest file this process may create (`RLIMIT_FSIZE`): growing a file past it
/// raises `SIGXFSZ`, which would kill the process.
fn file_size_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, writable `limit`.
    match cvt(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) }) {
        Ok(_) if limit.rlim_cur != libc::RLIM_INFINITY => {
            usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
        }
        _ => usize::MAX,
    }
}

fn to_off(len: usize, operation: &'static str) -> Result<libc::off_t, ShmFailure> {
    libc::off_t::try_from(len)
        .map_err(|_| ShmFailure::new(operation, io::Error::from_raw_os_error(libc::EFBIG)))
}

impl Segment {
    /// Creates a memfd of `len` bytes of reserved memory, sealed with `seals`, mapped with
    /// `access` (nothing mapped when `len` is 0). `label` is what `/proc/<pid>/fd` shows (as
    /// `memfd:<label>`) and what errors name.
    pub(crate) fn create(
        label: &str,
        len: usize,
        seals: i32,
        access: Access,
    ) -> Result<Segment, ShmFailure> {
        let mut segment = Segment::create_unsealed(label, access)?;
        segment.reserve(len)?;
        segment.seal(seals)?;
        segment.remap(len)?;
        Ok(segment)
    }

    /// Creates the controller's reply buffer of one worker: an empty memfd that this process
    /// maps read-only and only ever reads through copies, so that the worker's mapping
    /// (see [`WriterSegment::adopt_reply`]) is the file's only writer.
    pub(crate) fn create_reply(label: &str) -> Result<Segment, ShmFailure> {
        Segment::create(label, 0, BUFFER_SEALS, Access::ReadOnly)
    }

    /// Takes over, in the worker, its controller's input buffer (see
    /// [`WriterSegment::create_input`]): read-only, and only if the file carries
    /// [`INPUT_SEALS`], so that the controller's one mapping is its only writer. Its bytes
    /// may then be borrowed in place ([`trusted_bytes`](Self::trusted_bytes)).
    pub(crate) fn adopt_input(label: &str, raw: RawFd) -> Result<Segment, ShmFailure> {
        let mut segment = Segment::adopt(label, raw, Access::ReadOnly, INPUT_SEALS)?;
        segment.trusted = true;
        Ok(segment)
    }

    /// A fresh memfd with no seals yet, nothing mapped.
    fn create_unsealed(label: &str, access: Access) -> Result<Segment, ShmFailure> {
        let c_label = CString::new(label)
            .map_err(|_| ShmFailure::invalid("memfd_create", "label contains a NUL byte"))?;
        // SAFETY: memfd_create takes a NUL-terminated name and flags, returns a new fd or -1.
        let raw = cvt(unsafe {
            libc::memfd_create(
                c_label.as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        })
        .map_err(|e| ShmFailure::new("memfd_create", e))?;
        // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns.
        let fd = above_stdio(unsafe { OwnedFd::from_raw_fd(raw) })
            .map_err(|e| ShmFailure::new("fcntl(F_DUPFD_CLOEXEC)", e))?;
        Ok(Segment {
            label: label.to_owned(),
            fd,
            ptr: NonNull::dangling(),
            len: 0,
            access,
            fixed_size: None,
            trusted: false,
        })
    }

    fn seal(&self, seals: i32) -> Result<(), ShmFailure> {
        // SAFETY: F_ADD_SEALS on our own fd with an int argument.
        cvt(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })
            .map_err(|e| ShmFailure::new("fcntl(F_ADD_SEALS)", e))?;
        Ok(())
    }

    /// Takes every permission bit off the memfd's inode (mode 0), so that no process but
    /// root can open it again through `/proc/<pid>/fd`: a sibling worker of the same user
    /// reaches neither this controller's descriptors nor its worker's. Descriptors already
    /// open keep working. Root is stopped by the seals instead.
    pub(crate) fn forbid_reopening(&self) -> Result<(), ShmFailure> {
        // SAFETY: fchmod on our own fd.
        cvt(unsafe { libc::fchmod(self.fd.as_raw_fd(), 0) })
            .map_err(|e| ShmFailure::new("fchmod", e))?;
        Ok(())
    }

    /// The offset of the first hole of the file (`lseek(SEEK_HOLE)` from 0), or its size if it
    /// has none. A page that was never written is a hole, even where `fallocate` reserved
    /// it: reading it through a mapping would make the reader allocate it.
    pub(crate) fn first_hole(&self) -> Result<u64, ShmFailure> {
        // SAFETY: lseek on our own fd only moves its offset, which tandem never uses.
        let offset = unsafe { libc::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_HOLE) };
        let offset = cvt(offset).map_err(|e| ShmFailure::new("lseek(SEEK_HOLE)", e))?;
        u64::try_from(offset).map_err(|_| ShmFailure::invalid("lseek", "negative offset"))
    }

    /// Takes over the descriptor `raw` that the controller handed to this process, after
    /// checking that it is one: open, not yet claimed (close-on-exec cleared, as the
    /// controller leaves it for the worker), a memfd (it answers `F_GET_SEALS`) carrying at
    /// least `seals`. Sets close-on-exec again, so this process's own children inherit
    /// nothing. Maps nothing yet (see [`remap`](Self::remap)).
    pub(crate) fn adopt(
        label: &str,
        raw: RawFd,
        access: Access,
        seals: i32,
    ) -> Result<Segment, ShmFailure> {
        let flags = Segment::check_adoptable(raw, seals)?;
        // SAFETY: F_SETFD on a valid fd. From here on the descriptor is this process's channel
        // descriptor: its close-on-exec flag marks it as claimed (checked above).
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, flags | libc::FD_CLOEXEC) })
            .map_err(|e| ShmFailure::new("fcntl(F_SETFD)", e))?;
        // SAFETY: `raw` is open (F_GETFD succeeded), was handed to this process for the
        // channel (close-on-exec cleared by the controller's spawn, which nothing else does
        // to a sealed memfd) and is claimed exactly once (the flag just set makes a second
        // adoption fail).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Segment {
            label: label.to_owned(),
            fd,
            ptr: NonNull::dangling(),
            len: 0,
            access,
            fixed_size: None,
            trusted: false,
        })
    }

    /// Checks, without claiming it, that `raw` may be adopted with `seals` (see
    /// [`adopt`](Self::adopt)): handed over to this process and not yet claimed, a memfd
    /// carrying those seals. Returns its descriptor flags. A caller adopting several
    /// descriptors checks them all first, so that a refused one leaves the others unclaimed.
    pub(crate) fn check_adoptable(raw: RawFd, seals: i32) -> Result<i32, ShmFailure> {
        if raw < 0 {
            return Err(ShmFailure::invalid(
                "adopting a descriptor",
                "negative descriptor",
            ));
        }
        // SAFETY: F_GETFD only reads the flags of `raw`; on a closed fd it fails with EBADF.
        let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFD) })
            .map_err(|e| ShmFailure::new("fcntl(F_GETFD)", e))?;
        if flags & libc::FD_CLOEXEC != 0 {
            return Err(ShmFailure::invalid(
                "adopting a descriptor",
                "the descriptor was not handed over to this process (it is close-on-exec), or \
                 is already in use by a channel or buffer",
            ));
        }
        // SAFETY: F_GET_SEALS only reads; it fails with EINVAL on anything but a memfd/shmem
        // file.
        let found = cvt(unsafe { libc::fcntl(raw, libc::F_GET_SEALS) })
            .map_err(|e| ShmFailure::new("fcntl(F_GET_SEALS) (not a memfd)", e))?;
        if found & seals != seals {
            return Err(ShmFailure::invalid(
                "fcntl(F_GET_SEALS)",
                "the memfd lacks the seals tandem puts on its segments",
            ));
        }
        Ok(flags)
    }

    /// The size of the file behind `raw`, a descriptor this process holds but has not
    /// adopted (see [`check_adoptable`](Self::check_adoptable)).
    pub(crate) fn file_size_of(raw: RawFd) -> Result<usize, ShmFailure> {
        // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes one `stat` into the valid, writable `stat`; on a descriptor
        // that is not open it fails with EBADF.
        cvt(unsafe { libc::fstat(raw, &mut stat) }).map_err(|e| ShmFailure::new("fstat", e))?;
        usize::try_from(stat.st_size)
            .map_err(|_| ShmFailure::invalid("fstat", "negative file size"))
    }

    /// A second descriptor of this memfd, with the same access (close-on-exec, above the
    /// standard streams): what a standalone buffer hands to its peer, owned by the handoff
    /// so that the number it names stays open until the peer is spawned.
    pub(crate) fn duplicate_fd(&self) -> Result<OwnedFd, ShmFailure> {
        // `try_clone` duplicates with F_DUPFD_CLOEXEC from descriptor 3 on.
        self.fd
            .try_clone()
            .map_err(|e| ShmFailure::new("fcntl(F_DUPFD_CLOEXEC)", e))
    }

    /// A second descriptor of this memfd that only allows reading (through
    /// `/proc/self/fd`), to hand to a peer that must not write or resize it.
    pub(crate) fn reopen_read_only(&self) -> Result<OwnedFd, ShmFailure> {
        let path = CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .map_err(|_| ShmFailure::invalid("open", "path contains a NUL byte"))?;
        // SAFETY: open takes a NUL-terminated path and flags, returns a new fd or -1.
        let raw = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })
            .map_err(|e| ShmFailure::new("open(/proc/self/fd, O_RDONLY)", e))?;
        // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns.
        above_stdio(unsafe { OwnedFd::from_raw_fd(raw) })
            .map_err(|e| ShmFailure::new("fcntl(F_DUPFD_CLOEXEC)", e))
    }

    /// Extends the file to at least `len` bytes and reserves its memory (`fallocate`), so
    /// that a memory limit fails here (ENOSPC, ENOMEM) and never as a `SIGBUS` on a touch.
    fn reserve(&self, len: usize) -> Result<(), ShmFailure> {
        if len == 0 {
            return Ok(());
        }
        if self.fixed_size.is_some_and(|fixed| len > fixed) {
            return Err(ShmFailure::new(
                "fallocate",
                io::Error::from_raw_os_error(libc::EFBIG),
            ));
        }
        let size = to_off(len, "fallocate")?;
        // SAFETY: fallocate on our own fd, mode 0 (allocate and extend), a valid range.
        cvt(unsafe { libc::fallocate(self.fd.as_raw_fd(), 0, 0, size) })
            .map_err(|e| ShmFailure::new("fallocate", e))?;
        Ok(())
    }

    /// The writer's growth: extends and reserves the file to `len` bytes, then maps them.
    pub(crate) fn grow(&mut self, len: usize) -> Result<(), ShmFailure> {
        self.reserve(len)?;
        self.remap(len)
    }

    /// The file's size as the kernel reports it.
    pub(crate) fn file_size(&self) -> Result<usize, ShmFailure> {
        // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on our own fd writes one `stat` into the valid, writable `stat`.
        cvt(unsafe { libc::fstat(self.fd.as_raw_fd(), &mut stat) })
            .map_err(|e| ShmFailure::new("fstat", e))?;
        usize::try_from(stat.st_size)
            .map_err(|_| ShmFailure::invalid("fstat", "negative file size"))
    }

    /// Maps the first `len` bytes (moving the mapping if needed), after checking against
    /// `fstat` that the file holds them. Mappings only grow: a smaller `len` is an error.
    pub(crate) fn remap(&mut self, len: usize) -> Result<(), ShmFailure> {
        if len == self.len {
            return Ok(());
        }
        if len < self.len {
            return Err(ShmFailure::invalid("mremap", "a segment never shrinks"));
        }
        if len > self.file_size()? {
            return Err(ShmFailure::invalid(
                "fstat",
                "the file is smaller than the size to map",
            ));
        }
        let prot = match self.access {
            Access::ReadOnly => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        let ptr = if self.len == 0 {
            // SAFETY: a fresh mapping at an address of the kernel's choosing aliases no Rust
            // object; the fd is valid for the call and the mapping outlives it.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_SHARED,
                    self.fd.as_raw_fd(),
                    0,
                )
            }
        } else {
            // SAFETY: per the type invariant `ptr..ptr + len` is our live mapping; with
            // MREMAP_MAYMOVE the kernel either moves it whole or leaves it untouched. No
            // reference into the old range outlives this call: views borrow `self`.
            unsafe {
                libc::mremap(
                    self.ptr.as_ptr().cast(),
                    self.len,
                    len,
                    libc::MREMAP_MAYMOVE,
                )
            }
        };
        if ptr == libc::MAP_FAILED {
            let operation = if self.len == 0 { "mmap" } else { "mremap" };
            return Err(ShmFailure::new(operation, io::Error::last_os_error()));
        }
        self.ptr = NonNull::new(ptr.cast())
            .ok_or_else(|| ShmFailure::invalid("mmap", "the kernel returned a null mapping"))?;
        self.len = len;
        Ok(())
    }

    /// The label errors name (e.g. `tandem:gen:0:w2c`).
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The descriptor (to hand to a worker).
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Size of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The start of a read-write mapping viewed as a `T`, or `None` if the mapping is
    /// read-only or too short.
    pub(crate) fn view<T: AtomicsOnly>(&self) -> Option<&T> {
        let fits = std::mem::size_of::<T>() <= self.len;
        let aligned = (self.ptr.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>());
        if !fits || !aligned || self.access != Access::ReadWrite {
            return None;
        }
        // SAFETY: the mapping is live for `&self`, large enough and aligned (checked above);
        // `T: FromBytes` accepts any bytes and `T: AtomicsOnly` makes shared mutation through
        // `&T` by this and other processes free of data races.
        Some(unsafe { &*self.ptr.as_ptr().cast::<T>() })
    }

    /// The first `len` bytes of the mapping as a copy-only view, or `None` if the mapping
    /// is shorter. Safe whatever the peer does: the view only copies out.
    pub(crate) fn shared(&self, len: usize) -> Option<SharedBytes<'_>> {
        if len > self.len {
            return None;
        }
        if len == 0 {
            return Some(SharedBytes::from_private(&[]));
        }
        // SAFETY: per the type invariant `ptr..ptr + len` lies in our live mapping, which
        // stays mapped while `self` is borrowed, and never beyond the file (no SIGBUS).
        Some(unsafe { SharedBytes::from_raw(self.ptr, len) })
    }

    /// The first `len` bytes of the worker's input, borrowed in place, or `None` if the
    /// mapping is shorter or this is not a worker's input ([`adopt_input`](Self::adopt_input)).
    ///
    /// Sound because the worker trusts its controller (the trust model in the crate docs):
    /// the only writer of an input is the controller's one mapping (the kernel enforces it,
    /// [`INPUT_SEALS`]), and the controller writes it only before it posts a request, never
    /// again until the worker has replied, and never after a transition it gave up on (the
    /// channel is then unusable until a restart gives the next worker fresh memory). The
    /// slice borrows `self`, which the worker holds for one turn.
    pub(crate) fn trusted_bytes(&self, len: usize) -> Option<&[u8]> {
        if !self.trusted || len > self.len {
            return None;
        }
        if len == 0 {
            return Some(&[]);
        }
        // SAFETY: per the type invariant the mapping is live and at least `len` bytes long;
        // `trusted` (checked above) means nothing writes it while the worker holds its turn
        // (the comment above and the invariant of `trusted`).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) })
    }
}

/// A segment whose bytes only this mapping writes, so that this process may borrow them as
/// `&mut [u8]` ([`bytes_mut`](Self::bytes_mut)): a buffer's writer.
#[derive(Debug)]
pub(crate) struct WriterSegment {
    // INVARIANT: `segment` is mapped read-write and no other mapping writes its file: the
    // controller's input is sealed with `F_SEAL_FUTURE_WRITE` after its one writable mapping
    // was made (`create_input`); a worker's reply buffer is mapped by its controller only
    // read-only (`Segment::create_reply`), and the worker trusts its controller.
    segment: Segment,
}

impl WriterSegment {
    /// Creates the controller's input buffer: a memfd of `max_len` bytes (at least a page)
    /// that only this mapping may ever write. The file gets its final size at once, sparse
    /// (holes cost no memory); its first page is reserved and mapped read-write; then it is
    /// sealed with [`INPUT_SEALS`]. Growing it afterwards ([`grow`](Segment::grow)) reserves
    /// more of the file with `fallocate` and extends this same mapping with `mremap`, which
    /// no seal forbids, while the peer, whatever descriptor it finds or reopens, can neither
    /// write nor resize the file.
    ///
    /// Under a file-size limit (`ulimit -f`, which the kernel applies to memfds too) the
    /// file is only as large as the limit allows, and a larger message is refused as a
    /// limit ([`ShmFailure::is_out_of_memory`]).
    pub(crate) fn create_input(label: &str, max_len: usize) -> Result<WriterSegment, ShmFailure> {
        let size = max_len.max(PAGE).min(file_size_limit());
        if size < PAGE {
            return Err(ShmFailure::new(
                "ftruncate",
                io::Error::from_raw_os_error(libc::EFBIG),
            ));
        }
        let mut segment = Segment::create_unsealed(label, Access::ReadWrite)?;
        // SAFETY: ftruncate on our own fd with a non-negative size.
        cvt(unsafe { libc::ftruncate(segment.fd.as_raw_fd(), to_off(size, "ftruncate")?) })
            .map_err(|e| ShmFailure::new("ftruncate", e))?;
        segment.fixed_size = Some(size);
        segment.reserve(PAGE)?;
        segment.remap(PAGE)?;
        segment.seal(INPUT_SEALS)?;
        Ok(WriterSegment { segment })
    }

    /// Takes over, in the worker, the reply buffer its controller created with
    /// [`Segment::create_reply`], mapped read-write here. Maps nothing yet.
    pub(crate) fn adopt_reply(label: &str, raw: RawFd) -> Result<WriterSegment, ShmFailure> {
        let segment = Segment::adopt(label, raw, Access::ReadWrite, BUFFER_SEALS)?;
        Ok(WriterSegment { segment })
    }

    /// The whole mapping as a mutable byte slice. The peer reads it only through copies
    /// ([`SharedBytes`]), and the buffer protocol keeps it from reading a message before it
    /// is published.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let segment = &mut self.segment;
        if segment.len == 0 {
            return &mut [];
        }
        // SAFETY: per `Segment`'s invariant the mapping is live and `len` bytes long; per
        // this type's invariant it is read-write and nothing else writes it, and `&mut self`
        // makes this the only borrow in this process.
        unsafe { std::slice::from_raw_parts_mut(segment.ptr.as_ptr(), segment.len) }
    }

    /// The writer's growth (see [`Segment::grow`]).
    pub(crate) fn grow(&mut self, len: usize) -> Result<(), ShmFailure> {
        self.segment.grow(len)
    }

    /// The segment (to hand its descriptor to a peer).
    pub(crate) fn segment(&self) -> &Segment {
        &self.segment
    }

    /// See [`Segment::label`].
    pub(crate) fn label(&self) -> &str {
        self.segment.label()
    }

    /// See [`Segment::len`].
    pub(crate) fn len(&self) -> usize {
        self.segment.len()
    }

    /// See [`Segment::raw_fd`].
    #[cfg(feature = "testing")]
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.segment.raw_fd()
    }
}

/// A read-write segment viewed as one `T` for its whole life. The checks of
/// [`Segment::view`] run once, in [`new`](Self::new), so reaching the `T` afterwards has no
/// failure path: the crash hook relies on that, since it runs in a signal handler, where a
/// panic must not happen.
#[derive(Debug)]
pub(crate) struct SharedView<T: AtomicsOnly> {
    // INVARIANT: `view` points to the `T` at the start of `mapping`, which is read-write,
    // large enough and aligned for `T` (checked in `new`) and stays mapped as long as
    // `mapping`, which this value owns and never remaps.
    view: NonNull<T>,
    mapping: Segment,
}

// SAFETY: `view` points into the mapping `mapping` owns, and `Segment` is `Send`; the `T`
// behind it is plain shared memory, tied to no thread.
unsafe impl<T: AtomicsOnly> Send for SharedView<T> {}
// SAFETY: only `&T` is handed out, and `T: AtomicsOnly` includes `Sync`.
unsafe impl<T: AtomicsOnly> Sync for SharedView<T> {}

impl<T: AtomicsOnly> SharedView<T> {
    /// Views `segment` as a `T`, or `None` if it is read-only, too short or misaligned.
    pub(crate) fn new(segment: Segment) -> Option<SharedView<T>> {
        let view = NonNull::from(segment.view::<T>()?);
        Some(SharedView {
            view,
            mapping: segment,
        })
    }

    /// The shared `T`.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: per the type invariant `view` is a valid, aligned `T` in a mapping that
        // lives as long as `self`; `T: AtomicsOnly` makes shared access race-free.
        unsafe { self.view.as_ref() }
    }

    /// The segment behind the view (its descriptor, to hand to a worker).
    pub(crate) fn segment(&self) -> &Segment {
        &self.mapping
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: per the type invariant this is our live mapping of `len` bytes,
            // unmapped only here; no reference derived from it can outlive `self`.
            let _ = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}
