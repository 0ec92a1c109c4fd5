/**
 * @module
 * A DeviceSet whose reads come from a running gateway's latest values, so `bifrost demo` and
 * `bifrost run --dashboard` show the terminal dashboard without a second polling loop.
 */
import type { TagValue } from '@bifrost/core';
import type { AlarmState, Gateway } from '@bifrost/gateway';
import { DeviceSet, type TargetDevice, type TargetTag } from './targets.js';

/** The gateway's devices and tags as the monitor's model sees them. */
export class GatewayDeviceSet extends DeviceSet {
  readonly #gateway: Gateway;

  constructor(gateway: Gateway) {
    super();
    this.#gateway = gateway;
    for (const { config } of gateway.devices()) {
      const device = gateway.device(config.name);
      if (!device) continue;
      const tags: TargetTag[] = config.tags.map((t) => {
        const tag: TargetTag = { name: `${config.name}.${t.name}`, address: t.address };
        if (t.unit !== undefined) tag.unit = t.unit;
        if (t.min !== undefined) tag.min = t.min;
        if (t.max !== undefined) tag.max = t.max;
        return tag;
      });
      const target: TargetDevice = { name: config.name, url: config.url, tags };
      this.entries.push({ target, device });
    }
  }

  override async readAll(): Promise<{ target: TargetDevice; tag: TargetTag; value: TagValue }[]> {
    const out: { target: TargetDevice; tag: TargetTag; value: TagValue }[] = [];
    for (const { target } of this.entries) {
      for (const tag of target.tags) {
        const name = tag.name.slice(target.name.length + 1);
        const v = this.#gateway.latestOf(target.name, name);
        out.push({ target, tag, value: v ?? { address: tag.address, value: null, quality: 'uncertain', timestamp: Date.now() } });
      }
    }
    return out;
  }

  /** The gateway's pipeline alarms (active, and cleared but not yet acknowledged). */
  override pipelineAlarms(): readonly AlarmState[] {
    return this.#gateway.alarms();
  }

  /** The gateway owns the devices: closing the view leaves them open. */
  override async close(): Promise<void> {}
}
