import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

/**
 * Builds the dashboard into dist/dashboard, which `microstat serve` serves
 * at /. `npm run dev` serves it with hot reload and forwards the API to a
 * running agent at MICROSTAT_AGENT_URL (default http://127.0.0.1:8095).
 */

const agent = process.env['MICROSTAT_AGENT_URL'] ?? 'http://127.0.0.1:8095';
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  // Relative asset paths: the page works behind any path prefix.
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': agent,
      '/metrics': agent,
      '/healthz': agent,
    },
  },
});
