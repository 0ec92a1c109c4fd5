/**
 * @module
 * The one registry of Bifrost error codes. Every `BifrostError` carries one of these codes; users
 * match on the code, never on the message. `docs/errors.md` is generated from this table
 * (`npm run docs:errors`) and a test checks that the two agree both ways.
 *
 * Each protocol or subsystem owns one block below; add codes to your own block only.
 */

/** What the registry knows of a code: a one-line summary and, where one helps, a hint to the user. */
export interface ErrorCodeInfo {
  readonly area: string;
  readonly summary: string;
  readonly hint?: string;
}

const core = {
  BIFROST_INVALID_ARGUMENT: { area: 'core', summary: 'An argument passed to an API is not valid.' },
  BIFROST_INVALID_URL: {
    area: 'core',
    summary: 'A device URL could not be parsed or has a bad option.',
    hint: 'URLs look like modbus://host:502?unit=1, s7://host?rack=0&slot=1, eip://host?path=1,0, opc.tcp://host:4840',
  },
  BIFROST_UNKNOWN_SCHEME: { area: 'core', summary: 'No driver is registered for the URL scheme.', hint: 'Known schemes: modbus (or modbus+tcp), modbus+rtu, modbus+rtuovertcp, s7, eip, opc.tcp' },
  BIFROST_DRIVER_NOT_INSTALLED: {
    area: 'core',
    summary: 'The package that implements this URL scheme is not installed.',
    hint: 'Install the package named in the message, e.g. npm install @bifrost/opcua',
  },
  BIFROST_INVALID_ADDRESS: { area: 'core', summary: 'A tag address could not be parsed for this protocol.' },
  BIFROST_UNSUPPORTED_TYPE: { area: 'core', summary: 'The data type is not supported here.' },
  BIFROST_VALUE_OUT_OF_RANGE: { area: 'core', summary: 'A value does not fit the data type it is written as.' },
  BIFROST_TYPE_MISMATCH: { area: 'core', summary: 'A value has the wrong JavaScript type for the tag.' },
  BIFROST_BUFFER_TOO_SHORT: { area: 'core', summary: 'Not enough bytes to decode the requested type.' },
  BIFROST_TIMEOUT: { area: 'core', summary: 'An operation did not complete within its timeout.', hint: 'Check that the device is reachable, or raise the timeout (?timeout=ms).' },
  BIFROST_ABORTED: { area: 'core', summary: 'The operation was aborted by its AbortSignal.' },
  BIFROST_CLOSED: { area: 'core', summary: 'The device or resource is closed.' },
  BIFROST_NOT_CONNECTED: { area: 'core', summary: 'The device is not connected.' },
  BIFROST_CONNECTION_REFUSED: { area: 'core', summary: 'The device refused the connection.', hint: 'Check host, port and that the device accepts connections from this machine.' },
  BIFROST_CONNECTION_LOST: { area: 'core', summary: 'The connection closed while a request was in flight.' },
  BIFROST_CONNECT_TIMEOUT: {
    area: 'core',
    summary: 'The device did not complete the connection in time: nothing answered at that address and port (a firewall dropping packets, a powered-off device, a wrong IP).',
    hint: 'Check that the device is on and that host and port are right (ping it; nc -vz host port); raise ?timeout=ms for a slow link.',
  },
  BIFROST_HOST_NOT_FOUND: {
    area: 'core',
    summary: 'The host name in the URL could not be resolved (DNS: ENOTFOUND, EAI_AGAIN).',
    hint: 'Check the spelling of the host name, or use the IP address; EAI_AGAIN means the DNS server did not answer.',
  },
  BIFROST_HOST_UNREACHABLE: {
    area: 'core',
    summary: 'There is no route to the device: the network or the host is unreachable (ENETUNREACH, EHOSTUNREACH).',
    hint: 'Check that this machine has an address on the device network (ip addr, ip route), cabling, VLAN and gateway.',
  },
  BIFROST_TLS_FAILED: {
    area: 'core',
    summary: 'The TLS handshake with the device failed (untrusted or expired certificate, host name mismatch, protocol mismatch).',
    hint: 'Check the certificate chain and the CA the client trusts, and that the host name matches the certificate.',
  },
  BIFROST_FRAME_TOO_LARGE: { area: 'core', summary: 'A frame exceeded the configured maximum size.' },
  BIFROST_MALFORMED_FRAME: { area: 'core', summary: 'A received frame could not be decoded.' },
  BIFROST_NOT_SUPPORTED: { area: 'core', summary: 'The device or driver does not support this operation.' },
  BIFROST_WRITE_NOT_ALLOWED: { area: 'core', summary: 'Writes to this tag are not enabled.', hint: 'Mark the tag writable: true in the config, or pass --yes to the CLI write command.' },
  BIFROST_CONFIG_INVALID: { area: 'config', summary: 'The gateway configuration is not valid; the message names the file, line and field.' },
  BIFROST_CONFIG_YAML: { area: 'config', summary: 'The gateway configuration is not valid YAML.' },
  BIFROST_CONFIG_NOT_FOUND: { area: 'config', summary: 'The configuration file does not exist or cannot be read.' },
  BIFROST_CLI_USAGE: { area: 'cli', summary: 'The command line is not valid.', hint: 'Run bifrost <command> --help for usage and examples.' },
  BIFROST_SECRET_NOT_FOUND: {
    area: 'config',
    summary: `A secret reference (\${env:…}, \${file:…}, \${credential:…}, \${exec:…}) names a variable, file, credential or command that does not exist or is empty.`,
    hint: 'The message names the field and the reference; see docs/configuration.md#secrets.',
  },
  BIFROST_SECRET_INSECURE: { area: 'config', summary: 'A secret file is readable or writable by every user.', hint: 'chmod 600 the file (or 640 and a group the gateway user is in).' },
  BIFROST_SECRET_EXEC_FAILED: { area: 'config', summary: 'A secrets.exec command could not be started or exited with an error.' },
  BIFROST_SECRET_EXEC_TIMEOUT: {
    area: 'config',
    summary: 'A secrets.exec command did not finish within its timeout and was killed.',
    hint: 'Raise secrets.exec.<name>.timeout or check the secret store is reachable.',
  },
  BIFROST_SECRET_EXEC_OUTPUT: { area: 'config', summary: 'A secrets.exec command printed something other than the expected JSON string (or jsonKey field).' },
  BIFROST_ADDRESS_IN_USE: {
    area: 'core',
    summary: 'A server could not listen: another process already uses the address and port.',
    hint: 'Stop the other process (ss -ltnp shows it) or set another port in the config field the message names.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── modbus ── (owned by packages/modbus)
const modbus = {
  BIFROST_MODBUS_ILLEGAL_FUNCTION: { area: 'modbus', summary: 'The device does not support the function code (Modbus exception 01).' },
  BIFROST_MODBUS_ILLEGAL_ADDRESS: {
    area: 'modbus',
    summary: 'The device does not map the requested address range (Modbus exception 02).',
    hint: 'Check the register map of the device; Bifrost addresses are zero-based (HR0 = 40001).',
  },
  BIFROST_MODBUS_ILLEGAL_VALUE: { area: 'modbus', summary: 'The device refused a value or quantity in the request (Modbus exception 03).' },
  BIFROST_MODBUS_DEVICE_FAILURE: { area: 'modbus', summary: 'The device failed while performing the request (Modbus exception 04).' },
  BIFROST_MODBUS_BUSY: { area: 'modbus', summary: 'The device is busy or still processing a long request (Modbus exceptions 05, 06).', hint: 'Retry later.' },
  BIFROST_MODBUS_GATEWAY: {
    area: 'modbus',
    summary: 'A Modbus gateway could not reach the target unit (Modbus exceptions 0A, 0B).',
    hint: 'Check the unit id (?unit=) and the serial line behind the gateway.',
  },
  BIFROST_MODBUS_EXCEPTION: { area: 'modbus', summary: 'The device answered with another Modbus exception code.' },
  BIFROST_MODBUS_CRC: { area: 'modbus', summary: 'An RTU frame failed its CRC-16 check.', hint: 'Check baud rate, parity, wiring and termination.' },
  BIFROST_MODBUS_UNEXPECTED_RESPONSE: {
    area: 'modbus',
    summary: 'A response did not match its request (transaction id, unit id, function code or length).',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── s7 ── (owned by packages/s7)
const s7 = {
  BIFROST_S7_CONNECTION_REJECTED: {
    area: 's7',
    summary: 'The PLC refused the ISO-on-TCP (COTP) connection: wrong rack/slot or TSAP.',
    hint: 'S7-300: rack=0&slot=2; S7-400: see the hardware config; S7-1200/1500: rack=0&slot=0 or 1; LOGO!: localTsap=0x0100&remoteTsap=0x0200.',
  },
  BIFROST_S7_FUNCTION_NOT_AVAILABLE: {
    area: 's7',
    summary: 'The PLC rejected the S7 job (error class 0x81, code 0x04: function not available).',
    hint: 'On S7-1200/1500 enable "Permit access with PUT/GET communication from remote partner" in the CPU protection settings.',
  },
  BIFROST_S7_ACCESS_DENIED: {
    area: 's7',
    summary: 'The PLC denied access to the object (item return code 0x03).',
    hint: 'On S7-1200/1500 enable PUT/GET access and switch the DB to non-optimized (standard) block access.',
  },
  BIFROST_S7_OBJECT_NOT_FOUND: {
    area: 's7',
    summary: 'The object does not exist in the PLC, e.g. a DB that is not loaded (item return code 0x0A).',
    hint: 'Check the DB number and that the DB is downloaded.',
  },
  BIFROST_S7_ADDRESS_OUT_OF_RANGE: { area: 's7', summary: 'The address lies outside the DB or memory area (item return code 0x05).', hint: 'Check the offset against the DB length.' },
  BIFROST_S7_DATA_TYPE: { area: 's7', summary: 'The PLC does not accept the transport size, or the written data size does not match (item return codes 0x06, 0x07).' },
  BIFROST_S7_ITEM_ERROR: { area: 's7', summary: 'The PLC answered a read or write item with an error return code not listed elsewhere.' },
  BIFROST_S7_JOB_ERROR: { area: 's7', summary: 'The PLC answered the S7 job with an error class and code in the header.' },
  BIFROST_S7_PDU_TOO_LARGE: { area: 's7', summary: 'A request or answer does not fit the negotiated PDU size (error 0x8500).', hint: 'Read fewer or smaller items at once.' },
  BIFROST_S7_SZL_ERROR: { area: 's7', summary: 'The PLC could not answer a system status list (SZL) read.' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── ethernetip ── (owned by packages/ethernetip)
const ethernetip = {
  BIFROST_EIP_ENCAPSULATION: {
    area: 'ethernetip',
    summary: 'The EtherNet/IP encapsulation layer refused a command (status names the reason: invalid session handle, unsupported command, bad length).',
  },
  BIFROST_EIP_CIP_ERROR: { area: 'ethernetip', summary: 'A CIP service failed; status is the CIP general status and details.extendedStatus the extended status words.' },
  BIFROST_EIP_TAG_NOT_FOUND: {
    area: 'ethernetip',
    summary: 'The controller has no tag (or member) with this name (CIP general status 0x04 path segment error or 0x05 path destination unknown).',
    hint: 'Check the spelling and scope: program tags are addressed as Program:<name>.<tag>; list the tags with bifrost browse.',
  },
  BIFROST_EIP_TYPE_MISMATCH: { area: 'ethernetip', summary: 'The data type in a write does not match the tag (CIP general status 0xFF, extended 0x2107).' },
  BIFROST_EIP_INDEX_OUT_OF_RANGE: {
    area: 'ethernetip',
    summary: 'An array index or element count goes past the end of the tag (CIP general status 0xFF, extended 0x2104 or 0x2105).',
  },
  BIFROST_EIP_ROUTE_FAILED: {
    area: 'ethernetip',
    summary: 'The routing path or connection could not be established: empty slot, bad port, or the Forward Open was refused (CIP general status 0x01 with an extended status).',
    hint: 'Check path=port,link in the URL (path=1,0 is backplane slot 0; omit path for CompactLogix/Micro800 addressed directly).',
  },
  BIFROST_EIP_SERVICE_NOT_SUPPORTED: { area: 'ethernetip', summary: 'The device does not support the requested CIP service or object (CIP general status 0x08).' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── opcua ── (owned by packages/opcua)
const opcua = {
  BIFROST_OPCUA_NODE_ID_UNKNOWN: {
    area: 'opcua',
    summary: 'The server has no node with this NodeId or browse path (BadNodeIdUnknown, BadNoMatch).',
    hint: 'Browse the server (bifrost browse <url>) to find the right NodeId or path.',
  },
  BIFROST_OPCUA_BAD_STATUS: { area: 'opcua', summary: 'The server answered with a bad OPC UA StatusCode; status and statusName carry it.' },
  BIFROST_OPCUA_TYPE_MISMATCH: { area: 'opcua', summary: 'The value does not match the DataType of the variable (BadTypeMismatch).' },
  BIFROST_OPCUA_NOT_WRITABLE: { area: 'opcua', summary: 'The variable is not writable (BadNotWritable).' },
  BIFROST_OPCUA_ACCESS_DENIED: { area: 'opcua', summary: 'The user may not perform this operation (BadUserAccessDenied).', hint: 'Connect as a user that the server allows to write or call.' },
  BIFROST_OPCUA_BAD_CREDENTIALS: {
    area: 'opcua',
    summary: 'The server rejected the user identity (BadIdentityTokenRejected, BadUserAccessDenied at activation).',
    hint: 'Check the user name and password (opc.tcp://user:pass@host:4840) or the X.509 user certificate.',
  },
  BIFROST_OPCUA_CERTIFICATE_UNTRUSTED: {
    area: 'opcua',
    summary: 'A certificate is not trusted: the server rejected ours, or we rejected the server’s.',
    hint: 'The message says where the certificate was saved; trust it with: bifrost pki trust <file or thumbprint>',
  },
  BIFROST_OPCUA_SECURITY: {
    area: 'opcua',
    summary: 'No endpoint matches the requested security policy and mode, or the secure channel could not be opened.',
    hint: 'Run bifrost browse with ?securityPolicy=None to list the endpoints, or use a policy the server offers.',
  },
  BIFROST_OPCUA_PKI: { area: 'opcua', summary: 'A PKI operation failed (no such certificate, unreadable file, bad PEM/DER).', hint: 'Create the PKI with: bifrost pki init' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── analytics ── (owned by packages/analytics)
const analytics = {
  BIFROST_ANALYTICS_INVALID_PIPELINE: {
    area: 'analytics',
    summary: 'A pipeline definition is not valid; the message names the pipeline, the step index and the field.',
    hint: 'See packages/analytics/README.md for the steps and their fields.',
  },
  BIFROST_ANALYTICS_NOT_NUMERIC: {
    area: 'analytics',
    summary: 'A numeric pipeline step received a value that is not a finite number (a string, null, NaN or an infinity); the event goes to the rejected side output.',
  },
  BIFROST_ANALYTICS_OUT_OF_ORDER: { area: 'analytics', summary: 'A timestamp is not after the previous one of its series (out of order or duplicate) where a strictly increasing time is required.' },
  BIFROST_ANALYTICS_LATE: { area: 'analytics', summary: 'An event arrived after its window was closed (watermark past the window end plus the allowed lateness); it goes to the late side output.' },
  BIFROST_ANALYTICS_BUDGET_TOO_SMALL: { area: 'analytics', summary: 'The time-series store memory budget cannot hold even one chunk.', hint: 'Raise store.memory or lower store.chunkPoints.' },
  BIFROST_ANALYTICS_CORRUPT_CHUNK: { area: 'analytics', summary: 'A compressed time-series chunk could not be decoded (truncated or corrupt bytes).' },
  BIFROST_ANALYTICS_UNKNOWN_ALARM: { area: 'analytics', summary: 'No alarm with this id is known to the alarm manager.' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── cloud ── (owned by packages/cloud)
const cloud = {
  BIFROST_CLOUD_QUEUE_FULL: {
    area: 'cloud',
    summary: 'The durable queue reached its disk budget and its policy is reject-new; the record was not queued.',
    hint: 'Raise buffer.maxBytes, restore the sink connection, or use policy: drop-oldest.',
  },
  BIFROST_CLOUD_DISK_FULL: {
    area: 'cloud',
    summary: 'The file system holding the durable queue is full (ENOSPC); the batch was not queued, queued data is kept.',
    hint: 'Free disk space or move buffer.dir.',
  },
  BIFROST_CLOUD_QUEUE_IO: { area: 'cloud', summary: 'Reading or writing a durable queue file failed.' },
  BIFROST_CLOUD_RECORD_TOO_LARGE: { area: 'cloud', summary: 'A record is larger than the queue accepts (maxRecordBytes).', hint: 'Raise maxRecordBytes or send smaller records.' },
  BIFROST_CLOUD_CORRUPT_RECORD: { area: 'cloud', summary: 'A queue segment holds a block or record whose CRC-32C does not match; it was skipped and counted.' },
  BIFROST_CLOUD_TORN_TAIL: { area: 'cloud', summary: 'A queue segment ended in a partly written block (crash during a write); the tail was truncated.' },
  BIFROST_CLOUD_CURSOR_INVALID: { area: 'cloud', summary: 'The consumer cursor file is unreadable or points outside the queue; delivery restarts at the oldest queued record.' },
  BIFROST_CLOUD_AUTH_FAILED: {
    area: 'cloud',
    summary: 'The broker refused the credentials (bad username/password, SAS token or client certificate).',
    hint: 'Check username, password/passwordFile/passwordEnv, the device key or the certificate.',
  },
  BIFROST_CLOUD_TLS: {
    area: 'cloud',
    summary: 'The TLS handshake with the broker failed (untrusted or invalid certificate).',
    hint: 'Check tls.ca, tls.cert and tls.key, and that the host name matches the server certificate.',
  },
  BIFROST_CLOUD_PUBLISH_REJECTED: {
    area: 'cloud',
    summary: 'The broker rejected a publish (topic not allowed, or an MQTT 5 reason code >= 0x80).',
    hint: 'Check the topic template and the broker ACL.',
  },
  BIFROST_CLOUD_SECRET: { area: 'cloud', summary: 'A secret (password, device key) could not be read from its file or environment variable.' },
  BIFROST_CLOUD_SPARKPLUG: { area: 'cloud', summary: 'A Sparkplug B payload could not be encoded or decoded.' },
  BIFROST_CLOUD_QUEUE_LOCKED: {
    area: 'cloud',
    summary: 'The queue directory is locked by another running process (its lock file holds the PID); a stale lock of a process that is gone is taken over.',
    hint: 'Give each gateway (and each sink) its own buffer.dir, or stop the process named in the message.',
  },
  BIFROST_CLOUD_RECORD_EXPIRED: { area: 'cloud', summary: 'Queued records older than buffer.maxAge were dropped unacknowledged (counted in expired).' },
  BIFROST_CLOUD_ACK_TIMEOUT: {
    area: 'cloud',
    summary: 'The broker did not acknowledge a QoS 1 PUBLISH within ackTimeout; the connection was closed and the unconfirmed messages are resent with DUP after reconnecting.',
    hint: 'A half-open connection, an overloaded broker or a broken load balancer; raise ackTimeout only for a broker known to be slow.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── discovery ── (owned by packages/discovery)
const discovery = {
  BIFROST_DISCOVERY_BAD_RANGE: {
    area: 'discovery',
    summary: 'A network range, host, port or protocol given to discovery is malformed.',
    hint: 'Ranges look like 192.168.1.0/24; ports like 502 or modbus=5020.',
  },
  BIFROST_DISCOVERY_RANGE_TOO_LARGE: { area: 'discovery', summary: 'The range is larger than a /16; discovery refuses it without --force.' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── gateway and web ── (owned by packages/gateway and packages/web)
const gateway = {
  BIFROST_GATEWAY_UNKNOWN_TAG: { area: 'gateway', summary: 'The device or tag is not defined in the gateway config.', hint: 'List tags with GET /api/tags or bifrost monitor gateway.yaml.' },
  BIFROST_GATEWAY_NOT_RUNNING: { area: 'gateway', summary: 'The gateway is not running (not started yet, or stopped).' },
  BIFROST_WEB_BAD_REQUEST: { area: 'web', summary: 'The HTTP request is malformed: bad JSON, a missing or wrong field, or a bad query parameter (HTTP 400).' },
  BIFROST_WEB_UNAUTHORIZED: {
    area: 'web',
    summary: 'The API token is missing, unknown or malformed (HTTP 401).',
    hint: 'Send Authorization: Bearer <token>; create one with createToken() from @bifrost/web (bifrost token).',
  },
  BIFROST_WEB_FORBIDDEN: { area: 'web', summary: "The token's role may not do this: writes need operator, configuration needs admin (HTTP 403)." },
  BIFROST_WEB_NOT_FOUND: { area: 'web', summary: 'No such API route, device, tag, series or alarm (HTTP 404).', hint: 'The routes are listed in GET /api/openapi.json.' },
  BIFROST_WEB_PAYLOAD_TOO_LARGE: { area: 'web', summary: 'The request body or WebSocket message exceeds the configured maximum size (HTTP 413).' },
  BIFROST_WEB_INTERNAL: { area: 'web', summary: 'The web server failed while handling a request (HTTP 500); the gateway log has the details.' },
  BIFROST_WEB_RATE_LIMITED: {
    area: 'web',
    summary: 'Too many failed authentications, logins, writes or stream connections from one client in the rate-limit window (HTTP 429), or too many stream messages (WebSocket close 1008).',
    hint: 'Wait for the number of seconds in the Retry-After header; the limits are under web.rateLimit and web.stream.',
  },
  BIFROST_WEB_MISDIRECTED: {
    area: 'web',
    summary: 'The Host header names a host this gateway does not serve (HTTP 421): the guard against DNS rebinding.',
    hint: 'Add the name the clients use to web.hosts (or metrics.hosts).',
  },
  BIFROST_WEB_BUSY: {
    area: 'web',
    summary: 'The live stream has as many connections as web.stream.maxConnections allows (HTTP 503 at the upgrade).',
    hint: 'Close idle dashboards or raise web.stream.maxConnections.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Every Bifrost error code with its summary and hint. */
export const ERROR_CODES = { ...core, ...modbus, ...s7, ...ethernetip, ...opcua, ...analytics, ...cloud, ...discovery, ...gateway } as const;

/** A stable Bifrost error code, such as `BIFROST_TIMEOUT`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is a registered Bifrost error code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
