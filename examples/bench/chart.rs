//! `chart.svg`: each server's throughput and p99 latency per scenario, relative to raw grpcio.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{Measured, Row};
use crate::servers::{Server, SERVERS};

/// What one panel of the chart plots.
#[derive(Clone, Copy)]
enum Figure {
    Throughput,
    P99,
}

impl Figure {
    fn title(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput vs raw grpcio (higher is better)",
            Figure::P99 => "p99 latency vs raw grpcio (lower is better)",
        }
    }

    fn relative(self, r: &Measured, raw: &Measured) -> f64 {
        match self {
            Figure::Throughput => r.rate / raw.rate.max(1e-9),
            Figure::P99 => r.p99_us / raw.p99_us.max(1e-9),
        }
    }
}

/// The gridlines a log axis may have; each panel keeps those its data spans.
const TICKS: [f64; 13] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

const WIDTH: u32 = 1100;
/// The scenarios' names are written once, left of the throughput panel.
const NAMES: u32 = 210;
const MARGIN: u32 = 10;
/// Between the panels, so that the last label of one and the first of the other stay apart.
const GAP: u32 = 25;
const LEGEND: u32 = 40;

/// The ratios span from about 0.07x to 15x (a blocking View stalls raw grpcio's I/O thread), so
/// the axes are logarithmic: on a linear one the 15x bars flatten every other ratio to a sliver
/// around 1x. Bars start at 1x (raw grpcio, which therefore has none of its own) and go right
/// for more, left for less, so 0.5x and 2x look as far from raw as each other.
pub fn chart(rows: &[Row], path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let height = 120 + rows.len() as u32 * 60 + LEGEND;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (panels, legend) = root.split_vertically(height - LEGEND);
    // Both plots get the same width; the left panel adds the names.
    let (left, right) = panels.split_horizontally(NAMES + (WIDTH - NAMES) / 2);
    // The servers in these results, in the table's order, but for the reference itself.
    let servers: Vec<Server> =
        SERVERS.into_iter().filter(|s| *s != Server::Raw && rows.iter().any(|row| row.of(*s).is_some())).collect();
    draw_panel(&left, Figure::Throughput, rows, &servers).map_err(|e| err(&e))?;
    draw_panel(&right, Figure::P99, rows, &servers).map_err(|e| err(&e))?;
    draw_legend(&legend, &servers).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    rows: &[Row],
    servers: &[Server],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let per_scenario = servers.len() as i32 + 1;
    let slots = rows.len() as i32 * per_scenario;
    // The first scenario on top, as in the table; a scenario's slots are its bars from the top
    // down, then a gap.
    let top_of = |j: usize| slots - j as i32 * per_scenario;
    let centres: Vec<i32> = (0..rows.len()).map(|j| top_of(j) - servers.len() as i32 / 2).collect();
    let relative = |row: &Row, server: Server| Some(figure.relative(row.of(server)?, row.of(Server::Raw)?));
    let (low, high) = rows
        .iter()
        .flat_map(|row| servers.iter().filter_map(move |s| relative(row, *s)))
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((0.5f64, 2.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let low = TICKS.iter().rev().find(|t| **t <= low).copied().unwrap_or(TICKS[0]);
    let high = TICKS.iter().find(|t| **t >= high).copied().unwrap_or(TICKS[TICKS.len() - 1]);
    let ticks: Vec<f64> = TICKS.into_iter().filter(|t| (low..=high).contains(t)).collect();
    let (names, left_margin, right_margin) = match figure {
        Figure::Throughput => (NAMES, MARGIN, GAP),
        Figure::P99 => (0, GAP, MARGIN),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(figure.title(), ("sans-serif", 16))
        .margin(MARGIN)
        .margin_left(left_margin)
        .margin_right(right_margin)
        .x_label_area_size(30)
        .y_label_area_size(names)
        .build_cartesian_2d(
            (low..high).log_scale().with_key_points(ticks),
            (0i32..slots).with_key_points(centres.clone()),
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_label_formatter(&|x| format!("{x}x"))
        .y_label_formatter(&|y| {
            centres.iter().position(|c| c == y).and_then(|j| rows.get(j)).map_or(String::new(), |r| r.scenario.clone())
        })
        .draw()?;
    for (i, server) in servers.iter().enumerate() {
        let color = server.color();
        let bars = rows.iter().enumerate().filter_map(|(j, row)| {
            let y = top_of(j) - 1 - i as i32;
            let v = relative(row, *server).filter(|v| !v.is_nan())?.clamp(low, high);
            let mut bar = Rectangle::new([(v.min(1.0), y), (v.max(1.0), y + 1)], color.filled());
            // A pixel above and below keeps a scenario's bars apart.
            bar.set_margin(1, 1, 0, 0);
            Some(bar)
        });
        chart.draw_series(bars)?;
    }
    chart.draw_series(std::iter::once(PathElement::new([(1.0, 0), (1.0, slots)], BLACK.stroke_width(1))))?;
    Ok(())
}

/// One line under both panels: a swatch per server, then the 1x line for raw grpcio.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    servers: &[Server],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let y = LEGEND as i32 / 2;
    let label = |x: &mut i32, text: &str| {
        area.draw(&Text::new(text, (*x + 20, y), font.clone()))?;
        *x += 20 + area.estimate_text_size(text, &font)?.0 as i32 + 30;
        Ok(())
    };
    let mut x = (NAMES + MARGIN) as i32;
    for server in servers {
        area.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], server.color().filled()))?;
        label(&mut x, server.label())?;
    }
    area.draw(&PathElement::new([(x + 6, y - 8), (x + 6, y + 8)], BLACK.stroke_width(1)))?;
    label(&mut x, &format!("{} = 1x", Server::Raw.label()))
}
