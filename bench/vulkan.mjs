#!/usr/bin/env node
// The Vulkan backend against XNNPACK on the same machine: ResNet-18, MobileNetV2, the BERT-style
// encoder and fp32 GEMMs, through `tandem bench --backend vulkan|vulkan-fp16|xnnpack --json`
// (rounds alternate them so noise hits all; vulkan-fp16 where the device has fp16 storage), plus
// the Vulkan per-op profile of one run (TANDEM_VULKAN_PROFILE=1: GPU timestamps around every
// dispatch).
//
//   node bench/vulkan.mjs [--models a,b] [--runs N] [--rounds K] [--threads T] [--md FILE]
//                         [--peak-tflops X]    (the GPU's fp32 peak, for GEMM as a share of it)
//
// Writes the "## Vulkan" section of BENCHMARKS.md (or --md FILE). The device is whatever
// `tandem devices` shows for vulkan (TANDEM_VULKAN_DEVICE, VK_DRIVER_FILES choose). On lavapipe
// (Mesa's CPU driver) the numbers say only that the path works: it is far slower than XNNPACK on
// the same cores.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { die, log, median, MODELS, REPO, tandemRound } from './models.mjs';
import { printHeaderComment, writeSection } from './sections.mjs';

const TANDEM = path.join(REPO, 'build', 'native', 'tandem');

function parse(argv) {
  const o = { models: ['gemm1024', 'resnet18', 'mobilenetv2', 'bert_encoder'], runs: 5, rounds: 3, threads: 2, md: path.join(REPO, 'BENCHMARKS.md'), peak: 0 };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--models') o.models = v().split(',').filter(Boolean);
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--threads') o.threads = Number(v());
    else if (a === '--md') o.md = path.resolve(v());
    else if (a === '--peak-tflops') o.peak = Number(v());
    else if (a === '-h' || a === '--help') printHeaderComment(import.meta.url);
    else die(`unknown option '${a}' (see --help)`);
  }
  for (const m of o.models) if (!MODELS[m]) die(`unknown model '${m}' (one of ${Object.keys(MODELS).join(', ')})`);
  return o;
}

// The device (`tandem devices`' vulkan line) and whether vulkan-fp16 is usable on it.
function device() {
  const r = spawnSync(TANDEM, ['devices'], { encoding: 'utf8' });
  if (r.status !== 0) die(`tandem devices failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const line = lines.find((l) => l.startsWith('vulkan '));
  if (!line || line.includes('unavailable')) die(`no usable Vulkan device: ${line ?? 'this build has no Vulkan backend'}`);
  const fp16 = lines.find((l) => l.startsWith('vulkan-fp16 '));
  return { name: line.replace(/^vulkan\s+/, '').replace(/^Vulkan, fp32: /, ''), fp16: !!fp16 && !fp16.includes('unavailable') };
}

// The slowest dispatches of one profiled run: [label, ms], summed by operator type.
function profile(c, threads) {
  const args = ['bench', c.model, '--backend', 'vulkan', '--threads', String(threads), '--runs', '1', '--warmup', '0'];
  for (const [k, f] of Object.entries(c.inputs)) args.push('--input', `${k}=${f}`);
  const r = spawnSync(TANDEM, args, { encoding: 'utf8', env: { ...process.env, TANDEM_VULKAN_PROFILE: '1' }, maxBuffer: 64 << 20 });
  // Every run prints its dispatches (first run, then the timed one): keep the last run's.
  const lines = r.stderr.split('\n').map((l) => l.match(/^vulkan (.*\((\S+)\))\s+([\d.]+) ms$/)).filter(Boolean);
  const starts = lines.map((m, i) => (m[1] === lines[0][1] ? i : -1)).filter((i) => i >= 0);
  const byOp = new Map();
  for (const m of lines.slice(starts.at(-1) ?? 0)) byOp.set(m[2], (byOp.get(m[2]) ?? 0) + Number(m[3]));
  return [...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
}

function main() {
  const o = parse(process.argv.slice(2));
  const { name: dev, fp16 } = device();
  log(`bench: Vulkan device ${dev}${fp16 ? '' : ' (no fp16 storage: vulkan-fp16 is skipped)'}`);
  const rows = [];
  for (const name of o.models) {
    const spec = MODELS[name];
    const c = spec.make();
    const vk = [], half = [], xnn = [];
    let placement = '';
    for (let k = 0; k < o.rounds; ++k) {
      const v = tandemRound({ tandem: TANDEM, backend: 'vulkan' }, c, o.threads, o.runs, 1);
      const h = fp16 ? tandemRound({ tandem: TANDEM, backend: 'vulkan-fp16' }, c, o.threads, o.runs, 1) : null;
      const x = tandemRound({ tandem: TANDEM, backend: 'xnnpack' }, c, o.threads, o.runs, 1);
      vk.push(v.median);
      if (h) half.push(h.median);
      xnn.push(x.median);
      placement = v.placement.join(' + ');
      log(`[${name}] round ${k + 1}/${o.rounds}: vulkan ${v.median.toFixed(2)} ms` +
        `${h ? `, vulkan-fp16 ${h.median.toFixed(2)} ms` : ''}, xnnpack ${x.median.toFixed(2)} ms`);
    }
    const v = median(vk), x = median(xnn), h = half.length ? median(half) : null;
    const gflops = c.flops ? c.flops / (v * 1e6) : null;
    rows.push({ name, what: spec.what, v, h, x, placement, gflops, ops: profile(c, o.threads) });
  }
  const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2));
  const L = ['## Vulkan', '',
    `Device: ${dev}. \`node bench/vulkan.mjs\` (${o.rounds} rounds x ${o.runs} runs, medians; XNNPACK with ${o.threads} threads on this machine's CPU).`,
    /llvmpipe|lavapipe/.test(dev)
      ? 'This device is lavapipe, Mesa\'s Vulkan driver on the CPU: the numbers show that the path runs, not what a GPU does. No GPU machine was lent to the session that wrote them.'
      : 'A real GPU.', '',
    '| model | Vulkan median | Vulkan fp16-storage median | XNNPACK median | Vulkan / XNNPACK | fp16 / fp32 Vulkan | GEMM GFLOP/s (fp32) | Vulkan placement | slowest ops (one profiled run, fp32) |',
    '|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const g = r.gflops ? `${r.gflops.toFixed(1)}${o.peak ? ` (${(100 * r.gflops / (o.peak * 1e3)).toFixed(0)}% of ${o.peak} TFLOP/s)` : ''}` : '';
    const ops = r.ops.map(([op, ms]) => `${op} ${fmt(ms)} ms`).join(', ');
    const h = r.h === null ? ['n/a', 'n/a'] : [`${fmt(r.h)} ms`, (r.h / r.v).toFixed(2)];
    L.push(`| ${r.what} | ${fmt(r.v)} ms | ${h[0]} | ${fmt(r.x)} ms | ${(r.v / r.x).toFixed(2)} | ${h[1]} | ${g} | ${r.placement} | ${ops} |`);
  }
  writeSection(o.md, '## Vulkan', `${L.join('\n')}\n`);
  log(`bench: wrote the Vulkan section of ${path.relative(process.cwd(), o.md)}`);
}

main();
