/** What common errno / undici / TLS codes mean, for messages a person reads. */
const DESCRIPTIONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server while sending',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'DNS lookup failed: host not found',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  UND_ERR_SOCKET: 'socket closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_CLOSED: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS: certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: unable to verify the certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate does not match the host name',
};

/** The first errno-like `code` on `e` or its cause chain (undici sometimes wraps the socket error). */
export function networkErrno(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_ABORTED') return code;
  }
  return undefined;
}

/** "connection refused (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9" and the like. */
export function describeNetworkError(e: unknown): string {
  const code = networkErrno(e);
  const message = e instanceof Error ? e.message : String(e);
  const known = code === undefined ? undefined : (DESCRIPTIONS[code] ?? (/CERT|TLS|SSL/.test(code) ? 'TLS error' : undefined));
  if (code === undefined) return message;
  return `${known ?? 'network error'} (${code})${message ? `: ${message}` : ''}`;
}
