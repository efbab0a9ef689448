//! The overview's trend chart: an SVG drawn on the server (no script, no
//! inline style), open findings as a line and savings as a second line on
//! its own scale.

use std::fmt::Write as _;

use sightline_store::compliance::RatePoint;
use sightline_store::overview::TrendPoint;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const PAD: f64 = 36.0;

fn scale(values: &[f64]) -> f64 {
    values.iter().cloned().fold(0.0, f64::max).max(1.0)
}

fn polyline(values: &[f64], max: f64) -> String {
    let n = values.len().max(2) - 1;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = PAD + (WIDTH - 2.0 * PAD) * i as f64 / n as f64;
            let y = HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * v / max;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SVG markup; every value in it is a number this function formatted.
pub fn trend_svg(points: &[TrendPoint]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="trend-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Open findings and estimated monthly savings over scans">"#
    );
    let _ = write!(
        svg,
        r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{b}" stroke="#999"/>"##,
        b = HEIGHT - PAD,
        r = WIDTH - PAD
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y}" text-anchor="middle" fill="#666">No finished scans yet</text></svg>"##,
            x = WIDTH / 2.0,
            y = HEIGHT / 2.0
        );
        return svg;
    }
    let open: Vec<f64> = points.iter().map(|p| p.open_findings as f64).collect();
    let savings: Vec<f64> = points.iter().map(|p| p.monthly_savings).collect();
    let (open_max, savings_max) = (scale(&open), scale(&savings));
    let _ = write!(
        svg,
        r##"<polyline class="open" points="{}" fill="none" stroke="#c0392b" stroke-width="2"/>"##,
        polyline(&open, open_max)
    );
    let _ = write!(
        svg,
        r##"<polyline class="savings" points="{}" fill="none" stroke="#2471a3" stroke-width="2" stroke-dasharray="5 3"/>"##,
        polyline(&savings, savings_max)
    );
    // A marker per scan, so that a single scan still shows.
    for (series, values, max, colour) in [
        ("open", &open, open_max, "#c0392b"),
        ("savings", &savings, savings_max, "#2471a3"),
    ] {
        for point in polyline(values, max).split(' ') {
            if let Some((x, y)) = point.split_once(',') {
                let _ = write!(
                    svg,
                    r#"<circle class="{series}" cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#
                );
            }
        }
    }
    let _ = write!(
        svg,
        r##"<text x="4" y="{PAD}" fill="#c0392b" font-size="11">{open_max:.0} open</text><text x="{r}" y="{PAD}" fill="#2471a3" font-size="11" text-anchor="end">${savings_max:.0}/mo</text>"##,
        r = WIDTH - 4.0
    );
    let first = points
        .first()
        .map(|p| p.at.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let last = points
        .last()
        .map(|p| p.at.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    let _ = write!(
        svg,
        r##"<text x="{PAD}" y="{y}" font-size="11" fill="#666">{first}</text><text x="{r}" y="{y}" font-size="11" fill="#666" text-anchor="end">{last}</text></svg>"##,
        y = HEIGHT - 8.0,
        r = WIDTH - PAD
    );
    svg
}

/// The Compliance page's chart: the share of automated controls passed
/// after each scan (0–100%), one marker per scan.
pub fn pass_rate_svg(points: &[RatePoint]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" id="pass-rate-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Share of automated controls passed over scans"><line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{b}" stroke="#999"/><text x="4" y="{PAD}" fill="#1e8449" font-size="11">100%</text><text x="4" y="{b}" fill="#666" font-size="11">0%</text>"##,
        b = HEIGHT - PAD,
        r = WIDTH - PAD
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y}" text-anchor="middle" fill="#666">No scan has assessed this framework yet</text></svg>"##,
            x = WIDTH / 2.0,
            y = HEIGHT / 2.0
        );
        return svg;
    }
    let rates: Vec<f64> = points.iter().map(RatePoint::pass_rate).collect();
    let line = polyline(&rates, 100.0);
    let _ = write!(
        svg,
        r##"<polyline class="pass-rate" points="{line}" fill="none" stroke="#1e8449" stroke-width="2"/>"##
    );
    for (point, rate) in line.split(' ').zip(&rates) {
        if let Some((x, y)) = point.split_once(',') {
            let _ = write!(
                svg,
                r##"<circle class="pass-rate" cx="{x}" cy="{y}" r="3" fill="#1e8449"><title>{rate:.1}%</title></circle>"##
            );
        }
    }
    let first = points[0].at.format("%Y-%m-%d");
    let last = points[points.len() - 1].at.format("%Y-%m-%d %H:%M");
    let _ = write!(
        svg,
        r##"<text x="{PAD}" y="{y}" font-size="11" fill="#666">{first}</text><text x="{r}" y="{y}" font-size="11" fill="#666" text-anchor="end">{last}</text></svg>"##,
        y = HEIGHT - 8.0,
        r = WIDTH - PAD
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn the_chart_draws_one_vertex_per_scan_for_each_series() {
        let points: Vec<TrendPoint> = (0..3)
            .map(|i| TrendPoint {
                at: Utc.with_ymd_and_hms(2026, 11, 20 + i, 0, 0, 0).unwrap(),
                open_findings: [10, 5, 0][i as usize],
                monthly_savings: [100.0, 50.0, 0.0][i as usize],
            })
            .collect();
        let svg = trend_svg(&points);
        let open = svg.split(r#"class="open" points=""#).nth(1).unwrap();
        let open = open.split('"').next().unwrap();
        assert_eq!(open, "36.0,36.0 320.0,90.0 604.0,144.0");
        assert!(svg.contains("10 open") && svg.contains("$100/mo"));
        assert!(!svg.contains("style"));
        assert!(trend_svg(&[]).contains("No finished scans yet"));
    }

    #[test]
    fn the_pass_rate_is_drawn_on_a_fixed_zero_to_hundred_scale() {
        let points: Vec<RatePoint> = [(0, 4, 0), (2, 2, 0), (4, 0, 0)]
            .iter()
            .enumerate()
            .map(|(i, (pass, fail, not_evaluated))| RatePoint {
                at: Utc
                    .with_ymd_and_hms(2026, 11, 20 + i as u32, 0, 0, 0)
                    .unwrap(),
                pass: *pass,
                fail: *fail,
                not_evaluated: *not_evaluated,
            })
            .collect();
        let svg = pass_rate_svg(&points);
        let line = svg.split(r#"class="pass-rate" points=""#).nth(1).unwrap();
        assert_eq!(
            line.split('"').next().unwrap(),
            "36.0,144.0 320.0,90.0 604.0,36.0"
        );
        assert!(svg.contains("<title>50.0%</title>"));
        assert!(!svg.contains("style"));
        assert!(pass_rate_svg(&[]).contains("No scan has assessed this framework yet"));
    }
}
