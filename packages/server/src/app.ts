import { readableLogStream } from './logLines.js';
import { setMaxListeners } from 'node:events';
import { Ajv } from 'ajv';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import type { ServerConfig } from './config.js';
import { Store } from './db/index.js';
import type { ServerContext } from './context.js';
import { MatrixError } from './errors.js';
import { sweepExpiredKeyPackages } from './keyPackages/store.js';
import { accountDataPlugin } from './plugins/accountData.js';
import { crossSigningPlugin } from './plugins/crossSigning.js';
import { devicesPlugin } from './plugins/devices.js';
import { eventsPlugin } from './plugins/events.js';
import { keysPlugin } from './plugins/keys.js';
import { loginPlugin } from './plugins/login.js';
import { miscPlugin } from './plugins/misc.js';
import { profilePlugin } from './plugins/profile.js';
import { registerPlugin, registrationTokenPlugin } from './plugins/register.js';
import { roomKeysPlugin } from './plugins/roomKeys.js';
import { roomsPlugin } from './plugins/rooms.js';
import { syncPlugin } from './plugins/sync.js';
import { toDevicePlugin } from './plugins/toDevice.js';
import { versionsPlugin } from './plugins/versions.js';
import { r0AsV3, r0PathUnknown } from './r0.js';
import { decodeUtf8, jsonHoldsLoneSurrogate, nameHoldingNul } from './wellFormed.js';
import { RateLimiter } from './rateLimit.js';
import { forgetFullBuckets } from './sharedRateLimit.js';

export const CLIENT_V3 = '/_matrix/client/v3';

// Bodies are validated strictly (a "5" is not an integer); query strings arrive as text and are
// converted. One Ajv each, so coercion never leaks into body validation.
const bodyAjv = new Ajv({
  coerceTypes: false,
  useDefaults: false,
  strict: false,
  allErrors: false,
});
const queryAjv = new Ajv({ coerceTypes: true, useDefaults: true, strict: false, allErrors: false });

interface ValidationFailure {
  keyword: string;
  instancePath: string;
  message?: string;
  params?: { missingProperty?: string };
}

function describe(failure: ValidationFailure | undefined, context: string): string {
  if (!failure) return `invalid ${context}`;
  if (failure.keyword === 'required' && failure.params?.missingProperty) {
    const where = failure.instancePath ? ` in ${failure.instancePath}` : '';
    return `missing ${context} field "${failure.params.missingProperty}"${where}`;
  }
  return `${context}${failure.instancePath || ''} ${failure.message ?? 'is invalid'}`;
}

/** Maps any error thrown while handling a request to the Matrix error response. */
function toMatrixError(error: FastifyError & { validation?: ValidationFailure[] }): MatrixError {
  if (error instanceof MatrixError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const context = (error as { validationContext?: string }).validationContext ?? 'body';
    if (context === 'body') return new MatrixError(400, 'M_BAD_JSON', describe(first, 'body'));
    if (context === 'querystring' && first?.keyword === 'required') {
      return new MatrixError(400, 'M_MISSING_PARAM', describe(first, 'query parameter'));
    }
    return new MatrixError(400, 'M_INVALID_PARAM', describe(first, context));
  }
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new MatrixError(400, 'M_UNRECOGNIZED', 'The URL is not validly percent-encoded');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MatrixError(413, 'M_TOO_LARGE', 'Request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new MatrixError(400, 'M_NOT_JSON', 'Request body is not JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new MatrixError(400, 'M_UNKNOWN', 'Content-Length does not match the body');
  }
  if (error instanceof SyntaxError) {
    return new MatrixError(400, 'M_NOT_JSON', 'Request body is not valid JSON');
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new MatrixError(error.statusCode, 'M_UNKNOWN', error.message);
  }
  return new MatrixError(500, 'M_UNKNOWN', 'Internal server error');
}

/**
 * Deepest nesting a request body may have. What handles a body (validation, JSON.stringify
 * before storing) recurses, so a small body nested thousands of levels deep would exhaust the
 * stack and fail as a 500; and JSON.parse itself takes superlinear time on deep nesting (a 2 MB
 * body nested a million levels deep: 0.66 s of the event loop). Both found by fuzzing. No
 * Matrix body needs more than a handful of levels.
 */
const MAX_BODY_DEPTH = 128;

/**
 * Whether JSON text nests arrays and objects deeper than `limit`, scanned before it is parsed
 * (one pass, no recursion). Brackets inside strings do not count. Text that is not JSON gives
 * an arbitrary answer; JSON.parse refuses it afterwards.
 */
function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** A route template such as `/rooms/:roomId/send/:type/:txn` as a matcher for concrete paths. */
function templateMatcher(url: string): RegExp {
  const body = url
    .split('/')
    .map((part) =>
      part.startsWith(':') || part === '*' ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${body}/?$`);
}

/** Builds the HTTP server over an open store. `start()` in main.ts does the listening. */
export async function buildApp(config: ServerConfig, store: Store): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(config.logFormat === 'text' && {
        stream: readableLogStream(process.stdout, process.stdout.isTTY && !process.env.NO_COLOR),
      }),
    },
    bodyLimit: config.maxBodyBytes,
    // One debug line per response (onResponse below) instead of two info lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // `/_matrix/client/r0/…` is served as `v3` (see r0.ts).
    rewriteUrl: (request) => r0AsV3(request.url ?? '/'),
    // Errors raised while routing, before any hook or the error handler (a URL whose
    // percent-encoding is malformed): Matrix errors too, not Fastify's own body.
    frameworkErrors: (error, _request, reply) => {
      const matrix = toMatrixError(error);
      (reply as FastifyReply)
        .header('Access-Control-Allow-Origin', '*')
        .status(matrix.status)
        .send(matrix.toJSON());
    },
  });

  // Closing: waiting syncs answer now, and keep-alive connections are dropped as soon as their
  // last request is answered (Node only drops those idle at the moment close begins).
  const closing = new AbortController();
  setMaxListeners(0, closing.signal); // every waiting sync listens
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing.abort();
    reaper = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => clearInterval(reaper));
  const ctx: ServerContext = {
    config,
    store,
    claimLimiter: new RateLimiter(config.claimRate.burst, config.claimRate.perSecond),
    shutdown: closing.signal,
  };

  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema),
  );

  // Every body is JSON whatever its Content-Type says (Matrix clients do not all set it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    const text = decodeUtf8(body as Buffer);
    if (text === undefined) {
      return done(new MatrixError(400, 'M_NOT_JSON', 'Request body is not valid UTF-8'), undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    if (nestedDeeperThan(text, MAX_BODY_DEPTH)) {
      const why = `Request body is nested deeper than ${MAX_BODY_DEPTH} levels`;
      return done(new MatrixError(400, 'M_BAD_JSON', why), undefined);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new MatrixError(400, 'M_NOT_JSON', 'Request body is not valid JSON'), undefined);
    }
    if (jsonHoldsLoneSurrogate(text, parsed)) {
      const why = 'Request body holds a lone UTF-16 surrogate';
      return done(new MatrixError(400, 'M_NOT_JSON', why), undefined);
    }
    done(null, parsed);
  });

  // CORS, as the client-server API asks of every server.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('Access-Control-Allow-Origin', '*');
    reply.header('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
    reply.header(
      'Access-Control-Allow-Headers',
      'X-Requested-With, Content-Type, Authorization, Date',
    );
    if (request.method === 'OPTIONS') return reply.status(204).send();
  });
  app.addHook('onRequest', async (request) => {
    if (r0PathUnknown(request.originalUrl, request.routeOptions.url)) {
      throw new MatrixError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    }
  });

  // A route that declares a body needs one: an empty body is not JSON.
  app.addHook('preValidation', async (request) => {
    if (request.routeOptions.schema?.body && request.body === undefined) {
      throw new MatrixError(400, 'M_NOT_JSON', 'Request body is not JSON');
    }
    // Path and query identifiers (state_key, txnId, room ids, …): no U+0000 on any backend.
    const nul = nameHoldingNul(request.params) ?? nameHoldingNul(request.query);
    if (nul !== undefined)
      throw new MatrixError(400, 'M_INVALID_PARAM', `${nul} may not contain U+0000`);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const matrix = toMatrixError(error);
    if (matrix.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ errcode: matrix.errcode, msg: matrix.message }, 'request refused');
    const retryAfterMs = matrix.extra.retry_after_ms;
    if (typeof retryAfterMs === 'number')
      reply.header('Retry-After', Math.ceil(retryAfterMs / 1000));
    reply.status(matrix.status).send(matrix.toJSON());
  });

  const templates: { method: string; url: string; matcher: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      templates.push({ method, url: route.url, matcher: templateMatcher(route.url) });
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const known = templates.some(
      (t) =>
        t.method !== 'HEAD' && t.matcher.test(path) && !r0PathUnknown(request.originalUrl, t.url),
    );
    // Unknown endpoint: 404; known endpoint, other method: 405 (both M_UNRECOGNIZED).
    reply
      .status(known ? 405 : 404)
      .send({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      { method: request.method, url: request.url.split('?')[0], status: reply.statusCode },
      'request',
    );
  });

  app.decorateRequest('auth', null);
  await app.register(versionsPlugin, { ctx });
  await app.register(registrationTokenPlugin, { ctx });
  for (const plugin of [
    registerPlugin,
    loginPlugin,
    devicesPlugin,
    roomsPlugin,
    eventsPlugin,
    syncPlugin,
    toDevicePlugin,
    keysPlugin,
    crossSigningPlugin,
    accountDataPlugin,
    roomKeysPlugin,
    profilePlugin,
    miscPlugin,
  ]) {
    await app.register(plugin, { ctx, prefix: CLIENT_V3 });
  }

  const sweep = setInterval(() => {
    sweepExpiredKeyPackages(store, Date.now()).catch((err: unknown) =>
      app.log.warn({ err }, 'KeyPackage expiry sweep failed'),
    );
    forgetFullBuckets(store, Object.values(config.authLimits), Date.now()).catch((err: unknown) =>
      app.log.warn({ err }, 'rate-limit sweep failed'),
    );
  }, config.expirySweepIntervalMs);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  return app;
}
