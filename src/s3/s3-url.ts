import { GemflowError } from '../errors.js';

/** A bucket and a key prefix inside it, parsed from `s3://bucket/prefix`. */
export interface S3Location {
  bucket: string;
  /** Key prefix without a leading slash; empty for the bucket root. Kept as given (no slash added). */
  key: string;
}

const SCHEME = 's3://';

export function isS3Url(path: string): boolean {
  return path.startsWith(SCHEME);
}

/** Parses `s3://bucket[/key]`; `s3_url_invalid` when it has no bucket. */
export function parseS3Url(url: string): S3Location {
  if (!isS3Url(url)) throw new GemflowError('s3_url_invalid', `${url} is not an s3:// URL`);
  const rest = url.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new GemflowError('s3_url_invalid', `${url} does not name a valid bucket`);
  return { bucket, key: slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+/, '') };
}

/** `s3://bucket/key` */
export function s3Url(bucket: string, key: string): string {
  return `${SCHEME}${bucket}/${key}`;
}

/** A key prefix that denotes a "directory": empty, or ending with exactly one slash. */
export function dirPrefix(key: string): string {
  const trimmed = key.replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}
