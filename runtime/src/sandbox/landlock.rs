//! The Landlock part of the sandbox: a ruleset the controller builds once per channel
//! (`landlock` crate) and each spawned worker enforces on itself between `fork` and `exec`
//! (`sys::sandbox::confine_at_exec`), before it has a second thread to leave out.
//!
//! The ruleset handles every file-system access right the kernel knows and grants only
//! reading (and executing, which the loader needs): the user's paths, the dynamic loader's
//! and glibc's (`/usr`, `/lib*`, `/etc/ld.so.cache`), the worker program, and the two
//! files tandem's wait path reads (`/proc/loadavg`, `/sys/devices/system/cpu`). Writing,
//! creating, removing and renaming are refused everywhere.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr,
    ABI,
};

use super::{LandlockEnforcement, SandboxError};
use crate::sys::sandbox::landlock_abi;

/// What the dynamic loader, glibc and tandem's wait path read in every worker. Paths that
/// do not exist on this system are skipped.
const SYSTEM_PATHS: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/proc/loadavg",
    "/sys/devices/system/cpu",
];

/// The ruleset of a channel's workers and how far the kernel enforces it.
#[derive(Debug)]
pub(crate) struct FileSystemRules {
    /// `None` when the kernel has no Landlock.
    ruleset: Option<RulesetCreated>,
    /// A duplicate of the ruleset's descriptor (the same kernel object), for the spawn:
    /// `RulesetCreated` gives its descriptor up only by value.
    fd: Option<OwnedFd>,
    abi: ABI,
    enforcement: LandlockEnforcement,
}

impl FileSystemRules {
    /// Builds the ruleset granting read access to `paths` (and [`SYSTEM_PATHS`]).
    ///
    /// # Errors
    /// [`SandboxError::MissingPath`] for a listed path that does not exist,
    /// [`SandboxError::Landlock`] if the kernel refuses the ruleset.
    pub(crate) fn build(paths: &[PathBuf]) -> Result<FileSystemRules, SandboxError> {
        for path in paths {
            if let Err(source) = std::fs::metadata(path) {
                return Err(SandboxError::MissingPath {
                    path: path.clone(),
                    source,
                });
            }
        }
        let version = match landlock_abi() {
            Ok(version) => version,
            Err(errno) => {
                let reason = if errno == libc::EOPNOTSUPP {
                    "the kernel has Landlock but it is not enabled at boot (add `landlock` to \
                     the `lsm=` kernel parameter)"
                } else {
                    "the kernel has no Landlock (Linux 5.13 or newer built with \
                     CONFIG_SECURITY_LANDLOCK)"
                };
                return Ok(FileSystemRules {
                    ruleset: None,
                    fd: None,
                    abi: ABI::Unsupported,
                    enforcement: LandlockEnforcement::NotEnforced { reason },
                });
            }
        };
        let abi = ABI::from(version);
        let landlock_error = |error: &dyn std::fmt::Display| SandboxError::Landlock {
            detail: error.to_string(),
        };
        let read = AccessFs::from_read(abi);
        let system = SYSTEM_PATHS.iter().map(Path::new);
        let ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| landlock_error(&e))?
            .create()
            .map_err(|e| landlock_error(&e))?
            .add_rules(path_beneath_rules(
                system.chain(paths.iter().map(PathBuf::as_path)),
                read,
            ))
            .map_err(|e| landlock_error(&e))?;
        let enforcement = if version >= 3 {
            LandlockEnforcement::FullyEnforced
        } else {
            LandlockEnforcement::PartiallyEnforced {
                abi: version,
                missing: "truncate(2) stays allowed everywhere: restricting it needs Landlock \
                          ABI 3 (Linux 6.2)",
            }
        };
        let fd = ruleset.try_clone().map_err(|e| landlock_error(&e))?.into();
        Ok(FileSystemRules {
            ruleset: Some(ruleset),
            fd,
            abi,
            enforcement,
        })
    }

    /// How far the kernel enforces these rules.
    pub(crate) fn enforcement(&self) -> LandlockEnforcement {
        self.enforcement.clone()
    }

    /// Grants reading and executing `program` too (the worker binary itself), and returns the
    /// ruleset descriptor for the spawn, `None` without Landlock. Best effort: a program that
    /// cannot be found here is left to the system paths (a bare name found in `PATH` lies
    /// under `/usr` or `/bin`), and without access `exec` fails with a spawn error.
    pub(crate) fn for_program(&self, program: &Path, dir: Option<&Path>) -> Option<RawFd> {
        let ruleset = self.ruleset.as_ref()?;
        if program.components().count() > 1 {
            let path = match dir {
                Some(dir) if program.is_relative() => dir.join(program),
                _ => program.to_owned(),
            };
            if let Ok(clone) = ruleset.try_clone() {
                // Adding to a clone adds to the same kernel ruleset (a duplicated
                // descriptor), which the worker will enforce.
                let rules = path_beneath_rules([path], AccessFs::from_read(self.abi));
                let _ = clone.add_rules(rules).map(Option::<OwnedFd>::from);
            }
        }
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }
}
