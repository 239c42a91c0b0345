//! Signal dispositions, signal masks, alternate signal stacks and the async-signal-safe
//! primitives the fatal-signal handler is built from.
//!
//! Two kinds of functions live here, and each says which kind it is:
//! - **async-signal-safe** (`AS-safe` below): only raw syscalls or libc functions that POSIX or
//!   glibc list as async-signal-safe, no allocation, no locks, no panics (no indexing, no
//!   overflowing arithmetic). `monitor/handler.rs` may call only these.
//! - ordinary functions for the helper thread and for setup; they return `io::Result` through
//!   the [`cvt`] funnel.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::SeqCst};

use libc::{c_int, c_void};

use super::cvt;

/// A fatal-signal handler written in safe Rust. [`install_handler`] installs it behind an
/// `extern "C"` trampoline that wraps the kernel's raw arguments in a [`SignalFrame`], so no
/// code outside this module touches them.
pub(crate) trait SignalHandler {
    /// Runs in the handler, with the signal number and the kernel's description of it. Must
    /// be **async-signal-safe** (see the module docs).
    fn handle(signal: c_int, frame: SignalFrame<'_>);
}

/// The `SA_SIGINFO` entry point the kernel calls: hands its arguments to `H` as a frame.
extern "C" fn trampoline<H: SignalHandler>(
    signal: c_int,
    info: *mut libc::siginfo_t,
    context: *mut c_void,
) {
    // The invariant of `SignalFrame`: these are the kernel's arguments to the handler that is
    // running, valid until it returns, which the frame's lifetime (this call) cannot outlive.
    let frame = SignalFrame {
        info,
        context,
        _handler: PhantomData,
    };
    H::handle(signal, frame)
}

/// The address of `H`'s trampoline, as `sa_sigaction` holds it.
fn entry_point<H: SignalHandler>() -> libc::sighandler_t {
    let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = trampoline::<H>;
    handler as libc::sighandler_t
}

/// The kernel's description of the signal a handler is running for: its `siginfo_t` and
/// `ucontext_t` arguments, readable only through the safe accessors below.
#[derive(Clone, Copy)]
pub(crate) struct SignalFrame<'a> {
    // INVARIANT: each pointer is null or the kernel's argument to the `SA_SIGINFO` handler
    // that runs on this thread, valid for `'a` (the handler's call). Only `trampoline` and
    // `none` construct a frame.
    info: *const libc::siginfo_t,
    context: *const c_void,
    _handler: PhantomData<&'a ()>,
}

impl SignalFrame<'_> {
    /// A frame with no kernel arguments (for a crash hook run outside a handler, in tests):
    /// every accessor answers `None`.
    #[cfg(test)]
    pub(crate) fn none() -> SignalFrame<'static> {
        SignalFrame {
            info: ptr::null(),
            context: ptr::null(),
            _handler: PhantomData,
        }
    }

    /// AS-safe. The fault address and the interrupted stack pointer of a synchronous fault
    /// (see [`fault_addresses`]).
    pub(crate) fn fault_addresses(&self) -> Option<(usize, usize)> {
        // SAFETY: per the type invariant, the kernel's arguments or null.
        unsafe { fault_addresses(self.info, self.context) }
    }

    /// AS-safe. `si_code` and the fault address (see [`super::crash::fault_of`]).
    pub(crate) fn fault(&self) -> (i32, Option<u64>) {
        // SAFETY: per the type invariant, the kernel's `siginfo_t` or null.
        unsafe { super::crash::fault_of(self.info) }
    }

    /// AS-safe. The interrupted thread's registers (see
    /// [`super::crash::machine_registers`]).
    pub(crate) fn machine_registers(&self) -> Option<super::crash::MachineRegisters> {
        // SAFETY: per the type invariant, the kernel's `ucontext_t` or null.
        unsafe { super::crash::machine_registers(self.context) }
    }

    /// AS-safe. The system call a seccomp filter refused, for its `SIGSYS` (see
    /// [`super::sandbox::syscall_trap`]).
    pub(crate) fn syscall_trap(&self) -> Option<super::sandbox::SyscallTrap> {
        // SAFETY: per the type invariant, the kernel's arguments or null.
        unsafe { super::sandbox::syscall_trap(self.info, self.context) }
    }
}

/// A complete signal disposition as returned by `sigaction(2)`, kept so it can be put back.
#[derive(Clone, Copy)]
pub(crate) struct SavedAction(libc::sigaction);

#[cfg(test)]
impl SavedAction {
    /// Whether this disposition runs `H` (through [`install_handler`]).
    pub(crate) fn runs<H: SignalHandler>(&self) -> bool {
        self.0.sa_sigaction == entry_point::<H>()
    }
}

/// Builds a signal set holding `signals`.
fn sigset_of(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data; all-zero is a valid value that sigemptyset overwrites.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t. sigemptyset cannot fail for a valid pointer.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: as above; an invalid signal number only makes sigaddset return -1 (ignored:
        // the callers pass the fixed list of monitored signals).
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    set
}

/// Installs `H` for `signal` with `SA_SIGINFO | SA_ONSTACK | SA_RESTART`, blocking `mask`
/// while it runs, and returns the previous disposition.
pub(crate) fn install_handler<H: SignalHandler>(
    signal: c_int,
    mask: &[c_int],
) -> io::Result<SavedAction> {
    // SAFETY: `sigaction` is plain data; zero is a valid starting value for every field.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = entry_point::<H>();
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    new.sa_mask = sigset_of(mask);
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live, properly initialised `sigaction` values; the
    // handler is an `extern "C"` function with the SA_SIGINFO signature.
    cvt(unsafe { libc::sigaction(signal, &new, &mut old) })?;
    Ok(SavedAction(old))
}

/// Puts back a disposition previously returned by [`install_handler`].
pub(crate) fn restore_action(signal: c_int, saved: &SavedAction) -> io::Result<()> {
    // SAFETY: `saved.0` is a disposition the kernel handed us; a null old-action pointer is
    // allowed.
    cvt(unsafe { libc::sigaction(signal, &saved.0, ptr::null_mut()) })?;
    Ok(())
}

/// Reads the current disposition of `signal` without changing it.
#[cfg(test)]
pub(crate) fn query_action(signal: c_int) -> io::Result<SavedAction> {
    // SAFETY: plain data, zero is valid.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new-action pointer only queries; `old` is writable.
    cvt(unsafe { libc::sigaction(signal, ptr::null(), &mut old) })?;
    Ok(SavedAction(old))
}

/// Blocks `signals` in the calling thread and returns the previous mask of the thread.
pub(crate) fn block_signals(signals: &[c_int]) -> io::Result<SignalMask> {
    let set = sigset_of(signals);
    // SAFETY: plain data, overwritten by pthread_sigmask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid sigset_t values.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(SignalMask(old))
}

/// A thread's signal mask, saved by [`block_signals`].
pub(crate) struct SignalMask(libc::sigset_t);

impl SignalMask {
    /// Makes this the calling thread's signal mask again.
    pub(crate) fn restore(&self) -> io::Result<()> {
        // SAFETY: `self.0` is a mask the kernel gave us; a null old-mask pointer is allowed.
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut()) };
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(())
    }
}

/// Creates a close-on-exec pipe, returns `(read end, write end)`. With `nonblocking_write`,
/// the write end is `O_NONBLOCK` so a writer can never block on a full pipe.
pub(crate) fn pipe(nonblocking_write: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [c_int; 2] = [-1, -1];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if nonblocking_write {
        // SAFETY: F_GETFL / F_SETFL on a descriptor we own.
        let flags = cvt(unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETFL) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok((read, write))
}

/// Blocking read of exactly `buf.len()` bytes, retrying on `EINTR`. `Ok(false)` on end of file.
pub(crate) fn read_exact(fd: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        match cvt(unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) }) {
            Ok(0) => return Ok(false),
            Ok(n) => done += n.unsigned_abs(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Async-signal-safe primitives for monitor/handler.rs
// ---------------------------------------------------------------------------------------------

/// AS-safe. The calling thread's `errno`.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for its lifetime.
    unsafe { *libc::__errno_location() }
}

/// AS-safe. Sets the calling thread's `errno`.
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// AS-safe. The kernel thread id of the caller.
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// AS-safe. Writes all of `bytes` to `fd`, retrying on `EINTR` and short writes. Returns
/// `false` on any other error (including `EAGAIN` on a full non-blocking pipe).
pub(crate) fn write_all(fd: RawFd, bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable buffer of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        // `n <= rest.len()`, so neither the conversion nor the slicing can panic;
        // `get` keeps the compiler from inserting a panicking bounds check anyway.
        match rest.get(n.unsigned_abs()..) {
            Some(tail) => rest = tail,
            None => return false,
        }
    }
    true
}

/// AS-safe. Monotonic clock in milliseconds.
fn monotonic_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is writable; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // `checked_div`: a plain `/` on a signed integer carries an overflow check (MIN / -1) in
    // debug builds, which cannot fire here but would be a panic path in signal context.
    ts.tv_sec
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec.checked_div(1_000_000).unwrap_or(0))
}

/// AS-safe. Waits until `fd` is readable (or hung up) or `timeout_ms` elapsed, restarting
/// `poll(2)` after `EINTR` with the remaining time. Returns whether `fd` became readable.
pub(crate) fn wait_readable(fd: RawFd, timeout_ms: u32) -> bool {
    let deadline = monotonic_ms().saturating_add(i64::from(timeout_ms));
    loop {
        let remaining = deadline.saturating_sub(monotonic_ms()).max(0);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = c_int::try_from(remaining).unwrap_or(c_int::MAX);
        // SAFETY: one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if ret > 0 {
            return true;
        }
        if ret == 0 || errno() != libc::EINTR || remaining == 0 {
            return false;
        }
    }
}

/// AS-safe. Restores `SIG_DFL` for `signal`, unblocks it in the calling thread and raises it,
/// so the process dies of `signal` with the usual status (128 + signal in shell terms).
///
/// Should the process survive (it cannot for the monitored signals, whose default action is
/// to terminate), it leaves with `_exit(128 + signal)`.
pub(crate) fn die_of(signal: c_int) -> ! {
    // SAFETY: plain data, zero is valid.
    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: valid sigaction, null old-action pointer allowed. sigaction is AS-safe.
    unsafe { libc::sigaction(signal, &dfl, ptr::null_mut()) };
    // SAFETY: plain data, overwritten by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is writable; sigemptyset/sigaddset only touch it and are AS-safe.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
    }
    // SAFETY: pthread_sigmask is AS-safe on Linux (a thin rt_sigprocmask wrapper).
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut()) };
    // SAFETY: raise is AS-safe; with SIG_DFL and the signal unblocked it does not return for a
    // terminating signal.
    unsafe { libc::raise(signal) };
    // SAFETY: _exit is AS-safe and ends the process immediately.
    unsafe { libc::_exit(128_i32.saturating_add(signal)) }
}

/// AS-safe. The fault address (`si_addr`) and the interrupted stack pointer of a synchronous
/// fault, read from the handler's `siginfo_t` and `ucontext_t` arguments (outside this
/// module: [`SignalFrame::fault_addresses`]).
///
/// `None` for a signal sent by a process (no fault address), for null arguments, and on
/// architectures whose machine context this module does not know (see
/// [`interrupted_stack_pointer`]): the caller then skips the stack-overflow diagnosis, which is
/// the conservative choice (the crash itself is still handled and reported).
///
/// # Safety
/// `info` and `context` must be the pointers the kernel passed to an `SA_SIGINFO` handler
/// (either may be null, then `None` is returned).
unsafe fn fault_addresses(
    info: *const libc::siginfo_t,
    context: *const c_void,
) -> Option<(usize, usize)> {
    if info.is_null() || context.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `info` is the kernel's siginfo for this signal.
    if unsafe { (*info).si_code } <= 0 {
        // Sent by kill/raise/tgkill (SI_USER, SI_TKILL, ...): no fault address; the union
        // holds the sender's pid and uid instead.
        return None;
    }
    // SAFETY: the caller guarantees `info` is the kernel's siginfo for this signal.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: the caller guarantees `context` is the kernel's ucontext_t for this signal.
    let sp = unsafe { interrupted_stack_pointer(context.cast()) }?;
    Some((addr, sp))
}

/// AS-safe. The stack pointer of the interrupted code, from the kernel's `ucontext_t`.
///
/// - x86_64: `uc_mcontext.gregs[REG_RSP]`;
/// - aarch64: `uc_mcontext.sp` (the `sp` of the kernel's `struct sigcontext`, which glibc and
///   musl lay out as `mcontext_t`);
/// - any other architecture: `None`. Each one stores the register elsewhere (`gp_regs[1]` on
///   powerpc64, `__gregs[2]` on riscv64, ...); guessing wrong would turn a real diagnosis into
///   a false one, so the stack-overflow message is left out there until the layout is added
///   here.
///
/// # Safety
/// `uc` must be non-null and the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
#[cfg(all(
    target_os = "linux",
    target_arch = "x86_64",
    target_pointer_width = "64"
))]
unsafe fn interrupted_stack_pointer(uc: *const libc::ucontext_t) -> Option<usize> {
    // SAFETY: the caller guarantees `uc` is the kernel's ucontext_t; `get` keeps the constant
    // index (15 of 23 entries) free of a panicking bounds check.
    let gregs = unsafe { &(*uc).uc_mcontext.gregs };
    let sp = *gregs.get(usize::try_from(libc::REG_RSP).ok()?)?;
    // A register is 64 bits, as is `usize` on this target: the cast keeps every bit.
    Some(sp as usize)
}

/// See the x86_64 version above.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(all(
    target_os = "linux",
    target_arch = "aarch64",
    target_pointer_width = "64"
))]
unsafe fn interrupted_stack_pointer(uc: *const libc::ucontext_t) -> Option<usize> {
    // SAFETY: the caller guarantees `uc` is the kernel's ucontext_t.
    let sp = unsafe { (*uc).uc_mcontext.sp };
    // A register is 64 bits, as is `usize` on this target: the cast keeps every bit.
    Some(sp as usize)
}

/// See the x86_64 version above: an architecture without a known layout has no answer.
///
/// # Safety
/// None needed (the context is not read); `unsafe` only to match the other versions.
#[cfg(not(any(
    all(
        target_os = "linux",
        target_arch = "x86_64",
        target_pointer_width = "64"
    ),
    all(
        target_os = "linux",
        target_arch = "aarch64",
        target_pointer_width = "64"
    ),
)))]
unsafe fn interrupted_stack_pointer(_uc: *const libc::ucontext_t) -> Option<usize> {
    None
}

/// Raises `signal` in the calling thread through its current disposition (unlike
/// [`die_of`], which resets it first).
#[cfg(test)]
pub(crate) fn raise(signal: c_int) -> io::Result<()> {
    // SAFETY: raise only sends a signal to the calling thread; an invalid number is EINVAL.
    match unsafe { libc::raise(signal) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

// ---------------------------------------------------------------------------------------------
// A value a signal handler borrows
// ---------------------------------------------------------------------------------------------

/// A slot holding at most one boxed `T` that a signal handler may borrow without locks
/// ([`with`](Self::with), AS-safe) while ordinary code replaces it
/// ([`replace`](Self::replace), which frees the old value only once no handler can still be
/// reading it).
///
/// Ordering (all `SeqCst`): a borrower counts itself in `users` before it loads `value`;
/// `replace` swaps `value`, then waits for `users` to reach zero. A borrower that loaded the
/// old value counted itself before the swap, so `replace` sees it and waits; one that counts
/// itself after the swap loads the new value.
#[derive(Debug)]
pub(crate) struct HandlerSlot<T> {
    // INVARIANT: null, or a pointer from `Box::into_raw` owned by this slot, freed only by
    // `replace` after it was swapped out and `users` was seen at zero.
    value: AtomicPtr<T>,
    /// Borrowers between their load of `value` and the end of their use of it.
    users: AtomicUsize,
}

impl<T: Send + Sync> HandlerSlot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        HandlerSlot {
            value: AtomicPtr::new(ptr::null_mut()),
            users: AtomicUsize::new(0),
        }
    }

    /// AS-safe (if `f` is). Runs `f` on the value, if there is one; `None` otherwise.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.users.fetch_add(1, SeqCst);
        let value = self.value.load(SeqCst);
        // SAFETY: per the invariant a non-null `value` is a live box: `replace` frees a
        // swapped-out value only after `users`, incremented above before our load, is back
        // to zero, which our decrement below comes after.
        let result = (!value.is_null()).then(|| f(unsafe { &*value }));
        self.users.fetch_sub(1, SeqCst);
        result
    }

    /// Whether the slot holds a value.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.value.load(SeqCst).is_null()
    }

    /// Not AS-safe (frees memory). Puts `new` in the slot (or empties it) and frees the
    /// previous value once no borrower can still use it: when this returns, the previous
    /// value is gone and nothing reads it any more.
    pub(crate) fn replace(&self, new: Option<T>) {
        let new = new.map_or(ptr::null_mut(), |value| Box::into_raw(Box::new(value)));
        let old = self.value.swap(new, SeqCst);
        while self.users.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        if !old.is_null() {
            // SAFETY: `old` came from `Box::into_raw` in an earlier `replace`, was swapped out
            // above (so no new borrower can load it), and every borrower that loaded it
            // before the swap has left (`users` was zero after the swap).
            drop(unsafe { Box::from_raw(old) });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Alternate signal stacks
// ---------------------------------------------------------------------------------------------

/// Whether the calling thread has an enabled alternate signal stack.
pub(crate) fn has_alt_stack() -> io::Result<bool> {
    // SAFETY: plain data, overwritten by sigaltstack.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new-stack pointer only queries.
    cvt(unsafe { libc::sigaltstack(ptr::null(), &mut old) })?;
    Ok(old.ss_flags & libc::SS_DISABLE == 0 && !old.ss_sp.is_null())
}

/// An alternate signal stack owned by the thread that installed it: an anonymous mapping
/// with a `PROT_NONE` guard page below the usable part.
///
/// Dropping it disables the alternate stack (if it is still the thread's current one) and
/// unmaps it; it must be dropped on the thread that installed it (it is `!Send`).
pub(crate) struct AltStack {
    // INVARIANT: `base..base + len` is a mapping we own; the usable stack starts one page in.
    base: *mut c_void,
    len: usize,
    page: usize,
}

impl AltStack {
    /// Maps a stack of at least `size` usable bytes and makes it the calling thread's
    /// alternate signal stack.
    pub(crate) fn install(size: usize) -> io::Result<AltStack> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let usable = size.max(libc::SIGSTKSZ).div_ceil(page) * page;
        let len = usable + page;
        // SAFETY: anonymous private mapping at an address of the kernel's choice.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = AltStack { base, len, page };
        // SAFETY: the first page lies inside the mapping we just created.
        cvt(unsafe { libc::mprotect(base, page, libc::PROT_NONE) })?;
        let ss = libc::stack_t {
            // SAFETY: `page < len`, so the pointer stays inside the mapping.
            ss_sp: unsafe { base.cast::<u8>().add(page) }.cast(),
            ss_flags: 0,
            ss_size: usable,
        };
        // SAFETY: `ss` describes writable memory that lives as long as `stack`, whose Drop
        // disables the alternate stack before unmapping it.
        cvt(unsafe { libc::sigaltstack(&ss, ptr::null_mut()) })?;
        Ok(stack)
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: plain data, overwritten by sigaltstack.
        let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: query only.
        let queried = unsafe { libc::sigaltstack(ptr::null(), &mut current) } == 0;
        // SAFETY: `page < len`, inside the mapping.
        let ours = unsafe { self.base.cast::<u8>().add(self.page) }.cast::<c_void>();
        if !queried {
            // Cannot tell whether the stack is still in use: leaking it is the safe choice.
            return;
        }
        if current.ss_sp == ours && current.ss_flags & libc::SS_DISABLE == 0 {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling needs no memory; it fails (EPERM) only while running on this
            // stack, in which case the mapping is leaked below rather than unmapped.
            if unsafe { libc::sigaltstack(&disable, ptr::null_mut()) } != 0 {
                return;
            }
        }
        // SAFETY: the mapping is ours (INVARIANT) and no longer the thread's signal stack.
        unsafe { libc::munmap(self.base, self.len) };
    }
}
