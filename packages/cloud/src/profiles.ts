/**
 * @module
 * Cloud profiles on top of the MQTT sink.
 *
 * - AWS IoT Core: MQTT over mutual TLS on port 8883 with the device certificate, its key and the
 *   Amazon root CA; the client id is the thing name (AWS IoT Core Developer Guide, "Device
 *   communication protocols – MQTT").
 * - Azure IoT Hub: client id = device id, username `{hub}.azure-devices.net/{deviceId}/?api-version=2021-04-12`,
 *   password a SAS token, telemetry to `devices/{deviceId}/messages/events/` (Azure IoT Hub docs,
 *   "Communicate with an IoT hub using the MQTT protocol"); or X.509 client certificates.
 * - Google Cloud IoT Core was retired on 16 August 2023; use the generic MQTT sink with any broker.
 */
import { createHmac } from 'node:crypto';
import { BifrostError } from '@bifrost/core';

/** The api-version IoT Hub's MQTT username names. */
export const AZURE_API_VERSION = '2021-04-12';

/** Inputs of {@link azureSasToken}. */
export interface AzureSasOptions {
  /** `{hub}.azure-devices.net/devices/{deviceId}`. */
  resourceUri: string;
  /** The device's symmetric key, base64 as the portal shows it. */
  key: string;
  /** Expiry, seconds since the Unix epoch. */
  expiry: number;
  /** Shared access policy name, for hub-level keys only. */
  policyName?: string;
}

/**
 * An IoT Hub SAS token: `SharedAccessSignature sr={URL-encoded resource URI}&sig={signature}&se={expiry}`,
 * where signature = base64(HMAC-SHA256(base64-decoded key, `{URL-encoded resource URI}\n{expiry}`)),
 * URL-encoded (Azure IoT Hub docs, "Control access to IoT Hub using Shared Access Signatures").
 * @example azureSasToken({ resourceUri: 'myhub.azure-devices.net/devices/dev1', key: deviceKey, expiry: Math.floor(Date.now() / 1000) + 3600 })
 */
export function azureSasToken(o: AzureSasOptions): string {
  if (!Number.isSafeInteger(o.expiry) || o.expiry <= 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `SAS expiry must be seconds since the epoch, got ${o.expiry}`);
  const key = Buffer.from(o.key, 'base64');
  if (key.length === 0) throw new BifrostError('BIFROST_CLOUD_SECRET', 'the Azure device key is empty or not base64');
  const sr = encodeURIComponent(o.resourceUri);
  const sig = createHmac('sha256', key).update(`${sr}\n${o.expiry}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${o.expiry}${o.policyName ? `&skn=${encodeURIComponent(o.policyName)}` : ''}`;
}

/** `myhub` or `myhub.azure-devices.net` → `myhub.azure-devices.net`. */
export function azureHubHost(hub: string): string {
  return hub.includes('.') ? hub : `${hub}.azure-devices.net`;
}

/**
 * The MQTT connection fields IoT Hub expects of a device.
 * @example azureMqttIdentity('myhub', 'dev1') // { clientId: 'dev1', username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12', topic: 'devices/dev1/messages/events/', … }
 */
export function azureMqttIdentity(hub: string, deviceId: string): { host: string; clientId: string; username: string; topic: string; resourceUri: string } {
  const host = azureHubHost(hub);
  return {
    host,
    clientId: deviceId,
    username: `${host}/${deviceId}/?api-version=${AZURE_API_VERSION}`,
    topic: `devices/${deviceId}/messages/events/`,
    resourceUri: `${host}/devices/${deviceId}`,
  };
}
