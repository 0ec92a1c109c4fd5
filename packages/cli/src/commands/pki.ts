/**
 * @module
 * `bifrost pki init|list|trust|reject`: manages the OPC UA certificate store through
 * @bifrost/opcua's `pkiInit`, `pkiList`, `pkiTrust` and `pkiReject`.
 */
import type { Command } from 'commander';
import { type CommandModule, examples } from '../command-module.js';
import { loadPackage } from '../protocols.js';
import { SYMBOLS } from '../ui/palette.js';
import { renderTable } from '../ui/table.js';

type PkiFn = (options: Record<string, unknown>) => Promise<unknown>;
interface OpcuaPki {
  pkiInit?: PkiFn;
  pkiList?: PkiFn;
  pkiTrust?: PkiFn;
  pkiReject?: PkiFn;
}

async function pki(name: keyof OpcuaPki): Promise<PkiFn> {
  const mod = await loadPackage<OpcuaPki>('@bifrost/opcua');
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const { BifrostError } = await import('@bifrost/core');
    throw new BifrostError('BIFROST_NOT_SUPPORTED', `@bifrost/opcua does not export ${name}`);
  }
  return fn;
}

/** `bifrost pki`. */
export const pkiCommand: CommandModule = {
  name: 'pki',
  register(program, run) {
    const cmd: Command = program
      .command('pki')
      .description('manage the OPC UA certificate store (init, list, trust, reject)')
      .addHelpText('after', examples(['bifrost pki init --dir ./pki', 'bifrost pki list --dir ./pki', 'bifrost pki trust 3f2a…c1 --dir ./pki', 'bifrost pki reject 3f2a…c1']));
    const dir = ['--dir <dir>', 'PKI directory', './pki'] as const;
    cmd
      .command('init')
      .description('create the store and an application instance certificate')
      .option(...dir)
      .option('--application-uri <uri>', 'application URI for the certificate')
      .option('--subject <dn>', 'certificate subject, e.g. /CN=bifrost/O=Acme')
      .action(
        run(async (ctx, opts: { dir: string; applicationUri?: string; subject?: string }) => {
          const result = await (await pki('pkiInit'))({ ...opts });
          if (ctx.json) ctx.printJson(result ?? { dir: opts.dir });
          else ctx.out(`${ctx.palette.success(SYMBOLS.ok)} PKI ready in ${opts.dir}${describe(result)}`);
        }),
      );
    cmd
      .command('list')
      .description('list trusted, rejected and own certificates')
      .option(...dir)
      .action(
        run(async (ctx, opts: { dir: string }) => {
          const result = await (await pki('pkiList'))({ dir: opts.dir });
          if (ctx.json) return void ctx.printJson(result);
          const rows = Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
          if (rows.length === 0) return void ctx.out(ctx.palette.dim('no certificates'));
          const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
          for (const l of renderTable(
            keys.map((k) => ({ header: k.toUpperCase() })),
            rows.map((r) => keys.map((k) => paintStatus(k, r[k], ctx.palette))),
            ctx.palette,
          ))
            ctx.out(l);
        }),
      );
    for (const [verb, fn] of [
      ['trust', 'pkiTrust'],
      ['reject', 'pkiReject'],
    ] as const) {
      cmd
        .command(verb)
        .description(`${verb} a certificate by thumbprint or file`)
        .argument('<certificate>', 'thumbprint (from pki list) or a .der/.pem file')
        .option(...dir)
        .action(
          run(async (ctx, certificate: string, opts: { dir: string }) => {
            const result = await (await pki(fn))({ dir: opts.dir, certificate });
            if (ctx.json) ctx.printJson(result ?? { certificate, result: verb });
            else ctx.out(`${verb === 'trust' ? ctx.palette.success(SYMBOLS.ok) : ctx.palette.warning(SYMBOLS.warn)} ${verb === 'trust' ? 'trusted' : 'rejected'} ${certificate}${describe(result)}`);
          }),
        );
    }
  },
};

function describe(result: unknown): string {
  if (result === undefined || result === null) return '';
  if (typeof result === 'string') return `: ${result}`;
  if (typeof result === 'object') {
    const r = result as Record<string, unknown>;
    const parts = ['certificateFile', 'certificate', 'thumbprint', 'file'].filter((k) => typeof r[k] === 'string').map((k) => `${k} ${String(r[k])}`);
    return parts.length ? ` (${parts.join(', ')})` : '';
  }
  return '';
}

function paintStatus(key: string, v: unknown, p: import('../ui/palette.js').Palette): string {
  const s = v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (key !== 'status' && key !== 'state') return s;
  return s === 'trusted' || s === 'own' ? p.success(s) : s === 'rejected' ? p.error(s) : p.warning(s);
}
