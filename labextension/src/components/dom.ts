/**
 * DOM helpers. Every user string goes in as text (`textContent`) or as an attribute value,
 * never as HTML: run, model and column names can hold anything.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A new element with `className`; `text` goes in as text, never as HTML. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A new SVG element with attributes (numbers are rounded to 0.1 px). */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
  text?: string
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(
      name,
      typeof value === 'number' ? String(Math.round(value * 10) / 10) : value
    );
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A `<button>` that runs `onClick`. */
export function button(
  label: string,
  onClick: () => void,
  className = 'jp-mlops-button',
  title?: string
): HTMLButtonElement {
  const node = element('button', className, label);
  node.type = 'button';
  if (title) {
    node.title = title;
  }
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

/** A paragraph of text (an error when `error` is set). */
export function message(text: string, error = false): HTMLElement {
  return element(
    'p',
    error ? 'jp-mlops-message jp-mlops-error' : 'jp-mlops-message',
    text
  );
}

/** A small coloured swatch for the `index`-th compared run. */
export function swatch(index: number): HTMLElement {
  const node = element('span', `jp-mlops-swatch jp-mlops-series-${index % 8}`);
  node.setAttribute('aria-hidden', 'true');
  return node;
}

/** A number for people: 4 significant digits, no exponent for ordinary sizes. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '—';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e9) {
    return value.toLocaleString('en-US');
  }
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e7)) {
    return value.toExponential(2);
  }
  return String(Number(value.toPrecision(4)));
}

/** A duration in seconds as `850 ms`, `12.3 s`, `4 min 05 s` or `2 h 03 min`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) {
    return '—';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  }
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** A time (ms since the epoch, or ISO text) as local `YYYY-MM-DD HH:MM`. */
export function formatTime(time: number | string | null | undefined): string {
  if (time === null || time === undefined || time === '') {
    return '—';
  }
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) {
    return String(time);
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** A time as `5 s ago`, `3 min ago`, `2 h ago`, or the date when older than a day. */
export function formatAgo(
  time: number | null | undefined,
  now = Date.now()
): string {
  if (time === null || time === undefined) {
    return '—';
  }
  const seconds = Math.max(0, (now - time) / 1000);
  if (seconds < 60) {
    return `${Math.round(seconds)} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)} h ago`;
  }
  return formatTime(time);
}
