import type { Command } from 'commander';
import { Option } from 'commander';

import {
  buildConfig,
  ConfigError,
  type Config,
  type FlagSpec,
} from '../config.js';

/**
 * Adds flags from the config table to a command: `--flag <value>` with its
 * environment variable and default, or `--flag` / `--no-flag` for switches.
 */
export function addFlags(
  command: Command,
  specs: readonly FlagSpec[],
): Command {
  for (const spec of specs) {
    if (spec.defaultValue === undefined) {
      command.addOption(
        new Option(
          `--${spec.flag}`,
          `${spec.help} (default: on; env ${spec.env})`,
        ),
      );
      command.addOption(new Option(`--no-${spec.flag}`).hideHelp());
      continue;
    }
    const option = new Option(`--${spec.flag} <value>`, spec.help)
      .env(spec.env)
      .default(spec.defaultValue);
    if (spec.choices !== undefined) option.choices(spec.choices);
    command.addOption(option);
  }
  return command;
}

/**
 * Collects the parsed values under their flag names and builds the config.
 * Switches read their environment variable here: "false", "0" or "no"
 * turn them off, anything else leaves them on.
 */
export function configFrom(
  command: Command,
  specs: readonly FlagSpec[],
): Config {
  const values = new Map<string, string | boolean>();
  for (const option of command.options) {
    const name = option.long?.replace(/^--(no-)?/, '');
    if (name === undefined) continue;
    const value: unknown = command.getOptionValue(option.attributeName());
    if (typeof value === 'string' || typeof value === 'boolean')
      values.set(name, value);
  }
  for (const spec of specs) {
    if (spec.defaultValue !== undefined) continue;
    const source = command.getOptionValueSource(
      attributeOf(command, spec.flag),
    );
    const env = process.env[spec.env];
    if (source !== 'cli' && env !== undefined) {
      values.set(spec.flag, !/^(false|0|no|off)$/i.test(env));
    }
  }
  try {
    return buildConfig(values);
  } catch (error: unknown) {
    if (error instanceof ConfigError) command.error(`error: ${error.message}`);
    throw error;
  }
}

function attributeOf(command: Command, flag: string): string {
  const option = command.options.find((o) => o.long === `--${flag}`);
  return option?.attributeName() ?? flag;
}
