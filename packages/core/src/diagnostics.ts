/**
 * @module
 * Libraries do not print: they publish on `node:diagnostics_channel`, and the apps decide what a
 * person sees (as undici does). Channel names are `bifrost:<area>:<event>`.
 */
import diagnostics from 'node:diagnostics_channel';

/** The channels core publishes on. Protocol packages create their own with {@link channel}. */
export const channels = {
  /** `{ device, state, previous, at, error? }` on every device health change. */
  health: diagnostics.channel('bifrost:device:health'),
  /** `{ device, address, oldValue, newValue, result, user, source }` on every audited write. */
  write: diagnostics.channel('bifrost:write'),
};

/**
 * A named diagnostics channel, `bifrost:<area>:<event>`.
 * @example const requests = channel('modbus', 'request'); if (requests.hasSubscribers) requests.publish({ … })
 */
export function channel(area: string, event: string): diagnostics.Channel {
  return diagnostics.channel(`bifrost:${area}:${event}`);
}
