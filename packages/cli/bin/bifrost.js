#!/usr/bin/env -S node --max-semi-space-size=2
// The `bifrost` executable. It is committed (not built), so `npm ci` links it into
// node_modules/.bin on a fresh clone, before dist/ exists. The shebang gives the process a small
// V8 young generation (`--max-semi-space-size=2`, in MB): the gateway runs for months on small
// edge boxes, and this trades a little scavenge CPU for resident memory (bench/gateway-memory.mjs).
// V8 flags can only be set at process start, hence the shebang rather than code.
import '../dist/bin.js';
