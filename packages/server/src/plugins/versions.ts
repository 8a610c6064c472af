import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';

/** The spec versions whose endpoints this server's subset follows. */
export const SUPPORTED_VERSIONS = [
  'v1.1',
  'v1.2',
  'v1.3',
  'v1.4',
  'v1.5',
  'v1.6',
  'v1.7',
  'v1.8',
  'v1.9',
  'v1.10',
  'v1.11',
];

export const versionsPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app) => {
  app.get('/_matrix/client/versions', async () => ({
    versions: SUPPORTED_VERSIONS,
    unstable_features: {},
  }));
};
