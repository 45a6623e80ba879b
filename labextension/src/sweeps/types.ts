/**
 * Shapes of `GET sweeps` and `GET sweeps/<name>` (the same keys as the Python side,
 * `jupyter_mlops/sweeps/views.py`; documented in `docs/rest-api.md`).
 */

/** One sweep as listed by `GET sweeps`. */
export interface ISweepSummary {
  name: string;
  experiment: string;
  parent_run_id: string;
  state: string;
  metric: string;
  direction: string;
  budget: number | null;
  best_value: number | null;
  start_time: number | null;
}

/** Body of `GET sweeps`. */
export interface ISweepList {
  sweeps: ISweepSummary[];
}

/** One trial (a child run). */
export interface ITrialRow {
  number: number;
  run_id: string;
  run_name: string;
  state: string;
  status: string;
  value: number | null;
  params: Record<string, string>;
  metrics: Record<string, number>;
  duration_s: number | null;
  start_time: number;
  gap: number | null;
  overfit: string;
  error: string;
}

/** One point of the optimization history. */
export interface IHistoryPoint {
  number: number;
  state: string;
  value: number | null;
  best: number | null;
}

/** Body of `GET sweeps/<name>`. */
export interface ISweepDetail {
  name: string;
  experiment: string;
  parent_run_id: string;
  metric: string;
  direction: string;
  state: string;
  budget: number | null;
  space: Record<string, string>;
  counts: Record<string, number>;
  best: ITrialRow | null;
  history: IHistoryPoint[];
  importances: Record<string, number>;
  pair: { train: string; validation: string; lower_is_better: boolean } | null;
  trials: ITrialRow[];
}
