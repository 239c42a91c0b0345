//! What a crash report needs from the operating system: the interrupted thread's registers
//! (from the kernel's `ucontext_t`, per architecture), a fault-tolerant copy of its stack into
//! the crash segment, the serving thread's stack bounds, a bounded futex wait for the
//! controller's acknowledgement, and, on the controller's side, reading the crash segment and
//! `/proc/<pid>/maps`.
//!
//! As in [`signal`](super::signal), each function says whether it is **AS-safe**
//! (async-signal-safe: raw syscalls, no allocation, no lock, no panic path) or ordinary. The
//! worker's crash hook (`channel/worker.rs`, through `crash/capture.rs`) calls only AS-safe
//! ones.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU32;

use libc::c_void;

use super::cvt;

/// How many general registers a [`MachineRegisters`] holds at most (aarch64: x0–x30, sp;
/// x86_64: the 23 `gregs`).
pub(crate) const REGISTER_SLOTS: usize = 32;

/// `arch` of a capture: the machine context's layout is unknown here.
pub(crate) const ARCH_UNKNOWN: u32 = 0;
/// `arch` of a capture taken on x86_64.
#[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
pub(crate) const ARCH_X86_64: u32 = 1;
/// `arch` of a capture taken on aarch64.
#[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
pub(crate) const ARCH_AARCH64: u32 = 2;

/// The interrupted thread's registers, as the unwinder needs them: program counter, stack
/// pointer, frame pointer, link register (aarch64; 0 on x86_64), and every general register
/// in the kernel's order for the record.
#[derive(Clone, Copy)]
pub(crate) struct MachineRegisters {
    pub(crate) arch: u32,
    pub(crate) pc: u64,
    pub(crate) sp: u64,
    pub(crate) fp: u64,
    pub(crate) lr: u64,
    pub(crate) count: u32,
    pub(crate) all: [u64; REGISTER_SLOTS],
}

/// AS-safe. The registers of the interrupted code, from the kernel's `ucontext_t`.
///
/// - x86_64: `uc_mcontext.gregs` (`REG_RIP`, `REG_RSP`, `REG_RBP`);
/// - aarch64: `uc_mcontext.pc`, `.sp`, `.regs[29]` (frame pointer) and `.regs[30]` (link
///   register);
/// - any other architecture: `None`: the crash is reported without a backtrace (see
///   `signal::interrupted_stack_pointer` for why guessing is worse).
///
/// # Safety
/// `context` must be null or the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
#[cfg(all(
    target_os = "linux",
    target_arch = "x86_64",
    target_pointer_width = "64"
))]
pub(super) unsafe fn machine_registers(context: *const c_void) -> Option<MachineRegisters> {
    if context.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `context` is the kernel's ucontext_t for this signal.
    let gregs = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    // `get` keeps the constant indices free of panicking bounds checks; the casts keep every
    // bit of a 64-bit register (`greg_t` is `i64`).
    let reg = |index: libc::c_int| {
        usize::try_from(index)
            .ok()
            .and_then(|i| gregs.get(i))
            .map_or(0, |&value| value as u64)
    };
    let mut all = [0u64; REGISTER_SLOTS];
    for (slot, &value) in all.iter_mut().zip(gregs.iter()) {
        *slot = value as u64;
    }
    Some(MachineRegisters {
        arch: ARCH_X86_64,
        pc: reg(libc::REG_RIP),
        sp: reg(libc::REG_RSP),
        fp: reg(libc::REG_RBP),
        lr: 0,
        count: gregs.len().min(REGISTER_SLOTS) as u32,
        all,
    })
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
pub(super) unsafe fn machine_registers(context: *const c_void) -> Option<MachineRegisters> {
    if context.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `context` is the kernel's ucontext_t for this signal.
    let mcontext = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext };
    let mut all = [0u64; REGISTER_SLOTS];
    for (slot, &value) in all.iter_mut().zip(mcontext.regs.iter()) {
        *slot = value;
    }
    // x0–x30 then sp: 32 slots exactly.
    if let Some(slot) = all.get_mut(31) {
        *slot = mcontext.sp;
    }
    Some(MachineRegisters {
        arch: ARCH_AARCH64,
        pc: mcontext.pc,
        sp: mcontext.sp,
        fp: mcontext.regs.get(29).copied().unwrap_or(0),
        lr: mcontext.regs.get(30).copied().unwrap_or(0),
        count: REGISTER_SLOTS as u32,
        all,
    })
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
pub(super) unsafe fn machine_registers(_context: *const c_void) -> Option<MachineRegisters> {
    None
}

/// AS-safe. The fault address (`si_addr`) and `si_code` of a signal. The address is `None` for
/// a signal a process sent (`si_code <= 0`: the union holds a pid there) and for signals other
/// than SIGSEGV, SIGBUS, SIGILL and SIGFPE.
///
/// # Safety
/// `info` must be null or the `siginfo_t` the kernel passed to an `SA_SIGINFO` handler.
pub(super) unsafe fn fault_of(info: *const libc::siginfo_t) -> (i32, Option<u64>) {
    if info.is_null() {
        return (0, None);
    }
    // SAFETY: the caller guarantees `info` is the kernel's siginfo for this signal.
    let (signo, code) = unsafe { ((*info).si_signo, (*info).si_code) };
    let has_address = matches!(
        signo,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
    );
    if code <= 0 || !has_address {
        return (code, None);
    }
    // SAFETY: as above; for these signals with a kernel `si_code` the union holds `si_addr`.
    let address = unsafe { (*info).si_addr() } as u64;
    (code, Some(address))
}

/// AS-safe. Copies `len` bytes of this process's memory at `address` into `fd` at `offset`,
/// with `pwrite(2)`: the kernel copies from our memory and reports an unmapped page as
/// `EFAULT` (or a short write) instead of faulting, so a stack slice whose end is unknown can
/// be copied without a second fault in the handler. Returns how many bytes were copied, from
/// `address` on (0 if the first page is unreadable).
pub(crate) fn copy_memory_to_fd(fd: RawFd, offset: u64, address: usize, len: usize) -> usize {
    let mut done: usize = 0;
    while done < len {
        let rest = len.wrapping_sub(done);
        let Ok(at) = libc::off_t::try_from(offset.saturating_add(done as u64)) else {
            break;
        };
        // SAFETY: the kernel validates the source range itself (copy_from_user): an unmapped
        // or unreadable page ends the copy with EFAULT or a short count, never a fault in
        // this process. `fd` is a descriptor of the crash segment, sealed against resizing,
        // and `offset + len` lies within it (the caller clamps `len`).
        let n = unsafe { libc::pwrite(fd, address.wrapping_add(done) as *const c_void, rest, at) };
        if n < 0 {
            // SAFETY: __errno_location returns the calling thread's errno slot.
            if unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        done = done.saturating_add(n.unsigned_abs());
    }
    done
}

/// The calling thread's stack as `[low, high)`, from `pthread_getattr_np`. Ordinary (it may
/// read `/proc/self/maps` and allocate for the main thread): call it at setup, never in the
/// handler. `None` when the C library cannot tell.
pub(crate) fn current_thread_stack() -> Option<(usize, usize)> {
    // SAFETY: plain data, initialised by pthread_getattr_np.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_self is always valid; `attr` is writable.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return None;
    }
    let mut base: *mut c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; both out-pointers are writable.
    let ret = unsafe { libc::pthread_attr_getstack(&attr, &mut base, &mut size) };
    // SAFETY: `attr` was initialised by pthread_getattr_np and is destroyed once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    if ret != 0 || base.is_null() {
        return None;
    }
    let low = base as usize;
    Some((low, low.checked_add(size)?))
}

/// AS-safe. Monotonic clock in milliseconds.
fn monotonic_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is writable; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec.checked_div(1_000_000).unwrap_or(0))
}

/// AS-safe. Sleeps on the shared futex `word` while it holds `expected`, at most `timeout_ms`
/// in all (restarting after `EINTR` or a spurious wake with the remaining time). Returns
/// whether the word changed.
pub(crate) fn futex_wait_bounded(word: &AtomicU32, expected: u32, timeout_ms: u32) -> bool {
    let deadline = monotonic_ms().saturating_add(i64::from(timeout_ms));
    loop {
        if word.load(std::sync::atomic::Ordering::SeqCst) != expected {
            return true;
        }
        let remaining = deadline.saturating_sub(monotonic_ms());
        if remaining <= 0 {
            return false;
        }
        let ts = libc::timespec {
            tv_sec: remaining.checked_div(1000).unwrap_or(0),
            tv_nsec: remaining
                .checked_rem(1000)
                .unwrap_or(0)
                .saturating_mul(1_000_000),
        };
        // SAFETY: `word` is a valid, aligned 32-bit atomic in shared memory; `ts` is a live
        // relative timespec with `tv_nsec < 1e9`. FUTEX_WAIT is a plain syscall.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            )
        };
    }
}

/// Reads up to `buf.len()` bytes of `fd` at `offset` (the controller's copy of the crash
/// segment's stack area), retrying on `EINTR` and short reads. Returns how many were read.
pub(crate) fn read_at(fd: RawFd, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let at = libc::off_t::try_from(offset + done as u64)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        match cvt(unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), at) }) {
            Ok(0) => break,
            Ok(n) => done += n.unsigned_abs(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads `/proc/<pid>/maps` of a child this process has not reaped (so `pid` is still that
/// child, alive or a zombie), at most `limit` bytes. An empty string for a zombie: its memory
/// is gone.
pub(crate) fn read_maps(pid: u32, limit: usize) -> io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(format!("/proc/{pid}/maps"))?;
    let mut bytes = Vec::new();
    file.take(limit as u64).read_to_end(&mut bytes)?;
    // A path that is not UTF-8 only loses its odd bytes: the module is found by the others.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
