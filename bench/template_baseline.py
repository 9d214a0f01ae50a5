"""The baseline of `gemflow export --format template`: what a user would run instead, transformers'
apply_chat_template over the output's rows. transformers itself is not installed here (a large download
with its tokenizers); its apply_chat_template(messages, tools=tools, tokenize=False) renders with jinja2
exactly as below (ImmutableSandboxedEnvironment, trim_blocks + lstrip_blocks, loopcontrols, its tojson),
as tests/export/fixtures/render_chat_template.py (the reference the export is tested against) does.

    python bench/template_baseline.py <template.jinja> <out.jsonl> <shard.parquet>...

Reads each shard with pyarrow (the messages and tools columns, chat-format JSON text), json.loads them,
passes each call's arguments as an object (as transformers expects), renders, and writes one JSON line
{"text": ...} per row. Prints one JSON line: rows, CPU seconds of this process (user + system), wall s.
"""
import json, os, sys, time
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


def main():
    template_path, out_path, shards = sys.argv[1], sys.argv[2], sys.argv[3:]
    c0, t0 = time.process_time(), time.perf_counter()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    with open(template_path) as f:
        template = env.from_string(f.read())
    rows = 0
    with open(out_path, "w") as out:
        for shard in shards:
            table = pq.read_table(shard, columns=["messages", "tools"])
            for messages_json, tools_json in zip(table.column("messages").to_pylist(), table.column("tools").to_pylist()):
                messages = json.loads(messages_json)
                for m in messages:
                    for c in m.get("tool_calls") or []:
                        c["function"]["arguments"] = arguments(c["function"]["arguments"])
                text = template.render(messages=messages, tools=json.loads(tools_json), add_generation_prompt=False, bos_token="", eos_token="")
                out.write(json.dumps({"text": text}, ensure_ascii=False))
                out.write("\n")
                rows += 1
    print(json.dumps({"rows": rows, "cpuS": time.process_time() - c0, "wallS": time.perf_counter() - t0, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
