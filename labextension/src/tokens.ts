import { Token } from '@lumino/coreutils';

import type { ISidebarSection } from './sidebar';
import type { IRunPageSection } from './runPage';

/**
 * Shapes of the JSON the server extension sends (the same keys as the Python side,
 * `jupyter_mlops/jupyter/server_routes.py`; documented in `docs/rest-api.md`).
 */

/** One experiment, as listed by `GET experiments`. */
export interface IExperiment {
  experiment_id: string;
  name: string;
  creation_time: number;
  run_count: number;
}

/** Body of `GET experiments`. */
export interface IExperimentList {
  experiments: IExperiment[];
}

/** A run as a row of the runs table (`GET runs`). */
export interface IRunRow {
  run_id: string;
  run_name: string;
  experiment: string;
  experiment_id: string;
  status: string;
  start_time: number | null;
  end_time: number | null;
  duration_s: number | null;
  parent_run_id: string | null;
  params: Record<string, string>;
  /** Each metric's last value (`null` for NaN). */
  metrics: Record<string, number | null>;
  /** How many matching runs are nested under this one. */
  child_count?: number;
}

/** Body of `GET runs`: one page of the matching runs and their total. */
export interface IRunsPage {
  runs: IRunRow[];
  total: number;
  offset: number;
  limit: number;
  metric_keys: string[];
  param_keys: string[];
}

/** What `GET runs` is asked for. */
export interface IRunsQuery {
  experiment?: string | null;
  filter?: string;
  order_by?: string[];
  limit?: number;
  offset?: number;
  /** Fold nested runs: list the top-level runs only (or, with `parent`, its children). */
  tree?: boolean;
  parent?: string | null;
}

/** Summary of one metric of a run. */
export interface IMetricSummary {
  last: number | null;
  min: number | null;
  max: number | null;
  step: number;
  count: number;
  timestamp: number;
}

/** One artifact of a run. */
export interface IArtifact {
  path: string;
  sha256: string;
  size: number;
}

/** Body of `GET runs/<run_id>`. */
export interface IRunDetail {
  run: Omit<IRunRow, 'metrics'> & {
    metrics: Record<string, IMetricSummary>;
    tags: Record<string, string>;
    datasets: Record<string, any>[];
    artifacts: IArtifact[];
  };
}

/** A run linked from the run page (its parent or a child). */
export interface IRunLink {
  run_id: string;
  run_name: string;
  experiment?: string;
  status?: string;
  start_time?: number | null;
  metrics?: Record<string, number | null>;
  missing?: boolean;
}

/** A text excerpt of an artifact. */
export interface ITextPreview {
  text: string;
  truncated: boolean;
}

/** What the run page can show of an artifact. */
export type IArtifactPreview =
  | { kind: 'image'; mime: string }
  | ({ kind: 'text' } & ITextPreview)
  | { kind: 'table'; columns: string[]; rows: string[][]; truncated: boolean }
  | { kind: 'model'; model: string };

/** Body of `GET runs/<run_id>/page`: one run whole. */
export interface IRunPage {
  run: IRunDetail['run'] & { uri: string };
  histories: Record<string, { step: number[]; value: (number | null)[] }>;
  code: ({ path: string } & ITextPreview) | null;
  git: (Record<string, string> & { diff?: ITextPreview | null }) | null;
  environment:
    (Record<string, string> & { requirements?: ITextPreview | null }) | null;
  datasets: Record<string, any>[];
  artifacts: (IArtifact & { preview: IArtifactPreview | null })[];
  parent: IRunLink | null;
  children: IRunLink[];
  /** Sections other features add on the server (`register_section`). */
  sections: Record<string, any>;
  section_errors: Record<string, string>;
}

/** One point of a metric's history. */
export interface IMetricPoint {
  step: number;
  value: number | null;
  timestamp: number;
}

/** Body of `GET runs/<run_id>/metrics/<key>`. */
export interface IMetricHistory {
  run_id: string;
  key: string;
  history: IMetricPoint[];
}

/** A registered model (`GET models`). */
export interface IRegisteredModel {
  name: string;
  description: string;
  tags: Record<string, string>;
  latest_version: number | null;
  versions: number[];
  aliases: Record<string, number>;
  creation_time: number;
  last_updated: number;
}

/** Body of `GET models`. */
export interface IModelList {
  models: IRegisteredModel[];
}

/** One check of a validation report. */
export interface IGateCheck {
  check: string;
  passed: boolean;
  detail: string;
  [key: string]: any;
}

/** What the validation gate found (stored with the candidate version). */
export interface IValidationReport {
  name: string;
  version: number;
  alias: string;
  passed: boolean;
  forced: boolean;
  reason: string;
  time: number;
  candidate_metrics: Record<string, number | null>;
  current_version: number | null;
  current_metrics: Record<string, number | null>;
  checks: IGateCheck[];
  data: Record<string, any> | null;
}

/** A registered version of a model. */
export interface IModelVersion {
  name: string;
  version: number;
  run_id: string;
  source: string;
  sha256: string;
  status: string;
  flavor: string;
  description: string;
  tags: Record<string, string>;
  aliases: string[];
  signature: Record<string, any> | null;
  creation_time: number;
  lineage: Record<string, any>;
  validations: IValidationReport[];
  uri: string;
  /** What the gate compares without data: the latest stored evaluation over the run's metrics. */
  gate_metrics?: Record<string, number>;
  /** The latest stored evaluation's headline (`mlops.evaluate` on the version's URI). */
  evaluation?: {
    name: string;
    task: string;
    rows: number;
    metrics: Record<string, number>;
    passed: boolean;
    time: number;
  } | null;
}

/** One move of an alias. */
export interface IAliasMove {
  name: string;
  alias: string;
  from_version: number | null;
  to_version: number | null;
  time: number;
  user: string;
  reason: string;
  forced: boolean;
}

/** Body of `GET models/<name>`. */
export interface IModelDetail {
  model: IRegisteredModel;
  versions: IModelVersion[];
  aliases: Record<string, number>;
  alias_history: IAliasMove[];
}

/** Body of `POST models/<name>/aliases`. */
export interface IPromoteRequest {
  version: number;
  alias: string;
  checks?: string[];
  force?: boolean;
  reason?: string | null;
}

/** Reply of `POST models/<name>/aliases` (a refusal is a 409 with the same `report`). */
export interface IPromoteReply {
  report: IValidationReport;
}

/** A deployment with its live status (`GET deployments`). */
export interface IDeployment {
  name: string;
  model_uri: string;
  version: number | null;
  url: string;
  host: string;
  port: number;
  pid: number | null;
  start_time: number;
  /** `running`, `down`, `stopped`, `failed`, `starting` or `unknown`. */
  status: string;
  uptime_s: number | null;
  requests: number;
  errors: number;
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  versions: { version: number | null; time: number }[];
  log_file: string | null;
}

/** Body of `GET deployments`. */
export interface IDeploymentList {
  deployments: IDeployment[];
}

/** Body of `POST deployments/<name>/stop`. */
export interface IStopReply {
  deployment: IDeployment;
}

/** One column of a drift report. */
export interface IDriftColumn {
  column: string;
  kind: string | null;
  method: string | null;
  statistic: number | null;
  p_value: number | null;
  threshold: number | null;
  drifted: boolean | null;
  status: string | null;
  [key: string]: any;
}

/** A saved drift report, without its distributions. */
export interface IDriftReport {
  report_id: string;
  name: string | null;
  created_at: string;
  dataset_drift: boolean;
  drift_share: number;
  drift_share_threshold: number;
  n_tested: number;
  n_drifted: number;
  reference_rows: number;
  current_rows: number;
  window_start: string | null;
  window_end: string | null;
  columns: IDriftColumn[];
  /** Monitoring windows: whether the window alerted, and which columns drifted. */
  alert?: boolean;
  drifted_columns?: string[];
  status?: string | null;
}

/** The windows of one monitored name, oldest first. */
export interface IDriftSeries {
  name: string;
  windows: IDriftReport[];
}

/** Body of `GET drift`. */
export interface IDriftList {
  reports: IDriftReport[];
  windows: IDriftSeries[];
}

/** Body of `POST export`. */
export interface IExportRequest {
  path: string;
  target: string;
  single_step?: boolean;
}

/** Reply of `POST export`: the written files, relative to the server's root. */
export interface IExportReply {
  path: string;
  target: string;
  files: string[];
  folder: string;
  message: string;
}

/** Body of every error reply from the server extension. */
export interface IErrorReply {
  message: string;
  report?: IValidationReport;
}

/** One typed function per route (`api.ts`); the model takes any implementation. */
export interface IMlopsApi {
  listExperiments(): Promise<IExperiment[]>;
  searchRuns(query: IRunsQuery): Promise<IRunsPage>;
  getRun(runId: string): Promise<IRunDetail>;
  getRunPage(runId: string): Promise<IRunPage>;
  getMetricHistory(runId: string, key: string): Promise<IMetricHistory>;
  listModels(): Promise<IRegisteredModel[]>;
  getModel(name: string): Promise<IModelDetail>;
  promote(name: string, request: IPromoteRequest): Promise<IPromoteReply>;
  listDeployments(): Promise<IDeployment[]>;
  stopDeployment(name: string): Promise<IDeployment>;
  getDrift(): Promise<IDriftList>;
  exportNotebook(request: IExportRequest): Promise<IExportReply>;
}

/**
 * What other features build on (the plugin provides it): a side bar section of their own, a
 * section of the run page, and opening a run's page. Within this package, the same functions
 * can be imported directly (`registerRunPageSection` from `runPage.ts`).
 */
export interface IMlopsExtensionPoints {
  addSidebarSection(section: ISidebarSection): void;
  addRunPageSection(section: IRunPageSection): void;
  openRun(runId: string): void;
}

/** The token of {@link IMlopsExtensionPoints}. */
export const IMlopsExtensionPoints = new Token<IMlopsExtensionPoints>(
  'jupyter-mlops:extension-points',
  'Add side bar and run page sections; open a run page.'
);
