//! Every libc call of the comparison program: the floors' shared mapping and futex, CPU
//! pinning, the descriptors handed to peer processes, and the CPU-time clock of the work
//! ladder. The library keeps its own in `runtime/src/sys`; these are the hand-written
//! mechanisms it is compared with.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

/// A `MAP_SHARED` mapping of a `memfd`, shared with a peer process through its descriptor.
pub struct SharedMap {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is plain memory; concurrent access goes through atomics or is ordered by
// them (the handshake of each floor).
unsafe impl Send for SharedMap {}

impl SharedMap {
    /// A fresh zeroed mapping of `len` bytes, its descriptor inheritable by a child.
    pub fn create(len: usize) -> io::Result<SharedMap> {
        // SAFETY: the name is a NUL-terminated literal; no flag asks for close-on-exec, so a
        // spawned peer inherits the descriptor.
        let fd = unsafe { libc::memfd_create(c"tandem-bench-floor".as_ptr(), 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a descriptor this process owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a valid descriptor and size.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Self::map(fd, len)
    }

    /// Maps the descriptor `fd` inherited from the parent (the peer's side).
    pub fn open(fd: RawFd, len: usize) -> io::Result<SharedMap> {
        // SAFETY: the parent passed this inherited descriptor for this process to own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Self::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<SharedMap> {
        // SAFETY: a fresh mapping of a descriptor sized to at least `len`; it aliases nothing
        // of this process and is unmapped only in `drop`.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast::<u8>()).ok_or(io::ErrorKind::Other)?;
        Ok(SharedMap { base, len, fd })
    }

    /// The descriptor, for the peer's command line.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The 32-bit word at `offset` (a multiple of 4 below `len`).
    pub fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "word {offset} out of the map"
        );
        // SAFETY: in bounds and aligned (the mapping is page-aligned); the memory lives as
        // long as `self`, and every process touches these words only atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// Copies `src` into the mapping at `offset`.
    pub fn write(&self, offset: usize, src: &[u8]) {
        assert!(offset + src.len() <= self.len, "write past the map");
        // SAFETY: in bounds; the handshake orders this copy against the peer's accesses to
        // the same bytes (it reads them only after the word that publishes them).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(offset), src.len())
        };
    }

    /// Copies the mapping's bytes at `offset` into `dst`.
    pub fn read(&self, offset: usize, dst: &mut [u8]) {
        assert!(offset + dst.len() <= self.len, "read past the map");
        // SAFETY: in bounds; ordered by the handshake as in `write`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference into it outlives
        // `self` (`word` borrows `self`).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Sleeps while `word` holds `expected` (a shared, not process-private, futex).
pub fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: the word is a live, aligned u32; FUTEX_WAIT only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

/// Wakes one process sleeping on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: the word is a live, aligned u32; FUTEX_WAKE does not touch it.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// The CPUs this process may run on.
pub fn affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

/// Restricts this process (its calling thread) to `set`.
pub fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Restricts this process (its calling thread) to CPU `cpu`.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET bounds-checks `cpu` against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}

/// Lets a spawned child inherit `fd`.
pub fn inheritable(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD on a descriptor the caller owns changes only its flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe, both ends close-on-exec: `(read, write)`.
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two descriptors this process owns.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Takes ownership of the descriptor `fd` inherited from the parent.
pub fn inherited_file(fd: RawFd) -> File {
    // SAFETY: the parent passed this inherited descriptor for this process to own.
    unsafe { File::from_raw_fd(fd) }
}

/// The CPU time this process (all its threads) has used so far, in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    // SAFETY: a zeroed timespec is a valid value for clock_gettime to overwrite.
    let mut time: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `time` is a valid timespec; the clock id is a constant the kernel knows.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}
