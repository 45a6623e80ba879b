/**
 * Shapes of the JSON the server extension sends (same keys as the Python side).
 */

/** One experiment, as listed by `GET /jupyter-mlops/api/experiments`. */
export interface IExperiment {
  experiment_id: string;
  name: string;
  creation_time: number;
  run_count: number;
}

/** Body of `GET /jupyter-mlops/api/experiments`. */
export interface IExperimentList {
  experiments: IExperiment[];
}

/** Body of every error reply from the server extension. */
export interface IErrorReply {
  message: string;
}
