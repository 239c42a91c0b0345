//! Statistics, the printed tables, the CSV and JSON files, and the SVG plots (written by hand:
//! no plotting crate, no fonts; the viewer renders the text).

use std::fmt::Write as _;
use std::path::Path;

/// One measured figure set: what was measured, under which condition, and how it compares.
#[derive(Clone, Debug)]
pub struct Record {
    pub section: &'static str,
    pub mechanism: String,
    pub condition: String,
    /// Payload size, 0 where none.
    pub bytes: usize,
    /// How many timed rounds the percentiles come from.
    pub count: usize,
    pub p50_ns: f64,
    pub p99_ns: f64,
    /// GB/s (bandwidth, codec) or transitions/s (channels); 0 where it means nothing.
    pub rate: f64,
    /// This record's figure over its reference's (time over time, or rate over rate).
    pub ratio: Option<f64>,
    /// What `ratio` compares with.
    pub reference: String,
    /// Further named figures (the work ladder's means, CPU times and wait counts); written
    /// as `name=value;...` in the CSV and as an object in the JSON.
    pub extra: Vec<(String, f64)>,
}

/// The `p` quantile (0..=1) of `sorted`.
pub fn quantile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[index] as f64
}

/// Nanoseconds as a short human figure.
pub fn time(ns: f64) -> String {
    if !ns.is_finite() {
        "–".to_owned()
    } else if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

pub fn ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
}

/// A Markdown table (printed, and pasted into the README as it is).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".to_owned()
    }
}

/// Writes `results.csv` and `results.json` into `dir`, plus `machine` as the JSON's header.
pub fn write_files(
    dir: &Path,
    machine: &[(String, String)],
    records: &[Record],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut csv = String::from(
        "section,mechanism,condition,bytes,count,p50_ns,p99_ns,rate,ratio,reference,extra\n",
    );
    for r in records {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.1},{:.1},{},{},{},{}",
            r.section,
            csv_field(&r.mechanism),
            csv_field(&r.condition),
            r.bytes,
            r.count,
            r.p50_ns,
            r.p99_ns,
            r.rate,
            r.ratio.map_or_else(String::new, |x| format!("{x:.4}")),
            csv_field(&r.reference),
            r.extra
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(";"),
        );
    }
    std::fs::write(dir.join("results.csv"), csv)?;

    let mut json = String::from("{\n  \"machine\": {");
    for (i, (key, value)) in machine.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(
            json,
            "{comma}\n    {}: {}",
            json_string(key),
            json_string(value)
        );
    }
    json.push_str("\n  },\n  \"records\": [");
    for (i, r) in records.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(
            json,
            "{comma}\n    {{\"section\": {}, \"mechanism\": {}, \"condition\": {}, \"bytes\": {}, \
             \"count\": {}, \"p50_ns\": {}, \"p99_ns\": {}, \"rate\": {}, \"ratio\": {}, \
             \"reference\": {}, \"extra\": {{{}}}}}",
            json_string(r.section),
            json_string(&r.mechanism),
            json_string(&r.condition),
            r.bytes,
            r.count,
            json_number(r.p50_ns),
            json_number(r.p99_ns),
            json_number(r.rate),
            r.ratio.map_or_else(|| "null".to_owned(), json_number),
            json_string(&r.reference),
            r.extra
                .iter()
                .map(|(name, value)| format!("{}: {}", json_string(name), json_number(*value)))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    json.push_str("\n  ]\n}\n");
    std::fs::write(dir.join("results.json"), json)
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Powers of ten (and their 2× and 5×) spanning `lo..=hi`, for log-axis ticks.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi * 1.0001 {
        for step in [1.0, 2.0, 5.0] {
            let tick = decade * step;
            if tick >= lo * 0.9999 && tick <= hi * 1.0001 {
                ticks.push(tick);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// One mechanism's bars in [`latency_svg`]: its name, then per condition the condition's
/// name, p50 and p99 in nanoseconds.
pub type BarGroup = (String, Vec<(String, f64, f64)>);

/// Horizontal bars, one group per mechanism and one bar per condition: p50 as the bar, p99 as
/// a whisker, on a log time axis.
pub fn latency_svg(title: &str, groups: &[BarGroup]) -> String {
    let conditions: Vec<String> = {
        let mut seen: Vec<String> = Vec::new();
        for (_, bars) in groups {
            for (condition, _, _) in bars {
                if !seen.contains(condition) {
                    seen.push(condition.clone());
                }
            }
        }
        seen
    };
    let values = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().flat_map(|(_, p50, p99)| [*p50, *p99]))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf(hi.log10().ceil());
    let (left, right, top, bar, gap) = (260.0, 40.0, 50.0, 12.0, 10.0);
    let plot_width = 520.0;
    let group_height = bar * conditions.len() as f64 + gap;
    let height = top + group_height * groups.len() as f64 + 60.0;
    let width = left + plot_width + right;
    let x = |v: f64| left + plot_width * (v.log10() - lo.log10()) / (hi.log10() - lo.log10());
    let mut svg = svg_header(width, height, title);
    for tick in log_ticks(lo, hi)
        .into_iter()
        .filter(|t| (t.log10().fract()).abs() < 1e-9)
    {
        let tx = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
            height - 45.0,
            height - 32.0,
            escape(&time(tick))
        );
    }
    for (g, (name, bars)) in groups.iter().enumerate() {
        let y0 = top + g as f64 * group_height;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            left - 6.0,
            y0 + group_height / 2.0,
            escape(name)
        );
        for (condition, p50, p99) in bars {
            let c = conditions.iter().position(|x| x == condition).unwrap_or(0);
            let y = y0 + c as f64 * bar;
            if !p50.is_finite() {
                continue;
            }
            let _ = writeln!(
                svg,
                r#"<rect x="{left}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: p50 {}, p99 {}</title></rect>"#,
                (x(*p50) - left).max(1.0),
                bar - 2.0,
                COLORS[c % COLORS.len()],
                escape(condition),
                escape(&time(*p50)),
                escape(&time(*p99)),
            );
            if p99.is_finite() {
                let ym = y + (bar - 2.0) / 2.0;
                let _ = writeln!(
                    svg,
                    r##"<line x1="{:.1}" y1="{ym:.1}" x2="{:.1}" y2="{ym:.1}" stroke="#333"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
                    x(*p50),
                    x(*p99),
                    x(*p99),
                    y,
                    x(*p99),
                    y + bar - 2.0,
                );
            }
        }
    }
    legend(&mut svg, &conditions, left, height - 14.0);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">bar: p50, whisker: p99 (log scale)</text>"#,
        width - right,
        top - 8.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Lines of `(x, y)` points on log-log axes.
pub fn lines_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_format: fn(f64) -> String,
    y_format: fn(f64) -> String,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let points = series
        .iter()
        .flat_map(|(_, points)| points.iter().copied())
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && y.is_finite());
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for (x, y) in points {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    let y_lo = 10f64.powf(y_lo.log10().floor());
    let y_hi = 10f64.powf(y_hi.log10().ceil());
    let (left, top, plot_width, plot_height) = (80.0, 40.0, 560.0, 320.0);
    let width = left + plot_width + 340.0;
    let height = top + plot_height + 60.0;
    let px =
        |x: f64| left + plot_width * (x.log10() - x_lo.log10()) / (x_hi.log10() - x_lo.log10());
    let py = |y: f64| {
        top + plot_height * (1.0 - (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10()))
    };
    let mut svg = svg_header(width, height, title);
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|(x, _)| *x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1:.1}" stroke="#ddd"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle" font-size="10">{3}</text>"##,
            px(x),
            top + plot_height,
            top + plot_height + 14.0,
            escape(&x_format(x))
        );
    }
    for tick in log_ticks(y_lo, y_hi) {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ddd"/><text x="{2:.1}" y="{3:.1}" text-anchor="end" font-size="10">{4}</text>"##,
            py(tick),
            left + plot_width,
            left - 4.0,
            py(tick) + 3.0,
            escape(&y_format(tick))
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text><text x="14" y="{:.1}" font-size="11" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        left + plot_width / 2.0,
        height - 14.0,
        escape(x_label),
        top + plot_height / 2.0,
        top + plot_height / 2.0,
        escape(y_label)
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .filter(|(_, y)| *y > 0.0 && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for point in &path {
            let (cx, cy) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(svg, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
        }
        let ly = top + 10.0 + i as f64 * 18.0;
        let lx = left + plot_width + 14.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn svg_header(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        width / 2.0,
        escape(title)
    )
}

fn legend(svg: &mut String, names: &[String], left: f64, y: f64) {
    let mut x = left;
    for (i, name) in names.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" font-size="11">{}</text>"#,
            y - 9.0,
            COLORS[i % COLORS.len()],
            x + 16.0,
            escape(name)
        );
        x += 30.0 + 7.0 * name.len() as f64;
    }
}
