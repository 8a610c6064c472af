export { buildApp, type ServerContext } from './app.js';
export { loadConfig, DEFAULT_CONFIG, type ServerConfig, type DatabaseConfig } from './config.js';
export { Store } from './db/index.js';
export { serve } from './serve.js';
