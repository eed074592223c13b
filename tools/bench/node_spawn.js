#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node_spawn.js: the Node peer of pidring-bench (spawn and big scenarios).
//
//   node node_spawn.js --child PATH [--n N] [--c C] [--warmup W] [--heap-mib M]
//
// Runs N spawn->exit cycles of PATH (no arguments) through child_process.spawn,
// with C in flight, waiting for 'exit' each time. Untimed warm-up cycles come
// first. With --heap-mib M it first allocates and fills an M MiB Buffer, so that
// every page is touched. A libuv that forks has to copy those page tables.
// It prints a single JSON line: rate (cycles/s) and lat_us (spawn->exit per child).
'use strict';
const { spawn } = require('child_process');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const child = arg('--child');
const n = parseInt(arg('--n', '1000'), 10);
const c = parseInt(arg('--c', '1'), 10);
const warm = parseInt(arg('--warmup', '10'), 10);
const heapMiB = parseInt(arg('--heap-mib', '0'), 10);
if (!child || !(n > 0) || !(c > 0)) {
  process.stderr.write('usage: node_spawn.js --child PATH [--n N] [--c C] [--warmup W] [--heap-mib M]\n');
  process.exit(2);
}

let heap = null;
if (heapMiB > 0) heap = Buffer.alloc(heapMiB * 1024 * 1024, 0x5a);

function batch(count, conc, lat) {
  return new Promise((resolve, reject) => {
    if (count <= 0) return resolve();
    let started = 0, done = 0;
    const one = () => {
      started++;
      const t0 = process.hrtime.bigint();
      const cp = spawn(child, [], { stdio: 'ignore' });
      cp.on('error', reject);
      cp.on('exit', (code, sig) => {
        if (code !== 0) return reject(new Error(`child exited ${code} ${sig}`));
        if (lat) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        done++;
        if (started < count) one();
        else if (done === count) resolve();
      });
    };
    for (let i = 0; i < Math.min(conc, count); i++) one();
  });
}

(async () => {
  await batch(warm, 1, null);
  const lat = [];
  const t0 = process.hrtime.bigint();
  await batch(n, c, lat);
  const el = Number(process.hrtime.bigint() - t0) / 1e9;
  const out = {
    peer: 'node', version: process.version, uv: process.versions.uv, n, c,
    heap_mib: heapMiB, heap_ok: heap ? heap[heap.length - 1] === 0x5a : null,
    elapsed_s: el, rate: n / el, lat_us: lat.map((x) => Math.round(x * 10) / 10),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(`node_spawn.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
