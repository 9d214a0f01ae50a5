import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { errorCode, errorMessage, GemflowError } from './errors.js';

const HELP = `gemflow — turn text corpora into multi-turn tool-use training trajectories (GEM method)

Usage:
  gemflow run [pipeline.yaml] [--quiet]     run a pipeline (no file: the built-in demo defaults:
                                             examples/corpus.jsonl -> out/, bundled simulator)
  gemflow validate <pipeline.yaml>           check a pipeline file; all errors with their paths
                                             (local input paths must match files; s3:// is not checked)
  gemflow schema                             print the pipeline file's JSON Schema (for editors)
  gemflow stats <output dir>                 summarise shards, manifest and dead letters
  gemflow export <output dir> --format F --out DIR
                                             write the rows for a fine-tuning tool, streaming: F = openai |
                                             sharegpt (+ LLaMA-Factory dataset_info.json) | hermes |
                                             template (--template tokenizer_config.json or .jinja;
                                             --template-engine interpreter: no compiled form;
                                             --tool-call-ids alnum9: 9-character ids, for Mistral's) |
                                             synthesizer (synthesize-mode prompt -> answer pairs);
                                             --min-complexity X --max-complexity X --judge pass
                                             --validation 0.05 --seed S (split by document) --parquet
  gemflow produce <file> --topic T --brokers H:P[,H:P] [--partitions N] [--id-field id]
                                             load a JSONL / JSONL.gz / Parquet corpus into a Kafka topic
  gemflow relevance train|eval ...          fit the relevance classifier from labelled JSONL; measure one
                                             (precision, recall, F1, ROC-AUC): gemflow relevance help
  gemflow simulate [--port 8000] [--replicas 1] [--fault-rate 0]
                                             run the bundled vLLM simulator (a test double: its outputs are
                                             synthetic, derived from the input text, not from a model)

Exit codes: 0 ok, 1 usage or config error, 2 the run stopped on a fatal error, 3 the books did not balance,
4 the LLM steps lost most of the documents they worked on (dead-lettered), 130 / 143 a files run stopped
by SIGINT / SIGTERM before the end of its input (run it again to resume).
`;

/** Help of one command, for `gemflow <command> --help`: its lines of HELP. */
function commandHelp(cmd: string): string | undefined {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  gemflow ${cmd} `) || l === `  gemflow ${cmd}`);
  if (start < 0) return undefined;
  let end = start + 1;
  while (end < lines.length && /^ {40,}\S/.test(lines[end]!)) end++;
  return `Usage:\n${lines.slice(start, end).join('\n')}\n`;
}

/**
 * V8 sizes its old generation lazily: under a steady allocation rate it lets the heap grow to several
 * times the live data before a full GC, and keeps the pages. A worker's live data is bounded by its
 * work in flight (~50 MB in bench/reliability/rss-curve.mjs, flat from 200 k to 1 M documents) while its
 * heap grew to 244 MB, so `gemflow run` lets the heap grow by at most GEMFLOW_HEAP_GROWING_PERCENT
 * (default 50) percent of the live data between full GCs: V8's --heap-growing-percent, which it reads
 * at each GC. A value in NODE_OPTIONS or on node's command line wins; 0 keeps V8's own policy.
 */
function limitHeapGrowth(): void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent/.test(a));
  const percent = Number(process.env.GEMFLOW_HEAP_GROWING_PERCENT ?? HEAP_GROWING_PERCENT);
  if (given || !Number.isInteger(percent) || percent <= 0) return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
const HEAP_GROWING_PERCENT = 50;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `gemflow <command> --help` (or -h) prints that command's usage, whatever else is on the line.
  if (cmd !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    // The simulator documents its own (many) flags.
    const help = cmd === 'simulate' ? (await import('./simulator/main.js')).SIMULATOR_USAGE : commandHelp(cmd);
    if (help) {
      process.stdout.write(help);
      return 0;
    }
  }
  try {
    switch (cmd) {
      case 'run': {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { quiet: { type: 'boolean', default: false } } });
        if (positionals.length > 1) return usage(`run takes one pipeline file; unexpected ${positionals.slice(1).join(' ')}`);
        limitHeapGrowth();
        const { runJob } = await import('./run-job.js');
        return await runJob({ configPath: positionals[0], quiet: values.quiet! });
      }
      case 'validate': {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true });
        if (positionals.length !== 1) return usage(positionals.length === 0 ? 'validate needs a pipeline file' : `validate takes one pipeline file; unexpected ${positionals.slice(1).join(' ')}`);
        const { loadConfig } = await import('./config/load.js');
        const { checkSteps, stepSpecs } = await import('./compose.js');
        const { usesSimulator } = await import('./config/simulator-rule.js');
        const cfg = await loadConfig(positionals[0], { checkSteps, checkInputs: true });
        const steps = stepSpecs(cfg).specs.map((s) => s.id).join(' -> ');
        const s3Inputs = cfg.source.type === 'files' && cfg.source.paths.some((p) => p.startsWith('s3://'));
        const llm = usesSimulator(cfg) ? 'the bundled simulator (synthetic outputs)' : `${cfg.llm.endpoints.length} endpoint(s)`;
        process.stdout.write(`${positionals[0]}: valid (source ${cfg.source.type}, steps ${steps}, llm on ${llm}, sink ${cfg.sink.dir})\n`);
        if (s3Inputs) process.stdout.write('note: s3:// input paths are not checked offline; the run lists them when it starts\n');
        return 0;
      }
      case 'schema': {
        const { configJsonSchema } = await import('./config/json-schema.js');
        process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
        return 0;
      }
      case 'stats': {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true });
        if (positionals.length !== 1) return usage(positionals.length === 0 ? 'stats needs an output directory' : `stats takes one output directory; unexpected ${positionals.slice(1).join(' ')}`);
        const dirStat = await stat(positionals[0]).catch(() => undefined);
        if (!dirStat?.isDirectory()) throw new GemflowError('output_missing', `${positionals[0]} is not a directory: stats reads a gemflow output directory (sink.dir)`);
        const { readOutputSummary, formatOutputSummary } = await import('./sinks/read-output.js');
        process.stdout.write(formatOutputSummary(await readOutputSummary(positionals[0])) + '\n');
        return 0;
      }
      case 'export': {
        const { runExportCli } = await import('./export/command.js');
        return await runExportCli(rest);
      }
      case 'produce': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            topic: { type: 'string' },
            brokers: { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' },
            partitions: { type: 'string' },
            'id-field': { type: 'string', default: 'id' },
          },
        });
        if (!positionals[0] || !values.topic) return usage('produce needs a file and --topic');
        const { runProduce } = await import('./kafka/produce-command.js');
        return await runProduce({
          file: positionals[0],
          topic: values.topic,
          brokers: values.brokers!.split(','),
          partitions: values.partitions ? Number(values.partitions) : undefined,
          idField: values['id-field']!,
        });
      }
      case 'relevance': {
        const { runRelevanceCli } = await import('./compose.js');
        return await runRelevanceCli(rest);
      }
      case 'simulate': {
        const { runSimulatorCli } = await import('./simulator/main.js');
        return await runSimulatorCli(rest);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return 0;
      default:
        return usage(`unknown command: ${cmd}`);
    }
  } catch (e) {
    if (e instanceof GemflowError) {
      process.stderr.write(`gemflow: ${e.message}\n`);
      return e.code === 'config_invalid' || e.code === 'config_unreadable' || e.code === 'usage' ? 1 : 2;
    }
    if (errorCode(e) === 'err_parse_args_unknown_option' || errorCode(e).startsWith('err_parse_args')) return usage(errorMessage(e));
    // Not a GemflowError: nothing classified it, so it is a bug or a library failure gemflow does not know yet.
    process.stderr.write(`gemflow: unexpected error (please report it with this trace): ${(e as Error)?.stack ?? errorMessage(e)}\n`);
    return 2;
  }
}

function usage(msg: string): number {
  process.stderr.write(`gemflow: ${msg}\n\n${HELP}`);
  return 1;
}
