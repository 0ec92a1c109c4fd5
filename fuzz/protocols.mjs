/**
 * @module
 * The protocol adapters of the fuzz harness: for each protocol, its simulator, the operations our
 * client runs (their bytes are the seeds), how its stream splits into frames, its length fields,
 * how to make a mutated frame self-consistent at the framing layer (`seal`), which server-assigned
 * values a replayed conversation carries (`learn`/`fix`) and which request fields a reply echoes
 * (`patchReply`). Offsets follow the specifications cited beside them.
 */

/** Starts each protocol's simulator as `bifrost simulate` does (in the target process). */
export const simulators = {
  'modbus-tcp': async () => (await import('@bifrost/modbus')).startModbusSimulator({ port: 0 }),
  'modbus-rtu': async () => (await import('@bifrost/modbus')).startModbusSimulator({ port: 0, framing: 'rtu' }),
  s7: async () => (await import('@bifrost/s7')).startSimulator({ port: 0 }),
  eip: async () => (await import('@bifrost/ethernetip')).startSimulator({ port: 0, udp: false }),
  opcua: async () => (await import('@bifrost/opcua')).startSimulator({ port: 0, config: { updateMs: 1000 } }),
};

// ── Modbus ──

/** CRC-16/MODBUS (Modbus over Serial Line v1.02 §6.2.2). */
function crc16(b, n) {
  let crc = 0xffff;
  for (let i = 0; i < n; i++) {
    crc ^= b[i];
    for (let j = 0; j < 8; j++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

const modbusOps = [
  ['read', (d) => d.read('HR0:FLOAT32')],
  ['readMany', (d) => d.readMany(['HR4', 'IR9', 'C0', 'DI0', 'HR6:UINT32'])],
  ['write', (d) => d.write('HR12:UINT16', 7)],
  ['writeCoil', (d) => d.write('C3', true)],
  ['readArray', (d) => d.read('HR20:FLOAT32[4]')],
  ['identify', (d) => d.identify()],
];

/** Modbus TCP: MBAP header (Modbus Messaging on TCP/IP v1.0b §3.1.3). */
const modbusTcp = {
  name: 'modbus-tcp',
  url: (port) => `modbus://127.0.0.1:${port}?unit=1`,
  stateless: true,
  headerSize: 8,
  frameLength: (b) => (b.length >= 6 ? 6 + b.readUInt16BE(4) : 0),
  lengthFields(b) {
    const f = [{ offset: 4, size: 2 }];
    // Quantity of a read/write request, and the byte count of FC 15/16 (Application Protocol v1.1b3 §6.11–6.12).
    if (b.length >= 12 && b[7] !== 0x2b) f.push({ offset: 10, size: 2 });
    if (b.length >= 13 && (b[7] === 0x0f || b[7] === 0x10)) f.push({ offset: 12, size: 1 });
    return f;
  },
  seal(b) {
    if (b.length < 6) return b;
    const c = Buffer.from(b);
    c.writeUInt16BE(Math.min(0xffff, c.length - 6), 4);
    return c;
  },
  patchReply(reply, req) {
    if (reply.length < 2 || req.length < 2) return reply;
    const c = Buffer.from(reply);
    req.copy(c, 0, 0, 2); // The transaction identifier is echoed (§3.1.3).
    return c;
  },
  clientOps: modbusOps,
};

/** Modbus RTU over TCP: RTU frames (unit, PDU, CRC) on a TCP stream; a chunk is a frame. */
const modbusRtu = {
  name: 'modbus-rtu',
  url: (port) => `modbus+rtuovertcp://127.0.0.1:${port}?unit=1`,
  stateless: true,
  headerSize: 2,
  lengthFields(b) {
    const f = [];
    if (b.length >= 6 && b[1] !== 0x2b) f.push({ offset: 4, size: 2 });
    if (b.length >= 7 && (b[1] === 0x0f || b[1] === 0x10)) f.push({ offset: 6, size: 1 });
    return f;
  },
  seal(b) {
    if (b.length < 3) return b;
    const c = Buffer.from(b);
    c.writeUInt16LE(crc16(c, c.length - 2), c.length - 2);
    return c;
  },
  clientOps: modbusOps,
};

// ── S7 ──

/** TPKT (RFC 1006 §6) + COTP DT (ISO 8073) + S7 header: the PDU reference is at 11. */
const s7 = {
  name: 's7',
  url: (port) => `s7://127.0.0.1:${port}?rack=0&slot=1`,
  headerSize: 7,
  frameLength: (b) => (b.length >= 4 ? b.readUInt16BE(2) : 0),
  lengthFields(b) {
    const f = [
      { offset: 2, size: 2 },
      { offset: 4, size: 1 },
    ];
    if (b.length >= 17 && b[5] === 0xf0) {
      // S7 header parameter and data lengths; in a read/write job the item count and the first item's spec length and count.
      f.push({ offset: 13, size: 2 }, { offset: 15, size: 2 });
      if (b.length > 18) f.push({ offset: 18, size: 1 });
      if (b.length > 20) f.push({ offset: 20, size: 1 });
      if (b.length > 24) f.push({ offset: 23, size: 2 });
    }
    return f;
  },
  seal(b) {
    if (b.length < 4) return b;
    const c = Buffer.from(b);
    c.writeUInt16BE(Math.min(0xffff, c.length), 2);
    return c;
  },
  patchReply(reply, req) {
    if (reply.length < 13 || req.length < 13 || reply[5] !== 0xf0 || req[5] !== 0xf0) return reply;
    const c = Buffer.from(reply);
    req.copy(c, 11, 11, 13);
    return c;
  },
  clientOps: [
    ['read', (d) => d.read('DB1.DBD0:REAL')],
    ['readMany', (d) => d.readMany(['DB1.DBD8:DINT', 'DB1.DBX16.0', 'DB1.DBB20:STRING[20]', 'MW10', 'I0.0'])],
    ['write', (d) => d.write('DB2.DBW0:INT', 5)],
    ['identify', (d) => d.identify()],
  ],
};

// ── EtherNet/IP ──

/** The Common Packet Format items of a SendRRData/SendUnitData packet (CIP Vol 2 §2-6): offsets of their type. */
function cpfItems(b) {
  const out = [];
  if (b.length < 32) return out;
  const cmd = b.readUInt16LE(0);
  if (cmd !== 0x6f && cmd !== 0x70) return out;
  const count = b.readUInt16LE(30);
  let o = 32;
  for (let i = 0; i < count && o + 4 <= b.length; i++) {
    const len = b.readUInt16LE(o + 2);
    out.push({ type: b.readUInt16LE(o), at: o, len });
    o += 4 + len;
  }
  return out;
}

const eip = {
  name: 'eip',
  url: (port) => `eip://127.0.0.1:${port}?path=1,0`,
  headerSize: 24,
  frameLength: (b) => (b.length >= 4 ? 24 + b.readUInt16LE(2) : 0),
  lengthFields(b) {
    const f = [{ offset: 2, size: 2, le: true }];
    if (b.length >= 32 && (b.readUInt16LE(0) === 0x6f || b.readUInt16LE(0) === 0x70)) f.push({ offset: 30, size: 2, le: true });
    for (const it of cpfItems(b)) {
      f.push({ offset: it.at + 2, size: 2, le: true });
      // The Message Router request's path size in words (CIP Vol 1 §2-4.1), behind the sequence count when connected.
      const ps = it.type === 0xb2 ? it.at + 5 : it.type === 0xb1 ? it.at + 7 : -1;
      if (ps > 0 && ps < b.length) f.push({ offset: ps, size: 1 });
    }
    return f;
  },
  seal(b) {
    if (b.length < 24) return b;
    const c = Buffer.from(b);
    c.writeUInt16LE(Math.min(0xffff, c.length - 24), 2);
    return c;
  },
  /** The session handle (RegisterSession reply) and the O→T connection id (Forward Open reply, CIP Vol 1 §3-5.5.2). */
  learn(_captured, live, state) {
    if (live.length < 24) return;
    const cmd = live.readUInt16LE(0);
    if (cmd === 0x65) state.session = live.readUInt32LE(4);
    for (const it of cpfItems(live)) {
      const d = it.at + 4;
      if (it.type === 0xb2 && d + 8 <= live.length && (live[d] === 0xd4 || live[d] === 0xdb) && live[d + 2] === 0) state.otId = live.readUInt32LE(d + 4);
    }
  },
  fix(b, state) {
    if (b.length < 24) return b;
    const c = Buffer.from(b);
    if (state.session !== undefined && c.readUInt32LE(4) !== 0) c.writeUInt32LE(state.session, 4);
    if (state.otId !== undefined) for (const it of cpfItems(c)) if (it.type === 0xa1 && it.len === 4 && it.at + 8 <= c.length) c.writeUInt32LE(state.otId, it.at + 4);
    return c;
  },
  /** A reply echoes the sender context (CIP Vol 2 §2-3.1) and, connected, the sequence count. */
  patchReply(reply, req) {
    if (reply.length < 24 || req.length < 24) return reply;
    const c = Buffer.from(reply);
    req.copy(c, 12, 12, 20);
    const rq = cpfItems(req).find((i) => i.type === 0xb1);
    const rp = cpfItems(c).find((i) => i.type === 0xb1);
    if (rq && rp && rq.len >= 2 && rp.len >= 2) req.copy(c, rp.at + 4, rq.at + 4, rq.at + 6);
    return c;
  },
  clientOps: [
    ['read', (d) => d.read('Counter')],
    ['readMany', (d) => d.readMany(['Counter', 'Temperature', 'Running', 'Message'])],
    ['write', (d) => d.write('Temperature', 21.5)],
    ['identify', (d) => d.identify()],
    ['browse', (d) => d.browse()],
  ],
};

// ── OPC UA ──

/** Length of the NodeId encoded at `o` (OPC 10000-6 §5.2.2.9). */
function nodeIdLength(b, o) {
  switch (b[o] & 0x3f) {
    case 0:
      return 2;
    case 1:
      return 4;
    case 2:
      return 7;
    case 4:
      return 19;
    case 3:
    case 5: {
      const n = b.readInt32LE(o + 3);
      return 7 + Math.max(0, n);
    }
    default:
      throw new RangeError('NodeId encoding');
  }
}

/** Offset of the body (the message's type NodeId) of an OPN or MSG chunk, with SecurityPolicy None (OPC 10000-6 §6.7.2). */
function uaBody(b) {
  const t = b.toString('latin1', 0, 3);
  if (t === 'MSG' || t === 'CLO') return 24;
  if (t !== 'OPN') return -1;
  let o = 12;
  for (let i = 0; i < 3; i++) o += 4 + Math.max(0, b.readInt32LE(o));
  return o + 8;
}

/** Offset of the request id (sequence header, OPC 10000-6 §6.7.2.4). */
const uaRequestId = (b) => uaBody(b) - 4;

/** Offset of the requestHandle in a request header (after the authentication token and timestamp) or a response header (after the timestamp). */
function uaHandle(b, request) {
  const body = uaBody(b);
  let o = body + nodeIdLength(b, body);
  if (request) o += nodeIdLength(b, o);
  return o + 8;
}

/** The authenticationToken of a CreateSessionResponse (type 464; OPC 10000-4 §5.6.2): after the response header and the sessionId. */
function uaAuthToken(b) {
  const body = uaBody(b);
  if (body < 0 || b.readUInt16LE(body + 2) !== 464) return undefined;
  let o = uaHandle(b, false) + 4 + 4; // requestHandle, serviceResult
  if (b[o] !== 0) return undefined; // a diagnostic info we do not skip
  o += 1;
  const strings = b.readInt32LE(o);
  o += 4;
  for (let i = 0; i < strings; i++) o += 4 + Math.max(0, b.readInt32LE(o));
  o += nodeIdLength(b, o); // additionalHeader type
  const enc = b[o];
  o += 1 + (enc ? 4 + b.readInt32LE(o + 1) : 0);
  o += nodeIdLength(b, o); // sessionId
  return b.subarray(o, o + nodeIdLength(b, o));
}

const opcua = {
  name: 'opcua',
  url: (port) => `opc.tcp://127.0.0.1:${port}?securityPolicy=None&securityMode=None`,
  // Each client mutant opens a secure channel and a session: a quarter of the other protocols' budget.
  clientBudgetScale: 0.25,
  headerSize: 24,
  frameLength: (b) => (b.length >= 8 ? b.readUInt32LE(4) : 0),
  lengthFields(b) {
    const f = [{ offset: 4, size: 4, le: true }];
    const t = b.toString('latin1', 0, 3);
    // HEL: protocol version, buffer sizes, maxMessageSize, maxChunkCount, endpoint URL length (OPC 10000-6 §7.1.2.3).
    if (t === 'HEL') for (let o = 8; o + 4 <= Math.min(b.length, 32); o += 4) f.push({ offset: o, size: 4, le: true });
    if (t === 'OPN' && b.length >= 16) f.push({ offset: 12, size: 4, le: true });
    return f;
  },
  seal(b) {
    if (b.length < 8) return b;
    const c = Buffer.from(b);
    c.writeUInt32LE(c.length, 4);
    return c;
  },
  /** The secure channel id and token (OPN reply, OPC 10000-6 §6.7.4) and the session's authenticationToken. */
  learn(captured, live, state) {
    try {
      const t = live.toString('latin1', 0, 3);
      if (t === 'OPN') {
        state.channelId = live.readUInt32LE(8);
        // OpenSecureChannelResponse: response header, serverProtocolVersion, then the token (channelId, tokenId).
        let o = uaHandle(live, false) + 8;
        o += 1;
        const strings = live.readInt32LE(o);
        o += 4;
        for (let i = 0; i < strings; i++) o += 4 + Math.max(0, live.readInt32LE(o));
        o += nodeIdLength(live, o);
        const enc = live[o];
        o += 1 + (enc ? 4 + live.readInt32LE(o + 1) : 0);
        state.tokenId = live.readUInt32LE(o + 8);
      } else if (t === 'MSG') {
        const was = uaAuthToken(captured);
        const now = uaAuthToken(live);
        if (was && now) state.auth = [Buffer.from(was), Buffer.from(now)];
      }
    } catch {
      // A reply we cannot parse teaches nothing.
    }
  },
  fix(b, state) {
    const t = b.toString('latin1', 0, 3);
    if (b.length < 16 || (t !== 'MSG' && t !== 'CLO')) return b;
    const c = Buffer.from(b);
    if (state.channelId !== undefined) c.writeUInt32LE(state.channelId, 8);
    if (state.tokenId !== undefined) c.writeUInt32LE(state.tokenId, 12);
    if (state.auth && c.length > 28) {
      const [was, now] = state.auth;
      if (was.length === now.length && c.subarray(28, 28 + was.length).equals(was)) now.copy(c, 28);
    }
    return c;
  },
  /** A response echoes the request id (OPC 10000-6 §6.7.2.4) and the requestHandle (OPC 10000-4 §7.33). */
  patchReply(reply, req) {
    try {
      const rt = reply.toString('latin1', 0, 3);
      const qt = req.toString('latin1', 0, 3);
      if (!['OPN', 'MSG', 'CLO'].includes(rt) || !['OPN', 'MSG', 'CLO'].includes(qt)) return reply;
      const c = Buffer.from(reply);
      req.copy(c, uaRequestId(c), uaRequestId(req), uaRequestId(req) + 4);
      const h = uaHandle(req, true);
      req.copy(c, uaHandle(c, false), h, h + 4);
      return c;
    } catch {
      return reply;
    }
  },
  clientOps: [
    ['read', (d) => d.read('ns=1;s=Line1.Temperature')],
    ['readMany', (d) => d.readMany(['ns=1;s=Line1.Pressure', 'ns=1;s=Line1.Count', 'ns=1;s=Line1.Mode', 'i=2258'])],
    ['write', (d) => d.write('ns=1;s=Line1.Setpoint', 72.5)],
    ['browse', (d) => d.browse('/Objects/Line1')],
    ['identify', (d) => d.identify()],
  ],
};

/** Every adapter, by name. */
export const adapters = { 'modbus-tcp': modbusTcp, 'modbus-rtu': modbusRtu, s7, eip, opcua };
