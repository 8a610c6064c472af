/** Test clients and groups built only through the public API. */
import assert from 'node:assert/strict';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createGroup,
  createKeyPackage,
  joinFromWelcome,
  MlsError,
  processMessage,
  type CipherSuite,
  type CommitOptions,
  type CreatedCommit,
  type CryptoProvider,
  type GroupState,
  type KeyPackageBundle,
  type MlsMessage,
} from '../../src/index.js';
import { utf8 } from '../../src/util/bytes.js';

export const NOW = BigInt(Math.floor(Date.now() / 1000));

export function suiteFor(id: number, provider: CryptoProvider): CipherSuite {
  return cipherSuite(id, provider);
}

export function keyPackageFor(
  suite: CipherSuite,
  name: string,
  extra: object = {},
): KeyPackageBundle {
  return createKeyPackage(suite, { credential: basicCredential(utf8(name)), now: NOW, ...extra });
}

/** A group of the named members, all joined, as each member's state. */
export function groupOf(suite: CipherSuite, names: string[]): GroupState[] {
  let creator = createGroup(suite, { credential: basicCredential(utf8(names[0]!)), now: NOW });
  if (names.length === 1) return [creator];
  const bundles = names.slice(1).map((n) => keyPackageFor(suite, n));
  const created = createCommit(creator, { add: bundles.map((b) => b.keyPackage) });
  creator = created.pending;
  const joined = bundles.map((b) => joinFromWelcome(suite.provider, welcomeOf(created), b));
  return [creator, ...joined];
}

export function welcomeOf(created: CreatedCommit) {
  assert.ok(created.welcome && created.welcome.wireFormat === 3, 'commit has a Welcome');
  return created.welcome.welcome;
}

/** Has every other member process a commit created by `committer` (index into `states`). */
export function commitAll(
  states: GroupState[],
  committer: number,
  options: CommitOptions = {},
): { states: (GroupState | undefined)[]; created: CreatedCommit } {
  const created = createCommit(states[committer]!, options);
  const next = states.map((s, i) => {
    if (i === committer) return created.pending;
    const r = processMessage(s, created.commit, options);
    return r.kind === 'commit' ? r.state : undefined;
  });
  return { states: next, created };
}

export function expectMlsError(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

export type { MlsMessage };
