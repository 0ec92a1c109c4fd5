/**
 * @module
 * The first argument of read-type commands is a device URL or a gateway.yaml. This module turns
 * either into a list of devices with their tags, opens them, and reads them together, so
 * `monitor`, `export` and `read` treat a config file and a URL the same way.
 */

import type { Device, TagValue } from '@bifrost/core';
import type { AlarmState } from '@bifrost/gateway';
import { fs } from './node-fs.js';
import { deviceStateOptions } from './state-dir.js';

/** One tag to read. */
export interface TargetTag {
  /** The name shown (the tag name from the config, or the address given on the command line). */
  name: string;
  address: string;
  unit?: string;
  min?: number;
  max?: number;
}

/** One device to read. */
export interface TargetDevice {
  name: string;
  url: string;
  tags: TargetTag[];
  timeoutMs?: number;
}

/** True when `source` names a config file rather than a device URL. */
export function isConfigFile(source: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return false;
  return /\.ya?ml$/i.test(source) || fs.existsSync(source);
}

/**
 * Resolves a URL or a gateway.yaml and an optional tag list into devices and tags. With a config,
 * a tag is selected by `name` or `device.name`; with a URL, each tag is an address.
 * @example await resolveTargets('gateway.yaml', ['press1.temperature'])
 */
export async function resolveTargets(source: string, tags: readonly string[]): Promise<TargetDevice[]> {
  const core = await import('@bifrost/core');
  if (!isConfigFile(source)) {
    core.parseDeviceUrl(source);
    if (tags.length === 0) throw new core.BifrostError('BIFROST_CLI_USAGE', `no tags given for ${core.redactUrl(source)}: name one or more addresses such as HR0 or HR1:FLOAT32`);
    return [{ name: deviceNameFor(source), url: source, tags: tags.map((a) => ({ name: a, address: a })) }];
  }
  const { config } = core.loadGatewayConfig(source);
  const wanted = new Set(tags);
  const used = new Set<string>();
  const devices: TargetDevice[] = [];
  for (const d of config.devices) {
    if (!d.enabled) continue;
    const picked = d.tags.filter((t) => {
      const hit = wanted.size === 0 || wanted.has(t.name) || wanted.has(`${d.name}.${t.name}`);
      if (hit) used.add(wanted.has(`${d.name}.${t.name}`) ? `${d.name}.${t.name}` : t.name);
      return hit;
    });
    if (picked.length === 0) continue;
    const device: TargetDevice = {
      name: d.name,
      url: d.url,
      tags: picked.map((t) => {
        const tag: TargetTag = { name: config.devices.length > 1 ? `${d.name}.${t.name}` : t.name, address: t.address };
        if (t.unit !== undefined) tag.unit = t.unit;
        if (t.min !== undefined) tag.min = t.min;
        if (t.max !== undefined) tag.max = t.max;
        return tag;
      }),
    };
    if (d.timeoutMs !== undefined) device.timeoutMs = d.timeoutMs;
    devices.push(device);
  }
  const unknown = [...wanted].filter((t) => !used.has(t));
  if (unknown.length > 0) throw new core.BifrostError('BIFROST_CLI_USAGE', `${source} has no tag named ${unknown.map((t) => `"${t}"`).join(', ')}`);
  if (devices.length === 0) throw new core.BifrostError('BIFROST_CLI_USAGE', `${source} has no enabled device with tags`);
  return devices;
}

/** A short device name from a URL: its host and port. */
export function deviceNameFor(url: string): string {
  try {
    const u = new URL(url);
    return u.host || u.pathname || url;
  } catch {
    return url;
  }
}

/** Open devices, closed together. */
export class DeviceSet implements AsyncDisposable {
  readonly entries: { target: TargetDevice; device: Device }[] = [];

  /**
   * Connects every device (lazily, so one unreachable device does not stop the others).
   * @example await using set = await DeviceSet.open(targets)
   */
  static async open(targets: readonly TargetDevice[], options: { lazy?: boolean; signal?: AbortSignal; stateDir?: () => string } = {}): Promise<DeviceSet> {
    const { connect } = await import('@bifrost/core');
    const set = new DeviceSet();
    try {
      for (const target of targets) {
        const opts: Record<string, unknown> = { name: target.name, lazy: options.lazy ?? false, ...(options.stateDir ? deviceStateOptions(target.url, options.stateDir) : {}) };
        if (options.signal) opts.signal = options.signal;
        if (target.timeoutMs !== undefined) opts.requestTimeoutMs = target.timeoutMs;
        set.entries.push({ target, device: await connect(target.url, opts) });
      }
    } catch (e) {
      await set.close();
      throw e;
    }
    return set;
  }

  /** Reads every tag of every device; results in target order, device by device. */
  async readAll(signal?: AbortSignal): Promise<{ target: TargetDevice; tag: TargetTag; value: TagValue }[]> {
    const per = await Promise.all(
      this.entries.map(async ({ target, device }) => {
        const values = await device.readMany(
          target.tags.map((t) => t.address),
          signal ? { signal } : {},
        );
        return target.tags.map((tag, i) => ({ target, tag, value: values[i] as TagValue }));
      }),
    );
    return per.flat();
  }

  /** Alarms raised by something beyond tag limits (a gateway's pipelines); none for plain devices. */
  pipelineAlarms(): readonly AlarmState[] {
    return [];
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.entries.map((e) => e.device.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
