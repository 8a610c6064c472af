import { MlsError } from '../errors.js';
import type { Codec, Reader, Writer } from '../codec/index.js';

/** RFC 9420 §17.5 credential types this engine can carry. */
export const CredentialType = { basic: 0x0001, x509: 0x0002 } as const;

/**
 * RFC 9420 §5.3. A basic credential names its holder with opaque identity bytes; an X.509
 * credential carries a DER certificate chain, leaf first, which this engine transports but
 * leaves to the application's authentication service to judge.
 */
export type Credential =
  | { credentialType: typeof CredentialType.basic; identity: Uint8Array }
  | { credentialType: typeof CredentialType.x509; certificates: Uint8Array[] };

export const credentialCodec: Codec<Credential> = {
  encode(w: Writer, c: Credential): void {
    w.u16(c.credentialType);
    if (c.credentialType === CredentialType.basic) {
      w.opaque(c.identity);
    } else {
      w.vector(c.certificates, (w, cert) => w.opaque(cert));
    }
  },
  decode(r: Reader): Credential {
    const credentialType = r.u16();
    switch (credentialType) {
      case CredentialType.basic:
        return { credentialType, identity: r.opaque() };
      case CredentialType.x509:
        return { credentialType, certificates: r.vector((r) => r.opaque()) };
      default:
        // The body's shape depends on the type, so an unknown type cannot be skipped.
        throw new MlsError('UNKNOWN_ENUM', `unknown credential type ${credentialType}`);
    }
  },
};

export function basicCredential(identity: Uint8Array): Credential {
  return { credentialType: CredentialType.basic, identity };
}
