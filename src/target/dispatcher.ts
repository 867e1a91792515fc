import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import type { Logger } from '../logger.js';

/**
 * The HTTP dispatcher for every call to Adobe (Target's profile APIs, IMS, the Admin API):
 * through an egress proxy when HTTPS_PROXY / HTTP_PROXY (or their lowercase forms) are set,
 * bypassed for the hosts in NO_PROXY, else straight out on a keep-alive pool. Redis never
 * goes through it (ioredis opens its own sockets), so a proxy never sees queue traffic.
 *
 * Which variable wins: the lowercase form before the uppercase one (as curl and undici read
 * them); HTTP_PROXY serves https too when HTTPS_PROXY is unset. An https call goes through a
 * CONNECT tunnel (the proxy never sees the Bearer token); so does an http one (the
 * simulator's), undici's default.
 */

export interface EgressSettings {
  /** Keep-alive connections per origin (TARGET_CONNECTIONS). */
  connections: number;
  /** Connect, headers and body timeout each (TARGET_TIMEOUT_MS). */
  timeoutMs: number;
  /** Where the proxy variables are read. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Told once which proxy is used (origin only). */
  logger?: Logger;
}

/** The proxy variables that apply, after the lowercase-first rule; empty means none. */
export interface ProxySettings {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
}

function variable(env: Record<string, string | undefined>, name: string): string {
  return (env[name.toLowerCase()] ?? env[name] ?? '').trim();
}

/** Reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (lowercase forms first). Throws, naming the variable but not its value (it may hold a password), when a proxy is not an http(s) URL. */
export function proxySettingsFrom(env: Record<string, string | undefined>): ProxySettings {
  const settings = {
    httpProxy: variable(env, 'HTTP_PROXY'),
    httpsProxy: variable(env, 'HTTPS_PROXY'),
    noProxy: variable(env, 'NO_PROXY'),
  };
  for (const [name, value] of [
    ['HTTP_PROXY', settings.httpProxy],
    ['HTTPS_PROXY', settings.httpsProxy],
  ] as const) {
    if (value === '') continue;
    let protocol = '';
    try {
      protocol = new URL(value).protocol;
    } catch {
      // reported below
    }
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new Error(`${name} (or ${name.toLowerCase()}): expected an http(s) URL of a proxy`);
  }
  return settings;
}

/** A proxy URL for a log line: origin only, no user or password. */
export function proxyForLog(url: string): string | undefined {
  if (url === '') return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * The dispatcher for Adobe calls: an undici EnvHttpProxyAgent with the given proxy settings
 * when a proxy is set, else an Agent; both with the pool and timeouts TargetClient uses.
 */
export function createTargetDispatcher(settings: EgressSettings): Dispatcher {
  const agentOptions = {
    connections: settings.connections,
    keepAliveTimeout: 30_000,
    connect: { timeout: settings.timeoutMs },
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
  };
  const proxy = proxySettingsFrom(settings.env ?? process.env);
  if (proxy.httpProxy === '' && proxy.httpsProxy === '') return new Agent(agentOptions);
  settings.logger?.info(
    {
      httpsProxy: proxyForLog(proxy.httpsProxy || proxy.httpProxy),
      httpProxy: proxyForLog(proxy.httpProxy),
      noProxy: proxy.noProxy,
    },
    'calls to Target and Adobe IMS go through the egress proxy',
  );
  // Every value passed explicitly (empty for unset), so undici does not read process.env again.
  return new EnvHttpProxyAgent({
    ...agentOptions,
    httpProxy: proxy.httpProxy,
    httpsProxy: proxy.httpsProxy || proxy.httpProxy,
    noProxy: proxy.noProxy,
  });
}
