/** Plain line logger to stderr: `<iso time> <level> <message> key=value ...`. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(opts: { quiet?: boolean; write?: (line: string) => void } = {}): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const fmt = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const kv = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
          .join(' ')
      : '';
    return `${new Date().toISOString()} ${level} ${msg}${kv ? ' ' + kv : ''}`;
  };
  return {
    info: (m, f) => {
      if (!opts.quiet) write(fmt('info', m, f));
    },
    warn: (m, f) => write(fmt('warn', m, f)),
    error: (m, f) => write(fmt('error', m, f)),
  };
}
