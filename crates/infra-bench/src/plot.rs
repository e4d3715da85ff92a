//! SVG line charts of the report, drawn with `plotters` (its SVG backend only: text is
//! left to the viewer's sans-serif font, so no font files are read or embedded).
//!
//! Three shapes: throughput against concurrency (one panel per operation, one line per
//! client) and a latency CDF (one line per client), both on a logarithmic x axis, and the
//! reference service's resident memory over time (one line per vector store), linear.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::BenchResult;

/// One line of a chart: its legend and its `(x, y)` points, in x order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// The legend entry.
    pub(crate) name: String,
    /// The points, in x order; non-finite x or y, and non-positive x on a log axis, are
    /// left out.
    pub(crate) points: Vec<(f64, f64)>,
}

/// One panel: a title and its lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    /// The panel's caption.
    pub(crate) title: String,
    /// Its lines.
    pub(crate) series: Vec<Series>,
}

/// How the x axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XScale {
    /// Logarithmic over the data's range (concurrency, latency).
    Log,
    /// Linear from 0 (time).
    Linear,
}

/// The axes of a chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axes<'a> {
    /// The x axis's description.
    pub(crate) x: &'a str,
    /// The x axis's scale.
    pub(crate) x_scale: XScale,
    /// The y axis's description (linear, from 0).
    pub(crate) y: &'a str,
    /// A fixed top of the y axis (`None`: the data's maximum plus 10 %).
    pub(crate) y_max: Option<f64>,
}

/// The colours of the lines, in series order (port, bare, raw, fred, redis-benchmark as
/// scenario 8 orders them).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(40, 40, 40),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws `panels` side by side into the SVG file `path` (`width` x `height` pixels), with
/// `footer` (the command and date that produced the figures) under them.
pub(crate) fn line_charts(
    path: &Path,
    (width, height): (u32, u32),
    panels: &[Panel],
    axes: Axes<'_>,
    footer: &str,
) -> BenchResult {
    let fail = |e: &dyn std::fmt::Debug| format!("cannot draw {}: {e:?}", path.display());
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (body, foot) = root.split_vertically(height.saturating_sub(24));
    foot.draw(&Text::new(
        footer.to_owned(),
        (10, 4),
        ("sans-serif", 13).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .map_err(|e| fail(&e))?;
    let count = panels.len().max(1);
    let areas = body.split_evenly((1, count));
    for (panel, area) in panels.iter().zip(&areas) {
        draw_panel(area, panel, axes).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// The x range of a log axis over `series`: the data's, widened by a quarter each side (and
/// made non-empty when every x is the same). `(1, 10)` without data.
fn x_range(series: &[Series]) -> (f64, f64) {
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite() && *x > 0.0);
    let (min, max) = xs.fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if min.is_finite() && max > 0.0 {
        (min / 1.25, max * 1.25)
    } else {
        (1.0, 10.0)
    }
}

/// Where the x axis is labelled: at the data's own x values when there are few of them
/// (the concurrencies 1, 8, 64, 256 of a throughput chart, rather than the decades a log
/// axis picks), else at 1, 2 and 5 of every decade within `x0..=x1`.
fn x_ticks(series: &[Series], (x0, x1): (f64, f64)) -> Vec<f64> {
    const FEW: usize = 8;
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if !xs.is_empty() && xs.len() <= FEW {
        return xs;
    }
    // Decades as integer powers of ten: no drift from repeated multiplication. The
    // exponents of a finite positive f64 lie within ±400, so the casts cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    let (first, last) = (x0.log10().floor() as i32, x1.log10().ceil() as i32);
    (first..=last)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|step| step * 10f64.powi(k)))
        .filter(|tick| (x0..=x1).contains(tick))
        .collect()
}

/// The top of a linear y axis from 0: the data's maximum plus 10 % (1 without data).
fn y_top(series: &[Series]) -> f64 {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    axes: Axes<'_>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y1 = axes.y_max.unwrap_or_else(|| y_top(&panel.series));
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64);
    match axes.x_scale {
        XScale::Log => {
            let (x0, x1) = x_range(&panel.series);
            let x = (x0..x1)
                .log_scale()
                .with_key_points(x_ticks(&panel.series, (x0, x1)));
            draw_lines(&mut builder.build_cartesian_2d(x, 0.0..y1)?, panel, axes)
        }
        XScale::Linear => {
            let x1 = panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .filter(|x| x.is_finite())
                .fold(0.0_f64, f64::max);
            let x1 = if x1 > 0.0 { x1 * 1.02 } else { 1.0 };
            draw_lines(
                &mut builder.build_cartesian_2d(0.0..x1, 0.0..y1)?,
                panel,
                axes,
            )
        }
    }
}

/// The mesh, the panel's lines and their legend on a chart whose y axis is linear.
fn draw_lines<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    panel: &Panel,
    axes: Axes<'_>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(&|x| format_tick(*x))
        .y_label_formatter(&|y| format_tick(*y))
        .draw()?;
    let log = axes.x_scale == XScale::Log;
    for (i, series) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && (!log || *x > 0.0) && y.is_finite())
            .collect();
        // Markers only where a line has few points (a grid's); a time series is a line.
        let marker = if points.len() <= 32 { 3 } else { 0 };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(marker))?
            .label(series.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

/// An axis tick: `250k`, `1.5M`, `64`, `0.25`.
pub(crate) fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.to_owned(),
            points: points.to_vec(),
        }
    }

    /// Whether the SVG has a text element reading exactly `text` (plotters writes each
    /// on a line of its own).
    fn has_label(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>"))
    }

    #[test]
    fn ranges_and_ticks() {
        let s = [series("a", &[(8.0, 10.0), (64.0, 30.0)])];
        assert_eq!(x_range(&s), (8.0 / 1.25, 64.0 * 1.25));
        assert!((y_top(&s) - 33.0).abs() < 1e-9);
        assert_eq!(x_range(&[]), (1.0, 10.0));
        assert!((y_top(&[]) - 1.0).abs() < f64::EPSILON);
        let one = [series("a", &[(8.0, 5.0)])];
        let (lo, hi) = x_range(&one);
        assert!(lo < 8.0 && hi > 8.0);
        assert_eq!(format_tick(250_000.0), "250k");
        assert_eq!(format_tick(1_500_000.0), "1.5M");
        assert_eq!(format_tick(64.0), "64");
        assert_eq!(format_tick(0.25), "0.25");
    }

    #[test]
    fn a_time_series_is_drawn_on_a_linear_axis_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rss.svg");
        let rss: Vec<(f64, f64)> = (0..200)
            .map(|i| (f64::from(i) * 0.05, 40.0 + f64::from(i % 7)))
            .collect();
        let panels = [Panel {
            title: "RSS".to_owned(),
            series: vec![series("embedded", &rss)],
        }];
        let axes = Axes {
            x: "seconds since ready",
            x_scale: XScale::Linear,
            y: "MiB",
            y_max: None,
        };
        line_charts(&path, (800, 400), &panels, axes, "cargo xtask bench").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // The sample at t = 0 is drawn (a log axis would drop it), and the axis starts at 0.
        assert!(has_label(&svg, "0"), "the x axis is labelled from 0");
        assert!(svg.contains("embedded") && svg.contains("seconds since ready"));
        assert!(
            !svg.contains("<circle"),
            "no markers on a line of 200 samples"
        );
    }

    #[test]
    fn few_x_values_are_the_ticks_and_many_get_decades() {
        let grid = [
            series("port", &[(1.0, 1.0), (8.0, 1.0), (64.0, 1.0), (256.0, 1.0)]),
            series("raw", &[(8.0, 2.0), (1.0, 2.0)]),
        ];
        assert_eq!(
            x_ticks(&grid, x_range(&grid)),
            [1.0, 8.0, 64.0, 256.0],
            "the concurrencies of a throughput chart label its axis"
        );
        let cdf: Vec<(f64, f64)> = (1..=40).map(|i| (f64::from(i) * 0.1, 0.5)).collect();
        let cdf = [series("latency", &cdf)];
        let ticks = x_ticks(&cdf, (0.08, 5.0));
        let want = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
        assert_eq!(ticks.len(), want.len(), "{ticks:?}");
        for (tick, want) in ticks.iter().zip(want) {
            assert!(
                (tick - want).abs() < 1e-12,
                "{ticks:?}: 1, 2 and 5 of every decade"
            );
        }
    }

    #[test]
    fn draws_an_svg_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let panels = [
            Panel {
                title: "GET".to_owned(),
                series: vec![
                    series("port", &[(1.0, 10.0), (8.0, 50.0), (64.0, 90.0)]),
                    series("raw", &[(1.0, 12.0), (8.0, 55.0), (64.0, 95.0)]),
                ],
            },
            Panel {
                title: "SET".to_owned(),
                // A single point and a bad one: still drawn, no panic.
                series: vec![series("port", &[(8.0, 40.0), (f64::NAN, 1.0)])],
            },
        ];
        let axes = Axes {
            x: "tasks",
            x_scale: XScale::Log,
            y: "ops/s",
            y_max: None,
        };
        line_charts(&path, (800, 400), &panels, axes, "cargo xtask bench").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for text in ["GET", "SET", "port", "raw", "cargo xtask bench"] {
            assert!(svg.contains(text), "{text} missing");
        }
        for tick in ["1", "8", "64"] {
            // A log axis labels only decades by itself: 8 and 64 are the data's ticks.
            assert!(has_label(&svg, tick), "the x axis has no tick {tick}");
        }
    }
}
