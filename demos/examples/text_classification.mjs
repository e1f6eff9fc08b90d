#!/usr/bin/env node
// Text classification with a BERT-style encoder (2 layers, hidden 192) and a 2-class head: the
// WordPiece tokenizer of the web demo, one batch of sentences (padded, with an attention mask).
//
//   node demos/examples/text_classification.mjs ["a sentence" ...] [--placement ...]
import { tokenize } from '../web/tokenizer.mjs';
import { runExample } from './common.mjs';

const USAGE = 'usage: node demos/examples/text_classification.mjs ["sentence" ...]';
const LABELS = ['negative', 'positive'];
const LENGTH = 32;

runExample(USAGE, {}, async ({ options, open, Tensor }) => {
  const sentences = options.positionals.length ? options.positionals
    : ['the food was good and the room was warm', 'i think the old car will never start again', 'what a great day'];
  const ids = new BigInt64Array(sentences.length * LENGTH), mask = new BigInt64Array(sentences.length * LENGTH);
  sentences.forEach((s, i) => {
    const t = tokenize(s, LENGTH);
    t.ids.forEach((v, j) => { ids[i * LENGTH + j] = BigInt(v); });
    t.mask.forEach((v, j) => { mask[i * LENGTH + j] = BigInt(v); });
  });
  const dims = [sentences.length, LENGTH];
  const model = await open('text_classifier');
  const { probabilities } = await model.run({ input_ids: new Tensor('int64', ids, dims), attention_mask: new Tensor('int64', mask, dims) });
  return sentences.map((s, i) => {
    const p = probabilities.data.subarray(i * 2, i * 2 + 2);
    const label = LABELS[p[1] > p[0] ? 1 : 0];
    console.log(`"${s}": ${label} (${LABELS.map((l, k) => `${l} ${p[k].toFixed(3)}`).join(', ')})`);
    return { sentence: s, label };
  });
});
