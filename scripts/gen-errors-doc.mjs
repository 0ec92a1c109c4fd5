#!/usr/bin/env node
// Writes docs/errors.md from the error registry in packages/core (built first by `npm run docs:errors`).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-b', `${root}/packages/core`], { stdio: 'inherit' });
const { ERROR_CODES } = await import(`${root}/packages/core/dist/errors/codes.js`);
const areas = new Map();
for (const [code, info] of Object.entries(ERROR_CODES)) {
  if (!areas.has(info.area)) areas.set(info.area, []);
  areas.get(info.area).push([code, info]);
}
const esc = (s) => String(s ?? '').replaceAll('|', '\\|');
let md = `# Error codes

Every error Bifrost throws or reports is a \`BifrostError\` with a stable \`code\` (match on it, not on
the message), the protocol's own \`status\` where there is one (Modbus exception code, CIP general
status, S7 return code, OPC UA StatusCode), a \`hint\`, and the underlying \`cause\`. A bad value in a
batch read carries the same error in \`TagValue.error\`.

This page is generated from \`packages/core/src/errors/codes.ts\` by \`npm run docs:errors\`; a test
checks that the two agree.
`;
for (const [area, rows] of areas) {
  md += `\n## ${area}\n\n| code | meaning | hint |\n| --- | --- | --- |\n`;
  for (const [code, info] of rows) md += `| \`${code}\` | ${esc(info.summary)} | ${esc(info.hint)} |\n`;
}
writeFileSync(`${root}/docs/errors.md`, md);
console.log(`docs/errors.md: ${Object.keys(ERROR_CODES).length} codes`);
