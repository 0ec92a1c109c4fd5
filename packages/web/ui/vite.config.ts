/**
 * @module
 * Builds the dashboard into packages/web/ui-dist (`npm run build:ui -w @bifrost/web`). Everything
 * is bundled: the page loads nothing from the internet (no CDN, no web fonts).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // Preact's automatic JSX runtime through Vite's own transform: no Babel preset needed.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../ui-dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 200,
  },
});
