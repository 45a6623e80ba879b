import { evaluationSummary } from '../src/components/evaluation';
import { IModelVersion } from '../src/tokens';

function version(evaluation: IModelVersion['evaluation']): IModelVersion {
  return {
    name: 'churn',
    version: 2,
    run_id: 'r1',
    source: 'runs:/r1/model',
    sha256: '',
    status: 'READY',
    flavor: 'sklearn',
    description: '',
    tags: {},
    aliases: [],
    signature: null,
    creation_time: 0,
    lineage: {},
    validations: [],
    uri: 'models:/churn/2',
    evaluation
  };
}

describe('the versions table evaluation cell', () => {
  it('shows the headline metric and lists every metric in the tooltip', () => {
    const shown = evaluationSummary(
      version({
        name: 'test',
        task: 'binary',
        rows: 143,
        metrics: { accuracy: 0.95, f1: 0.9312 },
        passed: true,
        time: 0
      })
    );
    expect(shown.text).toBe('f1 0.9312 (test)');
    expect(shown.title).toContain('accuracy 0.95');
    expect(shown.className).toBe('');
  });

  it('marks a failed evaluation and says how to evaluate when there is none', () => {
    const failed = evaluationSummary(
      version({
        name: 'holdout',
        task: 'regression',
        rows: 10,
        metrics: { rmse: 3.5 },
        passed: false,
        time: 0
      })
    );
    expect(failed.className).toBe('jp-mlops-fail');
    expect(failed.text).toBe('rmse 3.5 (holdout)');
    const none = evaluationSummary(version(null));
    expect(none.text).toBe('—');
    expect(none.title).toContain('mlops.evaluate("models:/churn/2"');
  });
});
