import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parse } from 'yaml';

import { repoRoot } from './paths.js';

/**
 * Reads the agent's deployment the way Docker would: the `agent` service of
 * docker-compose.yml and the final stage of the Dockerfile, so a test can
 * run the agent with exactly the mounts, namespaces and flags they give it.
 */

export interface AgentService {
  readonly pid: string | undefined;
  readonly cgroup: string | undefined;
  readonly readOnly: boolean;
  readonly capAdd: readonly string[];
  /** Short-syntax volumes, `host:container[:mode]`. */
  readonly volumes: readonly string[];
  readonly command: readonly string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`${what} is not a list of strings`);
  }
  return value;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export async function readAgentService(): Promise<AgentService> {
  const text = await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8');
  const compose: unknown = parse(text);
  const services = isRecord(compose) ? compose['services'] : undefined;
  const agent = isRecord(services) ? services['agent'] : undefined;
  if (!isRecord(agent)) throw new Error('docker-compose.yml has no agent');
  return {
    pid: optionalString(agent['pid']),
    cgroup: optionalString(agent['cgroup']),
    readOnly: agent['read_only'] === true,
    capAdd: strings(agent['cap_add'], 'agent.cap_add'),
    volumes: strings(agent['volumes'], 'agent.volumes'),
    command: strings(agent['command'], 'agent.command'),
  };
}

export interface DockerfileInstruction {
  readonly keyword: string;
  readonly args: string;
}

const KEYWORDS = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

/**
 * The instructions of a Dockerfile: comments and blank lines dropped,
 * backslash continuations joined, keywords checked against the reference's
 * list. No parser directives or heredocs: ours uses neither.
 */
export function parseDockerfile(text: string): DockerfileInstruction[] {
  const instructions: DockerfileInstruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = pending + line;
    pending = '';
    const match = /^(\S+)\s+(.*)$/.exec(whole);
    const keyword = match?.[1]?.toUpperCase();
    if (match?.[2] === undefined || keyword === undefined) {
      throw new Error(`Dockerfile: no arguments: ${whole}`);
    }
    if (!KEYWORDS.has(keyword)) {
      throw new Error(`Dockerfile: unknown instruction ${keyword}`);
    }
    instructions.push({ keyword, args: match[2] });
  }
  if (pending !== '') throw new Error('Dockerfile ends in a continuation');
  return instructions;
}

/** The exec form of CMD or ENTRYPOINT: a JSON array of strings. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  return strings(parsed, `exec form ${args}`);
}

export async function readDockerfile(): Promise<DockerfileInstruction[]> {
  return parseDockerfile(await readFile(join(repoRoot, 'Dockerfile'), 'utf8'));
}

/**
 * `docker run` options for the agent service: namespaces, capabilities,
 * read-only root and volumes as compose would pass them. Ports and
 * networks are left to the caller.
 */
export function dockerRunOptions(service: AgentService): string[] {
  const options: string[] = [];
  if (service.pid !== undefined) options.push('--pid', service.pid);
  if (service.cgroup !== undefined) options.push('--cgroupns', service.cgroup);
  if (service.readOnly) options.push('--read-only');
  for (const cap of service.capAdd) options.push('--cap-add', cap);
  for (const volume of service.volumes) options.push('-v', volume);
  return options;
}
