import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Config, SinkConfig } from '../config/schema.js';
import { createS3Client } from '../s3/s3-client.js';
import { S3ShardStore } from '../s3/s3-shard-store.js';
import { ParquetShardSink, type ParquetShardSinkOptions } from './parquet-sink.js';

export interface S3ShardSinkOptions extends ParquetShardSinkOptions {
  /** Default: createS3Client(s3Config). */
  client?: S3Client;
  /** Local directory for shards being written (see S3ShardStore). */
  tmpDir?: string;
}

/**
 * The Parquet shard sink for `sink.dir: s3://bucket/prefix`: shards are written locally as usual and
 * published to object storage by S3ShardStore (index, multipart upload, size and checksum verified),
 * so onDurable, and with it every source commit, follows only complete, verified objects.
 */
export function createS3ShardSink(sink: SinkConfig, s3: S3Config, opts: S3ShardSinkOptions = {}): ParquetShardSink {
  const { client, tmpDir, ...sinkOpts } = opts;
  const store = new S3ShardStore(client ?? createS3Client(s3), sink.dir, { partSizeBytes: s3.partSizeBytes, uploadConcurrency: s3.uploadConcurrency, tmpDir });
  return new ParquetShardSink(sink, { ...sinkOpts, store });
}
