#!/usr/bin/env node
import { Command, Option } from 'commander';

import { HOST_FLAGS, SERVE_FLAGS, logFlags } from '../config.js';
import type { ListFormat } from './ls.js';
import { addFlags, configFrom } from './options.js';
import { statsOptions, type StatsFlags } from './stats/options.js';
import { VERSION } from './version.js';

// Each command's module is loaded when it runs, so that `stats` and `ls`
// do not pay for the HTTP server and the metrics library at start-up.

const program = new Command('microstat')
  .description(
    'docker stats for every workload on this host, Kata microVMs included',
  )
  .version(VERSION)
  .showHelpAfterError();

const serveFlags = [...SERVE_FLAGS, ...HOST_FLAGS, ...logFlags('info')];
const lsFlags = [...HOST_FLAGS, ...logFlags('warn')];
addFlags(
  program
    .command('serve')
    .description(
      'run the agent: Prometheus metrics, JSON API and dashboard over HTTP',
    ),
  serveFlags,
).action(async (_options: unknown, command: Command) => {
  const { serve } = await import('./serve.js');
  await serve(configFrom(command, serveFlags));
});

addFlags(
  program
    .command('ls')
    .description('list the workloads discovered on this host')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json'])
        .default('table'),
    ),
  lsFlags,
).action(async (options: { format: ListFormat }, command: Command) => {
  const { ls } = await import('./ls.js');
  await ls(configFrom(command, lsFlags), options.format);
});

const statsFlags = [...HOST_FLAGS, ...logFlags('warn')];
const statsCommand = program
  .command('stats')
  .description(
    'live CPU, memory, network and block I/O of every workload, like docker stats',
  )
  .argument('[name...]', 'names or id prefixes to show (default: all)');
for (const option of statsOptions()) statsCommand.addOption(option);
addFlags(statsCommand, statsFlags).action(
  async (names: string[], flags: StatsFlags, command: Command) => {
    const { stats } = await import('./stats.js');
    process.exitCode = await stats(
      names,
      flags,
      configFrom(command, statsFlags),
    );
  },
);

await program.parseAsync();
