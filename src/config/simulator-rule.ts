import { isS3Url } from '../s3/s3-url.js';
import type { ConfigIssue } from './interpolate-env.js';
import type { PipelineConfig } from './schema.js';

/**
 * When gemflow runs on its bundled vLLM simulator (a test double whose outputs are synthetic):
 * - `llm.simulate: true`: always (then `llm.endpoints` must be empty);
 * - `llm.simulate` absent and no `llm.endpoints`: only for a local pipeline, a files source and a local
 *   sink (the built-in defaults, examples/demo.yaml); a Kafka source or an s3:// sink is a production
 *   shape, so there a missing endpoint list is a configuration error, not a silent simulator;
 * - `llm.simulate: false`: never (then `llm.endpoints` must be set).
 */
export function usesSimulator(cfg: Pick<PipelineConfig, 'llm'>): boolean {
  return cfg.llm.simulate ?? cfg.llm.endpoints.length === 0;
}

/** The problems of a config's inference choice (see usesSimulator), with their paths; empty when fine. */
export function simulatorIssues(cfg: Pick<PipelineConfig, 'llm' | 'source' | 'sink'>): ConfigIssue[] {
  const { simulate, endpoints } = cfg.llm;
  if (simulate === true && endpoints.length > 0) {
    return [{ path: 'llm.simulate', message: 'llm.simulate is true but llm.endpoints are set: use one or the other' }];
  }
  if (simulate === false && endpoints.length === 0) {
    return [{ path: 'llm.endpoints', message: 'no inference endpoint and llm.simulate is false: list your vLLM servers in llm.endpoints' }];
  }
  if (simulate === undefined && endpoints.length === 0) {
    const where = cfg.source.type === 'kafka' ? 'a Kafka source' : isS3Url(cfg.sink.dir) ? 'an s3:// sink' : undefined;
    if (where) {
      return [
        {
          path: 'llm.endpoints',
          message:
            `no inference endpoint for a pipeline with ${where}: set llm.endpoints to your vLLM servers, ` +
            'or llm.simulate: true to run on the bundled simulator (synthetic outputs, a test double)',
        },
      ];
    }
  }
  return [];
}
