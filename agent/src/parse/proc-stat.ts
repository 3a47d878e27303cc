import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/stat';

/**
 * The aggregate `cpu` line of /proc/stat, in clock ticks (USER_HZ). Fields
 * after softirq appeared in later kernels and are absent on old ones.
 */
export interface CpuTimesTicks {
  readonly user: number;
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number | undefined;
}

export interface ProcStat {
  readonly cpu: CpuTimesTicks;
  /** Number of `cpuN` lines: the CPUs online, as docker stats counts them. */
  readonly onlineCpus: number;
  /** System boot time, seconds since the epoch (`btime`). */
  readonly bootTimeSeconds: number | undefined;
}

/** Parses /proc/stat (proc(5)). */
export function parseProcStat(text: string): ProcStat {
  let cpu: CpuTimesTicks | undefined;
  let onlineCpus = 0;
  let bootTimeSeconds: number | undefined;

  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const key = fields[0];
    if (key === 'cpu') {
      cpu = parseCpuLine(fields.slice(1));
    } else if (key !== undefined && /^cpu\d+$/.test(key)) {
      onlineCpus++;
    } else if (key === 'btime' && fields[1] !== undefined) {
      bootTimeSeconds = parseCount(FORMAT, 'btime', fields[1]);
    }
  }

  if (cpu === undefined) throw new ParseError(FORMAT, 'no aggregate cpu line');
  if (onlineCpus === 0) throw new ParseError(FORMAT, 'no cpuN lines');
  return { cpu, onlineCpus, bootTimeSeconds };
}

function parseCpuLine(values: string[]): CpuTimesTicks {
  if (values.length < 7) {
    throw new ParseError(
      FORMAT,
      `cpu line has ${values.length} fields, need 7`,
    );
  }
  const n = values.map((v, i) => parseCount(FORMAT, `cpu field ${i + 1}`, v));
  const [user, nice, system, idle, iowait, irq, softirq] = n as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { user, nice, system, idle, iowait, irq, softirq, steal: n[7] };
}
