#!/usr/bin/env node
// A small recommender: user and item embeddings (Gather) and an MLP that scores (user, item)
// pairs. One call scores every candidate item for a user; the top K are the recommendations.
//
//   node demos/examples/recommender.mjs [--user 42] [--top 10] [--candidates 5000] [--placement ...]
import { intOption, runExample } from './common.mjs';

const USAGE = 'usage: node demos/examples/recommender.mjs [--user ID] [--top K] [--candidates N]\n' +
  '  (1000 users, 5000 items; item ids 0..N-1 are the candidates)';
const USERS = 1000, ITEMS = 5000;

runExample(USAGE, { user: { type: 'string', default: '42' }, top: { type: 'string', default: '10' },
  candidates: { type: 'string', default: String(ITEMS) } }, async ({ options, open, Tensor }) => {
  const user = intOption(options, 'user', 0, USERS - 1);
  const n = intOption(options, 'candidates', 1, ITEMS);
  const top = Math.min(n, intOption(options, 'top', 1, ITEMS));
  const users = new BigInt64Array(n).fill(BigInt(user));
  const items = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const model = await open('recommender');
  const { scores } = await model.run({ user_ids: new Tensor('int64', users, [n]), item_ids: new Tensor('int64', items, [n]) });
  const best = Array.from(scores.data.keys()).sort((a, b) => scores.data[b] - scores.data[a]).slice(0, top);
  console.log(`user ${user}: top ${top} of ${n} items: ${best.map((i) => `${i} (${scores.data[i].toFixed(3)})`).join(', ')}`);
  return { user, top: best };
});
