// The access-trend chart (MON-1) as inline SVG: one line per event type, outcome and channel over the hourly buckets
// of the window, a point for each count the API gave (empty hours are zero, as the API leaves them out).

import { h, svg } from "./dom.js";
import { t } from "./i18n.js";

const WIDTH = 860;
const HEIGHT = 320;
const MARGIN = { top: 16, right: 48, bottom: 40, left: 48 };
const HOUR = 3600 * 1000;
const COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7e8c", "#57606a"];

function hourStart(ms) {
  return Math.floor(ms / HOUR) * HOUR;
}

function label(ms) {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(5, 10)} ${iso.slice(11, 13)}:00`;
}

// A point of an API older than channels has none: shown as the API's own `unknown`.
export function seriesKey(point) {
  return `${point.type} / ${point.outcome} / ${point.channel || "unknown"}`;
}

// What staff read: the channel in their language (the key stays the API's words, for the data attributes).
function seriesLabel(point) {
  const channel = point.channel || "unknown";
  return `${point.type} / ${point.outcome} / ${t(`channel.${channel}`, channel)}`;
}

export function trendChart(answer, title) {
  const first = hourStart(Date.parse(answer.since));
  const last = hourStart(Date.parse(answer.until) - 1);
  const hours = Math.max(1, Math.round((last - first) / HOUR));
  const keys = [...new Set(answer.series.map(seriesKey))].sort();
  const max = Math.max(1, ...answer.series.map((point) => point.count));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (ms) => MARGIN.left + ((ms - first) / HOUR / hours) * plotWidth;
  const y = (count) => MARGIN.top + plotHeight - (count / max) * plotHeight;

  const chart = svg(
    "svg",
    {
      class: "trend-chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": title,
      "data-since": answer.since,
      "data-until": answer.until,
    },
    svg("title", {}, title),
  );
  const axes = svg("g", { class: "axes" });
  axes.append(svg("line", { x1: MARGIN.left, y1: y(0), x2: WIDTH - MARGIN.right, y2: y(0) }));
  axes.append(svg("line", { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: y(0) }));
  for (const tick of [...new Set([0, Math.round(max / 2), max])]) {
    axes.append(svg("text", { x: MARGIN.left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick));
    axes.append(svg("line", { class: "grid", x1: MARGIN.left, y1: y(tick), x2: WIDTH - MARGIN.right, y2: y(tick) }));
  }
  const step = Math.max(1, Math.ceil(hours / 8));
  for (let hour = 0; hour <= hours; hour += step) {
    const at = first + hour * HOUR;
    axes.append(svg("text", { x: x(at), y: HEIGHT - MARGIN.bottom + 18, "text-anchor": "middle" }, label(at)));
  }
  chart.append(axes);

  keys.forEach((key, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const points = answer.series.filter((point) => seriesKey(point) === key);
    const byHour = new Map(points.map((point) => [hourStart(Date.parse(point.at)), point.count]));
    const line = [];
    for (let hour = 0; hour <= hours; hour += 1) {
      const at = first + hour * HOUR;
      line.push(`${x(at).toFixed(1)},${y(byHour.get(at) || 0).toFixed(1)}`);
    }
    const group = svg("g", { class: "series", "data-series": key });
    group.append(svg("polyline", { points: line.join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const point of points) {
      const at = Date.parse(point.at);
      group.append(
        svg(
          "circle",
          {
            class: "point",
            cx: x(at).toFixed(1),
            cy: y(point.count).toFixed(1),
            r: 4,
            fill: colour,
            "data-at": point.at,
            "data-type": point.type,
            "data-outcome": point.outcome,
            "data-channel": point.channel || "unknown",
            "data-count": point.count,
          },
          svg("title", {}, `${label(at)} ${seriesLabel(point)}: ${point.count}`),
        ),
      );
    }
    chart.append(group);
  });
  return chart;
}

export function legend(answer) {
  const keys = [...new Set(answer.series.map(seriesKey))].sort();
  return h(
    "ul",
    { class: "legend" },
    keys.map((key, index) => {
      const points = answer.series.filter((point) => seriesKey(point) === key);
      const total = points.reduce((sum, p) => sum + p.count, 0);
      const swatch = svg(
        "svg",
        { width: 14, height: 14, "aria-hidden": "true" },
        svg("rect", { width: 14, height: 14, fill: COLOURS[index % COLOURS.length] }),
      );
      const channel = points[0].channel || "unknown";
      return h("li", { "data-series": key, "data-channel": channel }, swatch, ` ${seriesLabel(points[0])}: ${total}`);
    }),
  );
}
