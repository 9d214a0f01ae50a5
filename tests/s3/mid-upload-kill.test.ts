/**
 * `gemflow run` with an s3:// sink, SIGKILLed while a shard's multipart upload is in progress, then run
 * again: nothing is visible under the shard key after the kill, and the replay writes every document
 * once, under the same key. A pass-through proxy in front of MinIO holds the upload's second part,
 * so the kill lands mid-upload every time (no timing guesses).
 */
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, startCli, tempDir, writePipeline } from '../e2e/harness.js';
import { duck, sqlString } from '../sinks/fixtures.js';
import { startMinio, type Minio } from './minio.js';

const MiB = 1024 * 1024;

/** A proxy to `target` that holds (never forwards) the first request matching `hold`, and says when. */
async function holdingProxy(target: string, hold: (url: string) => boolean): Promise<{ url: string; held: Promise<string>; close(): void }> {
  const { hostname, port } = new URL(target);
  let onHeld!: (url: string) => void;
  const held = new Promise<string>((r) => (onHeld = r));
  let holding = false;
  const server: Server = createServer((req, res) => {
    if (!holding && hold(req.url ?? '')) {
      holding = true;
      onHeld(req.url ?? '');
      return; // the request (and its part's bytes) stays here until the client dies
    }
    const up = request({ hostname, port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('mid-upload kill (MinIO)', () => {
  let minio: Minio;
  beforeAll(async () => {
    minio = await startMinio();
  });
  afterAll(() => minio?.stop());

  it('leaves nothing under the shard key, and the replay completes the shard with every document once', async () => {
    const bucket = `kill-${process.pid}`;
    await minio.createBucket(bucket);
    const dir = await tempDir('s3-kill');
    // ~1,700 distinct documents in one uncompressed shard of ~7-8 MiB: two 5 MiB parts.
    const docs = (await readFile(CORPUS, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; text: string });
    const corpus = Array.from({ length: 40 }, (_, r) => docs.map((d) => JSON.stringify({ id: `${d.id}-r${r}`, text: `${d.text} (copy ${r}, revision ${r * 7919})` }))).flat();
    await writeFile(join(dir, 'corpus.jsonl'), corpus.join('\n') + '\n');
    const pipeline = (endpoint: string) => ({
      source: { type: 'files', paths: ['corpus.jsonl'] },
      relevance: { threads: 0, threshold: 0 },
      dedupe: { nearDuplicate: false },
      llm: { mode: 'synthesize', simulate: true, simulator: { timeScale: 0.001 } },
      sink: { dir: `s3://${bucket}/run`, compression: 'none', maxRows: 100_000, maxBytes: 1_000_000_000 },
      s3: { endpoint, partSizeBytes: 5 * MiB, uploadConcurrency: 1 },
    });
    const env = { AWS_ACCESS_KEY_ID: minio.env.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: minio.env.AWS_SECRET_ACCESS_KEY! };

    let shardKey = '';
    const proxy = await holdingProxy(minio.endpoint, (url) => /[?&]partNumber=2(&|$)/.test(url));
    try {
      const first = startCli(['run', await writePipeline(dir, pipeline(proxy.url), 'first.yaml'), '--quiet'], env);
      const exited = first.done.then((r) => `exited early (${r.code ?? r.signal}): ${r.stderr}`);
      const heldUrl = await Promise.race([proxy.held, exited.then((m) => Promise.reject(new Error(m)))]);
      first.child.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      shardKey = decodeURIComponent(new URL(heldUrl, 'http://x').pathname).replace(`/${bucket}/`, '');
      expect(shardKey).toMatch(/^run\/data\/corpus\.jsonl-.+\.parquet$/);
      // Mid-upload: the multipart upload exists with part 1, yet no object under the shard key.
      expect(await minio.uploads(bucket)).toContain(shardKey);
      expect((await minio.keys(bucket)).filter((k) => k.endsWith('.parquet'))).toEqual([]);
      expect(await minio.keys(bucket)).not.toContain('run/_gemflow/manifest.json');
    } finally {
      proxy.close();
    }

    const replay = await startCli(['run', await writePipeline(dir, pipeline(minio.endpoint), 'replay.yaml'), '--quiet'], env).done;
    expect(replay.code, replay.stderr).toBe(0);
    const keys = await minio.keys(bucket);
    const shards = keys.filter((k) => k.endsWith('.parquet'));
    expect(shards).toContain(shardKey); // the same documents, the same key
    const manifest = JSON.parse(Buffer.from(await minio.getBytes(bucket, 'run/_gemflow/manifest.json')).toString('utf8'));
    expect(manifest.funnel.balanced).toBe(true);
    expect(manifest.shards.map((s: { path: string }) => s.path).sort()).toEqual(shards.map((k) => `s3://${bucket}/${k}`));

    const db = await duck();
    try {
      const rows: Array<Record<string, unknown>> = [];
      for (const key of shards) {
        const local = join(dir, key.replaceAll('/', '_'));
        await writeFile(local, await minio.getBytes(bucket, key));
        rows.push(...(await db.all(`SELECT document_id, trajectory_id, origin FROM read_parquet(${sqlString(local)})`)));
      }
      const docIds = new Set(rows.map((r) => String(r.document_id)));
      expect(new Set(rows.map((r) => String(r.trajectory_id))).size).toBe(rows.length); // no trajectory twice
      expect(docIds.size).toBe(manifest.funnel.documents.written); // every written document, once
      expect(new Set(rows.map((r) => `${r.document_id} ${r.origin}`)).size).toBe(docIds.size); // each from one record
      expect(docIds.size).toBeGreaterThan(corpus.length / 3);
    } finally {
      db.close();
    }
  });
});
