/**
 * One typed function per server route.
 */
import { requestAPI } from './request';
import { IExperiment, IExperimentList } from './tokens';

/** Every experiment with its run count. */
export async function listExperiments(): Promise<IExperiment[]> {
  const reply = await requestAPI<IExperimentList>('experiments');
  return reply.experiments;
}
