#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=2
// The `bifrost` executable. It is committed (not built), so `npm ci` links it into
// node_modules/.bin on a fresh clone, before dist/ exists. The gateway runs for months on small
// edge boxes, and the shebang sets two things for its resident memory that can only be set at
// process start, hence the shebang rather than code:
// - a small V8 young generation (`--max-semi-space-size=2`, in MB), which trades a little
//   scavenge CPU for memory (bench/gateway-memory.mjs);
// - one glibc malloc arena (`MALLOC_ARENA_MAX=1`): by default each thread that mallocs (libuv's
//   pool, V8's helpers, the worker that parses a large config) gets its own 64 MB arena, and the
//   freed memory they keep measured 30 MB of the gateway's resident size at 100,000 tags
//   (bench/gateway-scale.mjs: 225 → 194 MB after 10 s), for the same CPU.
import '../dist/bin.js';
