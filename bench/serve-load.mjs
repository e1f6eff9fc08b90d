// The load generator of bench/serve.mjs: one fixed Open Inference Protocol v2 infer request sent
// over keep-alive HTTP/1.1 connections (node:http Agent, one request per connection at a time),
// either closed-loop (C clients, each sending its next request when the last one is answered) or
// open-loop (a fixed offered rate, whatever the answers do) with a cap on outstanding requests:
// a request that falls due while the cap is reached is not sent and counted as `dropped`, so the
// generator never runs away. Every latency is recorded (send -> last byte of the answer).
//
// Answers are counted as `ok` (2xx), `backpressure` (503 with Retry-After), `other` (every other
// status, 503 without Retry-After included) and `errors` (no HTTP answer: socket errors, resets).
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Percentile (nearest rank) of an ascending Float64Array.
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// CPU seconds (user + system) a process has used so far, from /proc/PID/stat; null if unreadable.
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

export class Target {
  // request: { path, headers, body (Buffer) }; maxSockets: the most connections at once.
  constructor({ host, port, request, maxSockets }) {
    this.host = host;
    this.port = port;
    this.request = request;
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
    this.options = {
      agent: this.agent, host, port, method: 'POST', path: request.path,
      headers: { ...request.headers, 'content-length': String(request.body.length) },
    };
    this.body = request.body;
  }

  // Sends the request once; calls done({ status, retryAfter, ms, bytes, body?, error? }).
  send(done, keepBody = false) {
    const t0 = performance.now();
    let finished = false;
    const finish = (r) => {
      if (finished) return;
      finished = true;
      r.ms = performance.now() - t0;
      done(r);
    };
    const req = http.request(this.options, (res) => {
      let bytes = 0;
      const chunks = keepBody ? [] : null;
      res.on('data', (c) => {
        bytes += c.length;
        if (chunks) chunks.push(c);
      });
      res.on('end', () => finish({
        status: res.statusCode, retryAfter: res.headers['retry-after'] !== undefined, bytes,
        headers: keepBody ? res.headers : undefined, body: chunks ? Buffer.concat(chunks) : undefined,
      }));
      res.on('error', (e) => finish({ status: 0, error: e.message, bytes }));
    });
    req.on('error', (e) => finish({ status: 0, error: e.message, bytes: 0 }));
    req.end(this.body);
    return req;
  }

  sendAsync(keepBody = false) {
    return new Promise((resolve) => this.send(resolve, keepBody));
  }

  close() {
    this.agent.destroy();
  }
}

// Tallies answers; `inWindow` answers count towards throughput.
class Tally {
  constructor() {
    this.lat = [];
    this.ok = 0;
    this.okInWindow = 0;
    this.backpressure = 0;
    this.other = 0;
    this.errors = 0;
    this.statuses = {};
    this.errorMessages = {};
  }

  add(r, inWindow) {
    this.lat.push(r.ms);
    if (r.status >= 200 && r.status < 300) {
      ++this.ok;
      if (inWindow) ++this.okInWindow;
    } else if (r.status === 503 && r.retryAfter) {
      ++this.backpressure;
    } else if (r.status === 0) {
      ++this.errors;
      this.errorMessages[r.error] = (this.errorMessages[r.error] ?? 0) + 1;
    } else {
      ++this.other;
    }
    if (r.status) this.statuses[r.status] = (this.statuses[r.status] ?? 0) + 1;
  }

  summary(seconds) {
    const sorted = Float64Array.from(this.lat).sort();
    const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN;
    return {
      throughput: this.okInWindow / seconds, answers: sorted.length, ok: this.ok, backpressure: this.backpressure,
      other: this.other, errors: this.errors, statuses: this.statuses,
      ...(Object.keys(this.errorMessages).length ? { error_messages: this.errorMessages } : {}),
      p50_ms: percentile(sorted, 50), p90_ms: percentile(sorted, 90), p99_ms: percentile(sorted, 99),
      max_ms: sorted.length ? sorted[sorted.length - 1] : NaN, mean_ms: mean,
    };
  }
}

// CPU use over a phase: the client (this process) and the server (by pid), in cores.
function cpuMeter(serverPid) {
  const c0 = process.cpuUsage();
  const s0 = processCpuSeconds(serverPid);
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const s1 = processCpuSeconds(serverPid);
    return {
      client_cpu: (c.user + c.system) / 1e6 / wall,
      server_cpu: s0 !== null && s1 !== null ? (s1 - s0) / wall : null,
    };
  };
}

// Waits until `outstanding()` is 0 or `ms` passed; returns whether it drained.
async function drain(outstanding, ms) {
  const until = performance.now() + ms;
  while (outstanding() > 0 && performance.now() < until) await sleep(5);
  return outstanding() === 0;
}

// C clients back to back for `seconds`. Throughput: 2xx answers completed within the window.
export async function closedLoop(target, { clients, seconds, serverPid }) {
  const tally = new Tally();
  const meter = cpuMeter(serverPid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = await target.sendAsync();
      tally.add(r, performance.now() <= end);
      if (r.status === 0) await sleep(1); // a refused connection would otherwise spin
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const cpu = meter();
  return { mode: 'closed', clients, seconds, ...tally.summary(seconds), ...cpu, tail_ms: performance.now() - end };
}

// Open loop: request k falls due at t0 + k / rate; a timer (1 ms granularity) sends every request
// due so far, so at high rates requests leave in small bursts. Requests due while `cap` are
// outstanding are dropped (not sent). After the window, outstanding answers are awaited (up to
// `drainMs`) and counted, but only those completed within the window count towards throughput.
export async function openLoop(target, { rate, seconds, cap, serverPid, drainMs = 30000 }) {
  const tally = new Tally();
  const meter = cpuMeter(serverPid);
  const lags = [];
  let outstanding = 0;
  let maxOutstanding = 0;
  let sent = 0;
  let dropped = 0;
  const reqs = new Set();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const total = Math.floor(rate * seconds);
  let due = 0; // requests that have fallen due so far (sent or dropped)
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const dueNow = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
      for (; due < dueNow; ++due) {
        if (outstanding >= cap) {
          ++dropped;
          continue;
        }
        lags.push(now - (t0 + (due * 1000) / rate));
        ++outstanding;
        ++sent;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        const req = target.send((r) => {
          --outstanding;
          reqs.delete(req);
          tally.add(r, performance.now() <= end);
        });
        reqs.add(req);
      }
      if (due >= total || now >= end) return resolve();
      const next = t0 + (due * 1000) / rate;
      setTimeout(tick, Math.max(1, Math.min(next - performance.now(), end - performance.now())));
    };
    tick();
  });
  const windowEnd = performance.now();
  const drained = await drain(() => outstanding, drainMs);
  if (!drained) for (const req of reqs) req.destroy(new Error('not answered within the drain time'));
  await drain(() => outstanding, 1000);
  const cpu = meter();
  const sortedLag = Float64Array.from(lags).sort();
  return {
    mode: 'open', offered: rate, seconds, sent, dropped, max_outstanding: maxOutstanding, ...tally.summary(seconds),
    send_lag_p50_ms: percentile(sortedLag, 50), send_lag_p99_ms: percentile(sortedLag, 99),
    drain_ms: performance.now() - windowEnd, drained, ...cpu,
  };
}

// ---- wrk: a closed loop from a client that costs the server little CPU ---------------------

const WRK_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrk-oip.lua');

// The path of Debian's wrk, or null when it is not installed (scripts/setup installs it).
export function findWrk() {
  const r = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// Closed loop as closedLoop(), from wrk (C, epoll; one thread, `clients` connections) instead of
// this process: at small models Node's own cost per request (~55 µs of a core) caps what the
// server is shown. Latency percentiles are wrk's (request written -> answer read). The result
// has closedLoop()'s fields; client CPU is wrk's (the shell's cutime + cstime once wrk exits).
export async function wrkClosedLoop(target, { wrk, clients, seconds, serverPid }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-wrk-'));
  try {
    const bodyFile = path.join(dir, 'body');
    writeFileSync(bodyFile, target.request.body);
    const headers = Object.entries(target.request.headers).map(([k, v]) => `${k}: ${v}`).join('\n');
    const meter = cpuMeter(serverPid);
    const t0 = performance.now();
    const args = ['-c', '"$0" "$@"; s=$?; cat /proc/$$/stat; exit $s', wrk, '-t1', `-c${clients}`, `-d${seconds}s`,
      '--timeout', '30s', '-s', WRK_SCRIPT, `http://${target.host}:${target.port}`];
    const child = spawn('sh', args, {
      env: { ...process.env, TANDEM_WRK_BODY: bodyFile, TANDEM_WRK_PATH: target.request.path, TANDEM_WRK_HEADERS: headers },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => child.on('close', resolve));
    const wall = (performance.now() - t0) / 1000;
    const cpu = meter();
    const line = out.split('\n').find((l) => l.startsWith('{"duration_us"'));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${(err || out).trim().slice(-500)}`);
    const j = JSON.parse(line);
    // The shell's /proc stat: fields 16 and 17 (cutime, cstime) hold wrk's CPU, in 1/100 s.
    const stat = out.slice(out.lastIndexOf(')') + 2).trim().split(' ');
    const wrkCpu = (Number(stat[13]) + Number(stat[14])) / 100;
    const st = j.statuses;
    const ok = Object.entries(st).filter(([k]) => /^2\d\d$/.test(k)).reduce((a, [, v]) => a + v, 0);
    const backpressure = st['503r'] ?? 0;
    const errors = j.errors.connect + j.errors.read + j.errors.write + j.errors.timeout;
    const statuses = Object.fromEntries(Object.entries(st).map(([k, v]) => [k === '503r' ? '503' : k, v]));
    return {
      mode: 'closed', client: 'wrk', clients, seconds, throughput: ok / (j.duration_us / 1e6), answers: j.requests, ok, backpressure,
      other: j.requests - ok - backpressure, errors, statuses,
      p50_ms: j.p50_us / 1000, p90_ms: j.p90_us / 1000, p99_ms: j.p99_us / 1000, max_ms: j.max_us / 1000, mean_ms: j.mean_us / 1000,
      client_cpu: wrkCpu / wall, server_cpu: cpu.server_cpu,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
