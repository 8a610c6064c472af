/**
 * Issue 13, item 14: an external joiner's leaf supports what the group requires, and is checked
 * as the members will check it (RFC 9420 §7.3) before `joinByExternalCommit` returns a commit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  basicCredential,
  createCommit,
  createGroup,
  createGroupInfo,
  CredentialType,
  encode,
  epochAuthenticator,
  ExtensionType,
  joinByExternalCommit,
  joinFromWelcome,
  nodeCrypto,
  processMessage,
  requiredCapabilitiesCodec,
  type Credential,
  type GroupState,
} from '../src/index.js';
import { toHex, utf8 } from '../src/util/bytes.js';
import {
  expectMlsError,
  groupOf,
  keyPackageFor,
  NOW,
  suiteFor,
  welcomeOf,
} from './support/clients.js';

const suite = suiteFor(1, nodeCrypto);
const BOTH = [CredentialType.basic, CredentialType.x509];
// A private-use extension and proposal type (RFC 9420 §17.3, §17.4: 0xF000 and up).
const EXTENSION = 0xf0a1;
const PROPOSAL = 0xf0a2;

function x509(name: string): Credential {
  // Trellis carries X.509 chains and leaves judging them to the application.
  return { credentialType: CredentialType.x509, certificates: [utf8(`certificate of ${name}`)] };
}

/**
 * A group as Wire's core-crypto makes them: its GroupContext `required_capabilities` lists the
 * credential types basic and x509 (and here an extension and a proposal type too), so every
 * member's leaf supports them.
 */
function requiringGroup(): [GroupState, GroupState] {
  const capabilities = { credentials: BOTH, extensions: [EXTENSION], proposals: [PROPOSAL] };
  const required = {
    extensionType: ExtensionType.required_capabilities,
    extensionData: encode(requiredCapabilitiesCodec, {
      extensionTypes: [EXTENSION],
      proposalTypes: [PROPOSAL],
      credentialTypes: BOTH,
    }),
  };
  const alice = createGroup(suite, {
    credential: basicCredential(utf8('alice')),
    now: NOW,
    extensions: [required],
    capabilities,
  });
  const bobPackage = keyPackageFor(suite, 'bob', { capabilities });
  const created = createCommit(alice, { add: [bobPackage.keyPackage] });
  return [created.pending, joinFromWelcome(nodeCrypto, welcomeOf(created), bobPackage)];
}

describe('14. external joins into groups with required_capabilities', () => {
  test('14. an external commit into a group requiring basic and x509 is accepted by its members', () => {
    const [alice, bob] = requiringGroup();
    const info = createGroupInfo(alice, { externalPub: true, ratchetTree: true });
    // The joiner asks for nothing beyond its own basic credential.
    const joined = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(utf8('carol')),
    });
    const carol = joined.pending;

    for (const member of [alice, bob]) {
      const r = processMessage(member, joined.commit);
      assert.equal(r.kind, 'commit');
      if (r.kind !== 'commit') continue;
      assert.equal(toHex(epochAuthenticator(r.state)), toHex(epochAuthenticator(carol)));
      assert.equal(r.state.tree.leaf(carol.ownLeaf)?.credential.credentialType, 1);
    }
    // Because its leaf lists what the group requires, though the joiner asked for none of it.
    const caps = carol.tree.leaf(carol.ownLeaf)!.capabilities;
    for (const t of BOTH) assert.ok(caps.credentials.includes(t), `credential type ${t}`);
    assert.ok(caps.extensions.includes(EXTENSION));
    assert.ok(caps.proposals.includes(PROPOSAL));
  });

  test('14. a joiner whose leaf the group cannot take gets an MlsError and no commit', () => {
    // Bob's leaf supports basic credentials only, so an x509 joiner breaks §7.3 for him.
    const [alice, bob] = groupOf(suite, ['alice', 'bob']) as [GroupState, GroupState];
    const info = createGroupInfo(alice, { externalPub: true, ratchetTree: true });
    expectMlsError(
      () => joinByExternalCommit(nodeCrypto, info, { credential: x509('carol') }),
      'UNSUPPORTED_CAPABILITY',
    );
    // A joiner that signs with a member's signature key (§7.3: keys are unique in the tree).
    expectMlsError(
      () =>
        joinByExternalCommit(nodeCrypto, info, {
          credential: basicCredential(utf8('mallory')),
          signatureKeyPair: {
            publicKey: bob.tree.leaf(bob.ownLeaf)!.signatureKey,
            privateKey: bob.signaturePrivateKey,
          },
        }),
      'DUPLICATE_KEY',
    );
  });

  test('14. a required credential type Trellis cannot read is not claimed: the join is refused', () => {
    const UNKNOWN = 0x0005;
    const alice = createGroup(suite, {
      credential: basicCredential(utf8('alice')),
      now: NOW,
      capabilities: { credentials: [CredentialType.basic, UNKNOWN] },
      extensions: [
        {
          extensionType: ExtensionType.required_capabilities,
          extensionData: encode(requiredCapabilitiesCodec, {
            extensionTypes: [],
            proposalTypes: [],
            credentialTypes: [CredentialType.basic, UNKNOWN],
          }),
        },
      ],
    });
    const info = createGroupInfo(alice, { externalPub: true, ratchetTree: true });
    expectMlsError(
      () => joinByExternalCommit(nodeCrypto, info, { credential: basicCredential(utf8('carol')) }),
      'UNSUPPORTED_CAPABILITY',
    );
  });

  test('14. a joiner supports the credential types members use, required or not', () => {
    // Bob joined with an x509 credential; no required_capabilities says so.
    const alice = createGroup(suite, {
      credential: basicCredential(utf8('alice')),
      now: NOW,
      capabilities: { credentials: BOTH },
    });
    const bobPackage = keyPackageFor(suite, 'bob', {
      credential: x509('bob'),
      capabilities: { credentials: BOTH },
    });
    const created = createCommit(alice, { add: [bobPackage.keyPackage] });
    const bob = joinFromWelcome(nodeCrypto, welcomeOf(created), bobPackage);
    const info = createGroupInfo(bob, { externalPub: true, ratchetTree: true });
    const joined = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(utf8('carol')),
    });
    const r = processMessage(created.pending, joined.commit);
    assert.equal(r.kind, 'commit');
  });
});
