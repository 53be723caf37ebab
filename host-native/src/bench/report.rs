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
    vec![
        Figure::rate("machine/memcpy-fresh-mapping", gb(l.memcpy_fresh), "GB/s"),
        Figure::rate("machine/memcpy-warm-mapping", gb(l.memcpy_warm), "GB/s"),
        Figure::rate("machine/crc32fast", gb(l.crc32), "GB/s"),
        sync,
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
    let limit: Vec<(f64, f64)> = figs
        .iter()
        .filter(|f| f.workload.starts_with("rocketmq/append/sync/1KiB/"))
        .filter_map(|f| Some((f.writers? as f64, f.limit?)))
        .collect();
    series.push(("limit: writers / median fdatasync", "#7f7f7f", limit));
    series.retain(|s| !s.2.is_empty());

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
