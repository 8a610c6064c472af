/**
 * The options of `trellis chat`, from the command line and the environment. Parsing is pure:
 * the home directory and the environment come in as arguments, so tests need no real ones.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { TrustPolicy } from '@trellis/client';
import { localpartOf } from './text.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8008';

export const CHAT_USAGE = `trellis chat: an end-to-end encrypted chat in the terminal

Usage: trellis chat [options]

Options:
  --server URL      the homeserver (default ${DEFAULT_SERVER})
  --user NAME       the account to log in to (alice or @alice:server)
  --password PW     its password; asked for without echo when absent (or set TRELLIS_PASSWORD)
  --register        create the account first
  --device ID       log in as this device id (a new one by default)
  --store PATH      this device's keys and rooms (default: a file under ~/.trellis named for the
                    server and the user); the next run with the same store resumes the device
  --trust POLICY    which devices are let into your rooms: strict (only devices their user
                    signed with cross-signing) or tofu (unsigned ones too, with a warning;
                    the default)
  --help            this text

Type /help once inside for the commands.
`;

export interface ChatOptions {
  readonly server: string;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly register: boolean;
  readonly deviceId: string | undefined;
  readonly storePath: string;
  readonly trustPolicy: TrustPolicy;
}

export type ParsedArgs =
  { readonly kind: 'help' } | { readonly kind: 'run'; readonly options: ChatOptions };

/** A mistake on the command line; the message says how to fix it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseChatArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        server: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        register: { type: 'boolean', default: false },
        device: { type: 'string' },
        store: { type: 'string' },
        trust: { type: 'string', default: 'tofu' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs explains what it did not understand; add where to look.
    throw new UsageError(`${(error as Error).message}. Run trellis chat --help for the options.`);
  }
  if (values.help) return { kind: 'help' };

  const server = (values.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  if (!isHttpUrl(server)) {
    throw new UsageError(
      `--server ${server} is not an http(s) URL: give one like ${DEFAULT_SERVER}.`,
    );
  }
  const user = values.user === '' ? undefined : values.user;
  if (values.register && user === undefined) {
    throw new UsageError('--register needs --user NAME: the name of the account to create.');
  }
  if (values.store === undefined && user === undefined) {
    throw new UsageError(
      'Say who you are: --user NAME (with --register to create the account), or --store PATH of a device you used before.',
    );
  }
  const trustPolicy = values.trust;
  if (trustPolicy !== 'strict' && trustPolicy !== 'tofu') {
    throw new UsageError(`--trust ${trustPolicy} is not a policy: give strict or tofu.`);
  }
  const storePath =
    values.store ?? join(homeDir, '.trellis', defaultStoreName(server, user ?? 'device'));
  return {
    kind: 'run',
    options: {
      server,
      user,
      password: values.password ?? env.TRELLIS_PASSWORD,
      register: values.register,
      deviceId: values.device,
      storePath,
      trustPolicy,
    },
  };
}

/** A file name for one user on one server, e.g. `127.0.0.1_8008-alice.sqlite`. */
export function defaultStoreName(server: string, user: string): string {
  const url = new URL(server);
  const host = url.port ? `${url.hostname}_${url.port}` : url.hostname;
  return `${safeName(host)}-${safeName(localpartOf(user))}.sqlite`;
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._=-]/g, '_');
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
