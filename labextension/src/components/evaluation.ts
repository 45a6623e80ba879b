/**
 * A model version's latest stored evaluation (`mlops.evaluate` on its URI), as the side bar's
 * versions table shows it. Plain text only: the caller puts it in with `textContent`.
 */
import { IModelVersion } from '../tokens';
import { formatNumber, formatTime } from './dom';

/** Headline metrics shown for a version's latest stored evaluation. */
export const EVALUATION_HEADLINE = ['f1', 'rmse', 'accuracy', 'r2'];

/**
 * The versions table's "evaluation" cell: the latest stored evaluation's headline metric
 * (`mlops.evaluate` on the version's URI), all its metrics in the tooltip.
 */
export function evaluationSummary(v: IModelVersion): {
  text: string;
  title: string;
  className: string;
} {
  const e = v.evaluation;
  if (!e) {
    return {
      text: '—',
      title: `Not evaluated: mlops.evaluate("${v.uri}", X_test, y_test)`,
      className: ''
    };
  }
  const key = EVALUATION_HEADLINE.find(k => k in e.metrics);
  const head = key ? `${key} ${formatNumber(e.metrics[key])}` : e.task;
  const lines = Object.entries(e.metrics).map(
    ([k, value]) => `${k} ${formatNumber(value)}`
  );
  return {
    text: `${head} (${e.name})`,
    title: [
      `${e.name}: ${e.task}, ${e.rows} rows, ${formatTime(e.time)}`,
      ...lines
    ].join('\n'),
    className: e.passed ? '' : 'jp-mlops-fail'
  };
}
