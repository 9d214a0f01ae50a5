import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { GemflowError } from '../errors.js';
import type { CommitNote } from './types.js';

/** What the checkpoint remembers of one input file (keyed by its absolute path). */
export interface FileCheckpointEntry {
  /** Every record (line or row) below this 0-based offset is resolved and durable. */
  nextOffset: number;
  /** Size and modification time when the file was read: a change means the input is not the same. */
  size: number;
  mtimeMs: number;
  /** The whole file is done: a restart does not open it again. */
  complete: boolean;
}

interface CheckpointFile {
  version: 1;
  files: Record<string, FileCheckpointEntry>;
  /** The run that wrote it, and the books of what that run had committed (absent before runs noted it). */
  run?: CommitNote;
}

/**
 * `<stateDir>/checkpoint.json`, replaced atomically (write a temporary file, fsync, rename, fsync
 * the directory) so a crash leaves either the old or the new checkpoint, never a torn one.
 */
export class FileCheckpoint {
  readonly path: string;
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = stateDir;
    this.path = join(stateDir, 'checkpoint.json');
  }

  /** The saved entries; empty when no checkpoint exists yet. */
  async load(): Promise<Map<string, FileCheckpointEntry>> {
    return new Map(Object.entries((await this.#read())?.files ?? {}));
  }

  /** The run that wrote the checkpoint last and its committed books, when it noted them. */
  async lastRun(): Promise<CommitNote | undefined> {
    return (await this.#read())?.run;
  }

  async #read(): Promise<CheckpointFile | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GemflowError('checkpoint_unreadable', `cannot read checkpoint ${this.path}`, { cause: e });
    }
    let parsed: CheckpointFile;
    try {
      parsed = JSON.parse(text) as CheckpointFile;
    } catch (e) {
      throw new GemflowError('checkpoint_corrupt', `checkpoint ${this.path} is not valid JSON; delete it to start over`, { cause: e });
    }
    if (parsed?.version !== 1 || typeof parsed.files !== 'object' || parsed.files === null) {
      throw new GemflowError('checkpoint_corrupt', `checkpoint ${this.path} has an unknown layout; delete it to start over`);
    }
    return parsed;
  }

  async save(entries: ReadonlyMap<string, FileCheckpointEntry>, run?: CommitNote): Promise<void> {
    const body: CheckpointFile = { version: 1, files: Object.fromEntries(entries), ...(run && { run }) };
    await mkdir(this.#dir, { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(body, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dir = await open(this.#dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
