#!/usr/bin/env node
import { Command, Option } from 'commander';

import { HOST_FLAGS, SERVE_FLAGS, logFlags } from '../config.js';
import { ls, type ListFormat } from './ls.js';
import { addFlags, configFrom } from './options.js';
import { serve } from './serve.js';
import { VERSION } from './version.js';

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
  await ls(configFrom(command, lsFlags), options.format);
});

await program.parseAsync();
