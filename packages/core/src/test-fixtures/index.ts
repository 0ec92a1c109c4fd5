/** @module Test fixtures other packages reuse: the driver conformance suite and helpers. */
export { type DriverSuiteOptions, driverSuite, type SuiteServer, type SuiteTag } from './driver-suite.js';
export { freePort, waitFor } from './net.js';
