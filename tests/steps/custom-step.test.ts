import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import languageFilter, { detectLanguage } from '../../examples/steps/language-filter.mjs';
import { CORPUS, ROOT, readManifest, readRows, runCli, tempDir } from '../e2e/harness.js';

const GERMAN = `Neues Benutzerkonto anlegen

Nur Administratoren können neue Benutzer hinzufügen. Wählen Sie im Menü den Eintrag Benutzer und klicken Sie auf Hinzufügen.
1. Öffnen Sie die Verwaltung und wählen Sie Benutzer.
2. Klicken Sie auf Hinzufügen und geben Sie den Namen und die E-Mail-Adresse ein.
3. Wählen Sie die Rolle aus und bestätigen Sie mit Speichern. Die Person erhält eine Einladung per E-Mail, die sieben Tage gültig ist.
4. Prüfen Sie in der Liste, ob der Status auf Eingeladen steht, und senden Sie die Einladung bei Bedarf erneut.`;

describe('a custom step added by config (examples/steps/language-filter.mjs)', () => {
  it('detects languages', () => {
    expect(detectLanguage('Click the button and select your account, then open the settings for the project.')).toBe('en');
    expect(detectLanguage(GERMAN)).toBe('de');
    expect(detectLanguage('打开设置页面，然后选择账户并点击保存按钮。')).toBe('zh');
  });

  it('runs in a pipeline with no change to src/: its drops are counted under its id and the books balance', async () => {
    const dir = await tempDir('custom-step');
    const input = join(dir, 'corpus.jsonl');
    await writeFile(input, (await readFile(CORPUS, 'utf8')) + JSON.stringify({ id: 'de-users', text: GERMAN }) + '\n');
    const example = (await readFile(join(ROOT, 'examples/custom-step.yaml'), 'utf8')).replace('../out/custom-step', 'out').replace('threshold: 0.35 }', 'threshold: 0.35, threads: 0 }')
      // The step module as it is in the project (its import of zod resolves through the project's node_modules).
      .replace('module: steps/language-filter.mjs', `module: ${join(ROOT, 'examples/steps/language-filter.mjs')}`);
    await writeFile(join(dir, 'pipeline.yaml'), example);
    const run = await runCli(['run', join(dir, 'pipeline.yaml'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const m = (await readManifest(join(dir, 'out'))) as unknown as { funnel: { balanced: boolean; documents: { dropped: Record<string, number> } }; stages: Record<string, { received: number; dropped: Record<string, number>; balanced: boolean }> };
    expect(m.funnel.balanced).toBe(true);
    expect(m.funnel.documents.dropped.language).toBe(1);
    expect(m.stages.language!.dropped).toEqual({ language: 1 });
    for (const [id, s] of Object.entries(m.stages)) expect(s.balanced, id).toBe(true);
    const { rows } = await readRows(join(dir, 'out'));
    expect(rows.some((r) => r.document_id === 'de-users')).toBe(false);
    expect(rows.length).toBeGreaterThan(10);
    expect(languageFilter.type).toBe('language-filter');
  });
});
