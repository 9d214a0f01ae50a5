import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Names of temporary files carry the writer that made them: `<host>~<pid>~<token>`, where token is
 * random per process. With it, a worker opening an output shared with others can tell a crashed
 * writer's leftovers (same host, that process is gone) from a live peer's files in progress.
 */
const TOKEN = randomBytes(4).toString('hex');
const HOST = hostname().replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 48) || 'host';
let seq = 0;

/** This process's tag. */
export function writerTag(): string {
  return `${HOST}~${process.pid}~${TOKEN}`;
}

/** A fresh name part unique to this process and call: `<tag>-<n>`. */
export function uniqueTmpPart(): string {
  return `${writerTag()}-${++seq}`;
}

const TAG_IN_NAME = /([A-Za-z0-9_-]+)~(\d+)~([0-9a-f]{8})-\d+/;

/**
 * True when the file name carries the tag of a writer on this host that is certainly gone: its pid
 * no longer exists, or it is this process's pid with another token (an earlier incarnation, e.g. a
 * restarted container whose process always gets the same pid). False when unsure (another host, a
 * live pid, no tag): then only age tells.
 */
export function isDeadWritersFile(name: string): boolean {
  const m = TAG_IN_NAME.exec(name);
  if (!m || m[1] !== HOST) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return m[3] !== TOKEN;
  try {
    process.kill(pid, 0);
    return false; // alive (or reused by another process: wait for the age bound)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
