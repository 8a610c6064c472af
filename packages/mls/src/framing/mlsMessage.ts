import type { Codec } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';
import { MlsError } from '../errors.js';
import { groupInfoCodec, type GroupInfo } from '../messages/groupInfo.js';
import { keyPackageCodec, type KeyPackage } from '../messages/keyPackage.js';
import { welcomeCodec, type Welcome } from '../messages/welcome.js';
import { ProtocolVersion, WIRE_FORMATS, WireFormat } from './content.js';
import {
  privateMessageCodec,
  publicMessageCodec,
  type PrivateMessage,
  type PublicMessage,
} from './messages.js';

/** RFC 9420 §6: the envelope of everything MLS sends. Only MLS 1.0 is accepted. */
export type MlsMessage =
  | { wireFormat: typeof WireFormat.mls_public_message; publicMessage: PublicMessage }
  | { wireFormat: typeof WireFormat.mls_private_message; privateMessage: PrivateMessage }
  | { wireFormat: typeof WireFormat.mls_welcome; welcome: Welcome }
  | { wireFormat: typeof WireFormat.mls_group_info; groupInfo: GroupInfo }
  | { wireFormat: typeof WireFormat.mls_key_package; keyPackage: KeyPackage };

export const mlsMessageCodec: Codec<MlsMessage> = {
  encode(w, m) {
    w.u16(ProtocolVersion.mls10);
    w.u16(m.wireFormat);
    switch (m.wireFormat) {
      case WireFormat.mls_public_message:
        return publicMessageCodec.encode(w, m.publicMessage);
      case WireFormat.mls_private_message:
        return privateMessageCodec.encode(w, m.privateMessage);
      case WireFormat.mls_welcome:
        return welcomeCodec.encode(w, m.welcome);
      case WireFormat.mls_group_info:
        return groupInfoCodec.encode(w, m.groupInfo);
      case WireFormat.mls_key_package:
        return keyPackageCodec.encode(w, m.keyPackage);
    }
  },
  decode(r) {
    const version = r.u16();
    if (version !== ProtocolVersion.mls10) {
      throw new MlsError('UNSUPPORTED_VERSION', `protocol version ${version} is not MLS 1.0`);
    }
    const wireFormat = checkEnum<WireFormat>(r.u16(), WIRE_FORMATS, 'WireFormat');
    switch (wireFormat) {
      case WireFormat.mls_public_message:
        return { wireFormat, publicMessage: publicMessageCodec.decode(r) };
      case WireFormat.mls_private_message:
        return { wireFormat, privateMessage: privateMessageCodec.decode(r) };
      case WireFormat.mls_welcome:
        return { wireFormat, welcome: welcomeCodec.decode(r) };
      case WireFormat.mls_group_info:
        return { wireFormat, groupInfo: groupInfoCodec.decode(r) };
      case WireFormat.mls_key_package:
        return { wireFormat, keyPackage: keyPackageCodec.decode(r) };
    }
  },
};
