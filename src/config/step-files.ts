/**
 * The file paths among a built-in step's keys, in one place: a relevance `model` file (not the
 * `default` / `hand` keywords) and each decontamination benchmark `path`. `f` gets each path and its
 * key (as `model`, `benchmarks[1].path`) and returns the value to keep: the loader resolves them
 * against the pipeline file (load.ts), `gemflow validate` checks they exist (check-inputs.ts).
 */
export function mapStepFiles<T extends Record<string, unknown>>(block: T, type: string | undefined, f: (path: string, key: string) => string): T {
  if (type === 'relevance' && typeof block.model === 'string' && block.model !== 'default' && block.model !== 'hand') {
    return { ...block, model: f(block.model, 'model') };
  }
  if (type === 'decontaminate' && Array.isArray(block.benchmarks)) {
    const benchmarks = block.benchmarks.map((b: unknown, j: number) => {
      const path = b !== null && typeof b === 'object' ? (b as { path?: unknown }).path : undefined;
      return typeof path === 'string' ? { ...(b as object), path: f(path, `benchmarks[${j}].path`) } : b;
    });
    return { ...block, benchmarks };
  }
  return block;
}
