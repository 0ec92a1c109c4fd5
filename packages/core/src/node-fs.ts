/**
 * @module
 * `node:fs` for core's own modules, through `require`. On Node 20 an ES `import … from 'node:fs'`
 * builds the module's ESM facade, which reads every export — `fs.promises` included — and so
 * loads fs/promises, readline and the streams at import: ≈ 50 ms of a 100 ms cold start
 * (bench/cli-start.mjs; issue 25 §5). `require('node:fs')` keeps those getters lazy.
 * Internal: not exported from the package.
 */
import { createRequire } from 'node:module';

/** The `node:fs` module. */
export const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
