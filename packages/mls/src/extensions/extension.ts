import type { Codec, Reader, Writer } from '../codec/index.js';

/**
 * RFC 9420 §17.3 extension types, plus `last_resort` from the MLS extensions draft
 * (draft-ietf-mls-extensions, a KeyPackage that may be used more than once).
 */
export const ExtensionType = {
  application_id: 0x0001,
  ratchet_tree: 0x0002,
  required_capabilities: 0x0003,
  external_pub: 0x0004,
  external_senders: 0x0005,
  last_resort: 0x000a,
} as const;

/** RFC 9420 §7.2: an extension is a type and opaque data whose shape the type defines. */
export interface Extension {
  extensionType: number;
  extensionData: Uint8Array;
}

export const extensionCodec: Codec<Extension> = {
  encode(w: Writer, e: Extension): void {
    w.u16(e.extensionType);
    w.opaque(e.extensionData);
  },
  decode(r: Reader): Extension {
    return { extensionType: r.u16(), extensionData: r.opaque() };
  },
};

export function encodeExtensions(w: Writer, extensions: readonly Extension[]): void {
  w.vector(extensions, extensionCodec.encode);
}

export function decodeExtensions(r: Reader): Extension[] {
  return r.vector(extensionCodec.decode);
}

export function findExtension(
  extensions: readonly Extension[],
  extensionType: number,
): Extension | undefined {
  return extensions.find((e) => e.extensionType === extensionType);
}

/** GREASE values (RFC 9420 §13.5): 0x0A0A, 0x1A1A, … 0xEAEA. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff) && value !== 0xfafa;
}

/** `Extension extensions<V>`, for comparing or hashing whole lists. */
export const extensionListCodec: Codec<readonly Extension[]> = {
  encode: (w, list) => encodeExtensions(w, list),
  decode: decodeExtensions,
};
