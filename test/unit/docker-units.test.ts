import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  parsePercent,
  parseSize,
  parseSizePair,
  parseStatsLine,
  parseStatsOutput,
} from '../rig/docker-units.js';

// Rows as `docker stats --no-stream --no-trunc --format '{{json .}}'` printed
// them on the test rig (Docker 20.10, cgroup v1).
const WRITER_LINE = JSON.stringify({
  BlockIO: '16.8MB / 16.8MB',
  CPUPerc: '0.00%',
  Container: 'ms-it-writer',
  ID: 'b099a6d9d680a1054deef797f3b53809fdaa04e1e88aeffbbac391c46cb9eaf3',
  MemPerc: '0.00%',
  MemUsage: '532KiB / 23.54GiB',
  Name: 'ms-it-writer',
  NetIO: '0B / 0B',
  PIDs: '1',
});
const PEER_LINE = JSON.stringify({
  BlockIO: '0B / 0B',
  CPUPerc: '101.37%',
  Container: 'ms-it-peer-a',
  ID: 'd524728d275caf9e575be3971e2270cf9b8c8e39919a49b0699afc1872ecbd3e',
  MemPerc: '50.53%',
  MemUsage: '64.68MiB / 128MiB',
  Name: 'ms-it-peer-a',
  NetIO: '374kB / 373kB',
  PIDs: '12',
});

describe('docker stats units', () => {
  it('reads binary sizes as docker prints memory', () => {
    const cases: [string, number][] = [
      ['0B', 0],
      ['532KiB', 532 * 1024],
      ['64.07MiB', Math.round(64.07 * 1024 ** 2)],
      ['23.47GiB', Math.round(23.47 * 1024 ** 3)],
      ['1.5TiB', 1.5 * 1024 ** 4],
    ];
    for (const [text, bytes] of cases) {
      assert.equal(parseSize(text, 'binary'), bytes, text);
    }
  });

  it('reads decimal sizes as docker prints network and block I/O', () => {
    const cases: [string, number][] = [
      ['0B', 0],
      ['648B', 648],
      ['1.2kB', 1200],
      ['1.05MB', 1_050_000],
      ['16.8MB', 16_800_000],
      ['2.1GB', 2_100_000_000],
      ['3TB', 3e12],
    ];
    for (const [text, bytes] of cases) {
      assert.equal(parseSize(text, 'decimal'), bytes, text);
    }
  });

  it('rejects units of the other kind and garbage', () => {
    assert.throws(() => parseSize('1.05MB', 'binary'), /binary size/);
    assert.throws(() => parseSize('64MiB', 'decimal'), /decimal size/);
    assert.throws(() => parseSize('--', 'decimal'));
    assert.throws(() => parseSize('12', 'decimal'));
    assert.throws(() => parseSize('1.2 kB', 'decimal'));
  });

  it('splits "a / b" pairs', () => {
    assert.deepEqual(parseSizePair('0B / 0B', 'decimal'), [0, 0]);
    assert.deepEqual(parseSizePair('1.05MB / 0B', 'decimal'), [1_050_000, 0]);
    assert.deepEqual(parseSizePair('1.2kB / 648B', 'decimal'), [1200, 648]);
    assert.deepEqual(parseSizePair('64.07MiB / 23.47GiB', 'binary'), [
      Math.round(64.07 * 1024 ** 2),
      Math.round(23.47 * 1024 ** 3),
    ]);
    assert.throws(() => parseSizePair('0B', 'decimal'), /pair/);
    assert.throws(() => parseSizePair('0B/0B', 'decimal'), /pair/);
  });

  it('reads percentages', () => {
    assert.equal(parsePercent('0.00%'), 0);
    assert.equal(parsePercent('99.87%'), 99.87);
    assert.equal(parsePercent('150.02%'), 150.02);
    assert.throws(() => parsePercent('--'), /percentage/);
    assert.throws(() => parsePercent('12.5'), /percentage/);
  });

  it('turns one JSON line into a typed row', () => {
    assert.deepEqual(parseStatsLine(PEER_LINE), {
      id: 'd524728d275caf9e575be3971e2270cf9b8c8e39919a49b0699afc1872ecbd3e',
      name: 'ms-it-peer-a',
      cpuPercent: 101.37,
      memoryUsageBytes: Math.round(64.68 * 1024 ** 2),
      memoryLimitBytes: 128 * 1024 ** 2,
      memoryPercent: 50.53,
      networkReceiveBytes: 374_000,
      networkTransmitBytes: 373_000,
      blockReadBytes: 0,
      blockWriteBytes: 0,
      pids: 12,
    });
  });

  it('reads every non-empty line of the output', () => {
    const rows = parseStatsOutput(`${WRITER_LINE}\n${PEER_LINE}\n\n`);
    assert.deepEqual(
      rows.map((row) => [row.name, row.blockReadBytes, row.blockWriteBytes]),
      [
        ['ms-it-writer', 16_800_000, 16_800_000],
        ['ms-it-peer-a', 0, 0],
      ],
    );
    assert.deepEqual(parseStatsOutput(''), []);
  });

  it('rejects rows with missing or malformed columns', () => {
    assert.throws(() => parseStatsLine('[]'), /MemUsage/);
    assert.throws(() => parseStatsLine('null'), /JSON object/);
    const noPids = JSON.stringify({ ...JSON.parse(PEER_LINE), PIDs: 7 });
    assert.throws(() => parseStatsLine(noPids), /PIDs/);
  });
});
