import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { azureMqttIdentity, azureSasToken, createSink, renderTopic, startEmbeddedBroker, validateSinkConfig } from '@bifrost/cloud';
import { makeTestPki, type TestPki } from '@bifrost/cloud/test-fixtures';
import { type BifrostError, parseGatewayConfig } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-cfg-'));
let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki(mkdtempSync(join(root, 'pki-')));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A device key of 32 ASCII bytes, as base64, and a fixed expiry.
const KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const URI = 'myhub.azure-devices.net/devices/dev1';

describe('Azure IoT Hub SAS token', () => {
  it('matches a vector computed independently with openssl dgst -sha256 -hmac', () => {
    const se = 1_700_000_000;
    const toSign = `${encodeURIComponent(URI)}\n${se}`;
    const hexKey = Buffer.from(KEY, 'base64').toString('hex');
    const sig = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey}`, '-binary'], { input: toSign }).toString('base64');
    // Computed once with: printf '%s\n%s' 'myhub.azure-devices.net%2Fdevices%2Fdev1' 1700000000 | openssl dgst -sha256 -mac HMAC -macopt hexkey:<key hex> -binary | base64
    expect(sig).toBe('wosmA3uJK9T0mdB5CIYn+sAVA2ODflnucuvNO5S6mbM=');
    expect(azureSasToken({ resourceUri: URI, key: KEY, expiry: se })).toBe(
      `SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=${encodeURIComponent('wosmA3uJK9T0mdB5CIYn+sAVA2ODflnucuvNO5S6mbM=')}&se=1700000000`,
    );
    expect(azureSasToken({ resourceUri: URI, key: KEY, expiry: se, policyName: 'device' })).toMatch(/&skn=device$/);
    expect(() => azureSasToken({ resourceUri: URI, key: '', expiry: se })).toThrow(/device key is empty/);
  });

  it('names the MQTT identity IoT Hub expects', () => {
    expect(azureMqttIdentity('myhub', 'dev1')).toEqual({
      host: 'myhub.azure-devices.net',
      clientId: 'dev1',
      username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12',
      topic: 'devices/dev1/messages/events/',
      resourceUri: URI,
    });
  });
});

describe('topic templates', () => {
  it.each([
    ['{site}/{area}/{device}/{tag}', { site: 'plant1', area: 'press', device: 'p1', tag: 'temp' }, 'plant1/press/p1/temp'],
    ['{site}/{area}/{device}/{tag}', { site: 'plant1', device: 'p1', tag: 'temp' }, 'plant1/p1/temp'],
    ['{site}/{device}/{tag}', { site: 'a+b', device: 'x#', tag: 't' }, 'a_b/x_/t'],
    ['devices/{device}/messages/events/', { device: 'd1' }, 'devices/d1/messages/events/'],
  ])('%s with %j → %s', (template, vars, topic) => {
    expect(renderTopic(template, vars)).toBe(topic);
  });
});

describe('validateSinkConfig', () => {
  const yaml = (sink: string) => `devices: []\nsinks:\n${sink}`;
  const check = (text: string): BifrostError => {
    const { config, source } = parseGatewayConfig(text, 'gateway.yaml');
    try {
      validateSinkConfig(config.sinks[0], (p, e, g) => source.errorAt(['sinks', 0, ...p], e, g));
    } catch (e) {
      return e as BifrostError;
    }
    throw new Error('expected a config error');
  };

  it.each([
    ['an unknown type', '  - type: kafka\n    url: x\n', /gateway\.yaml:3:11: sinks\[0\]\.type: expected one of "mqtt", "aws-iot", "azure-iot", got "kafka"/],
    ['a bad qos', '  - type: mqtt\n    url: mqtt://h:1883\n    qos: 2\n', /gateway\.yaml:5:10: sinks\[0\]\.qos: expected one of the accepted forms, got 2/],
    ['a bad URL', '  - type: mqtt\n    url: http://h\n', /gateway\.yaml:4:10: sinks\[0\]\.url: expected a broker URL/],
    ['an unknown field', '  - type: mqtt\n    url: mqtt://h\n    pasword: x\n', /gateway\.yaml:5:\d+: sinks\[0\]\.pasword: expected no field named "pasword" here/],
    ['two password sources', '  - type: mqtt\n    url: mqtt://h\n    password: a\n    passwordEnv: B\n', /sinks\[0\]\.passwordEnv: expected only one of password, passwordFile, passwordEnv/],
    ['a bad buffer policy', '  - type: mqtt\n    url: mqtt://h\n    buffer: { dir: ./q, policy: keep }\n', /sinks\[0\]\.buffer\.policy: expected one of "drop-oldest", "reject-new", got "keep"/],
    ['sparkplug without ids', '  - type: mqtt\n    url: mqtt://h\n    payload: sparkplug\n', /sinks\[0\]\.sparkplug: expected sparkplug: \{ groupId, edgeNodeId \}/],
    ['aws-iot without a certificate', '  - type: aws-iot\n    endpoint: abc-ats.iot.eu-west-1.amazonaws.com\n    thingName: gw1\n', /sinks\[0\]\.tls\.cert: expected the device certificate file/],
    ['azure-iot without a key or certificate', '  - type: azure-iot\n    hub: myhub\n    deviceId: dev1\n', /sinks\[0\]\.deviceKey: expected a device key/],
  ])('reports %s with file, line and field', (_name, sink, message) => {
    const e = check(yaml(sink));
    expect(e.code).toBe('BIFROST_CONFIG_INVALID');
    expect(e.message).toMatch(message);
  });

  it('without errorAt still names the field', () => {
    expect(() => validateSinkConfig({ type: 'mqtt', url: 'mqtt://h', qos: 3 })).toThrow(/sink qos: expected/);
    expect(validateSinkConfig({ type: 'mqtt', url: 'mqtts://h:8883', qos: 1, buffer: { dir: './q', fsync: '200ms' } })).toMatchObject({ type: 'mqtt', qos: 1 });
  });

  it('reads secrets from files and reports a missing one without its content', () => {
    const f = join(root, 'pw.txt');
    writeFileSync(f, 'from-file\n');
    expect(() => createSink({ type: 'mqtt', url: 'mqtt://h', passwordFile: join(root, 'nope.txt'), buffer: { dir: join(root, 'q0') } })).toThrow(/cannot read passwordFile file .*nope\.txt: ENOENT/);
    expect(createSink({ type: 'mqtt', url: 'mqtt://h', passwordFile: f, buffer: { dir: join(root, 'q0') } }).name).toBe('h');
  });
});

describe('cloud profiles against a broker that checks the credentials', () => {
  it('azure-iot: client id, username and a SAS token the broker verifies; telemetry on devices/{id}/messages/events/', async () => {
    const seen: Array<{ clientId: string; username?: string; password?: string }> = [];
    const broker = await startEmbeddedBroker({
      tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) },
      authenticate: (clientId, username, password) => {
        seen.push({ clientId, username, password: password?.toString() });
        // The broker side recomputes the signature from the device key (Azure's documented algorithm).
        const m = /^SharedAccessSignature sr=([^&]+)&sig=([^&]+)&se=(\d+)$/.exec(password?.toString() ?? '');
        if (!m) return false;
        const expect = createHmac('sha256', Buffer.from(KEY, 'base64')).update(`${m[1]}\n${m[3]}`).digest('base64');
        return decodeURIComponent(m[1] as string) === URI && decodeURIComponent(m[2] as string) === expect && Number(m[3]) > Date.now() / 1000;
      },
    });
    const sub = await mqtt.connectAsync(broker.url, { ca: readFileSync(pki.caCert), username: 'sub', password: 'x' }).catch(() => undefined);
    expect(sub).toBeUndefined(); // a wrong token is refused…
    const token = azureSasToken({ resourceUri: URI, key: KEY, expiry: Math.floor(Date.now() / 1000) + 60 });
    const reader = await mqtt.connectAsync(broker.url, { ca: readFileSync(pki.caCert), clientId: 'reader', username: 'reader', password: token });
    const got: Array<{ topic: string; payload: string }> = [];
    reader.on('message', (topic, p) => got.push({ topic, payload: p.toString() }));
    await reader.subscribeAsync('devices/#', { qos: 1 });
    const sink = createSink(
      { type: 'azure-iot', hub: 'myhub', deviceId: 'dev1', deviceKeyEnv: 'AZ_KEY', url: broker.url, tls: { ca: pki.caCert }, buffer: { dir: join(root, 'az') } },
      { env: { AZ_KEY: KEY } },
    );
    await sink.start();
    await sink.publish({ device: 'press1', tag: 'temp', value: 1.5, quality: 'good', timestamp: 1 });
    await waitFor(() => got.length === 1, 10_000);
    expect(got[0]?.topic).toBe('devices/dev1/messages/events/');
    expect(JSON.parse(got[0]?.payload ?? '')).toMatchObject({ device: 'press1', tag: 'temp', value: 1.5 });
    const fromSink = seen.find((s) => s.clientId === 'dev1');
    expect(fromSink?.username).toBe('myhub.azure-devices.net/dev1/?api-version=2021-04-12');
    await sink.stop();
    await reader.endAsync(true);
    await broker.close();
  });

  it('aws-iot: mutual TLS with the device certificate; the client id is the thing name', async () => {
    const seen: string[] = [];
    const broker = await startEmbeddedBroker({
      tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert), requestCert: true },
      authenticate: (clientId) => {
        seen.push(clientId);
        return true;
      },
    });
    const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
    const reader = await mqtt.connectAsync(broker.url, { ...tls, clientId: 'reader' });
    const got: string[] = [];
    reader.on('message', (topic) => got.push(topic));
    await reader.subscribeAsync('#', { qos: 1 });
    const sink = createSink(
      { type: 'aws-iot', url: broker.url, thingName: 'press-line-1', tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey }, buffer: { dir: join(root, 'aws') } },
      { site: 'plant1', area: 'press' },
    );
    await sink.start();
    await sink.publish({ device: 'press1', tag: 'temp', value: 2, quality: 'good', timestamp: 1 });
    await waitFor(() => got.length === 1, 10_000);
    expect(got).toEqual(['plant1/press/press1/temp']);
    expect(seen).toContain('press-line-1');
    await sink.stop();
    await reader.endAsync(true);
    await broker.close();
  });
});
