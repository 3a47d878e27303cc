import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { DASHBOARDS, renderDashboard } from '../../grafana/src/render.js';
import {
  DASHBOARD_DIR,
  dashboardQueries,
  substitute,
} from '../rig/grafana-queries.js';

/**
 * The dashboards are generated from grafana/src/*.ts; the committed JSON
 * must be exactly what the code generates (run `npm run grafana` after a
 * change), and every query must be scoped to the selected hosts.
 */

describe('generated Grafana dashboards', () => {
  for (const { file, build } of DASHBOARDS) {
    it(`${file} is what grafana/src generates`, async () => {
      const committed = await readFile(join(DASHBOARD_DIR, file), 'utf8');
      const generated = await renderDashboard(build());
      assert.equal(
        committed,
        generated,
        `${file} is stale: run npm run grafana`,
      );
    });

    it(`${file}: every query selects the instance variable`, () => {
      const queries = dashboardQueries(file, build());
      assert.ok(queries.panels.length > 0, 'has panel queries');
      for (const { panel, expr } of queries.panels) {
        assert.match(expr, /microstat|up\{/, `${panel}: reads microstat`);
        assert.ok(
          expr.includes('instance=~"$instance"'),
          `${panel}: ${expr} selects $instance`,
        );
      }
      const instance = queries.variables.find((v) => v.name === 'instance');
      assert.ok(instance, 'has an instance variable');
      assert.equal(instance.multi, true);
      assert.equal(instance.includeAll, true);
      assert.equal(instance.allValue, '.*');
    });
  }

  it('the drill-down has a workload variable over workload ids', () => {
    const workload = DASHBOARDS.find((d) => d.file.includes('workload'));
    assert.ok(workload);
    const queries = dashboardQueries(workload.file, workload.build());
    const variable = queries.variables.find((v) => v.name === 'workload');
    assert.match(variable?.query ?? '', /label_values\(.*, id\)/);
    for (const { panel, expr } of queries.panels) {
      assert.ok(expr.includes('id="$workload"'), `${panel}: one workload`);
    }
  });

  it('substitutes template variables in both spellings', () => {
    assert.equal(
      substitute(
        'x{instance=~"$instance",id="${workload}"}[$__rate_interval]',
        {
          instance: '.*',
          workload: 'abc',
          __rate_interval: '1m',
        },
      ),
      'x{instance=~".*",id="abc"}[1m]',
    );
  });
});
