/**
 * Parses /proc/<pid>/cmdline: arguments separated (and usually ended) by
 * NUL. Kernel threads and zombies have an empty cmdline: an empty argv.
 * A process that rewrote its argv may use spaces instead; that shows as a
 * single argument, which callers must tolerate.
 */
export function parseCmdline(text: string): string[] {
  if (text === '') return [];
  const args = text.split('\0');
  if (args[args.length - 1] === '') args.pop();
  return args;
}
