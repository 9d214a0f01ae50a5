/**
 * The conversation rules and message-format example shared by the ground, refine and synthesize
 * prompts, so the three describe trajectories identically. Changing this text changes all three
 * prompts: bump ground's, refine's and synthesize's PROMPT_VERSION together.
 */

/** Requirements on turn order, calls and tool replies, as one numbered-list item per line. */
export const CONVERSATION_RULES = [
  'Turn order: the first message is the system message, the second a user turn. A user turn is followed by an assistant turn. An assistant turn with toolCalls is followed by one tool turn per call, in the order of the calls; after the last of them comes an assistant turn. A tool turn is never followed by a user turn. An assistant turn without toolCalls hands over to the user (or ends the conversation). The conversation ends with an assistant turn.',
  'Tool calls: each call has an id unique in the conversation (call_1, call_2, ...), the name of a tool defined in tools, and arguments that satisfy that tool\'s parameters schema: every required parameter present, the right types, no parameters the schema does not define. Each tool turn has toolCallId equal to the id of the call it answers, name equal to that call\'s name, and the reply as a JSON string in content.',
  'Tool replies are complete JSON objects with realistic, mutually consistent values (ids, timestamps, amounts, statuses) that later turns reuse exactly. A failure is a JSON object such as {"error": "<code>", "message": "<what went wrong>"}: it states what went wrong and never how to fix it.',
];

/** A skeleton of the messages array: it shows the format, not the content. */
export const MESSAGE_FORMAT_EXAMPLE = `[{"role": "system", "content": "<assistant role and numbered policy>"},
 {"role": "user", "content": "<request>"},
 {"role": "assistant", "content": "", "toolCalls": [{"id": "call_1", "name": "<tool_a>", "arguments": {"<param>": "<value>"}}, {"id": "call_2", "name": "<tool_b>", "arguments": {"<param>": "<value>"}}]},
 {"role": "tool", "toolCallId": "call_1", "name": "<tool_a>", "content": "{\\"<field>\\": \\"<value>\\"}"},
 {"role": "tool", "toolCallId": "call_2", "name": "<tool_b>", "content": "{\\"error\\": \\"<code>\\", \\"message\\": \\"<what went wrong>\\"}"},
 {"role": "assistant", "content": "<answer or question to the user>"}]`;

/** The five interaction patterns with what each one looks like in a conversation. */
export const PATTERN_DEFINITIONS = `- rule_vs_need_conflict: the user wants something a rule forbids; the assistant declines that part, says which rule applies, and offers what is allowed.
- error_recovery: a tool returns an error; the assistant works out the cause from the error and the known state and recovers (other arguments, another tool, or a question to the user).
- clarification: the request is ambiguous or lacks a required value; the assistant asks one focused question before acting.
- multi_hop_reasoning: a later step needs values found in earlier tool replies (look something up, then use what it returned).
- rule_awareness: the assistant applies a rule unprompted (eligibility, a limit, a deadline, a required check) before acting.`;
