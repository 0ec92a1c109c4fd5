/**
 * @module
 * Network discovery: finds and identifies Modbus, S7, EtherNet/IP and OPC UA devices.
 */
export { type Cidr, hostsOf, intToIp, ipToInt, localSubnets, parseCidr } from './cidr.js';
export { type DiscoverOptions, Discovery, type DiscoveryResult, discover, type Finding, parsePorts, parseProtocols, planHosts, toGatewayYaml, type Unidentified, urlOf } from './discover.js';
export { decodeHelloAnswer, encodeHello, type HelloAnswer } from './opcua-hello.js';
export { DEFAULT_PORTS, type DiscoveryProtocol, PROBES, type Probe, tcpOpen } from './probes.js';
