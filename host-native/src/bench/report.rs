//! Rendering: an aligned table, JSON lines (one object per workload) and an
//! SVG chart of sync-flush throughput against writers.

use std::fmt::Write;

use serde_json::json;

use super::{Figure, Limits};

/// The limits themselves, as figures (ratio 1 by definition).
pub(super) fn limit_figures(l: &Limits) -> Vec<Figure> {
    let gb = |v: f64| v / 1e9;
    let mut sync = Figure::rate(
        "machine/fdatasync-4KiB",
        l.fdatasync_median.as_secs_f64() * 1e6,
        "µs p50",
    );
    sync.note = format!("p99 {:.0} µs", l.fdatasync_p99.as_secs_f64() * 1e6);
    // What bounds group commit on few cores: every sync put parks and wakes its writer.
    let mut wake = Figure::rate(
        format!("machine/wake-{}-threads", l.wakes.threads),
        l.wakes.per_sec,
        "wakes/s",
    );
    wake.note = format!(
        "{:.2} µs CPU per wake",
        l.wakes.cpu_per_wake.as_secs_f64() * 1e6
    );
    vec![
        Figure::rate("machine/memcpy-fresh-mapping", gb(l.memcpy_fresh), "GB/s"),
        Figure::rate("machine/memcpy-warm-mapping", gb(l.memcpy_warm), "GB/s"),
        Figure::rate("machine/crc32fast", gb(l.crc32), "GB/s"),
        sync,
        wake,
    ]
}

fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    }
}

fn us(d: std::time::Duration) -> String {
    num(d.as_secs_f64() * 1e6)
}

/// An aligned text table.
pub fn table(figs: &[Figure]) -> String {
    let mut rows = vec![[
        "workload".to_owned(),
        "value".into(),
        "unit".into(),
        "MB/s".into(),
        "p50/p99/p999 µs".into(),
        "limit".into(),
        "ratio".into(),
        "limit is / notes".into(),
    ]];
    for f in figs {
        let lat = f
            .latency
            .map(|l| format!("{}/{}/{}", us(l.p50), us(l.p99), us(l.p999)))
            .unwrap_or_default();
        let mut what = f.limit_name.clone();
        if !f.note.is_empty() {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(&f.note);
        }
        rows.push([
            f.workload.clone(),
            num(f.value),
            f.unit.into(),
            f.mb_s.map(num).unwrap_or_default(),
            lat,
            f.limit.map(num).unwrap_or_default(),
            f.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
            what,
        ]);
    }
    let mut w = [0usize; 8];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        for (i, c) in r.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i == 7 {
                out.push_str(c);
            } else if i == 0 || i == 2 || i == 4 {
                let _ = write!(out, "{c}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{c}  ", " ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        if n == 0 {
            let total: usize = w.iter().sum::<usize>() + 14;
            out.push_str(&"-".repeat(total.min(160)));
            out.push('\n');
        }
    }
    out
}

/// One JSON object per line: `workload`, `value`, `unit`, `limit`,
/// `limit_name`, `ratio`, and where measured `mb_s`, `p50_us`, `p99_us`,
/// `p999_us`, `writers`, `note`.
pub fn json_lines(figs: &[Figure]) -> String {
    let mut out = String::new();
    for f in figs {
        let mut o = json!({
            "workload": f.workload,
            "value": f.value,
            "unit": f.unit,
            "limit": f.limit,
            "limit_name": f.limit_name,
            "ratio": f.ratio,
        });
        if let Some(m) = o.as_object_mut() {
            if let Some(v) = f.mb_s {
                m.insert("mb_s".into(), json!(v));
            }
            if let Some(l) = f.latency {
                m.insert("p50_us".into(), json!(l.p50.as_secs_f64() * 1e6));
                m.insert("p99_us".into(), json!(l.p99.as_secs_f64() * 1e6));
                m.insert("p999_us".into(), json!(l.p999.as_secs_f64() * 1e6));
            }
            if let Some(w) = f.writers {
                m.insert("writers".into(), json!(w));
            }
            if !f.note.is_empty() {
                m.insert("note".into(), json!(f.note));
            }
        }
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

/// An SVG line chart (log-log) of sync-flush msgs/s against writers: one
/// series per engine (and the peer, when measured) and the group-commit
/// limit `writers / median fdatasync latency`.
pub fn svg_sync_chart(figs: &[Figure]) -> String {
    let series_of = |prefix: &str| -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = figs
            .iter()
            .filter(|f| f.workload.starts_with(prefix) && f.unit == "msgs/s")
            .filter_map(|f| Some((f.writers? as f64, f.value)))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    let mut series = vec![
        (
            "rocketlog RocketMQ (SYNC_FLUSH)",
            "#1f77b4",
            series_of("rocketmq/append/sync/1KiB/"),
        ),
        (
            "rocketlog DLedger (sync)",
            "#2ca02c",
            series_of("dledger/append/sync/1KiB/"),
        ),
        (
            "rocketmq-store 1.0.0 (SYNC_FLUSH)",
            "#d62728",
            series_of("peer/append/sync/1KiB/"),
        ),
    ];
    // The group-commit limit at every writer count measured: one fdatasync
    // (the machine's median latency) per round of `writers` puts.
    let fdatasync_us = figs
        .iter()
        .find(|f| f.workload == "machine/fdatasync-4KiB")
        .map(|f| f.value)
        .filter(|v| *v > 0.0);
    let mut writers: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .collect();
    writers.sort_by(f64::total_cmp);
    writers.dedup();
    let limit: Vec<(f64, f64)> = match fdatasync_us {
        Some(us) => writers.iter().map(|&n| (n, n / (us / 1e6))).collect(),
        None => Vec::new(),
    };
    series.push(("limit: writers / median fdatasync", "#7f7f7f", limit));
    series.retain(|s| !s.2.is_empty());
    if series.iter().all(|s| s.0.starts_with("limit")) {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"60\" \
                font-family=\"sans-serif\" font-size=\"12\"><text x=\"10\" y=\"30\">\
                no sync-flush figures measured</text></svg>\n"
            .to_owned();
    }

    let (w, h, l, r, t, b) = (640.0, 400.0, 70.0, 20.0, 40.0, 50.0);
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
    let xmax = all.iter().map(|p| p.0).fold(1.0, f64::max).max(2.0);
    let ymin = all
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let ymax = all.iter().map(|p| p.1).fold(1.0, f64::max);
    let (ylo, yhi) = (
        ymin.log10().floor(),
        ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
    );
    let px = |x: f64| l + (x.log2() / xmax.log2()) * (w - l - r);
    let py = |y: f64| h - b - ((y.max(1.0).log10() - ylo) / (yhi - ylo)) * (h - t - b);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">Sync-flush appends (1 KiB bodies): msgs/s against writers</text>"#,
        w / 2.0
    );
    // Axes and grid.
    let mut e = ylo;
    while e <= yhi {
        let y = py(10f64.powf(e));
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">1e{e}</text>"##,
            w - r,
            l - 6.0,
            y + 4.0
        );
        e += 1.0;
    }
    let mut x = 1.0;
    while x <= xmax {
        let xx = px(x);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{t}" x2="{xx:.1}" y2="{}" stroke="#eee"/><text x="{xx:.1}" y="{}" text-anchor="middle">{x}</text>"##,
            h - b,
            h - b + 16.0
        );
        x *= 2.0;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="black"/>"##,
        h - b,
        w - r,
        h - b,
        h - b
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">writers (log scale)</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">msgs/s (log scale)</text>"#,
        (l + w - r) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    for (i, (name, color, pts)) in series.iter().enumerate() {
        let dash = if name.starts_with("limit") {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for p in pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{name}: {} writers, {:.0} msgs/s</title></circle>"#,
                px(p.0),
                py(p.1),
                p.0,
                p.1
            );
        }
        let ly = t + 10.0 + 16.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{name}</text>"#,
            l + 10.0,
            l + 30.0,
            l + 36.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(engine: &str, writers: usize, value: f64) -> Figure {
        let mut f = Figure::rate(
            format!("{engine}/append/sync/1KiB/{writers}w"),
            value,
            "msgs/s",
        );
        f.writers = Some(writers);
        f
    }

    /// `(title, cx, cy)` of every data point.
    fn points(svg: &str) -> Vec<(String, f64, f64)> {
        let attr = |s: &str, k: &str| -> f64 {
            let at = s.find(&format!("{k}=\"")).map(|i| i + k.len() + 2);
            at.and_then(|i| s[i..].split('"').next()?.parse().ok())
                .unwrap_or(f64::NAN)
        };
        svg.lines()
            .filter(|l| l.starts_with("<circle"))
            .map(|l| {
                let title = l
                    .split("<title>")
                    .nth(1)
                    .and_then(|t| t.split("</title>").next())
                    .unwrap_or("");
                (title.to_owned(), attr(l, "cx"), attr(l, "cy"))
            })
            .collect()
    }

    #[test]
    fn sync_chart_places_points_and_the_group_commit_limit() {
        // fdatasync p50 100 µs: the limit is 10,000 msgs/s per writer.
        let mut figs = vec![Figure::rate("machine/fdatasync-4KiB", 100.0, "µs p50")];
        for (w, v) in [(1, 1_000.0), (16, 10_000.0), (64, 100_000.0)] {
            figs.push(sync("rocketmq", w, v));
        }
        figs.push(sync("peer", 64, 10_000.0));
        // Ratios share the prefix but are not msgs/s: never plotted.
        figs.push(Figure::rate(
            "rocketmq/append/sync/1KiB/64w/vs-peer",
            10.0,
            "×",
        ));
        let svg = svg_sync_chart(&figs);
        let pts = points(&svg);
        // 4 rocketlog-or-peer points and 3 limit points (1, 16, 64 writers).
        assert_eq!(pts.len(), 7, "{svg}");
        let find = |name: &str, w: usize| {
            pts.iter()
                .find(|p| p.0.starts_with(name) && p.0.contains(&format!(": {w} writers")))
                .map(|p| (p.1, p.2))
                .unwrap_or_else(|| panic!("no point {name} {w}: {pts:?}"))
        };
        let lim = |w: usize| find("limit", w);
        let rmq = |w: usize| find("rocketlog RocketMQ", w);
        // Log2 x axis: 1 writer on the y axis (x = 70), 64 at the right edge (620).
        assert_eq!(rmq(1).0, 70.0);
        assert_eq!(rmq(64).0, 620.0);
        assert!((rmq(16).0 - (70.0 + 550.0 * 4.0 / 6.0)).abs() < 0.06);
        // Log10 y axis over 1e3 ..= 1e6 (the limit at 64 writers is 640,000):
        // 1e3 at the bottom (y = 350), 1e6 at the top (y = 40).
        assert_eq!(rmq(1).1, 350.0);
        let y = |v: f64| 350.0 - (v.log10() - 3.0) / 3.0 * 310.0;
        assert!((rmq(64).1 - y(100_000.0)).abs() < 0.06);
        assert!((lim(1).1 - y(10_000.0)).abs() < 0.06);
        assert!((lim(64).1 - y(640_000.0)).abs() < 0.06);
        assert!(svg.contains("limit: writers / median fdatasync: 64 writers, 640000 msgs/s"));
        assert_eq!(find("rocketmq-store", 64), (620.0, rmq(16).1));
    }

    #[test]
    fn sync_chart_without_sync_figures_is_a_note() {
        let figs = vec![Figure::rate("machine/fdatasync-4KiB", 80.0, "µs p50")];
        let svg = svg_sync_chart(&figs);
        assert!(svg.contains("no sync-flush figures measured"), "{svg}");
        assert!(points(&svg).is_empty());
    }
}
