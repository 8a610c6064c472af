/**
 * A bench's options from its command line, read by `read`: `--help` (`read` answers 'help')
 * prints the usage and exits 0; a mistake (`read` throws) prints what is wrong and the usage,
 * and exits 2. Every bench reads its options this way.
 */
export function readBenchOptions<T>(usage: string, read: () => T | 'help'): T {
  let options: T | 'help';
  try {
    options = read();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(usage);
    process.exit(0);
  }
  return options;
}
