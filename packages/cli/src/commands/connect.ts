/**
 * @module
 * `bifrost connect [url]`: the connection wizard (@clack/prompts). It asks for the protocol,
 * address and options, tests the connection live and shows the device's identity, lets the user
 * browse (OPC UA, Logix) or type tags, reads them once, and writes a gateway.yaml that core's
 * `parseGatewayConfig` accepts. Every prompt has a flag; with `--yes`, or without a terminal,
 * nothing is asked and a missing required answer is a usage error.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Device, DeviceIdentity, TagValue } from '@bifrost/core';
import { Option } from 'commander';
import { type CommandModule, examples } from '../command-module.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { PROTOCOLS, type ProtocolName } from '../protocols.js';
import { deviceStateOptions } from '../state-dir.js';
import { formatValue } from '../ui/format.js';
import { SYMBOLS } from '../ui/palette.js';

interface ConnectOptions {
  protocol?: ProtocolName;
  host?: string;
  port?: number;
  unit?: number;
  rack?: number;
  slot?: number;
  path?: string;
  endpoint?: string;
  name?: string;
  tags?: string;
  poll?: string;
  out: string;
  force?: boolean;
  test: boolean;
  yes?: boolean;
}

/** Default TCP port per protocol (Modbus App Protocol §4.1: 502; ISO-TSAP 102; CIP 44818; OPC UA 4840). */
export const DEFAULT_PORTS: Record<ProtocolName, number> = { modbus: 502, s7: 102, eip: 44818, opcua: 4840 };

const SCHEME_TO_PROTOCOL: Record<string, ProtocolName> = { modbus: 'modbus', 'modbus+tcp': 'modbus', 'modbus+rtu': 'modbus', 'modbus+rtuovertcp': 'modbus', s7: 's7', eip: 'eip', 'opc.tcp': 'opcua' };

/**
 * The device URL for wizard answers.
 * @example buildUrl({ protocol: 'modbus', host: '10.0.0.5', port: 502, unit: 1 }) // 'modbus://10.0.0.5:502?unit=1'
 */
export function buildUrl(a: { protocol: ProtocolName; host: string; port: number; unit?: number; rack?: number; slot?: number; path?: string; endpoint?: string }): string {
  const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
  switch (a.protocol) {
    case 'modbus':
      return `modbus://${host}:${a.port}?unit=${a.unit ?? 1}`;
    case 's7':
      return `s7://${host}:${a.port}?rack=${a.rack ?? 0}&slot=${a.slot ?? 1}`;
    case 'eip':
      return `eip://${host}:${a.port}${a.path ? `?path=${a.path}` : ''}`;
    case 'opcua':
      return `opc.tcp://${host}:${a.port}${a.endpoint ? `/${a.endpoint.replace(/^\/+/, '')}` : ''}`;
  }
}

/**
 * A config tag name from an address: letters, digits, `_` and `-`, starting with a letter or `_`.
 * @example tagNameFor('HR0:FLOAT32') // 'HR0_FLOAT32'
 */
export function tagNameFor(address: string): string {
  let n = address
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
  if (!/^[A-Za-z_]/.test(n)) n = `t_${n}`;
  return n || 'tag';
}

/**
 * Parses `--tags`: comma-separated `name=address` or bare addresses (named from the address).
 * @example parseTagList('temp=HR0:FLOAT32,IR0') // [{ name: 'temp', address: 'HR0:FLOAT32' }, { name: 'IR0', address: 'IR0' }]
 */
export function parseTagList(text: string): { name: string; address: string }[] {
  const out: { name: string; address: string }[] = [];
  for (const part of text.split(/[,\n]/)) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    // "ns=2;s=Temp" is an OPC UA NodeId, not name=address: a name never holds ';'.
    const named = eq > 0 && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(p.slice(0, eq)) && !/^(ns|i|s|g|b)$/.test(p.slice(0, eq));
    out.push(named ? { name: p.slice(0, eq), address: p.slice(eq + 1).trim() } : { name: tagNameFor(p), address: p });
  }
  return out;
}

/**
 * The gateway.yaml text for one device.
 * @example await gatewayYaml({ name: 'press1', url, pollMs: 1000, tags })
 */
export async function gatewayYaml(device: { name: string; url: string; pollMs: number; tags: { name: string; address: string; unit?: string }[] }): Promise<string> {
  const { stringify } = await import('yaml');
  const header = `# Written by bifrost connect on ${new Date().toISOString()}.\n# Start it with: bifrost run ${'<this file>'}\n`;
  return header + stringify({ devices: [{ name: device.name, url: device.url, pollMs: device.pollMs, tags: device.tags }] }, { lineWidth: 0 });
}

/** `bifrost connect`. */
export const connectCommand: CommandModule = {
  name: 'connect',
  register(program, run) {
    program
      .command('connect')
      .description('connection wizard: test a device, pick tags, write a gateway.yaml (every prompt has a flag)')
      .argument('[url]', 'device URL (skips the protocol, host and option questions)')
      .addOption(new Option('--protocol <protocol>', 'protocol').choices(PROTOCOLS))
      .option('--host <host>', 'device host name or IP')
      .option('--port <n>', 'TCP port (default: the protocol default)', (v) => Number(v))
      .option('--unit <n>', 'Modbus unit id', (v) => Number(v))
      .option('--rack <n>', 'S7 rack', (v) => Number(v))
      .option('--slot <n>', 'S7 slot', (v) => Number(v))
      .option('--path <route>', 'EtherNet/IP route path, e.g. 1,0')
      .option('--endpoint <path>', 'OPC UA endpoint path')
      .option('--name <name>', 'device name in the config', 'plc1')
      .option('--tags <list>', 'tags: name=address,… or addresses (HR0:FLOAT32,IR4)')
      .option('--poll <time>', 'poll interval: 500ms, 1s', '1s')
      .option('-o, --out <file>', 'config file to write', 'gateway.yaml')
      .option('--force', 'overwrite the config file if it exists')
      .option('--no-test', 'skip the live connection test and the test read')
      .option('-y, --yes', 'ask nothing: take flags and defaults (also when there is no terminal)')
      .addHelpText(
        'after',
        examples([
          'bifrost connect',
          'bifrost connect modbus://10.0.0.5:502?unit=1',
          'bifrost connect --protocol modbus --host 127.0.0.1 --port 5020 --unit 1 --name press1 --tags temp=HR0:FLOAT32,count=IR0 --out gateway.yaml --yes',
        ]),
      )
      .action(run(async (ctx, url: string | undefined, opts: ConnectOptions) => wizard(ctx, url, opts)));
  },
};

type Clack = typeof import('@clack/prompts');

async function wizard(ctx: CliContext, urlArg: string | undefined, opts: ConnectOptions): Promise<ExitCode> {
  const core = await import('@bifrost/core');
  const unattended = opts.yes === true || !ctx.interactive;
  const clack: Clack | undefined = unattended ? undefined : await import('@clack/prompts');
  const p = ctx.errPalette;
  const usage = (m: string) => new core.BifrostError('BIFROST_CLI_USAGE', m, { hint: 'run bifrost connect --help: every question has a flag' });
  const cancelled = () => new core.BifrostError('BIFROST_ABORTED', 'wizard cancelled');
  const ask = <T>(value: T | symbol): T => {
    if (typeof value === 'symbol') throw cancelled();
    return value;
  };
  clack?.intro(p.header(' bifrost connect '));

  // 1. Where: a URL, or protocol + host + port + options.
  let url: string;
  if (urlArg) {
    const u = core.parseDeviceUrl(urlArg);
    if (!SCHEME_TO_PROTOCOL[u.protocol.replace(/:$/, '')]) throw new core.BifrostError('BIFROST_UNKNOWN_SCHEME', `no driver for "${u.protocol}//"`);
    url = urlArg;
  } else {
    const protocol: ProtocolName =
      opts.protocol ??
      (clack
        ? ask<ProtocolName>(
            await clack.select<ProtocolName>({
              message: 'Protocol',
              options: [
                { value: 'modbus', label: 'Modbus TCP', hint: 'port 502' },
                { value: 's7', label: 'Siemens S7', hint: 'S7-300/400/1200/1500, port 102' },
                { value: 'eip', label: 'EtherNet/IP (CIP, Logix)', hint: 'port 44818' },
                { value: 'opcua', label: 'OPC UA', hint: 'port 4840' },
              ],
            }),
          )
        : (() => {
            throw usage('no device given: pass a URL or --protocol and --host');
          })());
    const host =
      opts.host ??
      (clack
        ? ask<string>(await clack.text({ message: 'Host or IP', placeholder: '127.0.0.1', defaultValue: '127.0.0.1' }))
        : (() => {
            throw usage('--host is required with --protocol');
          })());
    const port =
      opts.port ??
      (clack
        ? Number(ask<string>(await clack.text({ message: 'Port', defaultValue: String(DEFAULT_PORTS[protocol]), placeholder: String(DEFAULT_PORTS[protocol]), validate: intValidator(1, 65535) })))
        : DEFAULT_PORTS[protocol]);
    const a: Parameters<typeof buildUrl>[0] = { protocol, host, port };
    if (protocol === 'modbus') a.unit = opts.unit ?? (clack ? Number(ask<string>(await clack.text({ message: 'Unit id', defaultValue: '1', placeholder: '1', validate: intValidator(0, 255) }))) : 1);
    if (protocol === 's7') {
      a.rack = opts.rack ?? (clack ? Number(ask<string>(await clack.text({ message: 'Rack', defaultValue: '0', placeholder: '0', validate: intValidator(0, 7) }))) : 0);
      a.slot = opts.slot ?? (clack ? Number(ask<string>(await clack.text({ message: 'Slot', defaultValue: '1', placeholder: '1 (S7-1200/1500), 2 (S7-300)', validate: intValidator(0, 31) }))) : 1);
    }
    if (protocol === 'eip') {
      const path = opts.path ?? (clack ? ask<string>(await clack.text({ message: 'Route path (backplane,slot)', defaultValue: '1,0', placeholder: '1,0' })) : '1,0');
      a.path = path;
    }
    if (protocol === 'opcua' && opts.endpoint !== undefined) a.endpoint = opts.endpoint;
    url = buildUrl(a);
  }
  core.parseDeviceUrl(url);
  const name =
    opts.name && (opts.name !== 'plc1' || !clack)
      ? opts.name
      : ask<string>(
          await clack!.text({
            message: 'Device name',
            defaultValue: 'plc1',
            placeholder: 'plc1',
            validate: (v) => (!v || /^[A-Za-z_][A-Za-z0-9_-]*$/.test(v) ? undefined : 'letters, digits, _ and -, starting with a letter'),
          }),
        );
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) throw usage(`--name "${name}" must be letters, digits, _ and -, starting with a letter or _`);
  const pollMs = core.parseDuration(opts.poll ?? '1s');

  // Unattended, an existing file can only be refused: say so before talking to the device.
  if (!clack && existsSync(opts.out) && !opts.force) throw new core.BifrostError('BIFROST_CLI_USAGE', `${opts.out} exists`, { hint: 'pass --force to overwrite it, or --out another file' });

  // 2. A live connection test with the device's identity.
  let device: Device | undefined;
  let identity: DeviceIdentity | undefined;
  try {
    if (opts.test) {
      const spin = clack?.spinner();
      spin?.start(`Connecting to ${core.redactUrl(url)}`);
      try {
        device = await core.connect(url, { name, ...deviceStateOptions(url, ctx.stateDir), signal: ctx.signal });
        identity = await device.identify({ signal: ctx.signal }).catch(() => ({ protocol: device?.protocol ?? '?' }));
        spin?.stop(`${p.success(SYMBOLS.ok)} connected`);
      } catch (e) {
        spin?.error(`${p.error(SYMBOLS.error)} connection failed`);
        throw e;
      }
      const who = Object.entries(identity)
        .filter(([, v]) => v !== undefined && typeof v !== 'object')
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join('\n');
      if (clack) clack.note(who, 'Device identity');
      else if (!ctx.json) ctx.err(`${p.success(SYMBOLS.ok)} connected to ${core.redactUrl(url)} · ${who.replaceAll('\n', ' · ')}`);
    }

    // 3. Tags: given, browsed, or typed.
    let tags = opts.tags ? parseTagList(opts.tags) : [];
    if (tags.length === 0 && clack) {
      if (device?.browse) {
        const nodes = await device.browse('/', { depth: 3, signal: ctx.signal }).catch(() => []);
        const flat = flatten(nodes).slice(0, 500);
        if (flat.length > 0) {
          const picked = ask<string[]>(
            await clack.multiselect<string>({ message: 'Tags to read (space selects)', options: flat.map((n) => ({ value: n.address, label: n.label, hint: n.type })), required: false }),
          );
          tags = picked.map((a) => ({ name: tagNameFor(flat.find((f) => f.address === a)?.name ?? a), address: a }));
        }
      }
      if (tags.length === 0) {
        const typed = ask<string>(
          await clack.text({
            message: 'Tags (name=address, comma separated)',
            placeholder: 'temperature=HR0:FLOAT32, count=IR0',
            validate: (v) => (v && parseTagList(v).length > 0 ? undefined : 'at least one tag'),
          }),
        );
        tags = parseTagList(typed);
      }
    }
    if (tags.length === 0) throw usage('no tags: pass --tags name=address,…');
    const dup = tags.find((t, i) => tags.findIndex((u) => u.name === t.name) !== i);
    if (dup) throw usage(`tag name "${dup.name}" is used twice`);
    const driver = await core.resolveDriver(core.parseDeviceUrl(url));
    for (const t of tags) driver.validateAddress?.(t.address);

    // 4. Read them once.
    let values: TagValue[] = [];
    if (device) {
      values = await device.readMany(
        tags.map((t) => t.address),
        { signal: ctx.signal },
      );
      const lines = tags.map((t, i) => {
        const v = values[i] as TagValue;
        return `${t.name.padEnd(16)} ${t.address.padEnd(18)} ${v.quality === 'good' ? p.success(formatValue(v.value)) : p.error(`${v.quality} ${v.error?.code ?? ''}`)}`;
      });
      if (clack) clack.note(lines.join('\n'), 'First read');
      else if (!ctx.json) for (const l of lines) ctx.err(`  ${l}`);
      const bad = values.filter((v) => v.quality === 'bad').length;
      if (bad > 0 && clack) {
        const keep = ask<boolean>(await clack.confirm({ message: `${bad} tag(s) could not be read. Keep them in the config?`, initialValue: false }));
        if (!keep) tags = tags.filter((_, i) => values[i]?.quality !== 'bad');
      }
    }

    // 5. Write gateway.yaml, checked by the same parser the gateway uses.
    if (existsSync(opts.out) && !opts.force) {
      const overwrite = clack ? ask<boolean>(await clack.confirm({ message: `${opts.out} exists. Overwrite it?`, initialValue: false })) : false;
      if (!overwrite) throw new core.BifrostError('BIFROST_CLI_USAGE', `${opts.out} exists`, { hint: 'pass --force to overwrite it, or --out another file' });
    }
    const text = await gatewayYaml({ name, url, pollMs, tags });
    core.parseGatewayConfig(text, opts.out);
    await writeFile(opts.out, text);
    const bad = values.filter((v) => v.quality === 'bad').length;
    if (ctx.json)
      ctx.printJson({
        file: opts.out,
        device: { name, url: core.redactUrl(url), pollMs },
        identity: identity ?? null,
        tags: tags.map((t, i) => ({ ...t, ...(values[i] ? core.tagValueToJSON(values[i] as TagValue) : {}) })),
      });
    const done = `${p.success(SYMBOLS.ok)} wrote ${opts.out} (${tags.length} tag${tags.length === 1 ? '' : 's'}) · start it with ${p.special(`bifrost run ${opts.out}`)}`;
    if (clack) clack.outro(done);
    else if (!ctx.json) ctx.err(done);
    return bad > 0 ? EXIT.PARTIAL : EXIT.OK;
  } finally {
    await device?.close();
  }
  function intValidator(min: number, max: number) {
    return (v: string | undefined) => (v === undefined || v === '' || (Number.isInteger(Number(v)) && Number(v) >= min && Number(v) <= max) ? undefined : `a whole number from ${min} to ${max}`);
  }
}

function flatten(nodes: readonly import('@bifrost/core').BrowseNode[], prefix = ''): { name: string; label: string; address: string; type?: string }[] {
  const out: { name: string; label: string; address: string; type?: string }[] = [];
  for (const n of nodes) {
    const label = prefix ? `${prefix}/${n.name}` : n.name;
    if (n.address && n.kind === 'tag') out.push({ name: n.name, label, address: n.address, ...(n.type ? { type: String(n.type) } : {}) });
    if (n.children) out.push(...flatten(n.children, label));
  }
  return out;
}
