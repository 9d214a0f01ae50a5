import { z } from 'zod';
import { Workflow, isObj, isStr, parseArray, parseStrings, parseWorkflow, withFastParse } from '../../src/trajectory.js';

/** Same as ExtractOutput.parse for what it accepts, undefined otherwise (see withFastParse). */
export const parseExtractOutput = (v: unknown): ExtractOutputShape | undefined => {
  if (!isObj(v) || !isStr(v.domain, 1)) return undefined;
  const rules = parseStrings(v.rules);
  const workflows = rules && parseArray(v.workflows, parseWorkflow);
  return workflows && { domain: v.domain, rules: rules!, workflows };
};

const ExtractOutputSchema = z.object({
  /** The text's domain, e.g. "cloud storage administration". */
  domain: z.string().min(1),
  /** Domain rules the text states or implies (used for the system prompt). */
  rules: z.array(z.string()),
  workflows: z.array(Workflow),
});
type ExtractOutputShape = z.infer<typeof ExtractOutputSchema>;

export const ExtractOutput = withFastParse(ExtractOutputSchema, parseExtractOutput);
export type ExtractOutput = z.infer<typeof ExtractOutput>;
