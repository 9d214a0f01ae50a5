import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GemflowError } from '../errors.js';

/**
 * The URL of a worker entry point's compiled `.js` file, for piscina / worker_threads.
 *
 * `callerUrl` is the caller's `import.meta.url`; `name` the worker's path relative to the caller
 * (`./relevance.worker.js`; a `.ts` suffix is accepted and mapped to `.js`).
 *
 * - From compiled code (`dist/operators/x/pool.js`) the worker sits next to the caller:
 *   `dist/operators/x/name.js`.
 * - When the caller is a `.ts` source (vitest runs sources directly), worker threads still cannot load
 *   TypeScript, so `<repo>/operators/x/name.ts` is mapped to `<repo>/dist/operators/x/name.js`, where
 *   `<repo>` is the nearest directory above the caller holding a package.json. Run `npm run build`
 *   first (the test script does).
 *
 * Throws `worker_not_found` when the resolved file does not exist, so a missing build fails at
 * start-up with a clear message instead of inside a worker thread.
 */
export function resolveWorker(callerUrl: string, name: string): URL {
  const jsName = name.replace(/\.ts$/, '.js');
  const callerPath = fileURLToPath(callerUrl);
  let target = fileURLToPath(new URL(jsName, callerUrl));
  if (callerPath.endsWith('.ts')) {
    const root = packageRoot(dirname(callerPath));
    target = join(root, 'dist', relative(root, target));
  }
  if (!existsSync(target)) {
    throw new GemflowError('worker_not_found', `worker file ${target} does not exist (run \`npm run build\` first)`, {
      detail: { caller: callerPath, worker: name },
    });
  }
  return pathToFileURL(target);
}

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new GemflowError('worker_not_found', `no package.json above ${from}`);
  }
}
