//! A HepMC3 ASCII writer ("Asciiv3") that writes what HepMC3 3.2's `WriterAscii` writes for
//! the same events, so that HepMC3, pyhepmc, Rivet and Delphes read the file:
//!
//! ```text
//! HepMC::Version 3.02.06
//! HepMC::Asciiv3-START_EVENT_LISTING
//! W Default                                      run info: weight names,
//! T tandem-generator\|0.1.0\|e+e- -> ...         and the tool (newlines escaped as `\|`)
//! E 1 2 5                                        number, vertex count, particle count
//! U GEV MM
//! W 1.0000000000000000000000e+00                 weights, `%.22e`
//! A 0 GenCrossSection 1.99e+03 0.00e+00 -1 -1    attributes, `A <id> <name> <value>`
//! P 1 0 11 px py pz e m 4                        `%.16e` for the five reals
//! P 2 0 -11 ...
//! V -1 0 [1,2]                                   written before its first outgoing particle
//! P 3 -1 23 ...
//! P 4 3 13 ...                                   one incoming particle: no `V` line, the
//! P 5 3 -13 ...                                  particle names its mother instead
//! HepMC::Asciiv3-END_EVENT_LISTING
//! ```
//!
//! The writer's rules, from HepMC3's `WriterAscii::write_event`: a particle's second field
//! is its production vertex's id when that vertex has more than one incoming particle (or a
//! position), the id of the single incoming particle otherwise, and 0 without a production
//! vertex; a vertex line (with its incoming ids sorted) is written only in the first case,
//! just before the first particle it produces. The `E` line counts every vertex and particle,
//! written or implied. Reals use C's `%.Ne` (`1.0000000000000000e+00`: at least two exponent
//! digits, always signed).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::event::GenEvent;

/// The version HepMC3 3.2.6 writes in the header.
pub const VERSION_LINE: &str = "HepMC::Version 3.02.06";
/// The line after the version.
pub const START_LINE: &str = "HepMC::Asciiv3-START_EVENT_LISTING";
/// The last line of a complete file.
pub const END_LINE: &str = "HepMC::Asciiv3-END_EVENT_LISTING";

/// Formats `value` as C's `printf("%.{precision}e")` does.
pub fn format_e(out: &mut String, value: f64, precision: usize) {
    let rust = format!("{value:.precision$e}");
    let (mantissa, exponent) = rust
        .split_once('e')
        .expect("`{:e}` of a finite f64 always has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("`{:e}` of a finite f64 has an integer exponent");
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
}

/// The cross section written with every event as HepMC3's `GenCrossSection` attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossSection {
    /// σ in pb.
    pub value_pb: f64,
    /// Its uncertainty in pb.
    pub error_pb: f64,
}

/// Writes events to a HepMC3 ASCII stream. Call [`finish`](Self::finish) to write the footer;
/// a writer dropped without it leaves the file without footer, which readers treat as a
/// file cut short.
pub struct HepMcWriter<W: Write> {
    out: W,
    cross_section: CrossSection,
    line: String,
}

impl<W: Write> HepMcWriter<W> {
    /// Writes the header and the run information (one weight, named `Default`, and this tool).
    ///
    /// # Errors
    /// The stream's write errors.
    pub fn new(
        mut out: W,
        cross_section: CrossSection,
        tool_description: &str,
    ) -> io::Result<Self> {
        writeln!(out, "{VERSION_LINE}")?;
        writeln!(out, "{START_LINE}")?;
        writeln!(out, "W Default")?;
        let tool = format!(
            "T {}\n{}\n{}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            tool_description
        );
        writeln!(out, "{}", escape(&tool))?;
        Ok(HepMcWriter {
            out,
            cross_section,
            line: String::with_capacity(1024),
        })
    }

    /// Writes one event.
    ///
    /// # Errors
    /// The stream's write errors.
    pub fn write_event(&mut self, event: &GenEvent) -> io::Result<()> {
        let text = &mut self.line;
        text.clear();
        let _ = writeln!(
            text,
            "E {} {} {}",
            event.number,
            event.vertices.len(),
            event.particles.len()
        );
        text.push_str("U GEV MM\nW");
        text.push(' ');
        format_e(text, event.weight, 22);
        text.push('\n');
        // GenCrossSection::to_string: `%.8e` value and error, then accepted and attempted
        // event counts, which are -1 (not tracked) so that a split job writes every event
        // exactly as the single job does.
        text.push_str("A 0 GenCrossSection ");
        format_e(text, self.cross_section.value_pb, 8);
        text.push(' ');
        format_e(text, self.cross_section.error_pb, 8);
        text.push_str(" -1 -1\n");
        let mut written = vec![false; event.vertices.len()];
        for (index, particle) in event.particles.iter().enumerate() {
            let mut parent = 0;
            if particle.production_vertex < 0 {
                let vertex_index = (-particle.production_vertex - 1) as usize;
                let vertex = &event.vertices[vertex_index];
                if vertex.incoming.len() > 1 {
                    parent = particle.production_vertex;
                    if !written[vertex_index] {
                        written[vertex_index] = true;
                        let mut incoming = vertex.incoming.clone();
                        incoming.sort_unstable();
                        let list: Vec<String> = incoming.iter().map(i32::to_string).collect();
                        let _ = writeln!(
                            text,
                            "V {} {} [{}]",
                            particle.production_vertex,
                            vertex.status,
                            list.join(",")
                        );
                    }
                } else if let Some(&mother) = vertex.incoming.first() {
                    parent = mother;
                }
            }
            let _ = write!(text, "P {} {} {}", index + 1, parent, particle.pdg_id);
            for value in particle.momentum.iter().chain([&particle.mass]) {
                text.push(' ');
                format_e(text, *value, 16);
            }
            let _ = writeln!(text, " {}", particle.status);
        }
        self.out.write_all(text.as_bytes())
    }

    /// Writes the footer and flushes.
    ///
    /// # Errors
    /// The stream's write errors.
    pub fn finish(mut self) -> io::Result<W> {
        // WriterAscii::close writes the footer and an empty line.
        writeln!(self.out, "{END_LINE}")?;
        writeln!(self.out)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// HepMC3's `WriterAscii::escape`: backslash doubled, newline as `\|`.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(value: f64, precision: usize) -> String {
        let mut out = String::new();
        format_e(&mut out, value, precision);
        out
    }

    #[test]
    fn reals_look_like_printf() {
        assert_eq!(e(1.0, 16), "1.0000000000000000e+00");
        // The double nearest 45.5938 is 45.593800000000001660...: printf shows its digits.
        assert_eq!(e(-45.5938, 16), "-4.5593800000000002e+01");
        assert_eq!(e(-0.125, 3), "-1.250e-01");
        assert_eq!(e(0.0, 16), "0.0000000000000000e+00");
        assert_eq!(e(0.51099895e-3, 8), "5.10998950e-04");
        assert_eq!(e(1.5e123, 2), "1.50e+123");
    }

    #[test]
    fn one_event_as_hepmc3_writes_it() {
        let process = crate::physics::Process::new();
        let event = process.generate(
            7,
            &mut crate::physics::RngState::for_event(1, 1, 1, 7).rng(),
        );
        let cross_section = CrossSection {
            value_pb: 2000.0,
            error_pb: 0.0,
        };
        let mut writer = HepMcWriter::new(Vec::new(), cross_section, "test").unwrap();
        writer.write_event(&event).unwrap();
        let text = String::from_utf8(writer.finish().unwrap()).unwrap();
        let kinds: Vec<&str> = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| &line[..1])
            .collect();
        assert_eq!(
            kinds,
            ["H", "H", "W", "T", "E", "U", "W", "A", "P", "P", "V", "P", "P", "P", "H"]
        );
        assert!(text.contains("\nE 7 2 5\n"));
        assert!(text.contains("\nA 0 GenCrossSection 2.00000000e+03 0.00000000e+00 -1 -1\n"));
        assert!(text.contains("\nV -1 0 [1,2]\nP 3 -1 23 "));
        assert!(text.contains("\nP 4 3 13 "));
        assert!(text.ends_with("HepMC::Asciiv3-END_EVENT_LISTING\n\n"));
    }
}
