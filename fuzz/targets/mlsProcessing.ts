/**
 * Processing targets: mutated messages processed against a live group state, and mutated
 * Welcomes joined from. After every input the live state must be byte-for-byte what it was and
 * must still read a valid message; a KeyPackage bundle must still hold its keys.
 *
 * Byte mutations of a signed message mostly stop at the signature or membership tag. Two
 * targets therefore re-sign what they mutate, as a malicious member would: `process-resigned`
 * mutates the content, signs it with its sender's key and protects it with the epoch's keys;
 * `join-resealed` mutates the GroupInfo, signs it as its signer and seals it into a Welcome for
 * the joiner. Their inputs go on to the checks behind the signatures: proposal lists, paths,
 * trees, transcripts, confirmation tags.
 */
import {
  decode,
  encode,
  groupInfoCodec,
  MlsError,
  mlsMessageCodec,
  processMessage,
  serializeGroupState,
  SenderType,
  signWithLabel,
  WireFormat,
  type KeyPackageBundle,
  type MlsMessage,
} from '../../packages/mls/src/index.js';
import { Reader, Writer } from '../../packages/mls/src/codec/index.js';
import { encryptWithLabel } from '../../packages/mls/src/crypto/labels.js';
import { signContent, toPublicMessage } from '../../packages/mls/src/framing/authentication.js';
import {
  framedContentCodec,
  type AuthenticatedContent,
  type FramedContent,
} from '../../packages/mls/src/framing/content.js';
import { encryptPrivateMessage } from '../../packages/mls/src/framing/privateMessage.js';
import { unprotect } from '../../packages/mls/src/group/messaging.js';
import { joinFromWelcome, openWelcome } from '../../packages/mls/src/group/welcome.js';
import { deriveWelcomeSecret, welcomeKeyAndNonce } from '../../packages/mls/src/keySchedule.js';
import { encodeGroupInfoTbs, type GroupInfo } from '../../packages/mls/src/messages/groupInfo.js';
import { groupSecretsCodec, type Welcome } from '../../packages/mls/src/messages/welcome.js';
import { pskSecret } from '../../packages/mls/src/psk.js';
import { EMPTY } from '../../packages/mls/src/util/bytes.js';
import {
  InvariantViolation,
  type FuzzTarget,
  type Outcome,
  type TargetInstance,
} from '../engine.js';
import { traceFields } from '../trace.js';
import { classifyMls, fieldsBy } from './common.js';
import { FIXED_NOW, PSK_SOURCE, world, type World } from './fixtures.js';

const decodeMessage = (input: Uint8Array) => decode(mlsMessageCodec, input);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/**
 * The receiver's invariants: its serialisation is what it was, and it still reads the probe
 * (a valid message of its epoch that it has not consumed, since states are values).
 */
function receiverCheck(w: World): () => void {
  const baseline = Buffer.from(serializeGroupState(w.receiver));
  return () => {
    if (!baseline.equals(serializeGroupState(w.receiver))) {
      throw new InvariantViolation('the receiver state changed');
    }
    let read: string | undefined;
    try {
      const r = processMessage(w.receiver, w.probe, w.policy);
      read = r.kind === 'application' ? text(r.data) : r.kind;
    } catch (error) {
      throw new InvariantViolation(
        `the receiver no longer reads a valid message: ${String(error)}`,
      );
    }
    if (read !== w.probeText) throw new InvariantViolation(`the probe read as ${read}`);
  };
}

function processing(
  name: string,
  description: string,
  seeds: (w: World) => MlsMessage[],
): FuzzTarget {
  return {
    name,
    kind: 'processing',
    description,
    async setup(): Promise<TargetInstance> {
      const w = world();
      return {
        seeds: seeds(w).map((m) => encode(mlsMessageCodec, m)),
        run(input) {
          processMessage(w.receiver, decodeMessage(input), w.policy);
          return undefined;
        },
        classify: classifyMls,
        check: receiverCheck(w),
        fields: fieldsBy(decodeMessage),
      };
    },
  };
}

export const processPublic = processing(
  'process-public',
  'PublicMessage proposals and commits (member, external, new member) processed by a member',
  (w) => w.publicMessages.slice(),
);

export const processPrivate = processing(
  'process-private',
  'PrivateMessage application data, proposal and commit processed by a member',
  (w) => [...w.privateMessages, w.probe],
);

/**
 * `process-resigned` inputs: which wire format to protect with (1 public, 2 private), the
 * FramedContent, and the commit's confirmation tag (empty for other content).
 */
function decodeResignInput(input: Uint8Array): {
  wireFormat: number;
  content: FramedContent;
  tag: Uint8Array;
} {
  const r = new Reader(input);
  const wireFormat = r.u8();
  const content = framedContentCodec.decode(r);
  const tag = r.opaque();
  r.done();
  return { wireFormat, content, tag };
}

function encodeResignInput(authenticated: AuthenticatedContent): Uint8Array {
  const w = new Writer();
  w.u8(authenticated.wireFormat);
  framedContentCodec.encode(w, authenticated.content);
  w.opaque(authenticated.auth.confirmationTag ?? EMPTY);
  return w.finish();
}

/** The key a sender of this type would sign with, as far as the fixture knows one. */
function signingKey(w: World, content: FramedContent): Uint8Array {
  const sender = content.sender;
  switch (sender.senderType) {
    case SenderType.member:
      return w.memberKeys.get(sender.leafIndex) ?? w.memberKeys.get(0)!;
    case SenderType.external:
      return w.externalSenderKey;
    case SenderType.new_member_proposal:
      return w.newMemberKey;
    case SenderType.new_member_commit:
      return w.externalJoinerKey;
  }
}

/** Signs and protects content as its sender would, in the receiver's epoch. */
function resign(w: World, wireFormat: number, content: FramedContent, tag: Uint8Array): MlsMessage {
  const { suite, receiver } = w;
  const confirmationTag = tag.length > 0 ? tag : undefined;
  if (wireFormat === WireFormat.mls_private_message) {
    const signed = signContent(
      suite,
      signingKey(w, content),
      WireFormat.mls_private_message,
      content,
      receiver.context,
      confirmationTag,
    );
    const { message } = encryptPrivateMessage(suite, signed, {
      senderDataSecret: receiver.secrets.senderDataSecret,
      secretTree: receiver.secretTree,
    });
    return { wireFormat: WireFormat.mls_private_message, privateMessage: message };
  }
  const signed = signContent(
    suite,
    signingKey(w, content),
    WireFormat.mls_public_message,
    content,
    receiver.context,
    confirmationTag,
  );
  const publicMessage = toPublicMessage(
    suite,
    signed,
    receiver.context,
    receiver.secrets.membershipKey,
  );
  return { wireFormat: WireFormat.mls_public_message, publicMessage };
}

/** Runs `build`; an MlsError there is the sending side refusing, counted as `build:<code>`. */
function built<T>(build: () => T): T | Outcome {
  try {
    return build();
  } catch (error) {
    if (error instanceof MlsError) return { refused: `build:${error.code}`, detail: error.message };
    throw error;
  }
}

export const processResigned: FuzzTarget = {
  name: 'process-resigned',
  kind: 'processing',
  description: 'mutated FramedContent signed by its sender and protected for the epoch, processed',
  async setup(): Promise<TargetInstance> {
    const w = world();
    const seeds = [...w.publicMessages, ...w.privateMessages].map((message) => {
      const opened =
        message.wireFormat === WireFormat.mls_public_message
          ? {
              wireFormat: WireFormat.mls_public_message,
              content: message.publicMessage.content,
              auth: message.publicMessage.auth,
            }
          : unprotect(w.receiver, message).authenticated;
      return encodeResignInput(opened);
    });
    return {
      seeds,
      run(input) {
        const { wireFormat, content, tag } = decodeResignInput(input);
        const message = built(() => resign(w, wireFormat, content, tag));
        if (message === undefined || 'refused' in message) return message;
        processMessage(w.receiver, message, w.policy);
        return undefined;
      },
      classify: classifyMls,
      check: receiverCheck(w),
      fields: fieldsBy(decodeResignInput),
    };
  },
};

/** The KeyPackage bundle's keys, to see that a failed join leaves them intact. */
function bundleCheck(bundles: readonly KeyPackageBundle[]): () => void {
  const keysOf = (b: KeyPackageBundle) =>
    Buffer.concat([b.initPrivateKey, b.encryptionPrivateKey, b.signaturePrivateKey, b.ref]);
  const baseline = bundles.map(keysOf);
  return () => {
    bundles.forEach((b, i) => {
      if (!keysOf(b).equals(baseline[i]!)) {
        throw new InvariantViolation('a KeyPackage bundle changed during a join');
      }
    });
  };
}

/** The joiner a Welcome names, or the first one. */
function bundleFor(w: World, welcome: Welcome): KeyPackageBundle {
  const names = welcome.secrets.map((s) => Buffer.from(s.newMember));
  return (
    w.joiners.find((j) => names.some((n) => n.equals(j.bundle.ref)))?.bundle ?? w.joiners[0]!.bundle
  );
}

export const joinWelcome: FuzzTarget = {
  name: 'join-welcome',
  kind: 'processing',
  description: 'mutated Welcome (MLSMessage) joined with the KeyPackage it names',
  async setup(): Promise<TargetInstance> {
    const w = world();
    return {
      seeds: w.joiners.map((j) =>
        encode(mlsMessageCodec, { wireFormat: WireFormat.mls_welcome, welcome: j.welcome }),
      ),
      run(input) {
        const message = decodeMessage(input);
        if (message.wireFormat !== WireFormat.mls_welcome) return { refused: 'not-a-welcome' };
        const bundle = bundleFor(w, message.welcome);
        joinFromWelcome(w.provider, message.welcome, bundle, { now: FIXED_NOW, psks: PSK_SOURCE });
        return undefined;
      },
      classify: classifyMls,
      check: bundleCheck(w.joiners.map((j) => j.bundle)),
      fields: fieldsBy(decodeMessage),
    };
  },
};

interface Sealing {
  bundle: KeyPackageBundle;
  groupSecrets: Uint8Array;
  key: Uint8Array;
  nonce: Uint8Array;
  groupInfo: GroupInfo;
}

/** Signs `info` as its signer and seals it into a Welcome for the joiner of `sealing`. */
function reseal(w: World, sealing: Sealing, info: GroupInfo): Welcome {
  const { suite } = w;
  const tbs = new Writer();
  encodeGroupInfoTbs(tbs, info);
  const key = w.memberKeys.get(info.signer) ?? w.memberKeys.get(0)!;
  const signed = { ...info, signature: signWithLabel(suite, key, 'GroupInfoTBS', tbs.finish()) };
  const encryptedGroupInfo = suite.aead.seal(
    sealing.key,
    sealing.nonce,
    EMPTY,
    encode(groupInfoCodec, signed),
  );
  // The group secrets are bound to the encrypted GroupInfo (the HPKE context): seal them anew.
  const encryptedGroupSecrets = encryptWithLabel(
    suite,
    sealing.bundle.keyPackage.initKey,
    'Welcome',
    encryptedGroupInfo,
    sealing.groupSecrets,
  );
  return {
    cipherSuite: suite.id,
    secrets: [{ newMember: sealing.bundle.ref, encryptedGroupSecrets }],
    encryptedGroupInfo,
  };
}

export const joinResealed: FuzzTarget = {
  name: 'join-resealed',
  kind: 'processing',
  description: 'mutated GroupInfo re-signed by its signer, sealed into a Welcome, joined',
  async setup(): Promise<TargetInstance> {
    const w = world();
    const sealings: Sealing[] = w.joiners.map(({ bundle, welcome }) => {
      const opened = openWelcome(w.provider, welcome, bundle, PSK_SOURCE);
      const psk = pskSecret(w.suite, []);
      const welcomeSecret = deriveWelcomeSecret(w.suite, opened.groupSecrets.joinerSecret, psk);
      return {
        bundle,
        groupSecrets: encode(groupSecretsCodec, opened.groupSecrets),
        ...welcomeKeyAndNonce(w.suite, welcomeSecret),
        groupInfo: opened.groupInfo,
      };
    });
    // The joiner whose leaf (its encryption key) the GroupInfo's tree holds.
    const sealingFor = (input: Uint8Array) =>
      sealings.find((s) =>
        Buffer.from(input).includes(Buffer.from(s.bundle.keyPackage.leafNode.encryptionKey)),
      ) ?? sealings[0]!;
    return {
      seeds: sealings.map((s) => encode(groupInfoCodec, s.groupInfo)),
      run(input) {
        const info = decode(groupInfoCodec, input);
        const sealing = sealingFor(input);
        const welcome = built(() => reseal(w, sealing, info));
        if (welcome === undefined || 'refused' in welcome) return welcome;
        joinFromWelcome(w.provider, welcome, sealing.bundle, { now: FIXED_NOW, psks: PSK_SOURCE });
        return undefined;
      },
      classify: classifyMls,
      check: bundleCheck(w.joiners.map((j) => j.bundle)),
      fields: (input) => traceFields(input, () => decode(groupInfoCodec, input)),
    };
  },
};

export const MLS_PROCESSING: readonly FuzzTarget[] = [
  processPublic,
  processPrivate,
  processResigned,
  joinWelcome,
  joinResealed,
];
