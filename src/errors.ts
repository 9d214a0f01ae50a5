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
