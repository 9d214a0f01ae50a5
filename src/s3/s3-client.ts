import { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../config/schema.js';

/**
 * An S3 client for AWS S3 or an S3-compatible store (MinIO, ...). Credentials come from the SDK's
 * default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, web identity, instance roles).
 * The endpoint is `s3.endpoint`, else the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. The region
 * is `s3.region`, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1 (what S3-compatible stores expect).
 * Path-style addressing (`endpoint/bucket/key`) is used when `s3.forcePathStyle` says so or, when it is
 * unset, whenever a custom endpoint is configured: S3-compatible stores rarely serve bucket subdomains.
 */
export function createS3Client(cfg: Partial<S3Config> = {}, env: Record<string, string | undefined> = process.env): S3Client {
  const customEndpoint = cfg.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return new S3Client({
    ...(cfg.endpoint !== undefined && { endpoint: cfg.endpoint }),
    region: cfg.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: cfg.forcePathStyle ?? Boolean(customEndpoint),
  });
}
