//! SVG plots of simulator results (plotters).

use std::path::Path;

use airswarm_core::sim::SimReport;
use anyhow::Result;
use plotters::prelude::*;

/// One panel per report: links, and nodes at their positions coloured from red (received
/// nothing) to green (received everything meant for them).
pub fn write_svg(path: &Path, reports: &[&SimReport]) -> Result<()> {
    let panel = 520u32;
    let root = SVGBackend::new(path, (panel * reports.len().max(1) as u32, panel + 40))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, reports.len().max(1)));
    for (area, r) in panels.iter().zip(reports) {
        let side = r.area_m / 1000.0;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: {:.1}% delivered, {} frames",
                    r.variant,
                    r.delivery_ratio * 100.0,
                    r.transmissions
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(36)
            .build_cartesian_2d(0.0..side, 0.0..side)?;
        chart
            .configure_mesh()
            .x_desc("km")
            .y_desc("km")
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        // Links whose mean signal is above sensitivity, under the nodes.
        let pos = |i: u32| {
            let n = &r.per_node[i as usize];
            (n.x_m / 1000.0, n.y_m / 1000.0)
        };
        chart.draw_series(r.links.iter().map(|&(a, b)| {
            PathElement::new(
                vec![pos(a), pos(b)],
                RGBColor(190, 190, 205).stroke_width(1),
            )
        }))?;
        chart.draw_series(r.per_node.iter().map(|n| {
            let q = n.delivery_ratio.clamp(0.0, 1.0);
            let colour = RGBColor((220.0 * (1.0 - q)) as u8, (180.0 * q) as u8, 40);
            Circle::new((n.x_m / 1000.0, n.y_m / 1000.0), 5, colour.filled())
        }))?;
    }
    root.present()?;
    Ok(())
}
