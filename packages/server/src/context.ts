import type { ServerConfig } from './config.js';
import type { Store } from './db/index.js';
import type { RateLimiter } from './rateLimit.js';

/** What every route plugin is given. Its own module, so plugins never import the app that loads them. */
export interface ServerContext {
  config: ServerConfig;
  store: Store;
  claimLimiter: RateLimiter;
  /** Aborted when the server starts closing: waiting syncs answer at once. */
  shutdown: AbortSignal;
}
