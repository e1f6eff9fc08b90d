#!/usr/bin/env node
// Benchmarks Tandem against onnxruntime-node on the same models, inputs and thread counts.
//
//   node bench/run.mjs [--quick] [--models a,b] [--threads 1,2] [--runs N] [--rounds K]
//                      [--warmup W] [--tandem PATH] [--backend NAME] [--md FILE]
//
// For every model and thread count, K rounds alternate the two sides (Tandem, then ORT, then
// Tandem ...) so that machine noise hits both. Each round is a fresh load: `tandem bench --json`
// in a child process (load, first run, W warmups, N timed runs of Session::run) and a new
// onnxruntime-node InferenceSession (create, first run, W warmups, N timed session.run calls)
// with intraOpNumThreads = T, interOpNumThreads = 1, sequential, graphOptimizationLevel 'all'.
// Both read the same .npy inputs. Reported: median of the round medians, min of the round
// minimums, ratio = Tandem median / ORT median (below 1: Tandem is faster), and load time
// (file -> first result: load + first run, median over rounds).
//
// Writes bench/out/results.json and a Markdown report: BENCHMARKS.md at the repository root for
// a full run (no --quick, no --models), bench/out/BENCHMARKS.md otherwise (or --md FILE).
// Progress goes to stderr.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { readNpy } from '../tests/models/npy.mjs';
import { die, log, median, MODELS, OUT, REPO, tandemRound } from './models.mjs';
import { keepOtherSections, printHeaderComment } from './sections.mjs';

// ---- options --------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = {
    quick: false, models: null, threads: [1, 2], runs: null, rounds: null, warmup: null, backend: 'xnnpack',
    tandem: path.join(REPO, 'build', 'native', 'tandem'), md: null,
  };
  const list = (v, what) => v.split(',').filter(Boolean).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) die(`${what} takes whole numbers >= 1, got '${v}'`);
    return n;
  });
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--quick') o.quick = true;
    else if (a === '--models') o.models = value().split(',').filter(Boolean);
    else if (a === '--threads') o.threads = list(value(), '--threads');
    else if (a === '--runs') [o.runs] = list(value(), '--runs');
    else if (a === '--rounds') [o.rounds] = list(value(), '--rounds');
    else if (a === '--warmup') o.warmup = Number(value());
    else if (a === '--backend') o.backend = value();
    else if (a === '--tandem') o.tandem = path.resolve(value());
    else if (a === '--md') o.md = path.resolve(value());
    else if (a === '-h' || a === '--help') printHeaderComment(import.meta.url); else die(`unknown option '${a}' (see --help)`);
  }
  if (!Number.isInteger(o.warmup ?? 0) || (o.warmup ?? 0) < 0) die('--warmup takes a whole number >= 0');
  if (!existsSync(o.tandem)) die(`no tandem binary at ${o.tandem}; build it or pass --tandem PATH`);
  return o;
}

async function ortRound(ort, c, feeds, threads, runs, warmup) {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(c.model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  await session.run(feeds);
  const load = performance.now() - t0;
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; ++i) {
    const s = performance.now();
    await session.run(feeds);
    times.push(performance.now() - s);
  }
  await session.release();
  return { median: median(times), min: Math.min(...times), load };
}

// ---- report ---------------------------------------------------------------------------------

function machine(opts, ortVersion) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const field = (k) => (cpuinfo.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm')) ?? [])[1]?.trim() ?? '?';
  const flags = field('flags').split(' ');
  const model = field('model name');
  const ghzInName = model.match(/([\d.]+)\s*GHz/i);
  const ghz = ghzInName ? Number(ghzInName[1]) : Number(field('cpu MHz')) / 1000;
  const cores = os.availableParallelism();
  const fma = flags.includes('avx512f') ? 64 : flags.includes('fma') && flags.includes('avx2') ? 32 : 8;
  const git = (args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() || '?';
  const dirty = (spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' }).stdout ?? '').trim() !== '';
  const xnn = (readFileSync(path.join(REPO, 'cmake', 'xnnpack.cmake'), 'utf8').match(/PACKAGE xnnpack VERSION (\S+)/) ?? [])[1] ?? '?';
  const cache = path.join(path.dirname(opts.tandem), 'CMakeCache.txt');
  const cacheVar = (k) => (existsSync(cache) ? (readFileSync(cache, 'utf8').match(new RegExp(`^${k}:\\w+=(.*)$`, 'm')) ?? [])[1] : null);
  const compiler = cacheVar('CMAKE_CXX_COMPILER');
  let compilerVersion = '?';
  if (compiler) compilerVersion = spawnSync(compiler, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '?';
  return {
    cpu: model, cores, ghz, ghz_source: ghzInName ? '"model name"' : '"cpu MHz" (the model name gives no GHz)',
    simd: flags.filter((f) => /^(avx|avx2|fma|avx512f|avx512_vnni|avx_vnni)$/.test(f)).join(' '),
    fp32_flop_per_cycle: fma, peak_gflops: cores * ghz * fma,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), node: process.version, onnxruntime_node: ortVersion,
    tandem_commit: `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' + uncommitted changes' : ''}`,
    tandem_build: `${cacheVar('CMAKE_BUILD_TYPE') ?? '?'}, ${compilerVersion}`, xnnpack: xnn, os: `${os.type()} ${os.release()}`,
  };
}

const f = (x, d = 2) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));
const ms = (x) => `${f(x, x < 1 ? 3 : 2)}`;

function markdown(results, m, opts, settings) {
  const L = [];
  L.push('# Benchmarks', '', `Tandem (\`tandem bench --backend ${opts.backend}\`) against onnxruntime-node on the same`,
    'inputs, interleaved rounds, written by `node bench/run.mjs` (see bench/README.md). Times in ms;',
    'ratio = Tandem median / ORT median (below 1: Tandem is faster); load = file to first result.', '',
    `- machine: ${m.cpu}, ${m.cores} cores visible, ${m.ghz.toFixed(2)} GHz from ${m.ghz_source}, SIMD: ${m.simd}; ${m.os}`,
    `- date: ${m.date}; 1-minute load average ${m.load_average_start.toFixed(2)} at the start, ${m.load_average_end.toFixed(2)} at the end (the benchmark itself adds up to the thread count)`,
    `- versions: Tandem ${m.tandem_commit} (${m.tandem_build}), XNNPACK ${m.xnnpack}, onnxruntime-node ${m.onnxruntime_node}, Node ${m.node}`,
    `- settings: ${settings.rounds} rounds x ${settings.runs} timed runs per side (GEMM: fewer, see the table) after ${settings.warmup} warmup run(s); ` +
      `ORT intraOpNumThreads = T, interOpNumThreads = 1, sequential, graphOptimizationLevel 'all'${opts.quick ? '; **--quick run: few samples**' : ''}`, '');
  const threadsList = [...new Set(results.map((r) => r.threads))];
  const models = results.filter((r) => r.section === 'models');
  for (const t of threadsList) {
    const rows = models.filter((r) => r.threads === t);
    if (!rows.length) continue;
    L.push(`## Models, ${t} thread${t === 1 ? '' : 's'}`, '',
      '| model | Tandem median | Tandem min | ORT median | ORT min | ratio | Tandem load | ORT load | Tandem placement |',
      '|---|--:|--:|--:|--:|--:|--:|--:|---|');
    for (const r of rows) {
      if (r.error) {
        L.push(`| ${r.what} | failed: ${r.error.split('\n')[0].slice(0, 160).replace(/\|/g, '/')} | | | | | | | |`);
        continue;
      }
      L.push(`| ${r.what} | ${ms(r.tandem.median)} | ${ms(r.tandem.min)} | ${ms(r.ort.median)} | ${ms(r.ort.min)} | ` +
        `**${r.ratio.toFixed(2)}** | ${ms(r.tandem.load)} | ${ms(r.ort.load)} | ${r.tandem.placement.join(', ')} |`);
    }
    L.push('');
  }
  const gemm = results.filter((r) => r.section === 'gemm');
  if (gemm.length) {
    L.push('## GEMM (fp32 MatMul, constant B)', '',
      `GFLOP/s = 2·N³ / median time. Peak = threads x ${m.ghz.toFixed(2)} GHz x ${m.fp32_flop_per_cycle} flop/cycle ` +
      `(${m.fp32_flop_per_cycle === 32 ? 'AVX2: 2 FMA ports x 8 lanes x 2' : 'from the SIMD flags'}), ` +
      `i.e. ${(m.ghz * m.fp32_flop_per_cycle).toFixed(0)} GFLOP/s per core at the ${m.ghz_source.split(' (')[0]} clock; ` +
      'turbo clocks can put a result above it.', '',
      '| size | threads | runs | Tandem median | Tandem GFLOP/s | % of peak | ORT median | ORT GFLOP/s | % of peak | ratio |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of gemm) {
      if (r.error) {
        L.push(`| ${r.what} | ${r.threads} | failed: ${r.error.split('\n')[0].slice(0, 160).replace(/\|/g, '/')} | | | | | | | |`);
        continue;
      }
      const peak = r.threads * m.ghz * m.fp32_flop_per_cycle;
      const gf = (t) => r.flops / (t * 1e6);
      L.push(`| ${r.what} | ${r.threads} | ${r.rounds}x${r.runs} | ${ms(r.tandem.median)} | ${f(gf(r.tandem.median), 1)} | ` +
        `${((100 * gf(r.tandem.median)) / peak).toFixed(0)}% | ${ms(r.ort.median)} | ${f(gf(r.ort.median), 1)} | ` +
        `${((100 * gf(r.ort.median)) / peak).toFixed(0)}% | **${r.ratio.toFixed(2)}** |`);
    }
    L.push('');
  }
  return L.join('\n');
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const names = opts.models ?? Object.keys(MODELS);
  for (const n of names) if (!MODELS[n]) die(`unknown model '${n}'; choose from ${Object.keys(MODELS).join(', ')}`);
  let ort;
  try {
    ort = (await import('onnxruntime-node')).default;
  } catch (e) {
    die(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); run "npm ci --ignore-scripts" in ${REPO}`);
  }
  const ortVersion = JSON.parse(readFileSync(path.join(REPO, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  const settings = {
    rounds: opts.rounds ?? (opts.quick ? 2 : 5),
    runs: opts.runs ?? (opts.quick ? 3 : 20),
    warmup: opts.warmup ?? (opts.quick ? 1 : 5),
  };
  mkdirSync(OUT, { recursive: true });
  const m = machine(opts, ortVersion);
  m.load_average_start = os.loadavg()[0];
  if (m.load_average_start > 0.5) {
    log(`bench: warning: load average ${m.load_average_start.toFixed(2)}; other work on this machine will skew the numbers`);
  }
  log(`bench: ${names.length} models x threads ${opts.threads.join(',')}, ${settings.rounds} rounds x ${settings.runs} runs, ` +
    `tandem ${path.relative(REPO, opts.tandem)} --backend ${opts.backend}, onnxruntime-node ${ortVersion}; ${m.cpu}, ${m.cores} cores`);

  const results = [];
  const total = names.length * opts.threads.length;
  let step = 0;
  for (const name of names) {
    const spec = MODELS[name];
    const c = spec.make();
    const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, file]) => {
      const a = readNpy(file);
      return [k, new ort.Tensor(a.dtype, a.data, a.shape)];
    }));
    // Fewer runs per round for the slow GEMMs; --runs and --quick scale them down together.
    const runs = Math.max(1, Math.round((settings.runs * spec.runs) / 20));
    for (const threads of opts.threads) {
      ++step;
      const r = { model: name, what: spec.what, section: spec.section, threads, rounds: settings.rounds, runs, flops: c.flops };
      const t = [];
      const o = [];
      try {
        for (let round = 0; round < settings.rounds; ++round) {
          // Alternate which side goes first, so neither always runs on a warmer (or hotter) machine.
          const order = round % 2 ? ['ort', 'tandem'] : ['tandem', 'ort'];
          for (const side of order) {
            if (side === 'tandem') t.push(tandemRound(opts, c, threads, runs, settings.warmup));
            else o.push(await ortRound(ort, c, feeds, threads, runs, settings.warmup));
          }
          log(`[${step}/${total}] ${name} threads ${threads} round ${round + 1}/${settings.rounds}: ` +
            `tandem ${ms(t.at(-1).median)} ms, ort ${ms(o.at(-1).median)} ms (medians of ${runs})`);
        }
        const agg = (xs) => ({ median: median(xs.map((x) => x.median)), min: Math.min(...xs.map((x) => x.min)), load: median(xs.map((x) => x.load)) });
        r.tandem = { ...agg(t), placement: t[0].placement, rounds: t };
        r.ort = { ...agg(o), rounds: o };
        r.ratio = r.tandem.median / r.ort.median;
        log(`[${step}/${total}] ${name} threads ${threads}: tandem ${ms(r.tandem.median)} ms, ort ${ms(r.ort.median)} ms, ratio ${r.ratio.toFixed(2)}`);
      } catch (e) {
        r.error = e.message;
        log(`[${step}/${total}] ${name} threads ${threads}: FAILED: ${e.message}`);
      }
      results.push(r);
    }
  }

  m.load_average_end = os.loadavg()[0];
  const json = { machine: m, settings: { ...settings, backend: opts.backend, threads: opts.threads, quick: opts.quick }, results };
  writeFileSync(path.join(OUT, 'results.json'), `${JSON.stringify(json, null, 1)}\n`);
  const full = !opts.quick && !opts.models;
  const md = opts.md ?? (full ? path.join(REPO, 'BENCHMARKS.md') : path.join(OUT, 'BENCHMARKS.md'));
  writeFileSync(md, keepOtherSections(md, markdown(results, m, opts, settings)));
  log(`bench: wrote ${path.relative(REPO, md)} and ${path.relative(REPO, path.join(OUT, 'results.json'))}`);
  process.exit(results.some((r) => r.error) ? 1 : 0);
}

main().catch((e) => die(e.stack || e));
