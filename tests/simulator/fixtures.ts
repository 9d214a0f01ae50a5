import { section } from '../../src/llm/prompt-sections.js';

/** A how-to with two step lists and an account: two workflows, with login. */
export const STORAGE_DOC = `# Managing storage buckets

You must be signed in to your account before you change anything. Bucket names must be unique within a region.
Deleted buckets cannot be restored.

## Create a bucket
1. Sign in to the console with your account.
2. Click Create bucket.
3. Enter a bucket name.
4. Choose the region.
5. Click Create.

## Delete a bucket
1. Sign in to the console.
2. Open the bucket list.
3. Select the bucket you want to remove.
4. Delete the bucket.
5. Check the bucket list again.
`;

/** Prose steps, no account. */
export const RETURNS_DOC = `Returning an item is easy. Find the order in your order history. Check the return window for the order.
Cancel the order if it has not shipped yet. Print the shipping label and drop the parcel at any post office.`;

/** No steps at all. */
export const NEWS_DOC = `The city council met on Tuesday evening. Residents discussed the new library, which opened last spring
after years of delays. The mayor said the building had exceeded expectations and that visitor numbers were high.`;

export type Stage = 'extract' | 'ground' | 'refine' | 'judge' | 'synthesize';

/** A chat completions body for a gemflow stage, sections in the last user message. */
export function stageBody(stage: Stage, sections: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const user = [`Please do the ${stage} task.`, ...Object.entries(sections).map(([name, body]) => section(name, body))].join('\n\n');
  return {
    model: 'gemflow-sim-32b',
    messages: [
      { role: 'system', content: `You are the ${stage} stage.` },
      { role: 'user', content: user },
    ],
    max_tokens: 8192,
    temperature: 0.7,
    response_format: { type: 'json_schema', json_schema: { name: `gemflow_${stage}`, schema: { type: 'object' }, strict: true } },
    ...extra,
  };
}

/** POSTs a body to /v1/chat/completions with fetch. */
export async function postChat(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

/** The assistant content of a 200 chat completion, parsed as JSON. */
export async function chatJson(url: string, body: unknown): Promise<unknown> {
  const res = await postChat(url, body);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const j = (await res.json()) as { choices: { message: { content: string } }[] };
  return JSON.parse(j.choices[0]!.message.content);
}
