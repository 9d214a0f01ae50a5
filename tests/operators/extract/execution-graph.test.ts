import { describe, expect, it } from 'vitest';
import { parseExecutionGraph } from '../../../operators/extract/execution-graph.js';
import { GemflowError } from '../../../src/errors.js';

describe('parseExecutionGraph', () => {
  it('returns the stages in order with their parallel members', () => {
    expect(parseExecutionGraph('(a)->(b,c)->(d)')).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(parseExecutionGraph('(a)')).toEqual([['a']]);
  });

  it('ignores whitespace around tokens', () => {
    expect(parseExecutionGraph(' ( a ) -> ( b , c )\n->(d) ')).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it.each([
    ['', 'expected "("'],
    ['a->b', 'expected "("'],
    ['(a)->', 'expected "("'],
    ['()', 'expected a step label'],
    ['(a,)', 'expected a step label'],
    ['(a)(b)', 'expected "->"'],
    ['(a)->(b', 'expected ")"'],
    ['(a)=>(b)', 'expected "->"'],
  ])('rejects %j: %s', (graph, what) => {
    let error: unknown;
    try {
      parseExecutionGraph(graph);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GemflowError);
    expect((error as GemflowError).code).toBe('invalid_execution_graph');
    expect((error as GemflowError).message).toContain(what);
  });

  it('reports the position of the problem', () => {
    expect(() => parseExecutionGraph('(a)->(b;c)')).toThrow('expected ")" at position 7');
  });
});
