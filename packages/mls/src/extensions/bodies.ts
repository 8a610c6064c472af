import { opaqueCodec, type Codec } from '../codec/index.js';
import { credentialCodec, type Credential } from '../credentials/credential.js';

/**
 * Bodies of the extensions RFC 9420 defines (§5.3.3 application_id, §11.1
 * required_capabilities, §12.1.8.1 external_senders, §12.4.3.2 external_pub; ratchet_tree is
 * `ratchetTreeCodec` in tree/nodes.ts) and `last_resort`, whose body is empty.
 */

export interface RequiredCapabilities {
  extensionTypes: number[];
  proposalTypes: number[];
  credentialTypes: number[];
}

export const requiredCapabilitiesCodec: Codec<RequiredCapabilities> = {
  encode(w, c) {
    w.vector(c.extensionTypes, (w, v) => w.u16(v));
    w.vector(c.proposalTypes, (w, v) => w.u16(v));
    w.vector(c.credentialTypes, (w, v) => w.u16(v));
  },
  decode: (r) => ({
    extensionTypes: r.vector((r) => r.u16()),
    proposalTypes: r.vector((r) => r.u16()),
    credentialTypes: r.vector((r) => r.u16()),
  }),
};

export interface ExternalSender {
  signatureKey: Uint8Array;
  credential: Credential;
}

export const externalSendersCodec: Codec<ExternalSender[]> = {
  encode(w, senders) {
    w.vector(senders, (w, s) => {
      w.opaque(s.signatureKey);
      credentialCodec.encode(w, s.credential);
    });
  },
  decode: (r) =>
    r.vector((r) => ({ signatureKey: r.opaque(), credential: credentialCodec.decode(r) })),
};

/** struct { HPKEPublicKey external_pub; } */
export const externalPubCodec: Codec<Uint8Array> = opaqueCodec;

/** opaque application_id<V> */
export const applicationIdCodec: Codec<Uint8Array> = opaqueCodec;

/** The last_resort extension carries nothing. */
export const emptyCodec: Codec<null> = {
  encode: () => {},
  decode: () => null,
};
