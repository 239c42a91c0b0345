//! What the scheduler lets this thread do: the CPUs it may run on, the CPU it runs on now,
//! and how many CPUs the machine has online. The wait path asks these to decide whether
//! spinning can pay (see `channel::wait`).

use super::cvt;

/// Words of a CPU mask as the control block stores it: 1024 CPUs, the size of glibc's
/// `cpu_set_t`.
pub(crate) const MASK_WORDS: usize = 16;

/// The CPUs the calling thread may run on, as a bit mask (bit `n` of word `n / 64` for CPU
/// `n`), or `None` if the kernel's mask does not fit in [`MASK_WORDS`] words (a machine with
/// more than 1024 CPUs): the caller then assumes CPUs enough.
pub(crate) fn affinity() -> Option<[u64; MASK_WORDS]> {
    let mut mask = [0u64; MASK_WORDS];
    // SAFETY: the raw system call writes at most `size_of_val(&mask)` bytes into `mask`,
    // which lives for the call; pid 0 is the calling thread. (The raw call, not glibc's
    // wrapper, so that no `cpu_set_t` has to be built from a plain array.)
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            0,
            std::mem::size_of_val(&mask),
            mask.as_mut_ptr(),
        )
    };
    cvt(ret).ok().map(|_| mask)
}

/// The CPU the calling thread runs on right now (it may be moved at any time after), or
/// `None` where the kernel cannot say. A vDSO call on x86-64 and arm64: tens of nanoseconds.
pub(crate) fn current_cpu() -> Option<u32> {
    // SAFETY: `sched_getcpu` takes no argument and only reads the CPU number.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).ok()
}

/// How many CPUs the machine has online (all of them, whatever this thread's mask), at
/// least 1.
pub(crate) fn online_cpus() -> usize {
    // SAFETY: `sysconf` only reads a system setting.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    cvt(n)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
        .max(1)
}

/// Checks that [`affinity`] reports the mask `sched_getaffinity` reports through glibc.
#[cfg(test)]
fn affinity_through_glibc() -> std::io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain bits, valid when zeroed; the call writes at most its
    // size into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live `cpu_set_t` of the size passed; pid 0 is this thread.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) })?;
    Ok((0..MASK_WORDS * 64)
        // SAFETY: `cpu` is below the set's capacity of 1024 CPUs.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{affinity, affinity_through_glibc, current_cpu, online_cpus};

    #[test]
    fn the_mask_holds_the_cpu_we_run_on() {
        let mask = affinity().expect("a machine with at most 1024 CPUs");
        let cpus: Vec<usize> = (0..mask.len() * 64)
            .filter(|&cpu| mask[cpu / 64] & (1 << (cpu % 64)) != 0)
            .collect();
        assert_eq!(cpus, affinity_through_glibc().unwrap());
        let cpu = current_cpu().expect("sched_getcpu works on Linux") as usize;
        assert!(cpus.contains(&cpu), "cpu {cpu} not in {cpus:?}");
        assert!(online_cpus() >= cpus.len(), "{} < {cpus:?}", online_cpus());
    }
}
