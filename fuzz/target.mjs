/**
 * @module
 * The fuzz target: one protocol's simulator in its own process (`node --expose-gc target.mjs
 * <protocol>`), as `bifrost simulate` starts it, so that a crash is a real exit and its memory is
 * measured alone. It reports `{ port, url }` over IPC when listening, answers `{ cmd: 'rss' }`
 * with its resident set and heap after a full GC, and stops on SIGTERM or when the parent goes away.
 */
import { simulators } from './protocols.mjs';

const protocol = process.argv[2];
const start = simulators[protocol];
if (!start) {
  console.error(`unknown protocol ${protocol}; expected one of ${Object.keys(simulators).join(', ')}`);
  process.exit(2);
}
const sim = await start();
process.on('message', (m) => {
  if (m?.cmd === 'rss') {
    globalThis.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send({ id: m.id, rss, heapUsed });
  }
});
const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.send({ port: sim.port, url: sim.url });
