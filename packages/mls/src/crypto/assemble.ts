/**
 * One provider from its primitive builders: every RFC 9420 suite's hash, KDF, AEAD, KEM and
 * signature scheme, built once and looked up by id. `nodeCrypto` and `portableCrypto` differ
 * only in the builders they pass.
 */
import { MlsError } from '../errors.js';
import { dhKem, type DhGroup } from './dhkem.js';
import {
  AeadId,
  KdfId,
  KemId,
  SignatureScheme,
  type Aead,
  type CryptoProvider,
  type Hash,
  type Kdf,
  type Kem,
  type Signature,
} from './provider.js';

type Nist = typeof KemId.DHKEM_P256 | typeof KemId.DHKEM_P384 | typeof KemId.DHKEM_P521;
type Montgomery = typeof KemId.DHKEM_X25519 | typeof KemId.DHKEM_X448;
type Edwards = typeof SignatureScheme.ED25519 | typeof SignatureScheme.ED448;
type Ecdsa =
  | typeof SignatureScheme.ECDSA_SECP256R1_SHA256
  | typeof SignatureScheme.ECDSA_SECP384R1_SHA384
  | typeof SignatureScheme.ECDSA_SECP521R1_SHA512;

export interface PrimitiveBuilders {
  readonly randomBytes: (length: number) => Uint8Array;
  makeHash(id: KdfId): Hash;
  makeKdf(id: KdfId): Kdf;
  makeAead(id: AeadId): Aead;
  nistGroup(id: Nist): DhGroup;
  montgomeryGroup(id: Montgomery): DhGroup;
  edwardsSignature(scheme: Edwards): Signature;
  ecdsaSignature(scheme: Ecdsa): Signature;
}

function unsupported(kind: string, id: number): never {
  throw new MlsError('UNSUPPORTED_CIPHER_SUITE', `unsupported ${kind} 0x${id.toString(16)}`);
}

export function assembleProvider(name: string, b: PrimitiveBuilders): CryptoProvider {
  const hashes = new Map<number, Hash>();
  const kdfs = new Map<number, Kdf>();
  for (const id of [KdfId.HKDF_SHA256, KdfId.HKDF_SHA384, KdfId.HKDF_SHA512]) {
    hashes.set(id, b.makeHash(id));
    kdfs.set(id, b.makeKdf(id));
  }
  const aeads = new Map<number, Aead>(
    [AeadId.AES128GCM, AeadId.AES256GCM, AeadId.CHACHA20POLY1305].map((id) => [id, b.makeAead(id)]),
  );
  const kems = new Map<number, Kem>(
    [
      b.nistGroup(KemId.DHKEM_P256),
      b.nistGroup(KemId.DHKEM_P384),
      b.nistGroup(KemId.DHKEM_P521),
      b.montgomeryGroup(KemId.DHKEM_X25519),
      b.montgomeryGroup(KemId.DHKEM_X448),
    ].map((group) => [group.kemId, dhKem(group, kdfs.get(group.kdf)!, b.randomBytes)]),
  );
  const signatures = new Map<number, Signature>([
    [SignatureScheme.ED25519, b.edwardsSignature(SignatureScheme.ED25519)],
    [SignatureScheme.ED448, b.edwardsSignature(SignatureScheme.ED448)],
    ...[
      SignatureScheme.ECDSA_SECP256R1_SHA256,
      SignatureScheme.ECDSA_SECP384R1_SHA384,
      SignatureScheme.ECDSA_SECP521R1_SHA512,
    ].map((scheme) => [scheme, b.ecdsaSignature(scheme)] as const),
  ]);
  return {
    name,
    randomBytes: (length) => b.randomBytes(length),
    hash: (id) => hashes.get(id) ?? unsupported('hash', id),
    kdf: (id) => kdfs.get(id) ?? unsupported('KDF', id),
    aead: (id) => aeads.get(id) ?? unsupported('AEAD', id),
    kem: (id) => kems.get(id) ?? unsupported('KEM', id),
    signature: (id) => signatures.get(id) ?? unsupported('signature scheme', id),
  };
}
