import type { LlmStage } from '../../src/llm/types.js';
import { checkWorkflow } from './check-workflow.js';
import { PROMPT_VERSION, renderExtractPrompt, type ExtractInput } from './prompt.js';
import { ExtractOutput } from './schema.js';

export type { ExtractInput } from './prompt.js';

/** GEM stage 2: workflows, execution graphs and tool definitions from one document. */
export const extractStage: LlmStage<ExtractInput, ExtractOutput> = {
  id: 'extract',
  promptVersion: PROMPT_VERSION,
  output: ExtractOutput,
  render: renderExtractPrompt,
  check(output, input) {
    const problems: string[] = [];
    if (output.workflows.length > input.maxWorkflows) {
      problems.push(`workflows has ${output.workflows.length} entries; at most ${input.maxWorkflows} are allowed`);
    }
    output.workflows.forEach((w, i) => problems.push(...checkWorkflow(w, `workflows[${i}]`)));
    return problems;
  },
};
