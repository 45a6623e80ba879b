/**
 * The sweep charts as SVG, sized for the side bar and coloured by the theme (CSS classes in
 * `style/sweeps.css`): optimization history, parallel coordinates, parameter importances.
 */
import { svg } from '../components/dom';
import { ISweepDetail, ITrialRow } from './types';

const PAD = { left: 44, right: 8, top: 8, bottom: 22 };
/** Trials are coloured in this many bands, best band first. */
export const BANDS = 5;

function frame(width: number, height: number, label: string): SVGSVGElement {
  const node = svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: 'jp-mlops-sweep-chart',
    role: 'img'
  });
  node.setAttribute('aria-label', label);
  return node;
}

function short(value: number): string {
  if (!Number.isFinite(value)) {
    return '';
  }
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0)
    ? value.toExponential(1)
    : String(Number(value.toPrecision(3)));
}

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) {
    return [0, 1];
  }
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return low === high ? [low - 1, high + 1] : [low, high];
}

/** Each trial's value by trial number, and the best value so far as a step line. */
export function historyChart(
  detail: ISweepDetail,
  width = 280,
  height = 150
): SVGSVGElement {
  const node = frame(width, height, `Optimization history of ${detail.metric}`);
  const points = detail.history.filter(p => p.value !== null);
  if (!points.length) {
    node.appendChild(
      svg(
        'text',
        {
          x: width / 2,
          y: height / 2,
          class: 'jp-mlops-sweep-note',
          'text-anchor': 'middle'
        },
        'No finished trial yet'
      )
    );
    return node;
  }
  const [low, high] = extent(points.map(p => p.value as number));
  const last = Math.max(1, ...detail.history.map(p => p.number));
  const x = (n: number) =>
    PAD.left + (n / last) * (width - PAD.left - PAD.right);
  const y = (v: number) =>
    height -
    PAD.bottom -
    ((v - low) / (high - low)) * (height - PAD.top - PAD.bottom);
  axes(node, width, height, [short(low), short(high)], ['0', String(last)]);
  for (const point of points) {
    node.appendChild(
      svg('circle', {
        cx: x(point.number),
        cy: y(point.value as number),
        r: 2.6,
        class: `jp-mlops-sweep-point jp-mlops-sweep-${point.state}`
      })
    );
  }
  const best = detail.history.filter(p => p.best !== null);
  if (best.length) {
    let path = '';
    best.forEach((p, i) => {
      path +=
        i === 0
          ? `M${x(p.number)},${y(p.best as number)}`
          : `H${x(p.number)}V${y(p.best as number)}`;
    });
    path += `H${x(last)}`;
    node.appendChild(
      svg('path', { d: path, class: 'jp-mlops-sweep-best-line' })
    );
  }
  return node;
}

function axes(
  node: SVGSVGElement,
  width: number,
  height: number,
  yLabels: string[],
  xLabels: string[]
): void {
  const bottom = height - PAD.bottom;
  node.appendChild(
    svg('path', {
      d: `M${PAD.left},${PAD.top}V${bottom}H${width - PAD.right}`,
      class: 'jp-mlops-sweep-axis'
    })
  );
  node.appendChild(
    svg(
      'text',
      {
        x: PAD.left - 4,
        y: bottom,
        'text-anchor': 'end',
        class: 'jp-mlops-sweep-tick'
      },
      yLabels[0]
    )
  );
  node.appendChild(
    svg(
      'text',
      {
        x: PAD.left - 4,
        y: PAD.top + 8,
        'text-anchor': 'end',
        class: 'jp-mlops-sweep-tick'
      },
      yLabels[1]
    )
  );
  node.appendChild(
    svg(
      'text',
      { x: PAD.left, y: height - 6, class: 'jp-mlops-sweep-tick' },
      xLabels[0]
    )
  );
  node.appendChild(
    svg(
      'text',
      {
        x: width - PAD.right,
        y: height - 6,
        'text-anchor': 'end',
        class: 'jp-mlops-sweep-tick'
      },
      `trial ${xLabels[1]}`
    )
  );
}

/** The colour band (0 = best) of each complete trial, by rank of its value. */
export function bands(
  detail: ISweepDetail,
  trials: ITrialRow[]
): Map<string, number> {
  const sign = detail.direction === 'maximize' ? -1 : 1;
  const ranked = [...trials].sort(
    (a, b) => sign * ((a.value as number) - (b.value as number))
  );
  const out = new Map<string, number>();
  ranked.forEach((t, i) =>
    out.set(
      t.run_id,
      Math.min(BANDS - 1, Math.floor((i * BANDS) / ranked.length))
    )
  );
  return out;
}

function positions(
  values: (string | number | null)[],
  log: boolean,
  categorical: boolean
): { spots: number[]; ticks: [number, string][] } {
  const numbers = values.map(v => Number(v));
  if (categorical || numbers.some(n => !Number.isFinite(n))) {
    const levels = [...new Set(values.map(String))].sort();
    const spot = (v: unknown) =>
      (levels.indexOf(String(v)) + 0.5) / levels.length;
    return { spots: values.map(spot), ticks: levels.map(l => [spot(l), l]) };
  }
  const scaled = numbers.map(n => (log && n > 0 ? Math.log10(n) : n));
  const [low, high] = extent(scaled);
  return {
    spots: scaled.map(s => (s - low) / (high - low)),
    ticks: [
      [0, short(Math.min(...numbers))],
      [1, short(Math.max(...numbers))]
    ]
  };
}

/** An axis per param and the metric; a line per complete trial, coloured by its rank. */
export function parallelChart(
  detail: ISweepDetail,
  width = 280,
  height = 170
): SVGSVGElement {
  const names = [...Object.keys(detail.space), detail.metric];
  const node = frame(
    width,
    height,
    `Parallel coordinates of ${names.join(', ')}`
  );
  const done = detail.trials.filter(
    t => t.state === 'complete' && t.value !== null
  );
  if (done.length < 2) {
    node.appendChild(
      svg(
        'text',
        {
          x: width / 2,
          y: height / 2,
          class: 'jp-mlops-sweep-note',
          'text-anchor': 'middle'
        },
        'Two complete trials are needed'
      )
    );
    return node;
  }
  const top = 14;
  const bottom = height - 22;
  const left = 12;
  const step = (width - 2 * left) / Math.max(1, names.length - 1);
  const axesData = names.map((name, i) => {
    const space = detail.space[name] ?? '';
    const values =
      i === names.length - 1
        ? done.map(t => t.value)
        : done.map(t => t.params[name] ?? null);
    return positions(
      values,
      space.startsWith('log'),
      space.startsWith('choice')
    );
  });
  const y = (share: number) => bottom - share * (bottom - top);
  const band = bands(detail, done);
  const order = [...done].sort(
    (a, b) => (band.get(b.run_id) ?? 0) - (band.get(a.run_id) ?? 0)
  );
  for (const trial of order) {
    const index = done.indexOf(trial);
    const d = names
      .map(
        (_, i) =>
          `${i ? 'L' : 'M'}${left + i * step},${y(axesData[i].spots[index])}`
      )
      .join('');
    const line = svg('path', {
      d,
      class: `jp-mlops-sweep-line jp-mlops-sweep-band-${band.get(trial.run_id)}`
    });
    line.appendChild(
      svg(
        'title',
        {},
        `trial ${trial.number}: ${detail.metric}=${short(trial.value as number)}`
      )
    );
    node.appendChild(line);
  }
  names.forEach((name, i) => {
    const x = left + i * step;
    node.appendChild(
      svg('path', { d: `M${x},${top}V${bottom}`, class: 'jp-mlops-sweep-axis' })
    );
    const anchor =
      i === 0 ? 'start' : i === names.length - 1 ? 'end' : 'middle';
    node.appendChild(
      svg(
        'text',
        {
          x,
          y: height - 6,
          'text-anchor': anchor,
          class: 'jp-mlops-sweep-label'
        },
        name
      )
    );
    for (const [share, label] of axesData[i].ticks.slice(0, 6)) {
      node.appendChild(
        svg(
          'text',
          {
            x: x + (anchor === 'end' ? -3 : 3),
            y: y(share) + 3,
            'text-anchor': anchor === 'end' ? 'end' : 'start',
            class: 'jp-mlops-sweep-tick'
          },
          label
        )
      );
    }
  });
  return node;
}

/** Horizontal bars: each param's share of the metric's variation. */
export function importanceChart(
  detail: ISweepDetail,
  width = 280
): SVGSVGElement {
  const items = Object.entries(detail.importances);
  const row = 18;
  const height = Math.max(30, items.length * row + 8);
  const node = frame(width, height, 'Parameter importances');
  if (!items.length) {
    node.appendChild(
      svg(
        'text',
        { x: 4, y: 18, class: 'jp-mlops-sweep-note' },
        'Needs four complete trials'
      )
    );
    return node;
  }
  const label = 84;
  items.forEach(([name, share], i) => {
    const top = 4 + i * row;
    node.appendChild(
      svg(
        'text',
        {
          x: label - 4,
          y: top + 12,
          'text-anchor': 'end',
          class: 'jp-mlops-sweep-label'
        },
        name
      )
    );
    const length = Math.max(1, share * (width - label - 40));
    node.appendChild(
      svg('rect', {
        x: label,
        y: top + 2,
        width: length,
        height: row - 6,
        class: 'jp-mlops-sweep-bar'
      })
    );
    node.appendChild(
      svg(
        'text',
        { x: label + length + 4, y: top + 12, class: 'jp-mlops-sweep-tick' },
        share.toFixed(2)
      )
    );
  });
  return node;
}

/** Complete trials best first, then the others, newest first. */
export function ranked(detail: ISweepDetail): ITrialRow[] {
  const sign = detail.direction === 'maximize' ? -1 : 1;
  const done = detail.trials
    .filter(t => t.state === 'complete' && t.value !== null)
    .sort((a, b) => sign * ((a.value as number) - (b.value as number)));
  const rest = detail.trials
    .filter(t => !done.includes(t))
    .sort((a, b) => b.number - a.number);
  return [...done, ...rest];
}
