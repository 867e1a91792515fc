import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_CLIENT_SECRET } from '../../../src/simulator/options.js';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { createAdminTokenSource } from '../../../src/target/admin-token.js';
import { TargetClient } from '../../../src/target/client.js';
import { createTargetDispatcher, proxySettingsFrom } from '../../../src/target/dispatcher.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-PROXY' };
const attrs = new Map([['tier', 'gold']]);
const TOKEN = 'proxied-profile-token-0123';

/** What the test proxy saw: CONNECT tunnels and absolute-URI requests, by target host:port. */
interface ProxyLog {
  tunnels: string[];
  forwarded: string[];
}

/** A tiny HTTP proxy on 127.0.0.1 that only reaches loopback targets. */
async function startProxy(): Promise<{ url: string; log: ProxyLog; close: () => Promise<void> }> {
  const log: ProxyLog = { tunnels: [], forwarded: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    // Absolute-URI form: GET http://host:port/path HTTP/1.1
    const target = new URL(req.url ?? '');
    if (target.hostname !== '127.0.0.1') {
      res.writeHead(403).end();
      return;
    }
    log.forwarded.push(target.host);
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    if (host !== '127.0.0.1') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    log.tunnels.push(req.url ?? '');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('calls to Target and Adobe through an egress proxy', () => {
  let sim: Simulator;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  const logger = createLogger({ level: 'silent', pretty: false });
  const settings = { connections: 4, timeoutMs: 2000 };

  beforeAll(async () => {
    sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', authToken: TOKEN });
    proxy = await startProxy();
  });
  beforeEach(() => {
    proxy.log.tunnels.length = 0;
    proxy.log.forwarded.length = 0;
  });
  afterAll(async () => {
    await proxy.close();
    await sim.close();
  });

  const deliver = async (env: Record<string, string>): Promise<void> => {
    const client = new TargetClient({
      baseUrl: sim.url,
      clientCode: 'acme',
      authToken: TOKEN,
      dispatcher: createTargetDispatcher({ ...settings, env }),
    });
    try {
      expect(await client.updateSingle(visitor, attrs)).toBe(1);
      expect(await client.fetchProfile(visitor)).toMatchObject({ tier: { value: 'gold' } });
    } finally {
      await client.close();
    }
  };
  const simHost = (): string => new URL(sim.url).host;

  it('sends Target calls through HTTP_PROXY (a CONNECT tunnel, so the proxy never reads the token)', async () => {
    const before = sim.stats.requests.length;
    await deliver({ HTTP_PROXY: proxy.url });
    expect(proxy.log.tunnels.length).toBeGreaterThanOrEqual(1);
    expect(new Set(proxy.log.tunnels)).toEqual(new Set([simHost()]));
    expect(sim.stats.requests.length - before).toBe(2);
  });

  it('reads the lowercase form first, as curl and undici do', async () => {
    // The uppercase one points at a closed port: using it would fail the delivery.
    await deliver({ http_proxy: proxy.url, HTTP_PROXY: 'http://127.0.0.1:9' });
    expect(proxy.log.tunnels).toContain(simHost());
  });

  it('bypasses the proxy for the hosts in NO_PROXY', async () => {
    await deliver({ HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' });
    expect(proxy.log.tunnels).toEqual([]);
    expect(proxy.log.forwarded).toEqual([]);
  });

  it('goes straight out without any proxy variable', async () => {
    await deliver({});
    expect(proxy.log.tunnels).toEqual([]);
  });

  it('sends the IMS and Admin API calls through it too', async () => {
    const dispatcher = createTargetDispatcher({ ...settings, env: { https_proxy: proxy.url, HTTP_PROXY: proxy.url } });
    const tokens = createAdminTokenSource({
      clientId: DEFAULT_IMS_CLIENT_ID,
      clientSecret: DEFAULT_IMS_CLIENT_SECRET,
      scopes: 'openid',
      tenant: 'acme',
      imsUrl: `${sim.url}/ims/token/v3`,
      adminUrl: sim.url,
      dispatcher,
      logger,
      reserve: () => Promise.resolve({ granted: true, retryInMs: 0 }),
    });
    try {
      await tokens.start();
      expect(tokens.current()).toBe(TOKEN);
      expect(proxy.log.tunnels).toContain(simHost());
    } finally {
      await tokens.close();
      await dispatcher.close();
    }
  });

  it('names a proxy variable that is not a URL without quoting it (it may carry a password)', () => {
    expect(() => proxySettingsFrom({ HTTPS_PROXY: 'user:pa55word@proxy' })).toThrow(
      'HTTPS_PROXY (or https_proxy): expected an http(s) URL of a proxy',
    );
    expect(() => proxySettingsFrom({ HTTPS_PROXY: 'user:pa55word@proxy' })).not.toThrow(/pa55word/);
  });
});
