import { z } from 'zod';
import { toChatMessages, toChatTools } from '../../src/chat-format.js';
import { originString, trajectoryId } from '../../src/steps/ids.js';
import { type RowItem, type TrajectoryItem, defineStepType, rejected } from '../../src/steps/step.js';
import { trajectoryStats } from './stats.js';

/** Complexity statistics of a trajectory, and the output row that carries them (the last step of a pipeline). */
export const statsStep = defineStepType({
  type: 'stats',
  description: 'CPU: complexity statistics; makes the output row',
  input: 'trajectory',
  output: 'row',
  config: z.strictObject({}),
  create(_c, env) {
    return {
      process(item: TrajectoryItem) {
        const t = item.trajectory;
        if (!t) return rejected('no_trajectory', `${env.id} needs a trajectory`);
        const doc = item.doc;
        const n = item.notes;
        const row: RowItem = {
          kind: 'row',
          doc,
          row: {
            trajectoryId: trajectoryId(doc, item.index, item.producer),
            documentId: doc.id,
            origin: originString(doc.origin),
            originPartition: doc.origin.partition,
            originOffset: doc.origin.offset,
            domain: String(n.domain ?? ''),
            workflowName: item.workflow.name,
            relevanceScore: typeof item.docNotes.relevanceScore === 'number' ? item.docNotes.relevanceScore : 0,
            // OpenAI / Hugging Face chat format (src/chat-format.ts), as JSON text: see the README's output schema.
            tools: JSON.stringify(toChatTools(t.tools)),
            messages: JSON.stringify(toChatMessages(t.messages)),
            patterns: JSON.stringify(t.patterns),
            policy: JSON.stringify(n.policy ?? null),
            userProfile: JSON.stringify(n.userProfile ?? null),
            judge: JSON.stringify(n.judge ?? null),
            stats: trajectoryStats(t),
            promptVersions: JSON.stringify(item.provenance.promptVersions),
            models: JSON.stringify(item.provenance.models),
            promptTokens: item.provenance.promptTokens,
            completionTokens: item.provenance.completionTokens,
          },
        };
        return [row];
      },
    };
  },
});
