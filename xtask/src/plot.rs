//! The benchmark plots, drawn with plotters' SVG backend: the same data always gives the
//! same bytes (no timestamp, no random id), so a regenerated plot differs only where a
//! number did.

use plotters::prelude::*;

/// One line of the percentile plot: its name and (percentile as a fraction, value in µs).
pub(crate) struct Curve {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// The fixed palette, in series order (seven: the ping-pong plot's subjects, its floor last
/// in black).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x00, 0x00, 0x00),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("plotters: {e:?}")
}

/// `p` (0.5 .. 0.9999) as the distance to the tail, 1 / (1 - p): 2 .. 10,000, the axis a
/// log scale spreads evenly (p50, p90, p99, p99.9, p99.99 one decade apart).
fn tail(p: f64) -> f64 {
    1.0 / (1.0 - p)
}

/// `p99.9` for the tail distance of 0.999.
fn percentile_label(x: f64) -> String {
    let p = 100.0 - 100.0 / x;
    let mut s = format!("{p:.2}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    format!("p{s}")
}

/// Latency against percentile, both axes logarithmic.
pub(crate) fn percentiles(
    path: &std::path::Path,
    title: &str,
    curves: &[Curve],
) -> Result<(), String> {
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for c in curves {
        for &(_, v) in &c.points {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if curves.is_empty() || hi <= 0.0 {
        return Err(format!("{title}: nothing to plot"));
    }
    let lo = lo.max(0.1) / 1.3;
    let hi = hi * 1.3;
    let root = SVGBackend::new(path, (820, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((tail(0.5)..tail(0.9999)).log_scale(), (lo..hi).log_scale())
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("round-trip time, µs")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(draw_err)?;
    for (i, c) in curves.iter().enumerate() {
        let col = colour(i);
        chart
            .draw_series(LineSeries::new(
                c.points.iter().map(|&(p, v)| (tail(p), v)),
                col.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(c.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        chart
            .draw_series(
                c.points
                    .iter()
                    .map(|&(p, v)| Circle::new((tail(p), v), 3, col.filled())),
            )
            .map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}

/// Bars in groups: `groups` along the x axis, one bar per `series` in each, `values[g][s]`
/// (`None`: no bar). `unit` names the y axis; `log` draws it in decades (for values that
/// differ by orders of magnitude), bars rising from the decade below the smallest.
pub(crate) fn grouped_bars(
    path: &std::path::Path,
    title: &str,
    unit: &str,
    groups: &[String],
    series: &[String],
    values: &[Vec<Option<f64>>],
    log: bool,
) -> Result<(), String> {
    let all = values.iter().flatten().flatten().copied();
    let hi = all.clone().fold(0f64, f64::max);
    let lo = all.fold(f64::MAX, f64::min);
    if groups.is_empty() || series.is_empty() || hi <= 0.0 || (log && lo <= 0.0) {
        return Err(format!("{title}: nothing to plot"));
    }
    // On a log axis a bar's height is log10 of its value, labelled back in the value.
    let y = |v: f64| if log { v.log10() } else { v };
    let (y0, y1) = if log {
        (lo.log10().floor(), hi.log10().ceil() + 0.15)
    } else {
        (0.0, hi * 1.15)
    };
    let root = SVGBackend::new(path, (820, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let n = groups.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, y0..y1)
        .map_err(draw_err)?;
    let group_names = groups.to_vec();
    let label = move |x: &f64| -> String {
        let i = x.floor() as usize;
        // One label per group, at its centre.
        if (x - (i as f64 + 0.5)).abs() < 1e-6 {
            group_names.get(i).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&label)
        .y_desc(unit)
        .y_labels(if log {
            (y1 - y0).ceil() as usize + 1
        } else {
            10
        })
        .y_label_formatter(&|v| short_number(if log { 10f64.powf(*v) } else { *v }))
        .draw()
        .map_err(draw_err)?;
    let k = series.len() as f64;
    let width = 0.8 / k;
    for (s, name) in series.iter().enumerate() {
        let col = colour(s);
        let bars: Vec<Rectangle<(f64, f64)>> = values
            .iter()
            .enumerate()
            .filter_map(|(g, row)| {
                let v = row.get(s).copied().flatten()?;
                let x0 = g as f64 + 0.1 + s as f64 * width;
                Some(Rectangle::new(
                    [(x0, y0), (x0 + width * 0.9, y(v))],
                    col.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(draw_err)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], col.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}

/// 1.5k, 2.3M, 4.1G: axis labels of large counts.
pub(crate) fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_name_the_tail() {
        assert_eq!(percentile_label(tail(0.5)), "p50");
        assert_eq!(percentile_label(tail(0.99)), "p99");
        assert_eq!(percentile_label(tail(0.999)), "p99.9");
        assert_eq!(percentile_label(tail(0.9999)), "p99.99");
    }

    #[test]
    fn log_bars_span_whole_decades() {
        let dir = std::env::temp_dir().join(format!("xtask-bars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bars.svg");
        let vals = vec![vec![Some(7.0e5)], vec![Some(3.5e7)]];
        grouped_bars(
            &p,
            "t",
            "u",
            &["a".into(), "b".into()],
            &["s".into()],
            &vals,
            true,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        // Labelled back in values: the decades 100k to 100M.
        assert!(svg.contains("100.0k") && svg.contains("100.0M"), "{svg}");
        let _ = std::fs::remove_dir_all(dir);
        let err = grouped_bars(&p, "t", "u", &[], &[], &[], true).unwrap_err();
        assert!(err.contains("nothing to plot"));
    }

    #[test]
    fn the_same_data_draws_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curves = || {
            vec![Curve {
                name: "a".into(),
                points: vec![(0.5, 10.0), (0.9, 12.0), (0.99, 20.0), (0.9999, 80.0)],
            }]
        };
        let (a, b) = (dir.join("a.svg"), dir.join("b.svg"));
        percentiles(&a, "t", &curves()).unwrap();
        percentiles(&b, "t", &curves()).unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert!(!a.is_empty());
        assert_eq!(a, b);
        let _ = std::fs::remove_dir_all(dir);
    }
}
