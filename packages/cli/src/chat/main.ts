/**
 * `trellis chat`: parse the options, get the device (from its store, or by logging in), and
 * chat until the user quits. Returns the exit code: 0 after /quit, 1 when the client could not
 * start, 2 for a mistake on the command line.
 */
import { homedir } from 'node:os';
import { CHAT_USAGE, parseChatArgs, UsageError, type ParsedArgs } from './args.js';
import { connect, ConnectError } from './connect.js';
import { describeError } from './errors.js';
import { ChatStore } from './chatStore.js';
import { ChatSession } from './session.js';
import { createStyle, wantsColour } from './style.js';
import { Terminal } from './terminal.js';

export async function chat(args: string[]): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseChatArgs(args, process.env, homedir());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(CHAT_USAGE);
    return 0;
  }

  const terminal = new Terminal();
  let client;
  let store;
  try {
    client = await connect(parsed.options, terminal);
    store = new ChatStore(parsed.options.storePath);
  } catch (error) {
    terminal.close();
    await client?.close();
    process.stderr.write(
      `${error instanceof ConnectError ? error.message : describeError(error, 'start')}\n`,
    );
    return 1;
  }
  const style = createStyle(wantsColour(process.env, process.stdout));
  await new ChatSession(client, terminal, store, style).run();
  return 0;
}
