import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

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

/**
 * Runs `use` in a fresh headless Chromium (its own empty profile, removed afterwards, so no
 * cached login carries over), logged in with `credentials` when given (HTTP Basic).
 */
export async function withChromium<T>(
  credentials: { username: string; password: string } | undefined,
  use: (context: BrowserContext) => Promise<T>,
  viewport?: { width: number; height: number },
): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'ti-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      ...(viewport !== undefined ? { viewport } : {}),
      ...(credentials !== undefined ? { httpCredentials: credentials } : {}),
    });
    try {
      return await use(context);
    } finally {
      await context.close();
    }
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
