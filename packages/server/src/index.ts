export { buildApp } from './app.js';
export type { ServerContext } from './context.js';
export {
  loadConfig,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  type ServerConfig,
  type DatabaseConfig,
} from './config.js';
export { Store } from './db/index.js';
export { serve } from './serve.js';
