import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../src/simulator/server.js';
import { EDGE_LEGACY_STATUS_HOST, EDGE_STATUS_HOST } from '../../../src/simulator/status-links.js';
import { CLIENT, encodeBatch, onSimulator, postForm, send, xmlField } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const running: Simulator[] = [];
async function start(options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, batchProcessingMs: 0, ...options });
  running.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

async function submitLink(sim: Simulator): Promise<string> {
  const answer = await postForm(
    `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`,
    encodeBatch(['pcId', 'a'], [['v1', '1']]),
  );
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return link;
}

describe('batch status links', () => {
  it('name the documented edge host over plain http by default', async () => {
    const sim = await start();
    const link = await submitLink(sim);
    expect(EDGE_STATUS_HOST).toBe('mboxedge45.tt.omtrdc.net');
    expect(link).toMatch(
      new RegExp(`^http://mboxedge45\\.tt\\.omtrdc\\.net/m2/${CLIENT}/profile/batchStatus\\?batchId=[^&]+$`),
    );
    // Followed on the client's own base URL, the path and query reach the batch.
    const answer = await send(onSimulator(sim.url, link));
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'batchId')).toBe(new URL(link).searchParams.get('batchId'));
  });

  it('take the older documented shape with /v2 and m2Node, and that path answers too', async () => {
    const sim = await start({ statusLink: 'edge-legacy' });
    const link = await submitLink(sim);
    expect(EDGE_LEGACY_STATUS_HOST).toBe('mboxedge19.tt.omtrdc.net');
    expect(link).toMatch(
      new RegExp(
        `^http://mboxedge19\\.tt\\.omtrdc\\.net/m2/${CLIENT}/v2/profile/batchStatus\\?batchId=[^&]+&m2Node=00$`,
      ),
    );
    const answer = await send(`${onSimulator(sim.url, link)}&showDetails=true`);
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'consumedCount')).toBeDefined();
    // Both paths serve every batch, whatever shape its link had.
    const batchId = new URL(link).searchParams.get('batchId') ?? '';
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=${batchId}`)).status).toBe(200);
  });

  // 'self' exists for tools that follow the link as given (curl in the demo); the pipeline's
  // tests never use it, since real Target never links back to the host that was called.
  it('point at the simulator itself with statusLink self, at publicUrl when set', async () => {
    const sim = await start({ statusLink: 'self' });
    const link = await submitLink(sim);
    expect(link.startsWith(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=`)).toBe(true);
    expect((await send(link)).status).toBe(200);
    const proxied = await start({ statusLink: 'self', publicUrl: 'http://simulator:8090' });
    expect(await submitLink(proxied)).toMatch(/^http:\/\/simulator:8090\/m2\//);
  });
});
