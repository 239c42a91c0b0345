//! What the scheduler lets this thread do: the CPUs it may run on, the CPU it runs on now,
//! how many CPUs the machine has online and how many tasks are runnable on it, and the clock
//! both processes of a channel share. The wait path asks these to decide whether spinning can
//! pay and how long to nap (see `channel::wait`).
//!
//! Nothing here opens a file on the wait path: the CPUs are counted once per process (glibc's
//! `sysconf` reads `/sys/devices/system/cpu/online`), and `/proc/loadavg` is opened once per
//! process and then read with `pread` on the kept descriptor. [`prepare`] does both; channels
//! call it when they are created or opened, before their first wait.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

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

/// Counts the online CPUs and opens `/proc/loadavg`, once per process, so that no wait has
/// to open a file. Idempotent and cheap after the first call.
pub(crate) fn prepare() {
    online_cpus();
    loadavg();
}

/// How many CPUs the machine had online (all of them, whatever this thread's mask) when this
/// process first asked, at least 1. Counted once per process: CPUs brought online later are
/// not seen.
pub(crate) fn online_cpus() -> usize {
    static ONLINE: OnceLock<usize> = OnceLock::new();
    *ONLINE.get_or_init(|| {
        // SAFETY: `sysconf` only reads a system setting.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        cvt(n)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1)
            .max(1)
    })
}

/// `/proc/loadavg`, opened once per process (close-on-exec); `None` without `/proc`.
fn loadavg() -> Option<&'static File> {
    static LOADAVG: OnceLock<Option<File>> = OnceLock::new();
    LOADAVG
        .get_or_init(|| File::open("/proc/loadavg").ok())
        .as_ref()
}

/// Reads `/proc/loadavg` into `buffer` with one `pread` on the kept descriptor (the kernel
/// generates the text afresh for every read); returns the bytes read, `None` if the file could
/// not be opened or read.
pub(crate) fn read_loadavg(buffer: &mut [u8]) -> Option<&[u8]> {
    let len = loadavg()?.read_at(buffer, 0).ok()?;
    buffer.get(..len)
}

/// Nanoseconds on `CLOCK_MONOTONIC`, the clock every process of the machine shares (unless
/// they live in different time namespaces): a post stamps the time it wakes its peer with it,
/// and the woken peer compares. A vDSO call: about 25 ns.
pub(crate) fn monotonic_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a live `timespec` the call writes; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
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
    use super::{
        affinity, affinity_through_glibc, current_cpu, monotonic_nanos, online_cpus, read_loadavg,
    };

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

    #[test]
    fn the_kept_loadavg_descriptor_reads_afresh_each_time() {
        let mut buffer = [0u8; 128];
        let first = read_loadavg(&mut buffer).expect("/proc/loadavg").to_vec();
        // Five fields: three loads, runnable/total, last pid.
        assert_eq!(
            std::str::from_utf8(&first)
                .unwrap()
                .split_whitespace()
                .count(),
            5
        );
        let again = read_loadavg(&mut buffer).expect("/proc/loadavg");
        assert!(!again.is_empty());
    }

    #[test]
    fn the_shared_clock_counts_a_sleep() {
        let before = monotonic_nanos();
        std::thread::sleep(std::time::Duration::from_millis(2));
        // A sleep lasts at least what it asks for, on the same clock.
        assert!(monotonic_nanos() - before >= 2_000_000);
    }
}
