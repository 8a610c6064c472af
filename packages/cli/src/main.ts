/**
 * `trellis <command>`: the Trellis command line. Each command lives in its own module and is
 * loaded only when it runs, so `trellis server` does not load the client and the reverse.
 */
const USAGE = `trellis: end-to-end encrypted group messaging over MLS, for federated networks

Usage:
  trellis server [options]   run the homeserver (SQLite by default; --database-url for PostgreSQL)
  trellis chat [options]     chat from the terminal: rooms, messages, devices, backups
  trellis demo [options]     a scripted story on an embedded server: forks, resolution, backups
  trellis <command> --help   the command's options
  trellis --version          the version of this trellis
`;

const [command, ...args] = process.argv.slice(2);

switch (command) {
  case 'server': {
    const { serve } = await import('@trellis/server');
    await serve(args);
    break;
  }
  case 'chat': {
    const { chat } = await import('./chat/main.js');
    process.exitCode = await chat(args);
    break;
  }
  case 'demo': {
    const { demo } = await import('./demo/main.js');
    process.exitCode = await demo(args);
    break;
  }
  case '--version':
  case '-v':
  case 'version': {
    const { version } = await import('./version.js');
    process.stdout.write(`trellis ${version()}\n`);
    break;
  }
  case undefined:
  case 'help':
  case '--help':
  case '-h':
    process.stdout.write(USAGE);
    break;
  default:
    process.stderr.write(`trellis: there is no command "${command}".\n\n${USAGE}`);
    process.exitCode = 2;
}
