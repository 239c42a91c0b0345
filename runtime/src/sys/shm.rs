//! POSIX shared-memory segments (`shm_open` + `mmap`).
//!
//! A [`Segment`] is one mapped segment. Created segments are exclusive (`O_EXCL`), private to
//! the user (mode 0600) and have their backing store reserved with `posix_fallocate`, so a
//! full `/dev/shm` is an error at creation instead of a `SIGBUS` at first touch. Segments are
//! opened either read-write (the control block) or read-only (a reader's view of the peer's
//! buffer: the reader cannot corrupt what it reads).

use std::ffi::CString;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;
use zerocopy::{FromBytes, KnownLayout};

/// A `#[repr(C)]` layout made only of atomics, so that two processes may read and write it
/// through shared references at the same time.
///
/// # Safety
/// Every byte of the type must belong to an atomic field (or an array or struct of atomic
/// fields): no plain field, no padding. Then any bit pattern is valid (the `FromBytes` bound
/// proves that) and concurrent access from another process is never a data race.
pub(crate) unsafe trait AtomicsOnly: FromBytes + KnownLayout + Sync {}

/// Access a mapping grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
}

/// A mapped shared-memory segment. Unmapped on drop; the name is never unlinked here
/// (ownership of names is decided by the layers above, see [`unlink`]).
#[derive(Debug)]
pub(crate) struct Segment {
    name: String,
    // INVARIANT: `ptr` is the start of a live `MAP_SHARED` mapping of `len` bytes with
    // `access` permissions, owned by this value and unmapped exactly once, in `drop`.
    ptr: NonNull<u8>,
    len: usize,
    access: Access,
}

// SAFETY: the mapping is plain memory owned by this value; nothing in it is tied to a thread.
unsafe impl Send for Segment {}
// SAFETY: `&Segment` only hands out raw pointers; every access through them is the caller's
// responsibility (atomics for the control block, turn-taking for buffers).
unsafe impl Sync for Segment {}

/// What went wrong with a segment, with the OS error.
#[derive(Debug)]
pub(crate) struct ShmFailure {
    pub(crate) operation: &'static str,
    pub(crate) error: io::Error,
}

impl ShmFailure {
    fn new(operation: &'static str, errno: Errno) -> Self {
        ShmFailure {
            operation,
            error: io::Error::from(errno),
        }
    }
}

fn c_name(name: &str) -> Result<CString, ShmFailure> {
    CString::new(name).map_err(|_| ShmFailure {
        operation: "name",
        error: io::Error::new(
            io::ErrorKind::InvalidInput,
            "segment name contains a NUL byte",
        ),
    })
}

impl Segment {
    /// Creates `name` exclusively with `len` bytes of reserved backing store and maps it
    /// read-write. Fails with `EEXIST` if the name exists.
    pub(crate) fn create(name: &str, len: usize) -> Result<Segment, ShmFailure> {
        let c = c_name(name)?;
        let len = NonZeroUsize::new(len).unwrap_or(NonZeroUsize::MIN);
        let fd = mman::shm_open(
            c.as_c_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map_err(|e| ShmFailure::new("shm_open(O_CREAT|O_EXCL)", e))?;
        let reserved = libc::off_t::try_from(len.get())
            .map_err(|_| ShmFailure::new("posix_fallocate", Errno::EFBIG))
            .and_then(|size| {
                nix::fcntl::posix_fallocate(fd.as_raw_fd(), 0, size)
                    .map_err(|e| ShmFailure::new("posix_fallocate", e))
            });
        let mapped = reserved.and_then(|()| map(&fd, len, Access::ReadWrite));
        match mapped {
            Ok(ptr) => Ok(Segment {
                name: name.to_owned(),
                ptr,
                len: len.get(),
                access: Access::ReadWrite,
            }),
            Err(failure) => {
                // Nobody else can have opened it yet in a useful way: the name was ours alone.
                let _ = mman::shm_unlink(c.as_c_str());
                Err(failure)
            }
        }
    }

    /// Opens an existing segment and maps all of it with `access`.
    pub(crate) fn open(name: &str, access: Access) -> Result<Segment, ShmFailure> {
        let c = c_name(name)?;
        let flags = match access {
            Access::ReadOnly => OFlag::O_RDONLY,
            Access::ReadWrite => OFlag::O_RDWR,
        };
        let fd = mman::shm_open(c.as_c_str(), flags, Mode::empty())
            .map_err(|e| ShmFailure::new("shm_open", e))?;
        let stat =
            nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| ShmFailure::new("fstat", e))?;
        let len = usize::try_from(stat.st_size)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| ShmFailure::new("fstat (empty segment)", Errno::EINVAL))?;
        let ptr = map(&fd, len, access)?;
        Ok(Segment {
            name: name.to_owned(),
            ptr,
            len: len.get(),
            access,
        })
    }

    /// The segment's name, as passed to `shm_open`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Size of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The start of a read-write mapping viewed as a `T`, or `None` if the mapping is
    /// read-only or too short.
    pub(crate) fn view<T: AtomicsOnly>(&self) -> Option<&T> {
        let fits = std::mem::size_of::<T>() <= self.len;
        let aligned = (self.ptr.as_ptr() as usize) % std::mem::align_of::<T>() == 0;
        if !fits || !aligned || self.access != Access::ReadWrite {
            return None;
        }
        // SAFETY: the mapping is live for `&self`, large enough and aligned (checked above);
        // `T: FromBytes` accepts any bytes and `T: AtomicsOnly` makes shared mutation through
        // `&T` by this and other processes free of data races.
        Some(unsafe { &*self.ptr.as_ptr().cast::<T>() })
    }

    /// The whole mapping as a mutable byte slice.
    ///
    /// # Safety
    /// The mapping must be read-write, and no other process may access these bytes while
    /// the returned slice lives (the buffer protocol gives the writer the turn).
    pub(crate) unsafe fn bytes_mut(&mut self) -> &mut [u8] {
        debug_assert_eq!(self.access, Access::ReadWrite);
        // SAFETY: per the type invariant the mapping is live and `len` bytes long; exclusive
        // access is the caller's obligation.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The first `len` bytes of the mapping, or `None` if the mapping is shorter.
    ///
    /// # Safety
    /// No other process may write these bytes while the returned slice lives (the buffer
    /// protocol: the reader only reads during its turn).
    pub(crate) unsafe fn bytes(&self, len: usize) -> Option<&[u8]> {
        if len > self.len {
            return None;
        }
        // SAFETY: per the type invariant the mapping is live and at least `len` bytes long;
        // absence of concurrent writers is the caller's obligation.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) })
    }
}

/// A read-write segment viewed as one `T` for its whole life. The checks of
/// [`Segment::view`] run once, in [`new`](Self::new), so reaching the `T` afterwards has no
/// failure path: the crash hook relies on that, since it runs in a signal handler, where a
/// panic must not happen.
#[derive(Debug)]
pub(crate) struct SharedView<T: AtomicsOnly> {
    // INVARIANT: `view` points to the `T` at the start of `_mapping`, which is read-write,
    // large enough and aligned for `T` (checked in `new`) and stays mapped as long as
    // `_mapping`, which this value owns (only for its `Drop`).
    view: NonNull<T>,
    _mapping: Segment,
}

// SAFETY: `view` points into the mapping `_mapping` owns, and `Segment` is `Send`; the `T`
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
            _mapping: segment,
        })
    }

    /// The shared `T`.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: per the type invariant `view` is a valid, aligned `T` in a mapping that
        // lives as long as `self`; `T: AtomicsOnly` makes shared access race-free.
        unsafe { self.view.as_ref() }
    }
}

fn map(fd: &OwnedFd, len: NonZeroUsize, access: Access) -> Result<NonNull<u8>, ShmFailure> {
    let prot = match access {
        Access::ReadOnly => ProtFlags::PROT_READ,
        Access::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
    };
    // SAFETY: a fresh mapping at an address of the kernel's choosing aliases no Rust object;
    // the fd is valid for the call and the mapping outlives it.
    let ptr = unsafe { mman::mmap(None, len, prot, MapFlags::MAP_SHARED, fd, 0) }
        .map_err(|e| ShmFailure::new("mmap", e))?;
    Ok(ptr.cast())
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: per the type invariant this is our live mapping of `len` bytes, unmapped
        // only here; no reference derived from it can outlive `self`.
        let _ = unsafe { mman::munmap(self.ptr.cast(), self.len) };
    }
}

/// Removes the name `name`; mappings stay valid until unmapped. Missing names are fine.
pub(crate) fn unlink(name: &str) -> io::Result<()> {
    match mman::shm_unlink(name) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
