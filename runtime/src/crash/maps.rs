//! Parsing `/proc/<pid>/maps`: which module (file) each address of the worker lies in, and
//! where it was loaded. The text comes from the kernel, not from the worker, but it is still
//! parsed defensively (bounded entries, malformed lines skipped).

/// At most this many lines are parsed; a process with more mappings loses the rest.
pub(crate) const MAX_ENTRIES: usize = 65_536;
/// At most this many bytes of the maps file are read.
pub(crate) const MAX_MAPS_BYTES: usize = 4 << 20;

/// One line of a maps file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapEntry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) executable: bool,
    pub(crate) offset: u64,
    pub(crate) device: String,
    pub(crate) inode: u64,
    /// The path, `[vdso]`-style pseudo names, or empty for anonymous memory.
    pub(crate) path: String,
}

impl MapEntry {
    /// Whether this maps a file (a module tandem can read).
    #[cfg_attr(not(feature = "backtrace"), allow(dead_code))] // read by the unwinder
    pub(crate) fn is_file(&self) -> bool {
        self.inode != 0 && self.path.starts_with('/') && !self.path.ends_with(" (deleted)")
    }
}

/// Parses a maps file's text, skipping malformed lines.
pub(crate) fn parse(text: &str) -> Vec<MapEntry> {
    text.lines()
        .take(MAX_ENTRIES)
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<MapEntry> {
    // address perms offset dev inode [path]; the path may contain spaces.
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let offset = fields.next()?;
    let device = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next().unwrap_or("").trim_start();
    Some(MapEntry {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        executable: perms.as_bytes().get(2) == Some(&b'x'),
        offset: u64::from_str_radix(offset, 16).ok()?,
        device: device.to_owned(),
        inode: inode.parse().ok()?,
        path: path.to_owned(),
    })
}

/// The entry holding `address`, if any.
pub(crate) fn find(entries: &[MapEntry], address: u64) -> Option<&MapEntry> {
    entries
        .iter()
        .find(|entry| entry.start <= address && address < entry.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_and_without_paths_and_skips_garbage() {
        let text = "\
55d0a1a00000-55d0a1a2c000 r--p 00000000 08:01 1234 /usr/bin/my worker
55d0a1a2c000-55d0a1b00000 r-xp 0002c000 08:01 1234 /usr/bin/my worker
7ffd1000-7ffd3000 rw-p 00000000 00:00 0          [stack]
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
garbage line
7f00-zz r-xp 0 0 0 /x
";
        let entries = parse(text);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].path, "/usr/bin/my worker");
        assert!(entries[1].executable && !entries[0].executable);
        assert_eq!(entries[1].offset, 0x2c000);
        assert!(entries[1].is_file() && !entries[2].is_file() && !entries[3].is_file());
        assert_eq!(entries[2].path, "[stack]");
        assert_eq!(
            find(&entries, 0x55d0a1a2c010).map(|e| e.offset),
            Some(0x2c000)
        );
        assert_eq!(find(&entries, 0x10), None);
    }
}
