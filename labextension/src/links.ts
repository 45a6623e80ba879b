/**
 * Run links: `#jupyter-mlops/run/<id>` in any output (tracked cells' summaries, the notebook
 * panels, the side bar) opens that run's page. No DOM here, so it is easy to test.
 */

/** Prefix of links that open a run page (`RUN_LINK_PREFIX` in `jupyter/panels.py` too). */
export const RUN_LINK_PREFIX = '#jupyter-mlops/run/';

/** The run id of a run-page link's `href`, or `null`. */
export function runIdOfLink(href: string | null): string | null {
  if (!href) {
    return null;
  }
  const at = href.indexOf(RUN_LINK_PREFIX);
  return at < 0
    ? null
    : decodeURIComponent(href.slice(at + RUN_LINK_PREFIX.length));
}
