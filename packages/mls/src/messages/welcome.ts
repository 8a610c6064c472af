import type { Codec } from '../codec/index.js';
import { preSharedKeyIdCodec, type PreSharedKeyId } from './preSharedKeyId.js';
import { hpkeCiphertextCodec, type HpkeCiphertext } from './updatePath.js';

/** RFC 9420 §12.4.3.1: the secrets a new member needs, encrypted to its KeyPackage. */
export interface GroupSecrets {
  joinerSecret: Uint8Array;
  pathSecret?: Uint8Array;
  psks: PreSharedKeyId[];
}

export interface EncryptedGroupSecrets {
  /** KeyPackageRef of the KeyPackage the secrets are encrypted to. */
  newMember: Uint8Array;
  encryptedGroupSecrets: HpkeCiphertext;
}

export interface Welcome {
  cipherSuite: number;
  secrets: EncryptedGroupSecrets[];
  encryptedGroupInfo: Uint8Array;
}

export const groupSecretsCodec: Codec<GroupSecrets> = {
  encode(w, s) {
    w.opaque(s.joinerSecret);
    // optional<PathSecret>, where PathSecret is struct { opaque path_secret<V>; }
    w.optional(s.pathSecret, (w, secret) => w.opaque(secret));
    w.vector(s.psks, preSharedKeyIdCodec.encode);
  },
  decode(r) {
    const joinerSecret = r.opaque();
    const pathSecret = r.optional((r) => r.opaque());
    const psks = r.vector(preSharedKeyIdCodec.decode);
    return pathSecret === undefined ? { joinerSecret, psks } : { joinerSecret, pathSecret, psks };
  },
};

export const encryptedGroupSecretsCodec: Codec<EncryptedGroupSecrets> = {
  encode(w, s) {
    w.opaque(s.newMember);
    hpkeCiphertextCodec.encode(w, s.encryptedGroupSecrets);
  },
  decode: (r) => ({
    newMember: r.opaque(),
    encryptedGroupSecrets: hpkeCiphertextCodec.decode(r),
  }),
};

export const welcomeCodec: Codec<Welcome> = {
  encode(w, m) {
    w.u16(m.cipherSuite);
    w.vector(m.secrets, encryptedGroupSecretsCodec.encode);
    w.opaque(m.encryptedGroupInfo);
  },
  decode: (r) => ({
    cipherSuite: r.u16(),
    secrets: r.vector(encryptedGroupSecretsCodec.decode),
    encryptedGroupInfo: r.opaque(),
  }),
};
