/**
 * @module
 * `bifrost pki init|list|trust|reject`: manages the OPC UA certificate store through
 * @bifrost/opcua's `pkiInit`, `pkiList`, `pkiTrust` and `pkiReject`.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { type CommandModule, examples } from '../command-module.js';
import { loadPackage } from '../protocols.js';
import { SYMBOLS } from '../ui/palette.js';
import { renderTable } from '../ui/table.js';

/** What @bifrost/opcua's PKI functions return (the fields the CLI shows). */
interface CertificateInfo {
  file: string;
  thumbprint: string;
  subject: string;
  applicationUri?: string;
  validTo: string;
  expired: boolean;
}
interface OpcuaPki {
  pkiInit?: (o: {
    dir: string;
    applicationUri?: string;
    commonName?: string;
    dns?: string[];
    validityDays?: number;
    renew?: boolean;
  }) => Promise<{ dir: string; certificateFile: string; created: boolean; certificate: CertificateInfo }>;
  pkiList?: (o: { dir: string }) => Promise<{ dir: string; own: CertificateInfo | null; trusted: CertificateInfo[]; rejected: CertificateInfo[]; issuers: CertificateInfo[] }>;
  pkiTrust?: (o: { dir: string; thumbprintOrFile: string }) => Promise<{ thumbprint: string; file: string; certificate: CertificateInfo }>;
  pkiReject?: (o: { dir: string; thumbprintOrFile: string }) => Promise<{ thumbprint: string; file: string; certificate: CertificateInfo }>;
}

async function pki<K extends keyof OpcuaPki>(name: K): Promise<NonNullable<OpcuaPki[K]>> {
  const mod = await loadPackage<OpcuaPki>('@bifrost/opcua');
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const { BifrostError } = await import('@bifrost/core');
    throw new BifrostError('BIFROST_NOT_SUPPORTED', `@bifrost/opcua does not export ${name}`);
  }
  return fn as NonNullable<OpcuaPki[K]>;
}

/** `bifrost pki`. */
export const pkiCommand: CommandModule = {
  name: 'pki',
  register(program, run) {
    const cmd: Command = program
      .command('pki')
      .description('manage the OPC UA certificate store (init, list, trust, reject)')
      .addHelpText('after', examples(['bifrost pki init --application-uri urn:acme:bifrost', 'bifrost pki list', 'bifrost pki trust ./server-cert.der', 'bifrost pki reject 3f2a…c1']));
    const dir = ['--dir <dir>', 'PKI directory (default <state dir>/pki, where read, browse and monitor look; see bifrost --help)'] as const;
    cmd
      .command('init')
      .description('create the store, a private key and a self-signed application instance certificate')
      .option(...dir)
      .option('--application-uri <uri>', 'application URI for the certificate')
      .option('--common-name <cn>', 'certificate common name')
      .option('--dns <names>', 'comma-separated DNS names for the certificate')
      .option('--validity-days <n>', 'certificate validity in days', (v) => Number(v))
      .option('--renew', 'replace an existing certificate')
      .action(
        run(async (ctx, opts: { dir?: string; applicationUri?: string; commonName?: string; dns?: string; validityDays?: number; renew?: boolean }) => {
          const args: Parameters<NonNullable<OpcuaPki['pkiInit']>>[0] = { dir: opts.dir ?? join(ctx.stateDir(), 'pki') };
          if (opts.applicationUri !== undefined) args.applicationUri = opts.applicationUri;
          if (opts.commonName !== undefined) args.commonName = opts.commonName;
          if (opts.dns !== undefined) args.dns = opts.dns.split(',').map((d) => d.trim());
          if (opts.validityDays !== undefined) args.validityDays = opts.validityDays;
          if (opts.renew) args.renew = true;
          const result = await (await pki('pkiInit'))(args);
          if (ctx.json) return void ctx.printJson(result);
          const p = ctx.palette;
          ctx.out(`${p.success(SYMBOLS.ok)} PKI ready in ${result.dir}: ${result.created ? 'created' : 'kept'} ${result.certificateFile}`);
          ctx.out(`  ${p.dim('subject')} ${result.certificate.subject}  ${p.dim('thumbprint')} ${result.certificate.thumbprint}  ${p.dim('valid to')} ${result.certificate.validTo}`);
        }),
      );
    cmd
      .command('list')
      .description('list the own, trusted, rejected and issuer certificates')
      .option(...dir)
      .action(
        run(async (ctx, opts: { dir?: string }) => {
          const listing = await (await pki('pkiList'))({ dir: opts.dir ?? join(ctx.stateDir(), 'pki') });
          if (ctx.json) return void ctx.printJson(listing);
          const p = ctx.palette;
          const rows: [string, CertificateInfo][] = [
            ...(listing.own ? [['own', listing.own] as [string, CertificateInfo]] : []),
            ...listing.trusted.map((c) => ['trusted', c] as [string, CertificateInfo]),
            ...listing.rejected.map((c) => ['rejected', c] as [string, CertificateInfo]),
            ...listing.issuers.map((c) => ['issuer', c] as [string, CertificateInfo]),
          ];
          if (rows.length === 0) return void ctx.out(p.dim(`no certificates in ${listing.dir} (bifrost pki init${opts.dir ? ` --dir ${opts.dir}` : ''})`));
          const status = (s: string) => (s === 'rejected' ? p.error(s) : s === 'own' ? p.special(s) : s === 'trusted' ? p.success(s) : p.info(s));
          for (const l of renderTable(
            [{ header: 'STATUS' }, { header: 'SUBJECT', minWidth: 12 }, { header: 'THUMBPRINT' }, { header: 'VALID TO' }],
            rows.map(([s, c]) => [status(s), c.subject, c.thumbprint, c.expired ? p.error(`${c.validTo} expired`) : c.validTo]),
            p,
            ctx.io.stdout.columns ?? 160,
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
          run(async (ctx, certificate: string, opts: { dir?: string }) => {
            const result = await (await pki(fn))({ dir: opts.dir ?? join(ctx.stateDir(), 'pki'), thumbprintOrFile: certificate });
            if (ctx.json) ctx.printJson(result);
            else
              ctx.out(
                `${verb === 'trust' ? ctx.palette.success(SYMBOLS.ok) : ctx.palette.warning(SYMBOLS.warn)} ${verb === 'trust' ? 'trusted' : 'rejected'} ${result.certificate.subject} (${result.thumbprint}) → ${result.file}`,
              );
          }),
        );
    }
  },
};
