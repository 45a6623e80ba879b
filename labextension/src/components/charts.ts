/**
 * Small SVG charts drawn here, without a chart library: lines over steps (or time) and
 * horizontal bars. Colours come from CSS classes that use JupyterLab's theme variables, so the
 * charts follow the light and dark themes; labels are text nodes, never HTML.
 */
import { IDriftColumn } from '../tokens';
import { element, formatNumber, svg } from './dom';

/** One line of a line chart. */
export interface ISeries {
  label: string;
  /** Colour slot (`jp-mlops-series-<n>`, 0-7). */
  color: number;
  points: { x: number; y: number | null }[];
  /** Per point: draw it as an alert (e.g. a drifted window). */
  alerts?: boolean[];
}

/** Options of {@link lineChart}. */
export interface ILineChartOptions {
  title: string;
  series: ISeries[];
  xLabel?: string;
  /** A dashed horizontal line, e.g. a threshold. */
  threshold?: number | null;
  /** How x ticks read (default: numbers). */
  formatX?: (x: number) => string;
  /** Fixed y range, e.g. [0, 1] for shares. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
}

/** A linear scale rounded outward to "nice" ticks (1, 2 or 5 times a power of ten). */
export function niceScale(
  min: number,
  max: number,
  count = 4
): { min: number; max: number; ticks: number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    return { min: 0, max: 1, ticks: [0, 0.5, 1] };
  }
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const low = Math.floor(min / step + 1e-9) * step;
  const high = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let tick = low; tick <= high + step / 2; tick += step) {
    ticks.push(Number(tick.toPrecision(12)));
  }
  return { min: low, max: high, ticks };
}

/** A line chart with axes, grid lines, an optional threshold and a `<title>` per line. */
export function lineChart(options: ILineChartOptions): SVGSVGElement {
  const width = options.width ?? 300;
  const height = options.height ?? 150;
  const margin = {
    left: 46,
    right: 10,
    top: 20,
    bottom: options.xLabel ? 30 : 20
  };
  const root = svg('svg', {
    class: 'jp-mlops-chart jp-mlops-line-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img'
  });
  root.setAttribute('aria-label', options.title);
  root.appendChild(
    svg('text', { class: 'jp-mlops-chart-title', x: 4, y: 13 }, options.title)
  );

  const points = options.series
    .flatMap(s => s.points)
    .filter(p => p.y !== null);
  if (points.length === 0) {
    root.appendChild(
      svg(
        'text',
        { class: 'jp-mlops-chart-empty', x: width / 2, y: height / 2 },
        'no values'
      )
    );
    return root;
  }
  const xs = points.map(p => p.x);
  const ys = points.map(p => p.y as number);
  if (options.threshold !== null && options.threshold !== undefined) {
    ys.push(options.threshold);
  }
  const xScale = niceScale(Math.min(...xs), Math.max(...xs), 4);
  const yScale = options.yDomain
    ? {
        min: options.yDomain[0],
        max: options.yDomain[1],
        ticks: niceScale(...options.yDomain, 4).ticks
      }
    : niceScale(Math.min(...ys), Math.max(...ys), 3);
  const innerW = width - margin.left - margin.right;
  const innerH = height - margin.top - margin.bottom;
  const x = (v: number) =>
    margin.left + ((v - xScale.min) / (xScale.max - xScale.min || 1)) * innerW;
  const y = (v: number) =>
    margin.top +
    innerH -
    ((v - yScale.min) / (yScale.max - yScale.min || 1)) * innerH;
  const formatX = options.formatX ?? formatNumber;

  const grid = svg('g', { class: 'jp-mlops-chart-grid' });
  for (const tick of yScale.ticks) {
    grid.appendChild(
      svg('line', {
        x1: margin.left,
        x2: width - margin.right,
        y1: y(tick),
        y2: y(tick)
      })
    );
    grid.appendChild(
      svg(
        'text',
        {
          class: 'jp-mlops-chart-tick jp-mlops-chart-ytick',
          x: margin.left - 4,
          y: y(tick) + 3
        },
        formatNumber(tick)
      )
    );
  }
  const xTicks = options.formatX
    ? timeTicks(xScale.min, xScale.max, xs)
    : xScale.ticks;
  xTicks.forEach((tick, index) => {
    // Long time labels at the edges are anchored inside the chart.
    const edge =
      !options.formatX || xTicks.length < 2
        ? ''
        : index === 0
          ? ' jp-mlops-first'
          : index === xTicks.length - 1
            ? ' jp-mlops-last'
            : '';
    grid.appendChild(
      svg(
        'text',
        {
          class: `jp-mlops-chart-tick jp-mlops-chart-xtick${edge}`,
          x: x(tick),
          y: margin.top + innerH + 12
        },
        formatX(tick)
      )
    );
  });
  root.appendChild(grid);
  root.appendChild(
    svg('rect', {
      class: 'jp-mlops-chart-frame',
      x: margin.left,
      y: margin.top,
      width: innerW,
      height: innerH
    })
  );
  if (options.xLabel) {
    root.appendChild(
      svg(
        'text',
        {
          class: 'jp-mlops-chart-label',
          x: margin.left + innerW / 2,
          y: height - 3
        },
        options.xLabel
      )
    );
  }
  if (options.threshold !== null && options.threshold !== undefined) {
    const line = svg('line', {
      class: 'jp-mlops-chart-threshold',
      x1: margin.left,
      x2: width - margin.right,
      y1: y(options.threshold),
      y2: y(options.threshold)
    });
    line.appendChild(
      svg('title', {}, `threshold ${formatNumber(options.threshold)}`)
    );
    root.appendChild(line);
  }
  for (const series of options.series) {
    root.appendChild(seriesGroup(series, x, y));
  }
  return root;
}

function seriesGroup(
  series: ISeries,
  x: (v: number) => number,
  y: (v: number) => number
): SVGGElement {
  const group = svg('g', {
    class: `jp-mlops-chart-series jp-mlops-series-${series.color % 8}`
  });
  group.appendChild(svg('title', {}, series.label));
  let path = '';
  let pen = 'M';
  for (const point of series.points) {
    if (point.y === null) {
      pen = 'M'; // a missing value breaks the line
      continue;
    }
    path += `${pen}${x(point.x).toFixed(1)},${y(point.y).toFixed(1)}`;
    pen = 'L';
  }
  group.appendChild(svg('path', { class: 'jp-mlops-chart-line', d: path }));
  const dots = series.points.length <= 40 || series.alerts;
  series.points.forEach((point, index) => {
    const alert = series.alerts?.[index] ?? false;
    if (point.y === null || (!dots && !alert)) {
      return;
    }
    const dot = svg('circle', {
      class: alert
        ? 'jp-mlops-chart-point jp-mlops-chart-alert'
        : 'jp-mlops-chart-point',
      cx: x(point.x),
      cy: y(point.y),
      r: alert ? 3.5 : 2.2
    });
    dot.appendChild(
      svg('title', {}, `${series.label}: ${formatNumber(point.y)}`)
    );
    group.appendChild(dot);
  });
  return group;
}

/** At most three x ticks for a time axis: the first, the middle and the last value. */
function timeTicks(min: number, max: number, xs: number[]): number[] {
  const first = Math.min(...xs);
  const last = Math.max(...xs);
  if (first === last) {
    return [first];
  }
  void min;
  void max;
  return [first, (first + last) / 2, last];
}

/**
 * How far each tested column is past its drift threshold: 1 is the threshold. Distances count
 * as `statistic / threshold`; p-values (smaller is more drift) as `log(p) / log(threshold)`.
 */
export function driftScore(column: IDriftColumn): number | null {
  const threshold = column.threshold;
  if (threshold === null || threshold <= 0) {
    return null;
  }
  if (column.p_value !== null && column.p_value !== undefined) {
    const p = Math.max(column.p_value, 1e-300);
    return threshold >= 1 ? null : Math.log(p) / Math.log(threshold);
  }
  if (column.statistic === null || column.statistic === undefined) {
    return null;
  }
  return column.statistic / threshold;
}

/**
 * Horizontal bars, one per tested column, most drifted first, against a dashed line at the
 * threshold (1×). HTML, not SVG: the text keeps the side bar's font size at any width.
 */
export function driftBars(columns: IDriftColumn[]): HTMLElement {
  const rows = columns
    .map(c => ({ column: c, score: driftScore(c) }))
    .sort((a, b) => (b.score ?? -1) - (a.score ?? -1));
  const root = element('div', 'jp-mlops-chart jp-mlops-drift-bars');
  root.setAttribute('role', 'img');
  root.setAttribute('aria-label', 'drift per column (1 = threshold)');
  const cap = Math.max(2, ...rows.map(r => Math.min(r.score ?? 0, 4)));
  const at = (v: number) => `${(Math.max(0, Math.min(v, cap)) / cap) * 100}%`;
  for (const row of rows) {
    const c = row.column;
    const line = element(
      'div',
      c.drifted ? 'jp-mlops-drift-row jp-mlops-drifted' : 'jp-mlops-drift-row'
    );
    const name = c.column.length > 16 ? `${c.column.slice(0, 15)}…` : c.column;
    line.appendChild(element('span', 'jp-mlops-drift-label', name));
    const track = element('span', 'jp-mlops-drift-track');
    let value = c.status ?? 'not tested';
    if (row.score !== null) {
      const bar = element('span', 'jp-mlops-drift-bar');
      bar.style.width = at(row.score);
      track.appendChild(bar);
      value =
        c.p_value === null
          ? formatNumber(c.statistic)
          : c.p_value < 0.001
            ? 'p<0.001'
            : `p=${formatNumber(c.p_value)}`;
    }
    const threshold = element('span', 'jp-mlops-drift-line');
    threshold.style.left = at(1);
    track.appendChild(threshold);
    line.append(track, element('span', 'jp-mlops-drift-value', value));
    const verdict = c.drifted
      ? 'drifted'
      : c.drifted === false
        ? 'no drift'
        : (c.status ?? '');
    line.title =
      `${c.column} (${c.kind ?? '?'}, ${c.method ?? 'no method'}): ${verdict}; ` +
      `${row.score === null ? '' : `${formatNumber(row.score)}× the threshold; `}` +
      `statistic ${formatNumber(c.statistic)}, p-value ${formatNumber(c.p_value)}, ` +
      `threshold ${formatNumber(c.threshold)}`;
    root.appendChild(line);
  }
  const axis = element('div', 'jp-mlops-drift-axis');
  const ticks = element('span', 'jp-mlops-drift-track');
  const one = element('span', 'jp-mlops-drift-tick', 'threshold');
  one.style.left = at(1);
  const last = element('span', 'jp-mlops-drift-tick jp-mlops-last', `${cap}×`);
  ticks.append(one, last);
  axis.append(element('span'), ticks, element('span'));
  root.appendChild(axis);
  return root;
}

/** One bar of {@link valueBars}. */
export interface IValueBar {
  label: string;
  /** Colour slot, as for line series. */
  color: number;
  value: number | null;
}

/**
 * A metric each run logged once, as horizontal bars (a one-point "line" would be a dot on an
 * axis from -1 to 1). Bars start at zero when every value has the same sign, else at the minimum.
 */
export function valueBars(
  title: string,
  bars: IValueBar[],
  width = 300
): SVGSVGElement {
  const barH = 14;
  const gap = 4;
  const top = 20;
  const label = 96;
  const right = 56;
  const height = top + bars.length * (barH + gap) + 4;
  const root = svg('svg', {
    class: 'jp-mlops-chart jp-mlops-value-bars',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img'
  });
  root.setAttribute('aria-label', title);
  root.appendChild(
    svg('text', { class: 'jp-mlops-chart-title', x: 4, y: 13 }, title)
  );
  const values = bars.map(b => b.value).filter((v): v is number => v !== null);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const span = high - low || 1;
  const innerW = width - label - right;
  const x = (v: number) => label + ((v - low) / span) * innerW;
  bars.forEach((bar, index) => {
    const y = top + index * (barH + gap);
    const group = svg('g', {
      class: `jp-mlops-chart-series jp-mlops-series-${bar.color % 8}`
    });
    const name =
      bar.label.length > 14 ? `${bar.label.slice(0, 13)}…` : bar.label;
    group.appendChild(
      svg(
        'text',
        { class: 'jp-mlops-drift-label', x: label - 6, y: y + barH - 3 },
        name
      )
    );
    if (bar.value !== null) {
      const start = x(Math.max(low, Math.min(0, bar.value)));
      group.appendChild(
        svg('rect', {
          class: 'jp-mlops-value-bar',
          x: Math.min(start, x(bar.value)),
          y,
          width: Math.max(1, Math.abs(x(bar.value) - start)),
          height: barH
        })
      );
    }
    group.appendChild(
      svg(
        'text',
        {
          class: 'jp-mlops-drift-value',
          x: width - right + 4,
          y: y + barH - 3
        },
        formatNumber(bar.value)
      )
    );
    group.appendChild(
      svg('title', {}, `${bar.label}: ${formatNumber(bar.value)}`)
    );
    root.appendChild(group);
  });
  return root;
}
