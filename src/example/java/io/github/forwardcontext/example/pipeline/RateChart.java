package io.github.forwardcontext.example.pipeline;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** Draws a sweep of arrival rates: throughput on the left axis, latencies on the right. */
final class RateChart {
  private RateChart() {}

  static void draw(List<RunReport> runs, Path file, String title) throws IOException {
    System.setProperty("java.awt.headless", "true");
    double[] rates = runs.stream().mapToDouble(r -> r.options().rate()).toArray();
    XYChart chart =
        new XYChartBuilder()
            .width(900)
            .height(520)
            .title(title)
            .xAxisTitle("arrival rate (requests/s)")
            .yAxisTitle("steps/s")
            .build();
    chart.getStyler().setYAxisGroupPosition(1, org.knowm.xchart.style.Styler.YAxisPosition.Right);
    chart.setYAxisGroupTitle(1, "ms");
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
    XYSeries throughput =
        chart.addSeries(
            "throughput (steps/s)",
            rates,
            runs.stream().mapToDouble(RunReport::stepsPerSecond).toArray());
    throughput.setMarker(SeriesMarkers.CIRCLE);
    XYSeries p50 =
        chart.addSeries(
            "pass p50 (ms)", rates, runs.stream().mapToDouble(r -> r.passMillis(0.5)).toArray());
    p50.setYAxisGroup(1);
    XYSeries p99 =
        chart.addSeries(
            "pass p99 (ms)", rates, runs.stream().mapToDouble(r -> r.passMillis(0.99)).toArray());
    p99.setYAxisGroup(1);
    XYSeries wait =
        chart.addSeries(
            "queue wait p50 (ms)",
            rates,
            runs.stream().mapToDouble(r -> r.queueWaitMillis(0.5)).toArray());
    wait.setYAxisGroup(1);
    BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
  }
}
