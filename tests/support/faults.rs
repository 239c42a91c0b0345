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

/// Recursion with 16 KiB frames: overflows any stack quickly.
pub fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 16 * 1024];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[depth as usize % frame.len()])
}
