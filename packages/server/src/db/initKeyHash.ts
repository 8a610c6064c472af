import { createHash } from 'node:crypto';

/** How an init_key (unpadded base64) is remembered: SHA-256, base64. */
export const initKeyHash = (initKey: string) =>
  createHash('sha256').update(initKey, 'utf8').digest('base64');
