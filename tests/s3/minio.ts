import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/minio/minio.sh');

/** The MinIO server binary `scripts/minio/minio.sh fetch` builds; the vitest global setup (scripts/deps.sh) fetches it. */
export const MINIO_BIN = join(ROOT, '.cache/minio/bin/minio');

export interface Minio {
  endpoint: string;
  /** AWS_* variables that point the SDK's default chain at this server (for child processes). */
  env: Record<string, string>;
  /** A client for this server (path-style, its root credentials). */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Keys under a prefix. */
  keys(bucket: string, prefix?: string): Promise<string[]>;
  /** Keys of multipart uploads in progress under a prefix (listed for the bucket: MinIO filters only by exact key). */
  uploads(bucket: string, prefix?: string): Promise<string[]>;
  getBytes(bucket: string, key: string): Promise<Uint8Array>;
  stop(): Promise<void>;
}

/**
 * Starts a MinIO server on a free loopback port with its data in a new temp dir (scripts/minio/minio.sh),
 * with the given root credentials (default: the script's).
 */
export async function startMinio(root: { user?: string; password?: string } = {}): Promise<Minio> {
  // The global setup builds it before any test; building it here instead would take minutes inside a hook.
  if (!existsSync(MINIO_BIN)) throw new Error(`${MINIO_BIN} is missing: the vitest global setup (scripts/deps.sh fetch minio) builds it; did it run?`);
  const dir = await mkdtemp(join(tmpdir(), 'gemflow-minio-'));
  const rootEnv = { ...(root.user && { MINIO_ROOT_USER: root.user }), ...(root.password && { MINIO_ROOT_PASSWORD: root.password }) };
  const { stdout } = await exec('bash', [SCRIPT, 'start', '--dir', dir], { env: { ...process.env, ...rootEnv } });
  const vars = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  const env = { AWS_ENDPOINT_URL_S3: vars.ENDPOINT!, AWS_ACCESS_KEY_ID: vars.ACCESS_KEY!, AWS_SECRET_ACCESS_KEY: vars.SECRET_KEY!, AWS_REGION: 'us-east-1' };
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint: env.AWS_ENDPOINT_URL_S3,
    env,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async keys(bucket, prefix = '') {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        out.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return out.sort();
    },
    async uploads(bucket, prefix = '') {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (page.Uploads ?? []).map((u) => u.Key!).filter((k) => k.startsWith(prefix));
    },
    async getBytes(bucket, key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return res.Body!.transformToByteArray();
    },
    async stop() {
      client.destroy();
      await exec('bash', [SCRIPT, 'stop', '--dir', dir]);
    },
  };
}
