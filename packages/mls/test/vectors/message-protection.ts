/**
 * message-protection.json (RFC 9420 §6): for a proposal, a commit and application data sent by
 * leaf 1 of a two-member group, the given PublicMessages verify (membership tag and signature)
 * and the given PrivateMessages decrypt and verify, each carrying exactly the given content.
 * Then each content is protected anew both ways (application data only privately) and the
 * result unprotected again. The signature key pair must match.
 */
import { decode, encode } from '../../src/codec/index.js';
import { cipherSuite, type CipherSuite } from '../../src/crypto/suites.js';
import {
  checkGroupAndEpoch,
  signContent,
  toPublicMessage,
  verifyPublicMessage,
} from '../../src/framing/authentication.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  type AuthenticatedContent,
  type ContentBody,
  type FramedContent,
} from '../../src/framing/content.js';
import { mlsMessageCodec } from '../../src/framing/mlsMessage.js';
import type { PrivateMessage, PublicMessage } from '../../src/framing/messages.js';
import {
  decryptPrivateMessage,
  encryptPrivateMessage,
  type DecryptParams,
} from '../../src/framing/privateMessage.js';
import { commitCodec } from '../../src/messages/commit.js';
import type { GroupContext } from '../../src/messages/groupContext.js';
import { proposalCodec } from '../../src/messages/proposals.js';
import { createSecretTree } from '../../src/secretTree.js';
import { EMPTY } from '../../src/util/bytes.js';
import { expect, expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

const SENDER = 1;
const KNOWN_FIELDS = new Set([
  'cipher_suite',
  'group_id',
  'epoch',
  'tree_hash',
  'confirmed_transcript_hash',
  'signature_priv',
  'signature_pub',
  'encryption_secret',
  'sender_data_secret',
  'membership_key',
  'proposal',
  'proposal_priv',
  'proposal_pub',
  'commit',
  'commit_priv',
  'commit_pub',
  'application',
  'application_priv',
]);

type Kind = 'proposal' | 'commit' | 'application';

/** The content body the entry gives for `kind`, decoded. */
function expectedBody(kind: Kind, raw: Uint8Array): ContentBody {
  switch (kind) {
    case 'proposal':
      return { contentType: ContentType.proposal, proposal: decode(proposalCodec, raw) };
    case 'commit':
      return { contentType: ContentType.commit, commit: decode(commitCodec, raw) };
    case 'application':
      return { contentType: ContentType.application, applicationData: raw };
  }
}

/** Checks that `content` is from leaf 1 of this group and epoch and carries exactly `raw`. */
function expectContent(
  content: FramedContent,
  kind: Kind,
  raw: string,
  ctx: GroupContext,
  at: string,
) {
  checkGroupAndEpoch(content.groupId, content.epoch, ctx);
  expect(
    content.sender.senderType === SenderType.member && content.sender.leafIndex === SENDER,
    `${at}: sender is not member ${SENDER}`,
  );
  switch (content.contentType) {
    case ContentType.proposal:
      expectEqual(kind, 'proposal', `${at} content type`);
      return expectHex(encode(proposalCodec, content.proposal), raw, `${at} proposal`);
    case ContentType.commit:
      expectEqual(kind, 'commit', `${at} content type`);
      return expectHex(encode(commitCodec, content.commit), raw, `${at} commit`);
    case ContentType.application:
      expectEqual(kind, 'application', `${at} content type`);
      return expectHex(content.applicationData, raw, `${at} application data`);
  }
}

function decodePublic(bytes: Uint8Array, at: string): PublicMessage {
  const m = decode(mlsMessageCodec, bytes);
  if (m.wireFormat !== WireFormat.mls_public_message) throw new Error(`${at}: not a PublicMessage`);
  return m.publicMessage;
}

function decodePrivate(bytes: Uint8Array, at: string): PrivateMessage {
  const m = decode(mlsMessageCodec, bytes);
  if (m.wireFormat !== WireFormat.mls_private_message)
    throw new Error(`${at}: not a PrivateMessage`);
  return m.privateMessage;
}

function unprotectPublic(
  cs: CipherSuite,
  bytes: Uint8Array,
  ctx: GroupContext,
  entry: any,
  at: string,
): AuthenticatedContent {
  return verifyPublicMessage(cs, decodePublic(bytes, at), {
    context: ctx,
    membershipKey: hex(entry.membership_key),
    signaturePublicKey: hex(entry.signature_pub),
  });
}

const suite: VectorSuite = {
  file: 'message-protection.json',
  check(entry, provider) {
    for (const field of Object.keys(entry)) {
      if (!KNOWN_FIELDS.has(field)) throw new Error(`unknown field ${field}`);
    }
    const cs = cipherSuite(entry.cipher_suite, provider);
    const signaturePriv = hex(entry.signature_priv);
    const signaturePub = hex(entry.signature_pub);
    expectHex(cs.signature.publicKey(signaturePriv), entry.signature_pub, 'signature key pair');

    const ctx: GroupContext = {
      version: 1,
      cipherSuite: entry.cipher_suite,
      groupId: hex(entry.group_id),
      epoch: BigInt(entry.epoch),
      treeHash: hex(entry.tree_hash),
      confirmedTranscriptHash: hex(entry.confirmed_transcript_hash),
      extensions: [],
    };
    // Every message below is decrypted with this same tree: it is a value, never changed.
    const secretTree = createSecretTree(cs, hex(entry.encryption_secret), 2);
    const senderDataSecret = hex(entry.sender_data_secret);
    const decryptParams: DecryptParams = {
      senderDataSecret,
      secretTree,
      context: ctx,
      senderSignatureKey: (leaf) => (leaf === SENDER ? signaturePub : undefined),
    };

    for (const kind of ['proposal', 'commit', 'application'] as const) {
      const raw: string = entry[kind];
      expect(typeof raw === 'string', `${kind} missing`);
      let confirmationTag: Uint8Array | undefined;

      if (kind !== 'application') {
        const at = `${kind}_pub`;
        const ac = unprotectPublic(cs, hex(entry[at]), ctx, entry, at);
        expectContent(ac.content, kind, raw, ctx, at);
        confirmationTag = ac.auth.confirmationTag;
      }
      {
        const at = `${kind}_priv`;
        const got = decryptPrivateMessage(cs, decodePrivate(hex(entry[at]), at), decryptParams);
        expectContent(got.authenticated.content, kind, raw, ctx, at);
        expectEqual(got.senderData.leafIndex, SENDER, `${at} sender data leaf`);
        if (kind === 'commit') {
          expect(got.authenticated.auth.confirmationTag, `${at} has no confirmation tag`);
          confirmationTag ??= got.authenticated.auth.confirmationTag;
        }
      }

      // Protect anew, then unprotect our own output.
      const content: FramedContent = {
        groupId: ctx.groupId,
        epoch: ctx.epoch,
        sender: { senderType: SenderType.member, leafIndex: SENDER },
        authenticatedData: EMPTY,
        ...expectedBody(kind, hex(raw)),
      };
      if (kind !== 'application') {
        const at = `${kind} protected anew as PublicMessage`;
        const signed = signContent(
          cs,
          signaturePriv,
          WireFormat.mls_public_message,
          content,
          ctx,
          confirmationTag,
        );
        const message = toPublicMessage(cs, signed, ctx, hex(entry.membership_key));
        const bytes = encode(mlsMessageCodec, {
          wireFormat: WireFormat.mls_public_message,
          publicMessage: message,
        });
        expectContent(unprotectPublic(cs, bytes, ctx, entry, at).content, kind, raw, ctx, at);
      }
      {
        const at = `${kind} protected anew as PrivateMessage`;
        const signed = signContent(
          cs,
          signaturePriv,
          WireFormat.mls_private_message,
          content,
          ctx,
          confirmationTag,
        );
        const sent = encryptPrivateMessage(cs, signed, { senderDataSecret, secretTree });
        const bytes = encode(mlsMessageCodec, {
          wireFormat: WireFormat.mls_private_message,
          privateMessage: sent.message,
        });
        const got = decryptPrivateMessage(cs, decodePrivate(bytes, at), decryptParams);
        expectContent(got.authenticated.content, kind, raw, ctx, at);
        expectEqual(got.senderData.generation, sent.generation, `${at} generation`);
      }
    }
  },
};
export default suite;
