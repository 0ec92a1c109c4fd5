/**
 * Issue 25 §1–2: the README's headline example was a SyntaxError on Node 20 (`await using`), the
 * same in six package READMEs, and it read addresses the bundled simulator does not serve. Like
 * Rust's doctests: every ```ts / ```js block of the READMEs and docs/*.md is type-checked against
 * the built packages and run with this Node against one simulator of each kind (the example's
 * `127.0.0.1:<default port>` is pointed at the simulator's port); it must exit 0. A block after
 * `<!-- example: typecheck-only -->` needs hardware or a network and is only type-checked.
 * TypeScript is transpiled with target ESNext, so syntax Node does not know fails as it would for
 * a user (a lower target would quietly downlevel `await using`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunningSimulator } from '@bifrost/core';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'packages')).map((p) => `packages/${p}/README.md`), ...readdirSync(join(ROOT, 'docs')).map((d) => `docs/${d}`)].filter(
  (f) =>
    f.endsWith('.md') &&
    (() => {
      try {
        return readFileSync(join(ROOT, f)).length > 0;
      } catch {
        return false;
      }
    })(),
);

interface Block {
  file: string;
  line: number;
  lang: 'ts' | 'js';
  code: string;
  typecheckOnly: boolean;
}

/** The fenced ts/js blocks of a Markdown file, with the marker of the line before each. */
function extractBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(ts|typescript|js|javascript|mjs)\s*$/.exec(lines[i] as string);
    if (!m) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    let prev = start - 1;
    while (prev >= 0 && (lines[prev] as string).trim() === '') prev--;
    const typecheckOnly = prev >= 0 && /<!--\s*example:\s*typecheck-only\s*-->/.test(lines[prev] as string);
    blocks.push({ file, line: start + 1, lang: m[1]?.startsWith('t') ? 'ts' : 'js', code: body.join('\n'), typecheckOnly });
  }
  return blocks;
}

const blocks = DOCS.flatMap((f) => extractBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
// Inside the repository so `@bifrost/*` resolves to the workspace packages' builds.
const dir = join(ROOT, 'test-artifacts', 'doc-examples');
const cwd = mkdtempSync(join(tmpdir(), 'bifrost-doc-examples-'));
const sims: RunningSimulator[] = [];
const ports: Record<string, number> = {};
const DEFAULT_PORTS: Record<string, number> = { 'modbus(?:\\+tcp|\\+rtuovertcp)?': 5020, s7: 102, eip: 44818, 'opc\\.tcp': 4840 };

beforeAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  const start = async (scheme: string, pkg: string, options: Record<string, unknown> = {}) => {
    const { startSimulator } = (await import(/* @vite-ignore */ pkg)) as { startSimulator: (o: Record<string, unknown>) => Promise<RunningSimulator> };
    const sim = await startSimulator({ port: 0, ...options });
    sims.push(sim);
    ports[scheme] = Number(new URL(sim.url).port);
  };
  await Promise.all([
    start('modbus(?:\\+tcp|\\+rtuovertcp)?', '@bifrost/modbus'),
    start('s7', '@bifrost/s7'),
    start('eip', '@bifrost/ethernetip'),
    start('opc\\.tcp', '@bifrost/opcua', { pkiDir: join(cwd, 'server-pki') }),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.allSettled(sims.map((s) => s.close()));
  rmSync(cwd, { recursive: true, force: true });
});

const name = (b: Block) => `${b.file.replace(/[/.]/g, '_')}_L${b.line}`;

/** The example as it runs here: `scheme://127.0.0.1:<default port>` goes to the simulator. */
function localize(code: string): string {
  let out = code;
  for (const [scheme, port] of Object.entries(DEFAULT_PORTS)) {
    out = out.replace(new RegExp(`(${scheme}://(?:[^@/'"\`\\s]*@)?)127\\.0\\.0\\.1:${port}(?![0-9])`, 'g'), (_m, pre: string) => `${pre}127.0.0.1:${ports[scheme]}`);
  }
  return out;
}

function runNode(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('documentation examples', () => {
  it('there are examples, and the headline one runs', () => {
    expect(blocks.length).toBeGreaterThan(15);
    expect(blocks[0]).toMatchObject({ file: 'README.md', typecheckOnly: false });
  });

  it('type-check against the built packages', () => {
    const files = blocks
      .filter((b) => b.lang === 'ts')
      .map((b) => {
        const f = join(dir, `${name(b)}.ts`);
        // `export {}` keeps each example a module of its own, as a user's file is
        writeFileSync(f, `${b.code}\nexport {};\n`);
        return { f, b };
      });
    const program = ts.createProgram(
      files.map((x) => x.f),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        esModuleInterop: true,
      },
    );
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? files.find((x) => x.f === d.file?.fileName) : undefined;
      const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      const at = where ? `${where.b.file}:${where.b.line + 1 + (pos?.line ?? 0)}` : relative(ROOT, d.file?.fileName ?? '?');
      return `${at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(problems).toEqual([]);
  }, 120_000);

  it.each(blocks.filter((b) => !b.typecheckOnly).map((b) => [`${b.file}:${b.line}`, b] as const))(
    '%s runs on this Node against the simulators',
    async (_where, b) => {
      const js =
        b.lang === 'ts'
          ? ts.transpileModule(localize(b.code), { compilerOptions: { target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext }, fileName: `${name(b)}.ts` }).outputText
          : localize(b.code);
      const file = join(dir, `${name(b)}.mjs`);
      writeFileSync(file, js);
      const r = await runNode(file);
      expect(r.code, `${b.file}:${b.line} exited ${r.code}:\n${r.out}`).toBe(0);
    },
    40_000,
  );
});
