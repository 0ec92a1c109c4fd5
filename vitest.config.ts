import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

// Tests run on the TypeScript sources: `@bifrost/x` resolves to packages/x/src, so a test never
// sees a stale build. Tests that start the real CLI process use the build (`npm test` builds first).
export default defineConfig({
  resolve: {
    alias: [
      // Tests run on sources, which Node's require() cannot load: core's lazy config wrapper is the
      // config module itself here (the lazy load is tested on the build, test/regressions/cold-start).
      { find: /^\.\/config-lazy\.js$/, replacement: `${pkg('core')}/src/config.ts` },
      { find: /^@bifrost\/core\/config$/, replacement: `${pkg('core')}/src/config.ts` },
      { find: /^@bifrost\/core\/test-fixtures$/, replacement: `${pkg('core')}/src/test-fixtures/index.ts` },
      { find: /^@bifrost\/([a-z0-9-]+)\/test-fixtures$/, replacement: `${pkg('$1')}/src/test-fixtures/index.ts` },
      { find: /^@bifrost\/([a-z0-9-]+)$/, replacement: `${pkg('$1')}/src/index.ts` },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'fuzz/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
