import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ApiKeyRing, bearerToken } from './api-keys.js';

/** The source a development server without keys records on every event. */
export const DEV_SOURCE = 'dev';

/** Decides who sent a request: the source of its API key, or `undefined` (401). */
export type IntakeAuthenticator = (authorization: string | undefined) => string | undefined;

/**
 * The intake's authentication policy. With `INGEST_API_KEYS` set, a request needs one of
 * them. Without keys, outside production (where config refuses to start without them),
 * every request is taken as source `dev` so `npm start` works out of the box; a warning
 * says so once at start. Production without keys (only reachable by bypassing config)
 * refuses everything rather than opening the door.
 */
export function intakeAuthenticator(
  config: Pick<Config, 'INGEST_API_KEYS' | 'NODE_ENV'>,
  logger: Logger,
): IntakeAuthenticator {
  const ring = new ApiKeyRing(config.INGEST_API_KEYS);
  if (ring.size > 0) {
    return (authorization) => {
      const token = bearerToken(authorization);
      return token === undefined ? undefined : ring.sourceOf(token);
    };
  }
  if (config.NODE_ENV === 'production') return () => undefined;
  logger.warn(
    `INGEST_API_KEYS is not set: POST /v1/events accepts every request as source "${DEV_SOURCE}" (development only; production requires keys)`,
  );
  return () => DEV_SOURCE;
}
