import { describe, expect, it } from 'vitest';
import { MAX_CHARS_EXAMINED, extractFeatures, scoreText } from '../../../operators/relevance/score.js';
import { NON_PROCEDURAL, PROCEDURAL } from './fixtures.js';

describe('scoreText with the default weights', () => {
  it.each(Object.entries(PROCEDURAL))('scores procedural text "%s" above 0.5', (_name, text) => {
    expect(scoreText(text).score).toBeGreaterThan(0.5);
  });

  it.each(Object.entries(NON_PROCEDURAL))('scores non-procedural text "%s" below 0.35', (_name, text) => {
    expect(scoreText(text).score).toBeLessThan(0.35);
  });

  it('gives empty and tiny texts a low score', () => {
    expect(scoreText('').score).toBeLessThan(0.1);
    expect(scoreText('Click here.').score).toBeLessThan(0.35);
  });
});

describe('extractFeatures counts', () => {
  it('list items, lines and imperative sentence starts', () => {
    const f = extractFeatures('1. Open the app\n2) Click Save\n- Run it\n* Done\n  + nested item\nplain line');
    expect(f.lines).toBe(6);
    expect(f.listItems).toBe(5);
    expect(f.imperativeStarts).toBe(3);
    expect(f.sentences).toBe(6);
  });

  it('imperative verbs only at a sentence start, also after a leading sequencing word', () => {
    const f = extractFeatures('You should click here. Click there! Then run: run it; we run. Finally, open it');
    expect(f.imperativeStarts).toBe(4); // Click, Then run, run it, Finally open
    expect(f.sequenceWords).toBe(2);
    expect(f.sentences).toBe(6);
  });

  it('does not end a sentence inside numbers or URLs', () => {
    expect(extractFeatures('Version 3.5 open now').sentences).toBe(1);
  });

  it('step markers, sequencing words', () => {
    const f = extractFeatures('Step 1: do it. step 2 is next. Steps 3 and a step back. First, then, finally, once.');
    expect(f.stepMarkers).toBe(2);
    expect(f.sequenceWords).toBe(5);
  });

  it('HTTP calls, API words and URLs', () => {
    const f = extractFeatures('Call GET /v1/items, then get /x or POST items. The endpoint returns JSON. See https://a.example/x and http://b.example but not http alone.');
    expect(f.apiMentions).toBe(3); // GET /v1/items, endpoint, JSON
    expect(f.urls).toBe(2);
  });

  it('shell prompts, CLI names, inline code and code fences', () => {
    const f = extractFeatures('$ npm install foo\nuse `ls` and `cd`, or docker\n```\ncode\n```\n```\nunclosed');
    expect(f.commandMentions).toBe(3); // "$ " line, npm, docker
    expect(f.inlineCode).toBe(2);
    expect(f.codeBlocks).toBe(2);
  });

  it('UI, boilerplate, reporting and first-person words', () => {
    const f = extractFeatures('Press the Save button in the Settings menu. © Privacy and cookies. He said, officials told. I think my cat likes me; i');
    expect(f.uiMentions).toBe(3);
    expect(f.boilerplateWords).toBe(3);
    expect(f.reportingWords).toBe(3);
    expect(f.firstPerson).toBe(3); // a lone lower-case "i" is not counted
  });

  it('letter ratio and non-ASCII words', () => {
    expect(extractFeatures('abcd 12#4').letterRatio).toBe(0.5);
    const f = extractFeatures('Café résumé naïve');
    expect(f.words).toBe(3);
    expect(f.letterRatio).toBe(1);
  });
});

describe('bounded work on huge texts', () => {
  const paragraph = PROCEDURAL.cliInstall + '\n\n';
  const huge = paragraph.repeat(Math.ceil((20 * 1024 * 1024) / paragraph.length));

  it('examines at most MAX_CHARS_EXAMINED code units of a 20 MB text and still scores it', () => {
    const r = scoreText(huge);
    expect(r.features.chars).toBe(huge.length);
    expect(r.features.chars).toBeGreaterThan(20 * 1024 * 1024);
    expect(r.features.charsExamined).toBeLessThanOrEqual(MAX_CHARS_EXAMINED);
    // The sampled windows were scanned too, not just the head.
    expect(r.features.charsExamined).toBeGreaterThan(MAX_CHARS_EXAMINED - 4 * paragraph.length);
    // Too long for a real page, but the procedural signals still show.
    expect(r.score).toBeGreaterThan(0.3);
  });

  it('stays bounded on a 20 MB text without newlines or spaces', () => {
    expect(extractFeatures('a'.repeat(20 * 1024 * 1024)).charsExamined).toBeLessThanOrEqual(MAX_CHARS_EXAMINED);
    const noNewlines = 'Click the button then run it. '.repeat(700_000);
    const f = extractFeatures(noNewlines);
    expect(f.charsExamined).toBeLessThanOrEqual(MAX_CHARS_EXAMINED);
    expect(f.charsExamined).toBeGreaterThan(MAX_CHARS_EXAMINED - 4 * 40);
  });
});
