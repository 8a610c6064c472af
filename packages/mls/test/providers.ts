import { nodeCrypto } from '../src/crypto/node.js';
import { portableCrypto } from '../src/crypto/portable.js';
import type { CryptoProvider } from '../src/crypto/provider.js';

/** Every provider; tests and vector checks run against each of them. */
export const PROVIDERS: readonly CryptoProvider[] = [nodeCrypto, portableCrypto];
