//! A job's manifest and the combine step over them.
//!
//! Every job can write a small manifest (`--manifest FILE`): which run it belongs to (seed,
//! run number, events, events per lumi section), which part of it it made (its lumi
//! sections), whether it finished (status and exit code), its counts and its digest. The
//! combine step ([`merge`]) adds the digests of complete jobs only, and refuses any set of
//! manifests that is not exactly one run: a job that did not finish, two manifests of one
//! job, two jobs that both made a lumi section (overlap), a lumi section nobody made (gap),
//! or jobs of different runs.
//!
//! The format is one `key value` per line, `#` comments, so that a shell or a reader can
//! read it without a library:
//!
//! ```text
//! # tandem-generator job manifest
//! format 1
//! status complete
//! exit 0
//! seed 2026
//! run 1
//! run-events 1000000
//! events-per-lumi 1000
//! jobs 10
//! job 3
//! lumi-first 4
//! lumi-step 10
//! lumi-count 100
//! generated 100000
//! kept 85520
//! digest 6c1e...
//! hepmc gen-3.hepmc
//! ```
//!
//! An incomplete job writes `status incomplete`, its exit code, what it did (`generated`,
//! `kept`) and `partial-digest` instead of `digest`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::digest::Digest;
use crate::hepmc::kept_cross_section;

/// One job's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Whether the job made every event it was given.
    pub complete: bool,
    /// The job's exit code.
    pub exit: u8,
    /// The run's seed.
    pub seed: u64,
    /// The run number.
    pub run: u32,
    /// Events of the whole run (all jobs).
    pub run_events: u64,
    /// Events per lumi section.
    pub events_per_lumi: u64,
    /// The number of jobs the run was split into.
    pub jobs: u32,
    /// This job's index.
    pub job: u32,
    /// The job's first lumi section, the step between its sections and their number.
    pub lumi_first: u32,
    /// See [`lumi_first`](Self::lumi_first).
    pub lumi_step: u32,
    /// See [`lumi_first`](Self::lumi_first).
    pub lumi_count: u64,
    /// Events generated.
    pub generated: u64,
    /// Events kept.
    pub kept: u64,
    /// The digest of the kept events.
    pub digest: Digest,
    /// The HepMC3 file, if the job wrote one.
    pub hepmc: Option<String>,
}

impl Manifest {
    /// The manifest as text.
    pub fn to_text(&self) -> String {
        let mut out = String::from("# tandem-generator job manifest\nformat 1\n");
        let status = if self.complete {
            "complete"
        } else {
            "incomplete"
        };
        let _ = writeln!(out, "status {status}");
        let _ = writeln!(out, "exit {}", self.exit);
        let _ = writeln!(out, "seed {}", self.seed);
        let _ = writeln!(out, "run {}", self.run);
        let _ = writeln!(out, "run-events {}", self.run_events);
        let _ = writeln!(out, "events-per-lumi {}", self.events_per_lumi);
        let _ = writeln!(out, "jobs {}", self.jobs);
        let _ = writeln!(out, "job {}", self.job);
        let _ = writeln!(out, "lumi-first {}", self.lumi_first);
        let _ = writeln!(out, "lumi-step {}", self.lumi_step);
        let _ = writeln!(out, "lumi-count {}", self.lumi_count);
        let _ = writeln!(out, "generated {}", self.generated);
        let _ = writeln!(out, "kept {}", self.kept);
        let key = if self.complete {
            "digest"
        } else {
            "partial-digest"
        };
        let _ = writeln!(out, "{key} {}", self.digest);
        if let Some(hepmc) = &self.hepmc {
            let _ = writeln!(out, "hepmc {hepmc}");
        }
        out
    }

    /// Reads a manifest.
    ///
    /// # Errors
    /// A message naming the missing or malformed key.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            if values.insert(key, value.trim()).is_some() {
                return Err(format!("`{key}` appears twice"));
            }
        }
        fn get<T: std::str::FromStr>(
            values: &BTreeMap<&str, &str>,
            key: &str,
        ) -> Result<T, String> {
            let text = values.get(key).ok_or_else(|| format!("no `{key}`"))?;
            text.parse()
                .map_err(|_| format!("`{key} {text}` is not a valid value"))
        }
        if values.get("format") != Some(&"1") {
            return Err("not a tandem-generator manifest of format 1".to_owned());
        }
        let complete = match values.get("status") {
            Some(&"complete") => true,
            Some(&"incomplete") => false,
            _ => return Err("`status` is neither `complete` nor `incomplete`".to_owned()),
        };
        let digest_key = if complete { "digest" } else { "partial-digest" };
        Ok(Manifest {
            complete,
            exit: get(&values, "exit")?,
            seed: get(&values, "seed")?,
            run: get(&values, "run")?,
            run_events: get(&values, "run-events")?,
            events_per_lumi: get(&values, "events-per-lumi")?,
            jobs: get(&values, "jobs")?,
            job: get(&values, "job")?,
            lumi_first: get(&values, "lumi-first")?,
            lumi_step: get(&values, "lumi-step")?,
            lumi_count: get(&values, "lumi-count")?,
            generated: get(&values, "generated")?,
            kept: get(&values, "kept")?,
            digest: values
                .get(digest_key)
                .ok_or_else(|| format!("no `{digest_key}`"))?
                .parse()?,
            hepmc: values.get("hepmc").map(|s| (*s).to_owned()),
        })
    }

    /// The job's lumi sections.
    pub fn lumis(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.lumi_count)
            .map(|index| u64::from(self.lumi_first) + index * u64::from(self.lumi_step))
    }
}

/// What a successful merge found.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// Jobs merged.
    pub jobs: usize,
    /// Lumi sections of the run.
    pub lumis: u64,
    /// Events generated.
    pub generated: u64,
    /// Events kept.
    pub kept: u64,
    /// The sum of the digests: the digest of the whole run.
    pub digest: Digest,
}

/// Checks that `manifests` (with the names to report them by) are the complete jobs of
/// exactly one run, and adds them up.
///
/// # Errors
/// Every problem found, one per line.
pub fn merge(manifests: &[(String, Manifest)]) -> Result<Merged, String> {
    let mut problems = Vec::new();
    let Some((first_name, first)) = manifests.first() else {
        return Err("no manifests to merge".to_owned());
    };
    let sections = first.run_events.div_ceil(first.events_per_lumi.max(1));
    let mut owner: BTreeMap<u64, &str> = BTreeMap::new();
    let mut jobs_seen: BTreeMap<(u32, u32), &str> = BTreeMap::new();
    let mut merged = Merged {
        jobs: 0,
        lumis: sections,
        generated: 0,
        kept: 0,
        digest: Digest::default(),
    };
    for (name, manifest) in manifests {
        if !manifest.complete || manifest.exit != 0 {
            problems.push(format!(
                "{name}: job {} of {} is incomplete (exit {}, {} events generated): rerun it",
                manifest.job, manifest.jobs, manifest.exit, manifest.generated
            ));
            continue;
        }
        let same_run = (
            manifest.seed,
            manifest.run,
            manifest.run_events,
            manifest.events_per_lumi,
        ) == (
            first.seed,
            first.run,
            first.run_events,
            first.events_per_lumi,
        );
        if !same_run {
            problems.push(format!(
                "{name}: another run (seed {}, run {}, {} events, {} per lumi) than {first_name} \
                 (seed {}, run {}, {} events, {} per lumi)",
                manifest.seed,
                manifest.run,
                manifest.run_events,
                manifest.events_per_lumi,
                first.seed,
                first.run,
                first.run_events,
                first.events_per_lumi
            ));
            continue;
        }
        if let Some(other) = jobs_seen.insert((manifest.jobs, manifest.job), name) {
            problems.push(format!(
                "{name}: duplicate of {other} (both are job {} of {})",
                manifest.job, manifest.jobs
            ));
            continue;
        }
        let mut overlaps = BTreeMap::new();
        for lumi in manifest.lumis() {
            if let Some(other) = owner.insert(lumi, name) {
                overlaps.entry(other).or_insert_with(Vec::new).push(lumi);
            }
        }
        for (other, lumis) in overlaps {
            problems.push(format!(
                "{name}: overlaps {other} in {} lumi sections ({})",
                lumis.len(),
                list(&lumis)
            ));
        }
        merged.jobs += 1;
        merged.generated += manifest.generated;
        merged.kept += manifest.kept;
        merged.digest += manifest.digest;
    }
    let missing: Vec<u64> = (1..=sections)
        .filter(|lumi| !owner.contains_key(lumi))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "gap: {} of {sections} lumi sections were made by no job given ({})",
            missing.len(),
            list(&missing)
        ));
    }
    if let Some(extra) = owner.keys().find(|&&lumi| lumi > sections) {
        problems.push(format!(
            "{}: lumi section {extra} is outside the run's {sections}",
            owner[extra]
        ));
    }
    if problems.is_empty() && merged.generated != first.run_events {
        problems.push(format!(
            "the jobs generated {} events, the run has {}",
            merged.generated, first.run_events
        ));
    }
    if problems.is_empty() {
        Ok(merged)
    } else {
        Err(problems.join("\n"))
    }
}

/// The first few numbers of `lumis`, for a message.
fn list(lumis: &[u64]) -> String {
    let mut text: Vec<String> = lumis.iter().take(8).map(u64::to_string).collect();
    if lumis.len() > 8 {
        text.push("...".to_owned());
    }
    text.join(", ")
}

/// `tandem-generator merge`: reads the manifests, merges them and prints the run's counts,
/// cross section and digest; on any problem prints them and no digest.
pub fn merge_command(paths: &[impl AsRef<Path>], cross_section_pb: f64) -> Result<(), String> {
    let mut manifests = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => match Manifest::parse(&text) {
                Ok(manifest) => manifests.push((name, manifest)),
                Err(error) => problems.push(format!("{name}: {error}")),
            },
            Err(error) => problems.push(format!("{name}: cannot read: {error}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let merged = merge(&manifests)?;
    let (sigma, error) = kept_cross_section(cross_section_pb, merged.kept, merged.generated);
    println!(
        "merged           {} jobs, lumi sections 1..{}, {} events generated, {} kept",
        merged.jobs, merged.lumis, merged.generated, merged.kept
    );
    println!("cross section    kept: {sigma:.2} +- {error:.2} pb");
    println!("digest           {}", merged.digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(jobs: u32, job: u32, sections: u64) -> Manifest {
        let count = (job as u64..sections).step_by(jobs as usize).count() as u64;
        Manifest {
            complete: true,
            exit: 0,
            seed: 7,
            run: 1,
            run_events: sections * 10,
            events_per_lumi: 10,
            jobs,
            job,
            lumi_first: job + 1,
            lumi_step: jobs,
            lumi_count: count,
            generated: count * 10,
            kept: count * 8,
            digest: Digest(u128::from(job) + 1),
            hepmc: None,
        }
    }

    fn named(manifests: Vec<Manifest>) -> Vec<(String, Manifest)> {
        manifests
            .into_iter()
            .enumerate()
            .map(|(index, manifest)| (format!("m{index}"), manifest))
            .collect()
    }

    #[test]
    fn round_trips_through_text() {
        let mut manifest = job(3, 1, 10);
        manifest.hepmc = Some("gen 1.hepmc".to_owned());
        assert_eq!(Manifest::parse(&manifest.to_text()), Ok(manifest.clone()));
        manifest.complete = false;
        manifest.exit = 130;
        let text = manifest.to_text();
        assert!(text.contains("partial-digest") && !text.contains("\ndigest"));
        assert_eq!(Manifest::parse(&text), Ok(manifest));
    }

    #[test]
    fn merges_exactly_one_run() {
        let merged = merge(&named(vec![job(3, 0, 10), job(3, 1, 10), job(3, 2, 10)])).unwrap();
        assert_eq!(merged.digest, Digest(1 + 2 + 3));
        assert_eq!((merged.generated, merged.kept, merged.jobs), (100, 80, 3));
    }

    #[test]
    fn refuses_gaps_overlaps_duplicates_and_incomplete_jobs() {
        let gap = merge(&named(vec![job(3, 0, 10), job(3, 2, 10)])).unwrap_err();
        assert!(gap.contains("gap: 3 of 10"), "{gap}");
        let duplicate =
            merge(&named(vec![job(2, 0, 10), job(2, 1, 10), job(2, 1, 10)])).unwrap_err();
        assert!(duplicate.contains("duplicate"), "{duplicate}");
        let overlap = merge(&named(vec![job(2, 0, 10), job(2, 1, 10), job(3, 0, 10)]));
        assert!(overlap.unwrap_err().contains("overlaps"));
        let mut incomplete = job(2, 1, 10);
        incomplete.complete = false;
        incomplete.exit = 1;
        let error = merge(&named(vec![job(2, 0, 10), incomplete])).unwrap_err();
        assert!(error.contains("incomplete"), "{error}");
        let mut other_run = job(2, 1, 10);
        other_run.seed = 8;
        let error = merge(&named(vec![job(2, 0, 10), other_run])).unwrap_err();
        assert!(error.contains("another run"), "{error}");
    }
}
