import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { DASHBOARDS, renderDashboard } from './render.js';

/**
 * `npm run grafana`: writes every dashboard of DASHBOARDS to
 * grafana/dashboards/. This file runs as dist/grafana/src/main.js, three
 * levels below the repository root.
 */

const OUT_DIR = new URL('../../../grafana/dashboards/', import.meta.url);

for (const { file, build } of DASHBOARDS) {
  const path = fileURLToPath(new URL(file, OUT_DIR));
  await writeFile(path, await renderDashboard(build()));
  process.stdout.write(`wrote ${path}\n`);
}
