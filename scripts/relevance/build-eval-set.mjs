#!/usr/bin/env node
/**
 * Rebuilds the relevance evaluation set (data/relevance/eval-set.jsonl.gz) from Debian packages.
 *
 *   apt-get update
 *   node scripts/relevance/build-eval-set.mjs [--work /tmp/gemflow-relevance-debs] [--out data/relevance/eval-set.jsonl.gz]
 *
 * Every package is fetched with `apt-get download` (pinned versions in PACKAGES below: a different
 * version still builds, and the version used is written into every row) and unpacked with
 * `dpkg-deb -x`. Documents are sections of the packaged texts; the labelling rule, the sources and the
 * train / held-out split by source are described in data/relevance/README.md. Deterministic: the same
 * package versions give the same file, byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';

const { values } = parseArgs({
  options: {
    work: { type: 'string', default: '/tmp/gemflow-relevance-debs' },
    out: { type: 'string', default: 'data/relevance/eval-set.jsonl.gz' },
  },
});

/** The packages read, with the version this set was built from. */
const PACKAGES = {
  'git-doc': '1:2.39.5-0+deb12u3',
  git: '1:2.39.5-0+deb12u3',
  'python3.11-doc': '3.11.2-6+deb12u9',
  'debian-reference-en': '2.100',
  'debian-reference-de': '2.100',
  'debian-reference-zh-cn': '2.100',
  'debian-reference-fr': '2.100',
  'debian-reference-ja': '2.100',
  'debian-handbook': '11.20220922',
  'maint-guide': '1.2.53',
  'maint-guide-ja': '1.2.53',
  'installation-guide-amd64': '20230508+deb12u1',
  'apache2-doc': '2.4.71-1~deb12u1',
  'postgresql-doc-15': '15.20-0+deb12u1',
  fortunes: '1:1.99.1-7.3',
  'fortunes-bofh-excuses': '1.2-3',
  'fortunes-de': '0.35-1',
  'fortunes-es': '1.36',
  'fortunes-it': '1.99-4.1',
  'fortunes-ru': '1.52-3.1',
  'jargon-text': '4.4.7-4.1',
  'doc-debian': '11.3+nmu1',
  'base-files': '12.4+deb12u15',
  // Beyond computing manuals: desktop help, personal finance, scripture, essays, satire, history.
  'gnome-user-docs': '43.0-2',
  'gnucash-docs': '4.13-1',
  'bible-kjv': '4.38',
  'bible-kjv-text': '4.38',
  'fortune-anarchism': '1.8.0-1',
  'fortunes-zh': '2.98',
  'dict-devil': '1.0-13.1',
  'debian-history': '2.28',
};

/** npm packages read (`npm pack`), with the version this set was built from. */
const NPM_PACKAGES = {
  /** HowToCook (Chinese home-cooking recipes, one JSON record per recipe with its numbered steps). */
  'howtocook-mcp': '0.2.2',
};

const MIN_CHARS = 400;
const TARGET_CHARS = 900;
const MAX_CHARS = 6000;
/** Most documents taken from one source (chosen by hash, so deterministic). */
const PER_SOURCE = 70;

// ---------------------------------------------------------------------------------------------
// Fetch and unpack.

const work = values.work;
mkdirSync(work, { recursive: true });
const versions = {};
function unpack(pkg) {
  const dir = join(work, 'x', pkg);
  if (!existsSync(dir)) {
    const debs = () => readdirSync(work).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (debs().length === 0) execFileSync('apt-get', ['download', pkg], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
    const deb = debs().sort().at(-1);
    mkdirSync(dir, { recursive: true });
    execFileSync('dpkg-deb', ['-x', join(work, deb), dir]);
  }
  const deb = readdirSync(work).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')).sort().at(-1);
  versions[pkg] = decodeURIComponent(deb.split('_')[1]);
  return dir;
}

function unpackNpm(pkg) {
  const dir = join(work, 'npm', pkg);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    const tgz = execFileSync('npm', ['pack', `${pkg}@${NPM_PACKAGES[pkg]}`, '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').at(-1);
    execFileSync('tar', ['xzf', tgz], { cwd: dir });
  }
  versions[pkg] = JSON.parse(readFileSync(join(dir, 'package', 'package.json'), 'utf8')).version;
  return join(dir, 'package');
}

function read(path) {
  const b = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
}

function files(dir, re) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).filter((e) => !e.isDirectory() && re.test(e.name)).map((e) => join(dir, e.name)).sort();
}

// ---------------------------------------------------------------------------------------------
// Text extraction.

const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: ' ', mdash: '—', ndash: '–', hellip: '…', rsquo: '’', lsquo: '‘', rdquo: '”', ldquo: '“', copy: '©' };
function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

const MALLARD = { steps: 'ol', list: 'ul', item: 'li', screen: 'pre', title: 'h3', desc: 'p', note: 'div', terms: 'dl', figure: 'div' };

/** HTML to plain text as a text extractor would give it: blocks on their own lines, <pre> kept verbatim, list items marked. */
function htmlToText(html) {
  html = html.replace(/<(script|style|head|info)[\s\S]*?<\/\1>/gi, '').replace(/<!--[\s\S]*?-->/g, '');
  let out = '';
  let pre = 0;
  const lists = [];
  for (const m of html.matchAll(/<(\/?)([a-z0-9]+)[^>]*>|[^<]+|</gi)) {
    if (m[2] === undefined) {
      const t = decodeEntities(m[0]);
      out += pre > 0 ? t : t.replace(/\s+/g, ' ');
      continue;
    }
    const close = m[1] === '/';
    // Mallard (GNOME help) tags read as their HTML counterparts.
    const tag = MALLARD[m[2].toLowerCase()] ?? m[2].toLowerCase();
    if (tag === 'pre') {
      pre += close ? -1 : 1;
      out += '\n';
    } else if (tag === 'ol' || tag === 'ul') {
      if (close) lists.pop();
      else lists.push(tag === 'ol' ? 0 : -1);
      out += '\n';
    } else if (tag === 'li' && !close) {
      const top = lists.length - 1;
      if (top >= 0 && lists[top] >= 0) out += `\n${++lists[top]}. `;
      else out += '\n- ';
    } else if (tag === 'br' || /^(p|div|h[1-6]|tr|dt|dd|table|blockquote|li|dl|section)$/.test(tag)) {
      out += '\n';
    } else if (/^(td|th)$/.test(tag)) out += ' ';
  }
  return tidy(out);
}

function tidy(text) {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+$/, '').replace(/^ +(?=\S)/, (s) => (s.length >= 2 ? s : '')))
    .join('\n')
    .replace(/^(-|\d+\.)\n+(?=\S)/gm, '$1 ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Pieces of an HTML page cut before each h2/h3/h4 heading. */
function htmlSections(html) {
  const body = html.replace(/^[\s\S]*?<body[^>]*>/i, '');
  return body.split(/(?=<h[234][\s>])/i).map((h) => ({ html: h, text: htmlToText(h) }));
}

/** Joins consecutive small pieces until TARGET_CHARS; cuts what is longer than MAX_CHARS at a paragraph. */
function pack(pieces) {
  const docs = [];
  let cur = '';
  let ex = false;
  const flush = () => {
    if (cur.length >= MIN_CHARS) docs.push({ text: cut(cur), example: ex });
    cur = '';
    ex = false;
  };
  for (const p of pieces) {
    if (!p.text) continue;
    cur = cur ? `${cur}\n\n${p.text}` : p.text;
    ex ||= p.example;
    if (cur.length >= TARGET_CHARS) flush();
  }
  flush();
  return docs;
}

function cut(text) {
  if (text.length <= MAX_CHARS) return text;
  const at = text.lastIndexOf('\n\n', MAX_CHARS);
  return text.slice(0, at > MAX_CHARS / 2 ? at : MAX_CHARS).trim();
}

/** Fortune files: entries separated by a line holding only `%`, grouped 8 at a time. */
function fortuneDocs(path, group = 8) {
  // (fortunes-zh colours its titles with ANSI escapes: dropped.)
  const entries = read(path).replace(/\x1b\[[0-9;]*m/g, '').split(/\n%\n/).map((e) => e.trim()).filter(Boolean);
  const docs = [];
  for (let i = 0; i < entries.length; i += group) {
    const text = entries.slice(i, i + group).join('\n\n');
    if (text.length >= MIN_CHARS) docs.push({ text: cut(text), example: false });
  }
  return docs;
}

/** Plain text split at blank-line paragraphs, packed. */
function textDocs(text) {
  return pack(text.split(/\n\s*\n/).map((p) => ({ text: p.replace(/\s+$/, ''), example: false })));
}

/** rst / asciidoc sources split at their section underlines. */
function markupSections(text, exampleRe) {
  const lines = text.split('\n');
  const pieces = [];
  let cur = [];
  for (let i = 0; i < lines.length; i++) {
    const next = lines[i + 1] ?? '';
    if (cur.length > 0 && /^([=\-~^*]{3,})\s*$/.test(next) && lines[i].trim() !== '' && next.trim().length >= lines[i].trim().length - 2) {
      pieces.push(cur.join('\n'));
      cur = [];
    }
    cur.push(lines[i]);
  }
  pieces.push(cur.join('\n'));
  return pieces.map((p) => ({ text: tidy(p), example: exampleRe.test(p) || hasSteps(p) }));
}

const RST_EXAMPLE = /::\s*$|^\.\. code-block|^\s*>>> |^\s*\$ /m;
const ADOC_EXAMPLE = /^-{4,}\s*$|^\s*\$ |^\.{4,}\s*$/m;

/** An ordered list of at least three steps in extracted text: three lines numbered `1.` / `2)` ... */
function hasSteps(text) {
  return (text.match(/^\s*\d{1,2}[.)] +\S/gm) ?? []).length >= 3;
}

function htmlDocs(paths) {
  return pack(paths.flatMap((p) => htmlSections(read(p)).map((s) => ({ text: s.text, example: /<pre[\s>]/i.test(s.html) || hasSteps(s.text) }))));
}

/** Mallard pages (GNOME help): pieces cut before each <section>. */
function mallardDocs(paths) {
  return pack(paths.flatMap((p) => read(p).split(/(?=<section[\s>])/).map((h) => {
    const text = htmlToText(h);
    return { text, example: /<screen[\s>]/.test(h) || hasSteps(text) };
  })));
}

/** dictd dictionaries: the entries (cut by the index; offsets in dictd's base64), grouped `group` to a document. */
function dictdDocs(dictPath, indexPath, group) {
  const data = gunzipSync(readFileSync(dictPath));
  const b64 = (s) => [...s].reduce((n, c) => n * 64 + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.indexOf(c), 0);
  const entries = readFileSync(indexPath, 'utf8').split('\n').filter((l) => l && !l.startsWith('00-database')).map((l) => l.split('\t'))
    .map(([, off, len]) => data.subarray(b64(off), b64(off) + b64(len)).toString('utf8').trim());
  const docs = [];
  for (let i = 0; i < entries.length; i += group) {
    const text = tidy(entries.slice(i, i + group).join('\n\n'));
    if (text.length >= MIN_CHARS) docs.push({ text: cut(text), example: false });
  }
  return docs;
}

/** King James Bible chapters of narrative books (printed by the bible-kjv program), verse numbers dropped. */
function bibleDocs(books) {
  const bin = join(unpack('bible-kjv'), 'usr', 'bin', 'bible');
  const data = join(unpack('bible-kjv-text'), 'usr', 'lib');
  const out = execFileSync(bin, ['-p', data, '-f', ...books], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, COLUMNS: '100000' } });
  const chapters = new Map();
  for (const line of out.split('\n')) {
    const m = /^(\d?[A-Za-z]+\d+):\d+ (.*)$/.exec(line);
    if (!m) continue;
    chapters.set(m[1], `${chapters.get(m[1]) ?? ''}${m[2]} `);
  }
  return [...chapters.values()].map((t) => ({ text: cut(t.trim()), example: false })).filter((d) => d.text.length >= MIN_CHARS);
}

/** HowToCook recipes of one category as a cook reads them: title, introduction, ingredients, numbered steps, notes. */
function howToCookDocs(category) {
  const recipes = JSON.parse(readFileSync(join(unpackNpm('howtocook-mcp'), 'all_recipes.json'), 'utf8'));
  return recipes.filter((r) => r.category === category).map((r) => {
    const intro = String(r.description ?? '').replace(/^#.*\n+/, '').trim();
    const text = [
      `# ${r.name}`,
      intro,
      (r.ingredients ?? []).length ? `## 必备原料和工具\n\n${r.ingredients.map((i) => (String(i.text_quantity ?? '').startsWith('-') ? i.text_quantity : `- ${i.name}`)).join('\n')}` : '',
      (r.steps ?? []).length ? `## 操作\n\n${r.steps.map((st, k) => `${k + 1}. ${st.description}`).join('\n')}` : '',
      (r.additional_notes ?? []).length ? `## 附加内容\n\n${r.additional_notes.join('\n')}` : '',
    ].filter(Boolean).join('\n\n');
    return { text: cut(text), example: hasSteps(text) };
  }).filter((d) => d.text.length >= MIN_CHARS);
}

// ---------------------------------------------------------------------------------------------
// Sources: label 1 = procedural (sections of how-to / tutorial / installation text that show a
// command, code or configuration example), 0 = non-procedural. `split` is by source.

/** Packages whose changelog and copyright files go to the train split. */
const TRAIN_SIDE = ['git-doc', 'git', 'python3.11-doc', 'debian-reference-en', 'debian-reference-de', 'debian-reference-zh-cn', 'debian-handbook', 'maint-guide', 'fortunes', 'fortunes-es', 'fortunes-ru', 'jargon-text', 'base-files', 'gnome-user-docs', 'fortune-anarchism', 'fortunes-zh', 'debian-history'];

function changelogSources(split, pkgs) {
  return pkgs.flatMap((p) => [
    { id: `changelog-${p}`, pkg: p, label: 0, split, perSource: 20, docs: () => files(usr(p, 'doc', p), /^changelog(\.Debian)?\.gz$/).flatMap((f) => textDocs(read(f))) },
    { id: `copyright-${p}`, pkg: p, label: 0, split, perSource: 8, docs: () => files(usr(p, 'doc', p), /^copyright$/).flatMap((f) => textDocs(read(f))) },
  ]);
}

/** HowToCook recipe categories (npm howtocook-mcp): each category is a source of its own. */
const HOWTOCOOK = { 荤菜: 'meat', 主食: 'staple', 早餐: 'breakfast', 饮品: 'drink', 调料: 'seasoning', 半成品加工: 'semi-prepared', 素菜: 'vegetable', 水产: 'aquatic', 汤: 'soup', 甜品: 'dessert' };
const HOWTOCOOK_TRAIN = ['荤菜', '主食', '早餐', '饮品', '调料', '半成品加工'];

const usr = (pkg, ...p) => join(unpack(pkg), 'usr', 'share', ...p);
const SOURCES = [
  // procedural, train
  { id: 'git-howto', pkg: 'git-doc', label: 1, split: 'train', docs: () => [...files(usr('git-doc', 'doc', 'git-doc', 'howto'), /\.txt$/), ...['user-manual.txt', 'gittutorial.txt', 'gittutorial-2.txt', 'giteveryday.txt', 'gitcore-tutorial.txt', 'gitworkflows.txt'].map((f) => join(usr('git-doc', 'doc', 'git-doc'), f))].filter(existsSync).flatMap((f) => pack(markupSections(read(f), ADOC_EXAMPLE))) },
  { id: 'python-howto', pkg: 'python3.11-doc', label: 1, split: 'train', docs: () => ['howto', 'tutorial', 'installing', 'using', 'distributing'].flatMap((d) => files(usr('python3.11-doc', 'doc', 'python3.11', 'html', '_sources', d), /\.rst\.txt$/)).flatMap((f) => pack(markupSections(read(f), RST_EXAMPLE))) },
  { id: 'debian-reference-en', pkg: 'debian-reference-en', label: 1, split: 'train', docs: () => htmlDocs(files(usr('debian-reference-en', 'debian-reference'), /^ch.*\.en\.html$/)) },
  { id: 'debian-reference-de', pkg: 'debian-reference-de', label: 1, split: 'train', docs: () => htmlDocs(files(usr('debian-reference-de', 'debian-reference'), /^ch.*\.de\.html$/)) },
  { id: 'debian-reference-zh-cn', pkg: 'debian-reference-zh-cn', label: 1, split: 'train', docs: () => htmlDocs(files(usr('debian-reference-zh-cn', 'debian-reference'), /^ch.*\.zh-cn\.html$/)) },
  { id: 'debian-handbook', pkg: 'debian-handbook', label: 1, split: 'train', docs: () => htmlDocs(files(usr('debian-handbook', 'doc', 'debian-handbook', 'html', 'en-US'), /^sect\..*\.html$/)) },
  { id: 'maint-guide', pkg: 'maint-guide', label: 1, split: 'train', docs: () => htmlDocs(files(usr('maint-guide', 'doc', 'maint-guide', 'html'), /\.en\.html$/)) },
  { id: 'gnome-help', pkg: 'gnome-user-docs', label: 1, split: 'train', docs: () => mallardDocs(files(usr('gnome-user-docs', 'help', 'C', 'gnome-help'), /\.page$/)) },
  { id: 'gnome-help-es', pkg: 'gnome-user-docs', label: 1, split: 'train', docs: () => mallardDocs(files(usr('gnome-user-docs', 'help', 'es', 'gnome-help'), /\.page$/)) },
  ...HOWTOCOOK_TRAIN.map((c) => ({ id: `howtocook-${HOWTOCOOK[c]}`, npm: 'howtocook-mcp', label: 1, split: 'train', docs: () => howToCookDocs(c) })),
  // procedural, held out
  { id: 'installation-guide', pkg: 'installation-guide-amd64', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('installation-guide-amd64', 'doc', 'installation-guide-amd64', 'en'), /\.html$/)) },
  { id: 'apache-howto', pkg: 'apache2-doc', label: 1, split: 'heldout', docs: () => htmlDocs([...files(usr('apache2-doc', 'doc', 'apache2-doc', 'manual', 'en', 'howto'), /\.html$/), ...files(usr('apache2-doc', 'doc', 'apache2-doc', 'manual', 'en', 'ssl'), /\.html$/), ...files(usr('apache2-doc', 'doc', 'apache2-doc', 'manual', 'en', 'rewrite'), /\.html$/)]) },
  { id: 'postgresql-tutorial', pkg: 'postgresql-doc-15', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('postgresql-doc-15', 'doc', 'postgresql-doc-15', 'html'), /^(tutorial-|install-|backup-|app-pg)/)) },
  { id: 'debian-reference-fr', pkg: 'debian-reference-fr', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('debian-reference-fr', 'debian-reference'), /^ch.*\.fr\.html$/)) },
  { id: 'debian-reference-ja', pkg: 'debian-reference-ja', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('debian-reference-ja', 'debian-reference'), /^ch.*\.ja\.html$/)) },
  { id: 'gnucash-guide', pkg: 'gnucash-docs', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('gnucash-docs', 'doc', 'gnucash-docs', 'gnucash-guide-en'), /\.html$/)) },
  { id: 'gnucash-help', pkg: 'gnucash-docs', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('gnucash-docs', 'doc', 'gnucash-docs', 'gnucash-help-en'), /\.html$/)) },
  ...Object.keys(HOWTOCOOK).filter((c) => !HOWTOCOOK_TRAIN.includes(c)).map((c) => ({ id: `howtocook-${HOWTOCOOK[c]}`, npm: 'howtocook-mcp', label: 1, split: 'heldout', docs: () => howToCookDocs(c) })),
  { id: 'maint-guide-ja', pkg: 'maint-guide-ja', label: 1, split: 'heldout', docs: () => htmlDocs(files(usr('maint-guide-ja', 'doc', 'maint-guide-ja', 'html'), /\.ja\.html$/)) },
  // non-procedural, train
  { id: 'fortunes-en', pkg: 'fortunes', label: 0, split: 'train', docs: () => files(usr('fortunes', 'games', 'fortunes'), /^[a-z-]+$/).flatMap((f) => fortuneDocs(f)) },
  { id: 'fortunes-es', pkg: 'fortunes-es', label: 0, split: 'train', docs: () => files(usr('fortunes-es', 'games', 'fortunes', 'es'), /^[a-z-]+(\.fortunes)?$/).flatMap((f) => fortuneDocs(f)) },
  { id: 'fortunes-ru', pkg: 'fortunes-ru', label: 0, split: 'train', docs: () => files(usr('fortunes-ru', 'games', 'fortunes', 'ru'), /^[0-9.]+$/).flatMap((f) => fortuneDocs(f)) },
  { id: 'jargon', pkg: 'jargon-text', label: 0, split: 'train', docs: () => {
    const t = read(usr('jargon-text', 'doc', 'jargon-text', 'jargon.txt.gz'));
    // The glossary proper: from its first entry (":term: ..."), un-indented.
    return textDocs(t.slice(t.search(/^ {3}:[^:\n]+:/m)).replace(/^ {3}/gm, ''));
  } },
  { id: 'git-release-notes', pkg: 'git', label: 0, split: 'train', docs: () => files(usr('git', 'doc', 'git', 'RelNotes'), /\.txt$/).flatMap((f) => textDocs(read(f))) },
  { id: 'fortunes-zh', pkg: 'fortunes-zh', label: 0, split: 'train', docs: () => files(usr('fortunes-zh', 'games', 'fortunes'), /^(tang300|song100|chinese)$/).flatMap((f) => fortuneDocs(f)) },
  ...['en', 'de', 'es', 'ru'].map((l) => ({ id: `debian-history-${l}`, pkg: 'debian-history', label: 0, split: 'train', docs: () => htmlDocs(files(usr('debian-history', 'doc', 'debian-history', 'docs'), new RegExp(`^(detailed|intro|leaders|releases)\\.${l}\\.html$`))) })),
  { id: 'anarchism-faq', pkg: 'fortune-anarchism', label: 0, split: 'train', docs: () => fortuneDocs(usr('fortune-anarchism', 'games', 'fortunes', 'anarchism'), 2) },
  { id: 'licences', pkg: 'base-files', label: 0, split: 'train', docs: () => files(usr('base-files', 'common-licenses'), /^[A-Za-z0-9.-]+$/).flatMap((f) => textDocs(read(f))) },
  // non-procedural, held out
  { id: 'fortunes-de', pkg: 'fortunes-de', label: 0, split: 'heldout', docs: () => files(usr('fortunes-de', 'games', 'fortunes', 'de'), /^[a-z-]+$/).flatMap((f) => fortuneDocs(f)) },
  { id: 'fortunes-it', pkg: 'fortunes-it', label: 0, split: 'heldout', docs: () => files(usr('fortunes-it', 'games', 'fortunes', 'it'), /^[a-z-]+$/).flatMap((f) => fortuneDocs(f)) },
  { id: 'bofh-excuses', pkg: 'fortunes-bofh-excuses', label: 0, split: 'heldout', docs: () => files(usr('fortunes-bofh-excuses', 'games', 'fortunes'), /^bofh-excuses$/).flatMap((f) => fortuneDocs(f, 30)) },
  { id: 'devils-dictionary', pkg: 'dict-devil', label: 0, split: 'heldout', docs: () => dictdDocs(usr('dict-devil', 'dictd', 'devil.dict.dz'), usr('dict-devil', 'dictd', 'devil.index'), 6) },
  { id: 'bible-kjv', pkg: 'bible-kjv-text', label: 0, split: 'heldout', docs: () => bibleDocs(['Gen1:1-Gen50:26', 'Ruth1:1-Ruth4:22', '1Sam1:1-1Sam31:13', 'Luke1:1-Luke24:53', 'Acts1:1-Acts28:31']) },
  ...['fr', 'ja', 'it'].map((l) => ({ id: `debian-history-${l}`, pkg: 'debian-history', label: 0, split: 'heldout', docs: () => htmlDocs(files(usr('debian-history', 'doc', 'debian-history', 'docs'), new RegExp(`^(detailed|intro|leaders|releases)\\.${l}\\.html$`))) })),
  { id: 'debian-governance', pkg: 'doc-debian', label: 0, split: 'heldout', docs: () => files(usr('doc-debian', 'doc', 'debian'), /^(constitution\.txt|social-contract\.txt|debian-manifesto)/).flatMap((f) => textDocs(read(f))) },
  // Debian changelogs and copyright files: one source per package; packages of the train sources above
  // are train, the others held out.
  ...changelogSources('train', TRAIN_SIDE),
  ...changelogSources('heldout', Object.keys(PACKAGES).filter((p) => !TRAIN_SIDE.includes(p))),
];

function hashHex(s) {
  return createHash('sha256').update(s).digest('hex');
}

const rows = [];
const seenText = new Set();
for (const src of SOURCES) {
  let docs = src.docs();
  // The documented rule: a procedural source's section counts only when it shows an example.
  if (src.label === 1) docs = docs.filter((d) => d.example);
  docs = docs.filter((d) => {
    const h = hashHex(d.text);
    if (seenText.has(h)) return false;
    seenText.add(h);
    return true;
  });
  const chosen = docs
    .map((d) => ({ d, k: hashHex(`${src.id}\n${d.text}`) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .slice(0, src.perSource ?? PER_SOURCE)
    .map((x) => x.d);
  const version = src.npm ? `npm:${src.npm}=${versions[src.npm] ?? NPM_PACKAGES[src.npm]}` : `${src.pkg}=${versions[src.pkg] ?? PACKAGES[src.pkg]}`;
  for (const d of chosen) {
    rows.push({ id: `${src.id}-${hashHex(d.text).slice(0, 12)}`, label: src.label, split: src.split, source: src.id, package: version, text: d.text });
  }
  if (docs.length > 0) process.stderr.write(`${src.id}: ${docs.length} candidate sections, ${chosen.length} taken (label ${src.label}, ${src.split})\n`);
}
rows.sort((a, b) => (a.id < b.id ? -1 : 1));
const body = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
writeFileSync(values.out, values.out.endsWith('.gz') ? gzipSync(Buffer.from(body), { level: 9 }) : body);
const count = (f) => rows.filter(f).length;
process.stderr.write(
  `${basename(values.out)}: ${rows.length} documents; train ${count((r) => r.split === 'train')} (${count((r) => r.split === 'train' && r.label === 1)} procedural), held out ${count((r) => r.split === 'heldout')} (${count((r) => r.split === 'heldout' && r.label === 1)} procedural)\n` +
    `versions: ${JSON.stringify(versions)}\n`,
);
