"""Baselines of `gemflow export`: what a user would write instead, in Python, over the same shards.

    python bench/export_baseline.py template <template.jinja> <out.jsonl> <shard.parquet>...
    python bench/export_baseline.py sharegpt - <out.jsonl> <shard.parquet>...

Each reads the shards with pyarrow (the messages and tools columns, chat-format JSON text) and json.loads
every row, then:
- template: transformers' apply_chat_template(messages, tools=tools, tokenize=False). transformers itself
  is not installed here (a large download with its tokenizers); it renders with jinja2 exactly as below
  (ImmutableSandboxedEnvironment, trim_blocks + lstrip_blocks, loopcontrols, its tojson), as
  tests/export/fixtures/render_chat_template.py (the reference the export is tested against) does; each
  call's arguments passed as an object, as transformers expects. One line {"text": ...} per row.
- sharegpt: LLaMA-Factory's ShareGPT record, by the rules of src/export/formats.ts toShareGpt, written
  as JSON.stringify writes it (compact, not ASCII-escaped), so its lines are the export's lines.
Prints one JSON line: rows, CPU seconds of this process (user + system), wall seconds.
"""
import json, sys, time
from datetime import datetime

import pyarrow.parquet as pq
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise Exception(message)


def strftime_now(format):
    return datetime.now().strftime(format)


def arguments(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def dumps(x):
    return json.dumps(x, ensure_ascii=False, separators=(",", ":"))


def sharegpt(messages, tools):
    """src/export/formats.ts toShareGpt; None for a row it skips."""
    if any(m["role"] not in ("system", "user", "assistant", "tool") for m in messages):
        return None
    system, turns = [], []

    def side(f):
        return "in" if f in ("human", "observation") else "out"

    def push(frm, value):
        last = turns[-1] if turns else None
        if last is None or side(last["from"]) != side(frm):
            turns.append({"from": frm, "value": value})
        elif last["from"] == frm and frm != "function_call":
            last["value"] = last["value"] + "\n\n" + value
        elif frm == "function_call" and last["from"] == "gpt":
            turns[-1] = {"from": frm, "value": value}
        elif frm == "function_call" and last["from"] == "function_call":
            a, b = json.loads(last["value"]), json.loads(value)
            last["value"] = dumps((a if isinstance(a, list) else [a]) + (b if isinstance(b, list) else [b]))
        elif frm == "gpt" and last["from"] == "function_call":
            return
        else:
            last["value"] = last["value"] + "\n\n" + value

    i = 0
    while i < len(messages):
        m = messages[i]
        if m["role"] == "system":
            system.append(m["content"])
        elif m["role"] == "user":
            push("human", m["content"])
        elif m["role"] == "assistant":
            calls = m.get("tool_calls") or []
            if not calls:
                push("gpt", m["content"])
            else:
                items = [{"name": c["function"]["name"], "arguments": arguments(c["function"]["arguments"])} for c in calls]
                push("function_call", dumps(items[0] if len(items) == 1 else items))
        else:
            replies = []
            while i < len(messages) and messages[i]["role"] == "tool":
                replies.append(messages[i]["content"])
                i += 1
            i -= 1
            push("observation", replies[0] if len(replies) == 1 else dumps(replies))
        i += 1
    while turns and turns[-1]["from"] in ("human", "observation"):
        turns.pop()
    if not turns or turns[0]["from"] != "human":
        return None
    return dumps({"conversations": turns, "system": "\n\n".join(system), "tools": dumps([t["function"] for t in tools])})


def main():
    fmt, template_path, out_path, shards = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    c0, t0 = time.process_time(), time.perf_counter()
    if fmt == "template":
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = strftime_now
        with open(template_path) as f:
            template = env.from_string(f.read())
    elif fmt != "sharegpt":
        raise SystemExit(f"unknown format {fmt}")
    rows = 0
    with open(out_path, "w") as out:
        for shard in shards:
            table = pq.read_table(shard, columns=["messages", "tools"])
            for messages_json, tools_json in zip(table.column("messages").to_pylist(), table.column("tools").to_pylist()):
                messages, tools = json.loads(messages_json), json.loads(tools_json)
                if fmt == "sharegpt":
                    line = sharegpt(messages, tools)
                    if line is None:
                        continue
                else:
                    for m in messages:
                        for c in m.get("tool_calls") or []:
                            c["function"]["arguments"] = arguments(c["function"]["arguments"])
                    line = json.dumps({"text": template.render(messages=messages, tools=tools, add_generation_prompt=False, bos_token="", eos_token="")}, ensure_ascii=False)
                out.write(line)
                out.write("\n")
                rows += 1
    print(json.dumps({"rows": rows, "cpuS": time.process_time() - c0, "wallS": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
