import { GemflowError } from '../../src/errors.js';

/**
 * Parses a workflow's execution graph, e.g. "(a)->(b,c)->(d)": groups in parentheses joined by "->",
 * the labels of one group separated by commas (steps that can run in parallel). Whitespace around
 * tokens is ignored. Returns the stages in order, each the list of its labels.
 *
 * Throws GemflowError `invalid_execution_graph` with the position of the first problem.
 */
export function parseExecutionGraph(graph: string): string[][] {
  const stages: string[][] = [];
  let pos = 0;

  const fail = (what: string): never => {
    throw new GemflowError('invalid_execution_graph', `execution graph "${graph}": ${what} at position ${pos}`);
  };
  const skipSpace = (): void => {
    while (pos < graph.length && /\s/.test(graph[pos]!)) pos++;
  };
  const expect = (token: string): void => {
    skipSpace();
    if (!graph.startsWith(token, pos)) fail(`expected "${token}"`);
    pos += token.length;
  };
  const label = (): string => {
    skipSpace();
    const m = /^[A-Za-z0-9_]+/.exec(graph.slice(pos));
    if (!m) return fail('expected a step label');
    pos += m[0].length;
    return m[0];
  };

  for (;;) {
    expect('(');
    const group = [label()];
    skipSpace();
    while (graph[pos] === ',') {
      pos++;
      group.push(label());
      skipSpace();
    }
    expect(')');
    stages.push(group);
    skipSpace();
    if (pos === graph.length) return stages;
    expect('->');
  }
}
