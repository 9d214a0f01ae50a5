/**
 * Errors carry a stable `code`, a `retriable` flag and a `cause`. Code branches on `code`, never on
 * message text. Codes are lower_snake_case and appear verbatim in dead letters and metrics.
 */
export class GemflowError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  /** Extra structured detail (e.g. the config path, the HTTP status). */
  readonly detail?: Record<string, unknown>;

  constructor(code: string, message: string, opts: { retriable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GemflowError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.detail = opts.detail;
  }
}

export function isGemflowError(e: unknown): e is GemflowError {
  return e instanceof GemflowError;
}

/** The code of any thrown value: a GemflowError's code, an errno code, or "internal". */
export function errorCode(e: unknown): string {
  if (e instanceof GemflowError) return e.code;
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c.toLowerCase() : 'internal';
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Failures of the infrastructure, not of the document: the network, a replica that is down, hanging,
 * overloaded or erroring (5xx / 429 after retries), no healthy replica, the run aborting, a state
 * store or object store that cannot be reached. A document that fails this way is never
 * dead-lettered and never committed: it is retried, or the run stops with it uncommitted and the
 * next run processes it. Everything else (bad input, an answer that fails its checks after repair, a
 * document no window fits) is the document's own and goes to the dead letters.
 */
const INFRASTRUCTURE_CODES = new Set([
  'llm_network',
  'llm_timeout',
  'llm_server_error',
  'llm_unavailable',
  'llm_rate_limited',
  'llm_exhausted',
  'llm_no_healthy_endpoint',
  'llm_cluster_unusable',
  'llm_aborted',
  'llm_bad_response',
  'llm_stalled',
  'llm_request_rejected',
  'state_unavailable',
  's3_request_failed',
  's3_upload_failed',
  'sink_write_failed',
  'dead_letter_write_failed',
  'kafka_commit_failed',
]);

export function isInfrastructureFailure(e: unknown): boolean {
  return INFRASTRUCTURE_CODES.has(errorCode(e));
}

/**
 * Failures that stop the run at once, without retrying the document: the cluster is unusable, or a
 * server rejected the request itself (`llm_request_rejected`: the structured-output dialect, the
 * model name or the credentials are wrong, so every document would fail the same way). Both are
 * infrastructure failures too: never dead-lettered, the documents stay uncommitted.
 */
const RUN_FATAL_CODES = new Set(['llm_cluster_unusable', 'llm_request_rejected']);

export function isRunFatal(e: unknown): boolean {
  return RUN_FATAL_CODES.has(errorCode(e));
}
