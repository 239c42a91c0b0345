//! Real faults for the crash tests: the machine instruction or access that makes the
//! kernel deliver the signal, not a `raise`.

/// An integer division by zero in machine code: a real SIGFPE.
#[cfg(target_arch = "x86_64")]
pub fn divide_by_zero() {
    let divisor = std::hint::black_box(0u32);
    // SAFETY: deliberately faults; touches only the named registers.
    unsafe {
        std::arch::asm!(
            "div {divisor:e}",
            divisor = in(reg) divisor,
            inout("eax") 1u32 => _,
            inout("edx") 0u32 => _,
        );
    }
}

/// An undefined instruction (`ud2`; `udf #0` on aarch64): a real SIGILL, as from code built
/// for a newer CPU than the one it runs on.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn illegal_instruction() {
    // SAFETY: deliberately faults; the instruction reads and writes neither memory nor
    // registers, and never returns.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!("ud2", options(nomem, nostack, noreturn));
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!("udf #0", options(nomem, nostack, noreturn));
    }
}

/// Recursion with 16 KiB frames: overflows any stack quickly.
pub fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 16 * 1024];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[depth as usize % frame.len()])
}
