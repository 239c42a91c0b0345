//! The kernel side of the worker sandbox: `no_new_privs`, resource limits and Landlock at
//! spawn (in the child, between `fork` and `exec`), and what a seccomp `SIGSYS` says about
//! the refused system call (read in the fatal-signal handler).
//!
//! The seccomp-bpf program itself is compiled and installed by the `seccompiler` crate
//! (safe API); the Landlock ruleset is built by the `landlock` crate in the controller. What
//! is left here is what those crates cannot do for us: run async-signal-safely in a forked
//! child (`landlock_restrict_self` on a ruleset built before the fork, `setrlimit`), and
//! decode the `SIGSYS` `siginfo_t` and `ucontext_t`, whose seccomp fields the `libc` crate
//! does not expose.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use libc::c_void;

use super::cvt;

/// `si_code` of a `SIGSYS` raised by a seccomp `RET_TRAP` (`SYS_SECCOMP` in the kernel's
/// `uapi/asm-generic/siginfo.h`).
const SYS_SECCOMP: i32 = 1;

/// How many resource limits [`confine_at_exec`] may set.
pub(crate) const MAX_LIMITS: usize = 5;

/// A resource limit to set in the child: `(resource, soft, hard)`.
pub(crate) type Limit = (libc::__rlimit_resource_t, u64, u64);

/// What a spawned worker gets before its `exec`, all of it inherited across `exec` and by
/// every thread the worker will ever start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AtExec {
    /// A Landlock ruleset descriptor built by the controller (close-on-exec, so it does not
    /// reach the worker), or `None` to enforce no file-system rules.
    pub(crate) landlock_ruleset: Option<RawFd>,
    /// The limits to set; unused slots are `None`.
    pub(crate) limits: [Option<Limit>; MAX_LIMITS],
}

/// Makes `command`'s process set `no_new_privs`, its resource limits and its Landlock domain
/// between `fork` and `exec`. The ruleset descriptor must stay open in this process until
/// the command is spawned.
///
/// Landlock restricts the calling thread and the threads it creates later (before Linux 7.0
/// there is no way to restrict the other threads of a process): the forked child has one
/// thread, and the worker starts all of its own after `exec`, so the whole worker is covered.
pub(crate) fn confine_at_exec(command: &mut Command, confine: AtExec) {
    let apply = move || -> io::Result<()> {
        // SAFETY: prctl is async-signal-safe; PR_SET_NO_NEW_PRIVS takes plain integers.
        cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
        for (resource, soft, hard) in confine.limits.into_iter().flatten() {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: setrlimit is async-signal-safe and reads one valid rlimit.
            cvt(unsafe { libc::setrlimit(resource, &limit) })?;
        }
        if let Some(ruleset) = confine.landlock_ruleset {
            // SAFETY: landlock_restrict_self takes a descriptor and flags (0); it is a bare
            // system call, async-signal-safe. `no_new_privs` is set above, as it requires.
            let ret = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) };
            cvt(ret)?;
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and does only
    // async-signal-safe work (prctl, setrlimit, one raw system call) on captured plain data:
    // no allocation, no lock.
    unsafe {
        command.pre_exec(apply);
    }
}

/// The Landlock ABI version of the running kernel, or the `errno` that says why there is
/// none (`ENOSYS`: not built in; `EOPNOTSUPP`: built in but not enabled at boot).
pub(crate) fn landlock_abi() -> Result<i32, i32> {
    /// `LANDLOCK_CREATE_RULESET_VERSION`: ask for the ABI version instead of a ruleset.
    const VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns a
    // number; it creates nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<c_void>(),
            0usize,
            VERSION,
        )
    };
    match cvt(ret) {
        Ok(version) => Ok(i32::try_from(version).unwrap_or(i32::MAX)),
        Err(error) => Err(error.raw_os_error().unwrap_or(libc::ENOSYS)),
    }
}

/// A system call refused by a seccomp `RET_TRAP`, as the kernel describes it to the
/// `SIGSYS` handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyscallTrap {
    /// The system call number (`si_syscall`).
    pub(crate) number: i32,
    /// The `AUDIT_ARCH_*` value of the calling convention (`si_arch`).
    pub(crate) arch: u32,
    /// The six argument registers, as the call left them: the kernel rolls the registers
    /// back to the call's entry before it raises the signal.
    pub(crate) args: [u64; 6],
}

/// The `SIGSYS` member of the `siginfo_t` union on 64-bit Linux (`_sigsys` in the kernel's
/// `uapi/asm-generic/siginfo.h`): after `si_signo`, `si_errno`, `si_code` and the padding
/// that aligns the union to 8 bytes.
#[repr(C)]
struct SigsysInfo {
    si_signo: i32,
    si_errno: i32,
    si_code: i32,
    _pad: i32,
    call_addr: *mut c_void,
    syscall: i32,
    arch: u32,
}

const _: () = assert!(std::mem::size_of::<SigsysInfo>() <= std::mem::size_of::<libc::siginfo_t>());

/// AS-safe. The refused system call of a seccomp `SIGSYS`; `None` for any other signal
/// (e.g. a `SIGSYS` sent with `kill`), for null arguments, and on architectures whose
/// machine-context layout this module does not know.
///
/// # Safety
/// `info` and `context` must be the pointers the kernel passed to an `SA_SIGINFO` handler
/// (either may be null).
pub(super) unsafe fn syscall_trap(
    info: *const libc::siginfo_t,
    context: *const c_void,
) -> Option<SyscallTrap> {
    if info.is_null() || context.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `info` is the kernel's siginfo, at least as large as
    // `SigsysInfo` (asserted above) and aligned for it (it is aligned for siginfo_t, whose
    // union holds pointers).
    let sigsys = unsafe { &*info.cast::<SigsysInfo>() };
    if sigsys.si_signo != libc::SIGSYS || sigsys.si_code != SYS_SECCOMP {
        return None;
    }
    // SAFETY: the caller guarantees `context` is the kernel's ucontext_t for this signal.
    let args = unsafe { syscall_args(context.cast()) }?;
    Some(SyscallTrap {
        number: sigsys.syscall,
        arch: sigsys.arch,
        args,
    })
}

/// AS-safe. The argument registers of the interrupted system call: `rdi, rsi, rdx, r10, r8,
/// r9` on x86_64.
///
/// # Safety
/// `uc` must be non-null and the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn syscall_args(uc: *const libc::ucontext_t) -> Option<[u64; 6]> {
    // SAFETY: the caller guarantees `uc` is the kernel's ucontext_t.
    let gregs = unsafe { &(*uc).uc_mcontext.gregs };
    let mut args = [0u64; 6];
    let registers = [
        libc::REG_RDI,
        libc::REG_RSI,
        libc::REG_RDX,
        libc::REG_R10,
        libc::REG_R8,
        libc::REG_R9,
    ];
    for (arg, register) in args.iter_mut().zip(registers) {
        // A register is 64 bits: the cast keeps every bit. `get` keeps the constant indices
        // free of a panicking bounds check.
        *arg = *gregs.get(usize::try_from(register).ok()?)? as u64;
    }
    Some(args)
}

/// AS-safe. The argument registers of the interrupted system call: `x0` to `x5` on aarch64.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn syscall_args(uc: *const libc::ucontext_t) -> Option<[u64; 6]> {
    // SAFETY: the caller guarantees `uc` is the kernel's ucontext_t.
    let regs = unsafe { &(*uc).uc_mcontext.regs };
    let mut args = [0u64; 6];
    for (arg, register) in args.iter_mut().zip(regs.iter()) {
        *arg = *register;
    }
    Some(args)
}

/// Elsewhere the layout is unknown: no arguments rather than wrong ones.
///
/// # Safety
/// None needed (the context is not read); `unsafe` only to match the other versions.
#[cfg(not(any(
    all(target_os = "linux", target_arch = "x86_64"),
    all(target_os = "linux", target_arch = "aarch64"),
)))]
unsafe fn syscall_args(_uc: *const libc::ucontext_t) -> Option<[u64; 6]> {
    None
}

/// The `NoNewPrivs` and `Seccomp` lines of `/proc/<pid>/status`: what the kernel says about
/// a process's confinement, read from outside it.
pub(crate) fn confinement_of(pid: u32) -> io::Result<(Option<u32>, Option<u32>)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse().ok())
    };
    Ok((field("NoNewPrivs:"), field("Seccomp:")))
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// A seccomp `SIGSYS` as the kernel lays it out: the handler's decoding finds the call and
    /// its arguments; any other `SIGSYS` (sent with `kill`) is not taken for a violation.
    #[test]
    fn decodes_a_seccomp_sigsys() {
        // SAFETY: plain data, zero is valid for both.
        let (mut info, mut context): (libc::siginfo_t, libc::ucontext_t) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        {
            // SAFETY: `SigsysInfo` fits in `siginfo_t` (asserted above) and both are aligned.
            let sigsys = unsafe { &mut *(&mut info as *mut libc::siginfo_t).cast::<SigsysInfo>() };
            sigsys.si_signo = libc::SIGSYS;
            sigsys.si_code = SYS_SECCOMP;
            sigsys.syscall = libc::SYS_socket as i32;
            sigsys.arch = 0xc000_003e; // AUDIT_ARCH_X86_64
        }
        for (register, value) in [(libc::REG_RDI, 2), (libc::REG_RSI, 1), (libc::REG_R9, 9)] {
            context.uc_mcontext.gregs[register as usize] = value;
        }
        let context_ptr = (&context as *const libc::ucontext_t).cast();
        // SAFETY: both pointers are valid for the call.
        let trap = unsafe { syscall_trap(&info, context_ptr) }.expect("a seccomp trap");
        assert_eq!(trap.number, libc::SYS_socket as i32);
        assert_eq!(trap.arch, 0xc000_003e);
        assert_eq!(trap.args, [2, 1, 0, 0, 0, 9]);

        // SAFETY: as above.
        unsafe { (*(&mut info as *mut libc::siginfo_t).cast::<SigsysInfo>()).si_code = 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { syscall_trap(&info, context_ptr) }, None);
    }
}
