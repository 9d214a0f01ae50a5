import { parseArgs } from 'node:util';
import { GemflowError } from '../errors.js';
import { EXPORT_FORMATS, formatExportResult, runExport, type ExportFormat } from './export.js';

/** `gemflow export <output> --format F --out DIR ...`: parses the flags, runs the export, prints its books. */
export async function runExportCli(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      out: { type: 'string' },
      template: { type: 'string' },
      'template-name': { type: 'string' },
      'template-engine': { type: 'string', default: 'auto' },
      'tool-call-ids': { type: 'string', default: 'keep' },
      'min-complexity': { type: 'string' },
      'max-complexity': { type: 'string' },
      judge: { type: 'string', default: 'any' },
      validation: { type: 'string', default: '0' },
      seed: { type: 'string', default: '' },
      name: { type: 'string' },
      'max-workflows': { type: 'string' },
      sources: { type: 'string' },
      parquet: { type: 'boolean', default: false },
    },
  });
  const output = positionals[0];
  if (!output || !values.format || !values.out) throw new GemflowError('usage', 'export needs an output directory, --format and --out');
  if (!(EXPORT_FORMATS as readonly string[]).includes(values.format)) throw new GemflowError('usage', `--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${values.format}`);
  if (values['template-engine'] !== 'auto' && values['template-engine'] !== 'interpreter') throw new GemflowError('usage', `--template-engine must be auto or interpreter, got ${values['template-engine']}`);
  if (values['tool-call-ids'] !== 'keep' && values['tool-call-ids'] !== 'alnum9') throw new GemflowError('usage', `--tool-call-ids must be keep or alnum9, got ${values['tool-call-ids']}`);
  if (values.judge !== 'any' && values.judge !== 'pass') throw new GemflowError('usage', `--judge must be any or pass, got ${values.judge}`);
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new GemflowError('usage', `--${flag} must be a number, got ${v}`);
    return n;
  };
  const opts = {
    output,
    format: values.format as ExportFormat,
    outDir: values.out,
    template: values.template,
    templateName: values['template-name'],
    templateEngine: values['template-engine'] as 'auto' | 'interpreter',
    toolCallIds: values['tool-call-ids'] as 'keep' | 'alnum9',
    minComplexity: num('min-complexity', values['min-complexity']),
    maxComplexity: num('max-complexity', values['max-complexity']),
    judge: values.judge as 'any' | 'pass',
    validation: num('validation', values.validation),
    seed: values.seed,
    name: values.name,
    maxWorkflows: num('max-workflows', values['max-workflows']),
    sources: values.sources,
    parquet: values.parquet,
  };
  const result = await runExport(opts);
  process.stdout.write(formatExportResult(opts, result) + '\n');
  // Rows read, none written, and some skipped for failing (not filtered by the user's choice): the export did not work.
  const written = result.written.train + result.written.validation;
  const skipped = Object.values(result.skipped).reduce((a, b) => a + b, 0);
  if (result.read > 0 && written === 0 && skipped > 0) {
    process.stderr.write(`gemflow: export wrote no rows: every row that passed the filters was skipped (${Object.entries(result.skipped).map(([k, v]) => `${k}: ${v}`).join(', ')}); see the messages above\n`);
    return 2;
  }
  return 0;
}
