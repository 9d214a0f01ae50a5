// A worked example of a custom step: a language filter, added to a pipeline by config alone.
//
//   steps:
//     - { id: language, type: language-filter, module: ./steps/language-filter.mjs, languages: [en] }
//     - { id: relevance, type: relevance }
//     - ...
//
// A step module exports a step type as default: its name, what it takes and makes (document,
// trajectory or row items), its config schema (zod; the keys beside id/type/module in the YAML,
// checked when the pipeline is loaded, unknown keys refused) and a factory. The runtime counts the
// step's books (received / sent / dropped / rejected / errors / time) under its id; the step only
// says what becomes of each item. Plain JavaScript here so that it runs without a build; a step in
// operators/ is the same in TypeScript (see operators/validate/step.ts).
import { z } from 'zod';

/** Very common words of a few languages written in Latin script. */
const STOPWORDS = {
  en: ['the', 'and', 'to', 'of', 'you', 'is', 'in', 'your', 'for', 'that', 'it', 'with', 'on', 'click', 'select'],
  de: ['der', 'die', 'und', 'das', 'sie', 'ist', 'nicht', 'mit', 'den', 'ein', 'zu', 'auf', 'für', 'wählen', 'klicken'],
  fr: ['le', 'la', 'les', 'et', 'de', 'des', 'vous', 'est', 'pour', 'une', 'dans', 'sur', 'pas', 'cliquez', 'votre'],
  es: ['el', 'la', 'los', 'y', 'de', 'que', 'en', 'para', 'una', 'por', 'con', 'su', 'haga', 'seleccione', 'del'],
};
/** Scripts other than Latin: the language follows from the script. */
const SCRIPTS = [
  ['zh', /[\u4e00-\u9fff]/gu],
  ['ja', /[\u3040-\u30ff]/gu],
  ['ko', /[\uac00-\ud7af]/gu],
  ['ru', /[\u0400-\u04ff]/gu],
  ['ar', /[\u0600-\u06ff]/gu],
  ['hi', /[\u0900-\u097f]/gu],
];

/** The most likely language of a text ("und" when nothing is recognised). */
export function detectLanguage(text) {
  const sample = text.slice(0, 4000);
  let best = ['und', 0];
  for (const [lang, re] of SCRIPTS) {
    const n = (sample.match(re) ?? []).length;
    if (n > best[1]) best = [lang, n];
  }
  if (best[1] > sample.length * 0.1) return best[0];
  const words = sample.toLowerCase().match(/\p{L}+/gu) ?? [];
  const counts = Object.fromEntries(Object.keys(STOPWORDS).map((l) => [l, 0]));
  const lookup = new Map();
  for (const [lang, list] of Object.entries(STOPWORDS)) for (const w of list) lookup.set(w, [...(lookup.get(w) ?? []), lang]);
  for (const w of words) for (const lang of lookup.get(w) ?? []) counts[lang]++;
  best = ['und', 0];
  for (const [lang, n] of Object.entries(counts)) if (n > best[1]) best = [lang, n];
  return best[1] >= 3 ? best[0] : 'und';
}

export const LanguageFilterConfig = z.strictObject({
  /** Languages to keep (ISO 639-1); documents in others are dropped as `language`. */
  languages: z.array(z.string().min(2)).min(1).default(['en']),
  /** Keep documents whose language is not recognised. */
  keepUnknown: z.boolean().default(false),
});

export default {
  type: 'language-filter',
  description: 'keeps documents in the given languages, drops the rest as `language`; notes the language',
  input: 'document',
  output: 'document',
  config: LanguageFilterConfig,
  create(config, env) {
    const keep = new Set(config.languages);
    return {
      process(item) {
        const language = detectLanguage(item.doc.text);
        if (!keep.has(language) && !(language === 'und' && config.keepUnknown)) return { outcome: 'dropped', reason: 'language' };
        return [{ ...item, notes: { ...item.notes, language } }];
      },
    };
  },
};
