import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createAdminTokenSource } from './admin-token.js';
import { createProfileTokenSource, type RefreshableTokenSource } from './token-source.js';

/**
 * Which profile token source the configuration names (config.ts allows one): the Admin API
 * with TARGET_IMS_CLIENT_ID/SECRET, a file with TARGET_AUTH_TOKEN_FILE, else none that
 * changes (TARGET_AUTH_TOKEN is sent as it is, or no token at all).
 */

export type ProfileTokenConfig = Pick<
  Config,
  | 'TARGET_AUTH_TOKEN_FILE'
  | 'TARGET_IMS_CLIENT_ID'
  | 'TARGET_IMS_CLIENT_SECRET'
  | 'TARGET_IMS_SCOPES'
  | 'TARGET_ADMIN_TENANT'
  | 'TARGET_IMS_URL'
  | 'TARGET_ADMIN_URL'
  | 'TARGET_TOKEN_REGENERATE'
  | 'TARGET_TOKEN_REGENERATE_BEFORE_MS'
  | 'TARGET_TIMEOUT_MS'
>;

export interface ProfileTokenDeps {
  logger: Logger;
  /** The dispatcher for Adobe calls (src/target/dispatcher.ts). */
  dispatcher: Dispatcher;
  /** Takes room from the shared bulk budget for Admin API calls. */
  reserve: (n: number) => Promise<{ granted: boolean; retryInMs: number }>;
  /** The cross-process lock for a regeneration (see AdminTokenOptions.claimRegenerate). */
  claimRegenerate?: () => Promise<boolean>;
  /** IMS token endpoint and Admin API base URL instead of the configured ones (the built-in simulator's). */
  adobeUrls?: { ims: string; admin: string };
}

/**
 * Starts the configured changing token source, or resolves undefined when there is none.
 * Rejects with TokenSourceError when the token cannot be had at start (no readable file,
 * credentials Adobe refuses); never with a token or secret in the message.
 */
export async function startProfileTokenSource(
  config: ProfileTokenConfig,
  deps: ProfileTokenDeps,
): Promise<RefreshableTokenSource | undefined> {
  if (config.TARGET_IMS_CLIENT_ID !== undefined && config.TARGET_IMS_CLIENT_SECRET !== undefined) {
    const source = createAdminTokenSource({
      clientId: config.TARGET_IMS_CLIENT_ID,
      clientSecret: config.TARGET_IMS_CLIENT_SECRET,
      scopes: config.TARGET_IMS_SCOPES,
      tenant: config.TARGET_ADMIN_TENANT,
      imsUrl: deps.adobeUrls?.ims ?? config.TARGET_IMS_URL,
      adminUrl: deps.adobeUrls?.admin ?? config.TARGET_ADMIN_URL,
      regenerate: config.TARGET_TOKEN_REGENERATE,
      regenerateBeforeMs: config.TARGET_TOKEN_REGENERATE_BEFORE_MS,
      reserve: deps.reserve,
      dispatcher: deps.dispatcher,
      timeoutMs: config.TARGET_TIMEOUT_MS,
      logger: deps.logger,
      ...(deps.claimRegenerate !== undefined ? { claimRegenerate: deps.claimRegenerate } : {}),
    });
    try {
      await source.start();
    } catch (error) {
      await source.close();
      throw error;
    }
    return source;
  }
  if (config.TARGET_AUTH_TOKEN_FILE !== undefined)
    return createProfileTokenSource({ path: config.TARGET_AUTH_TOKEN_FILE, logger: deps.logger });
  return undefined;
}
