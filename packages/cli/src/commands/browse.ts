/**
 * @module
 * `bifrost browse <url>`: the device's address space (OPC UA) or tag list (Logix) as a tree, or
 * with `--json` the nodes as the driver returns them.
 */
import type { BrowseNode } from '@bifrost/core';
import { type CommandModule, examples } from '../command-module.js';
import { deviceStateOptions } from '../state-dir.js';
import type { Palette } from '../ui/palette.js';

/**
 * The tree lines of browse nodes (`├─`, `└─`), folders blue, tags with their address and type.
 * @example renderTree(nodes, palette)
 */
export function renderTree(nodes: readonly BrowseNode[], palette: Palette, prefix = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    const name = n.kind === 'folder' || n.kind === 'struct' ? palette.info(n.name) : n.kind === 'method' ? palette.special(n.name) : n.name;
    const detail = [n.type !== undefined ? `${n.type}${n.dimensions?.length ? `[${n.dimensions.join(',')}]` : ''}` : '', n.writable ? 'rw' : '', n.address && n.address !== n.name ? n.address : '']
      .filter(Boolean)
      .join('  ');
    lines.push(`${prefix}${last ? '└─ ' : '├─ '}${name}${detail ? `  ${palette.dim(detail)}` : ''}`);
    if (n.children?.length) lines.push(...renderTree(n.children, palette, `${prefix}${last ? '   ' : '│  '}`));
  });
  return lines;
}

/** `bifrost browse`. */
export const browseCommand: CommandModule = {
  name: 'browse',
  register(program, run) {
    program
      .command('browse')
      .description('show the address space (OPC UA) or tag list (Logix) as a tree')
      .argument('<url>', 'device URL')
      .argument('[path]', 'where to start', '/')
      .option('-d, --depth <n>', 'levels to descend', (v) => Number(v), 2)
      .addHelpText('after', examples(['bifrost browse opc.tcp://127.0.0.1:4840 /Objects --depth 3', 'bifrost --json browse eip://10.0.0.7?path=1,0']))
      .action(
        run(async (ctx, url: string, path: string, opts: { depth: number }) => {
          const { connect, BifrostError } = await import('@bifrost/core');
          if (!Number.isInteger(opts.depth) || opts.depth < 1) throw new BifrostError('BIFROST_CLI_USAGE', `--depth must be a positive integer, got ${String(opts.depth)}`);
          await using plc = await connect(url, { ...deviceStateOptions(url, ctx.stateDir), signal: ctx.signal });
          if (typeof plc.browse !== 'function') {
            throw new BifrostError('BIFROST_NOT_SUPPORTED', `${plc.protocol} devices have no address space to browse`, {
              device: plc.name,
              hint: 'browse works with opc.tcp:// and eip:// (Logix) URLs',
            });
          }
          const nodes = await plc.browse(path, { depth: opts.depth, signal: ctx.signal });
          if (ctx.json) ctx.printJson(nodes);
          else {
            ctx.out(ctx.palette.header(`${plc.name} ${path}`));
            for (const l of renderTree(nodes, ctx.palette)) ctx.out(l);
          }
        }),
      );
  },
};
