/**
 * @module
 * `node:fs` through `require` for the modules every command loads: on Node 20 an ES import of
 * `node:fs` loads fs/promises, readline and the streams at start (its ESM facade reads every
 * export), ≈ 50 ms of `bifrost read` (bench/cli-start.mjs; issue 25 §5).
 */
import { createRequire } from 'node:module';

/** The `node:fs` module. */
export const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
