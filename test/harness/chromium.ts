import { existsSync } from 'node:fs';

/** Debian's chromium; .ci/run installs it when missing. Playwright never downloads a browser here. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags for headless Chromium on this machine's closed network (no background connections). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Whether a browser test can run. Without the binary it skips with a message on a developer's
 * machine; under CI=true it fails instead, since the console and dashboard tests are what
 * shows the operator's view works (.ci/run installs chromium first).
 */
export function chromiumAvailable(test: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `${test} browser test: ${CHROMIUM} not found (apt-get install -y chromium; .ci/run does this)`;
  if (process.env.CI === 'true') throw new Error(message);
  process.stderr.write(`${message}: SKIPPED\n`);
  return false;
}
