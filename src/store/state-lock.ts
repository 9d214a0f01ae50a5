import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GemflowError } from '../errors.js';

/**
 * One run at a time per state folder of a file source. Its checkpoint says which input records are
 * done; a second run beside the first reads the same records, finds them not done, and writes every
 * document a second time (measured: two runs started a second apart wrote all 659 rows twice, both
 * exiting 0). So a run over local or s3:// files holds this lock for its whole life and a second one
 * stops at once with `state_locked`, naming the holder. (A Kafka source needs none: the consumer group
 * splits the partitions between workers.)
 *
 * The lock is SQLite's exclusive lock on `run.lock` (locking_mode EXCLUSIVE: taken by the first write,
 * held until the connection closes), that is an fcntl lock the kernel drops when the process ends in
 * any way, kill -9 included: no stale lock file to clean up after a crash, and a pod whose process
 * restarts under the same pid finds it free. `run.lock.json` beside it only names the holder for
 * the message.
 */
export interface StateLock {
  release(): void;
}

export function lockStateDir(stateDir: string): StateLock {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, 'run.lock');
  const info = join(stateDir, 'run.lock.json');
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (at TEXT NOT NULL)');
    db.exec('BEGIN EXCLUSIVE');
    db.prepare('INSERT INTO holder (at) VALUES (?)').run(new Date().toISOString());
    db.exec('DELETE FROM holder WHERE rowid NOT IN (SELECT max(rowid) FROM holder)');
    db.exec('COMMIT');
  } catch (e) {
    db?.close();
    const code = (e as { code?: string }).code;
    if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') {
      throw new GemflowError('state_lock_failed', `cannot lock the state folder ${stateDir} (${path}): ${(e as Error).message}`, { cause: e });
    }
    let holder = '';
    try {
      const h = JSON.parse(readFileSync(info, 'utf8')) as { pid?: number; host?: string; startedAt?: string };
      holder = ` (pid ${h.pid} on ${h.host}, since ${h.startedAt})`;
    } catch {
      // no holder file yet: the other run is starting
    }
    throw new GemflowError(
      'state_locked',
      `another gemflow run is using the state folder ${stateDir}${holder}: two runs over the same inputs and checkpoint would write every document twice. ` +
        'Wait for it to end (or stop it), or give this run its own stateDir and inputs',
      { detail: { stateDir } },
    );
  }
  try {
    writeFileSync(info, `${JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() })}\n`);
  } catch {
    // the lock holds without its description
  }
  const held = db;
  return {
    release() {
      if (held.open) held.close();
    },
  };
}
