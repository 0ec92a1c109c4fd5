/**
 * @module
 * `bifrost token create --name alice --role operator [--file tokens.yaml]`: makes a web API token.
 * The token is printed once; only its SHA-256 is appended to the tokens file the gateway's
 * `web.tokens` points at (created with mode 0600).
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';

/** `bifrost token`. */
export const tokenCommand: CommandModule = {
  name: 'token',
  register(program, run) {
    const token = program.command('token').description('manage web API tokens (roles: viewer, operator, admin)');
    token
      .command('create')
      .description('create a token: prints it once, appends its hash to the tokens file')
      .requiredOption('--name <name>', 'who the token is for (shown in the audit log)')
      .requiredOption('--role <role>', 'viewer, operator (writes, acknowledges alarms) or admin (configuration)')
      .option('--file <file>', 'tokens file to append to (web.tokens in gateway.yaml)', './tokens.yaml')
      .addHelpText('after', examples(['bifrost token create --name alice --role operator', 'bifrost token create --name grafana --role viewer --file /etc/bifrost/tokens.yaml']))
      .action(
        run(async (ctx, flags: { name: string; role: string; file: string }) => {
          const { createToken } = await import('@bifrost/web');
          const { appendFile, readFile, chmod } = await import('node:fs/promises');
          const { parse } = await import('yaml');
          const { BifrostError } = await import('@bifrost/core');
          const { token: secret, entry } = createToken({ name: flags.name, role: flags.role as 'viewer' });
          const existing = await readFile(flags.file, 'utf8').catch(() => '');
          const list = (parse(existing) ?? []) as Array<{ name?: string }>;
          if (!Array.isArray(list)) throw new BifrostError('BIFROST_CONFIG_INVALID', `${flags.file} is not a YAML list of tokens`);
          if (list.some((e) => e?.name === flags.name)) throw new BifrostError('BIFROST_CLI_USAGE', `${flags.file} already has a token named "${flags.name}"; pick another name or remove that entry`);
          const sep = existing === '' || existing.endsWith('\n') ? '' : '\n';
          await appendFile(flags.file, `${sep}- ${JSON.stringify(entry)}\n`, { mode: 0o600 });
          await chmod(flags.file, 0o600);
          if (ctx.json) ctx.printJson({ name: entry.name, role: entry.role, token: secret, file: flags.file });
          else {
            ctx.out(ctx.palette.special(`◆ token for ${entry.name} (${entry.role}), shown this once:`));
            ctx.out(secret);
            ctx.out(ctx.palette.dim(`its hash was appended to ${flags.file}; send it as "Authorization: Bearer <token>". Restart the gateway to load it.`));
          }
          return EXIT.OK;
        }),
      );
  },
};
