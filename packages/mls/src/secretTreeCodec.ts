import type { Codec, Reader, Writer } from './codec/index.js';
import type { CipherSuite } from './crypto/suites.js';
import { MlsError } from './errors.js';
import type { HashRatchet, KeyAndNonce, LeafRatchets, SecretTree } from './secretTree.js';
import * as math from './tree/math.js';
import { PersistentArray } from './tree/persistentArray.js';

/**
 * A secret tree as bytes (for persisted group states and epoch readers): the node secrets not
 * yet expanded and the ratchets of the leaves used so far, with the keys kept for late messages.
 * Used keys are absent, so a restored tree refuses them as the original would.
 */
const keyAndNonceCodec: Codec<KeyAndNonce> = {
  encode(w, k) {
    w.opaque(k.key);
    w.opaque(k.nonce);
  },
  decode: (r) => ({ key: r.opaque(), nonce: r.opaque() }),
};

const ratchetCodec: Codec<HashRatchet> = {
  encode(w, ratchet) {
    w.u32(ratchet.generation);
    w.opaque(ratchet.secret);
    w.vector([...ratchet.skipped], (w, [generation, keys]) => {
      w.u32(generation);
      keyAndNonceCodec.encode(w, keys);
    });
  },
  decode: (r) => ({
    generation: r.u32(),
    secret: r.opaque(),
    skipped: new Map(r.vector((r) => [r.u32(), keyAndNonceCodec.decode(r)] as const)),
  }),
};

function encodeSparse<T>(
  w: Writer,
  array: PersistentArray<T | undefined>,
  encodeItem: (w: Writer, item: T) => void,
): void {
  const present: [number, T][] = [];
  for (let i = 0; i < array.length; i++) {
    const item = array.get(i);
    if (item !== undefined) present.push([i, item]);
  }
  w.vector(present, (w, [index, item]) => {
    w.u32(index);
    encodeItem(w, item);
  });
}

function decodeSparse<T>(
  r: Reader,
  length: number,
  decodeItem: (r: Reader) => T,
): PersistentArray<T | undefined> {
  const entries = r.vector((r) => [r.u32(), decodeItem(r)] as const);
  for (const [index] of entries) {
    if (index >= length) throw new MlsError('INVALID_STATE', `index ${index} beyond ${length}`);
  }
  return PersistentArray.filled<T | undefined>(length, undefined).with(entries);
}

/**
 * How a leaf's ratchets are written. `full` (a group state's tree): both ratchets, always
 * present. `partial` (an epoch reader's tree): each ratchet optional, as
 * `retainApplicationRatchets` leaves them.
 */
export type SecretTreeFormat = 'full' | 'partial';

const fullLeafCodec: Codec<LeafRatchets> = {
  encode(w, leaf) {
    for (const ratchet of [leaf.handshake, leaf.application]) {
      if (!ratchet) {
        throw new MlsError(
          'INVALID_STATE',
          'a tree with deleted ratchets needs the partial format',
        );
      }
      ratchetCodec.encode(w, ratchet);
    }
  },
  decode: (r) => ({ handshake: ratchetCodec.decode(r), application: ratchetCodec.decode(r) }),
};

const partialLeafCodec: Codec<LeafRatchets> = {
  encode(w, leaf) {
    w.optional(leaf.handshake, ratchetCodec.encode);
    w.optional(leaf.application, ratchetCodec.encode);
  },
  decode(r) {
    const handshake = r.optional(ratchetCodec.decode);
    const application = r.optional(ratchetCodec.decode);
    return { ...(handshake && { handshake }), ...(application && { application }) };
  },
};

const leafCodecs: Record<SecretTreeFormat, Codec<LeafRatchets>> = {
  full: fullLeafCodec,
  partial: partialLeafCodec,
};

export function encodeSecretTree(
  w: Writer,
  tree: SecretTree,
  format: SecretTreeFormat = 'full',
): void {
  encodeSparse(w, tree.nodeSecrets, (w, secret) => w.opaque(secret));
  encodeSparse(w, tree.ratchets, leafCodecs[format].encode);
}

export function decodeSecretTree(
  r: Reader,
  suite: CipherSuite,
  leafCount: number,
  window: { maxForwardDistance: number; outOfOrderTolerance: number },
  format: SecretTreeFormat = 'full',
): SecretTree {
  const nodeSecrets = decodeSparse(r, math.nodeWidth(leafCount), (r) => r.opaque());
  const ratchets = decodeSparse(r, leafCount, leafCodecs[format].decode);
  return {
    suite,
    leafCount,
    maxForwardDistance: window.maxForwardDistance,
    outOfOrderTolerance: window.outOfOrderTolerance,
    nodeSecrets,
    ratchets,
  };
}
