#!/usr/bin/env node
// Runs the whole Vitest suite and ends with one plain line, "Tests: N passed, N failed, N skipped",
// that CI reads; the exit code is Vitest's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(`${root}/test-artifacts`, { recursive: true });
const out = `${root}/test-artifacts/vitest.json`;
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const r = spawnSync('npx', args, { cwd: root, stdio: 'inherit' });
let summary = 'Tests: 0 passed, 0 failed';
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  summary = `Tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + (j.numTodoTests ?? 0)} skipped`;
  if (j.numFailedTestSuites > 0) summary += `\n(${j.numFailedTestSuites} test file(s) failed to run)`;
} catch {
  summary = 'Tests: 0 passed, 1 failed';
}
console.log(summary);
process.exit(r.status ?? 1);
