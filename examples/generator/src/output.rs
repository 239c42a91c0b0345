//! The job's files: the HepMC3 file, written as `FILE.partial` and renamed to `FILE` only
//! when the job is complete (HepMC3 has no place to say "incomplete"), and the manifest.
//! Neither overwrites a finished file unless asked to (`--force`); a `.partial` or a
//! manifest of an incomplete job is the job's own leftover and is replaced, so a failed
//! job reruns as it was submitted.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::manifest::Manifest;

/// The HepMC3 output of a job in progress.
#[derive(Debug)]
pub struct HepMcPaths {
    /// Where the file goes once complete.
    pub final_path: PathBuf,
    /// Where it is written meanwhile.
    pub partial_path: PathBuf,
}

impl HepMcPaths {
    /// `path` and `path.partial`.
    pub fn new(path: &Path) -> HepMcPaths {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        HepMcPaths {
            final_path: path.to_owned(),
            partial_path: PathBuf::from(partial),
        }
    }

    /// Refuses an existing finished file unless `force`; then creates the `.partial` file
    /// (replacing a leftover one).
    ///
    /// # Errors
    /// A message saying which file is in the way and what to do.
    pub fn create(&self, force: bool) -> Result<File, String> {
        if !force && self.final_path.exists() {
            return Err(format!(
                "`{}` exists: refusing to overwrite it (pass --force to replace it)",
                self.final_path.display()
            ));
        }
        File::create(&self.partial_path)
            .map_err(|error| format!("cannot create `{}`: {error}", self.partial_path.display()))
    }

    /// Renames the complete file to its final name (replacing an old one when `--force`
    /// allowed it).
    ///
    /// # Errors
    /// The rename's error.
    pub fn commit(&self) -> Result<(), String> {
        std::fs::rename(&self.partial_path, &self.final_path).map_err(|error| {
            format!(
                "cannot rename `{}` to `{}`: {error}",
                self.partial_path.display(),
                self.final_path.display()
            )
        })
    }
}

/// Refuses to replace the manifest of a complete job unless `force`.
///
/// # Errors
/// A message saying so.
pub fn check_manifest_target(path: &Path, force: bool) -> Result<(), String> {
    if force {
        return Ok(());
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    match Manifest::parse(&text) {
        Ok(manifest) if !manifest.complete => Ok(()),
        _ => Err(format!(
            "`{}` exists and is not the manifest of an incomplete job: refusing to overwrite \
             it (pass --force to replace it)",
            path.display()
        )),
    }
}

/// Writes the manifest through a temporary file and a rename, so that a reader never sees
/// half of one.
///
/// # Errors
/// The file system's errors.
pub fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, manifest.to_text())
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            format!("cannot write the manifest `{}`: {error}", path.display())
        })
}
