import { Option } from 'commander';

import type { WorkloadKind } from '../../model.js';
import { SORT_KEYS, type SortKey } from './format.js';

/*
 * The flags of `microstat stats`, apart from the command itself so that
 * registering them loads nothing but commander.
 */

/** The command's own flags as commander parses them. */
export interface StatsFlags {
  readonly stream: boolean;
  readonly trunc: boolean;
  readonly all?: boolean;
  readonly format: string;
  readonly sort: SortKey;
  readonly kind?: WorkloadKind;
  readonly url?: string;
}

/** The command's own flags, for main.ts to register. */
export function statsOptions(): Option[] {
  return [
    new Option('--no-stream', 'print one frame and exit'),
    new Option('--no-trunc', 'show full ids'),
    new Option(
      '-a, --all',
      'also workloads known but not read (default: those read)',
    ),
    new Option(
      '--format <format>',
      'table, json, or a template such as "table {{.Name}}\\t{{.CPUPerc}}"',
    ).default('table'),
    new Option('--sort <key>', 'order of the rows')
      .choices(SORT_KEYS)
      .default('name'),
    new Option(
      '--kind <kind>',
      'only this kind of workload (default: all)',
    ).choices(['container', 'microvm']),
    new Option(
      '--url <url>',
      'read a running agent (http://host:port) instead of this host',
    ),
  ];
}
