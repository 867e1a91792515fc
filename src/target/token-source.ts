import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { addRuntimeSecret } from '../redact.js';
import type { ProfileTokenSource } from './client.js';

/**
 * A profile token that can change while the process runs: read from a mounted secret file
 * (here) or from Adobe's Admin API (admin-token.ts). `current()` is what the TargetClient
 * sends; `refresh()` is what the credentials hold calls on a 401/403 before it probes.
 * A token never reaches a log line, an error or a metric: each new one is handed to the
 * redactor (`addRuntimeSecret`) before anything else sees it, and logs carry a fingerprint.
 */
export interface RefreshableTokenSource extends ProfileTokenSource {
  /** Reads the token again now; resolves true when it changed. Never rejects: failures are logged. */
  refresh(): Promise<boolean>;
  /** Stops watching and every timer; `current()` keeps answering the last token. */
  close(): Promise<void>;
}

/** The profile token cannot be had at start (a missing file, credentials Adobe refuses); never quotes a token or secret. */
export class TokenSourceError extends PipelineError {
  constructor(message: string, code: string) {
    super(message, code, 'permanent');
    this.name = 'TokenSourceError';
  }
}

/** Default interval of the fallback `stat` of the token file (behind fs.watch). */
export const TOKEN_FILE_POLL_MS = 2_000;

/** Events from fs.watch come in bursts (a symlink swap is several); one read after this quiet time. */
const WATCH_DEBOUNCE_MS = 50;

export interface TokenFileOptions {
  /** TARGET_AUTH_TOKEN_FILE. */
  path: string;
  logger: Logger;
  /** How often the file is stat'ed in case fs.watch misses a change. Default {@link TOKEN_FILE_POLL_MS}. */
  pollMs?: number;
}

/** A short, stable fingerprint of a token for logs (12 hex digits of its SHA-256), never the token. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12);
}

type Reading = { ok: true; token: string } | { ok: false; reason: string };

/** What a token file's content means: trimmed, one printable word, or why not. */
function tokenOf(content: string): Reading {
  const token = content.trim();
  if (token === '') return { ok: false, reason: 'the file is empty' };
  // A Bearer credential is one word of printable ASCII; anything else would break the header.
  if (!/^[\x21-\x7e]+$/.test(token))
    return { ok: false, reason: 'the file holds more than one word or non-printable characters' };
  return { ok: true, token };
}

function errorReason(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'an unknown error';
  return `the file cannot be read (${code})`;
}

/**
 * The profile token from TARGET_AUTH_TOKEN_FILE. Read once now: a file that is missing,
 * unreadable or empty at start throws {@link TokenSourceError} (a deployment mistake, better
 * seen at once). Afterwards the file is read again whenever its directory changes (fs.watch on
 * the directory, since Kubernetes updates a mounted secret by swapping a symlink in it), on a
 * `stat` every `pollMs` that shows another file or content (in case fs.watch misses it), and
 * on `refresh()`. A file that turns unreadable or empty keeps the last good token, with one
 * warning until it is readable again.
 */
export function createProfileTokenSource(options: TokenFileOptions): RefreshableTokenSource {
  const { path, logger } = options;
  const log = logger.child({ tokenSource: 'file', path });
  let first: Reading;
  try {
    first = tokenOf(readFileSync(path, 'utf8'));
  } catch (error) {
    first = { ok: false, reason: errorReason(error) };
  }
  if (!first.ok)
    throw new TokenSourceError(
      `TARGET_AUTH_TOKEN_FILE: no profile token in ${path}: ${first.reason}`,
      'TOKEN_FILE_UNREADABLE',
    );
  let token = first.token;
  addRuntimeSecret(token);
  log.info({ fingerprint: tokenFingerprint(token) }, 'profile token read from TARGET_AUTH_TOKEN_FILE');

  let failing = false;
  let closed = false;
  let reading: Promise<boolean> | undefined;
  let again = false;
  let signature = '';

  const readOnce = async (): Promise<boolean> => {
    let next: Reading;
    try {
      next = tokenOf(await readFile(path, 'utf8'));
    } catch (error) {
      next = { ok: false, reason: errorReason(error) };
    }
    if (!next.ok) {
      if (!failing)
        log.warn(
          { reason: next.reason, fingerprint: tokenFingerprint(token) },
          'profile token file unusable: keeping the last token',
        );
      failing = true;
      return false;
    }
    if (failing) log.info('profile token file readable again');
    failing = false;
    if (next.token === token) return false;
    addRuntimeSecret(next.token);
    const previous = tokenFingerprint(token);
    token = next.token;
    log.info({ fingerprint: tokenFingerprint(token), previous }, 'profile token changed in TARGET_AUTH_TOKEN_FILE');
    return true;
  };

  // One read at a time; a change seen during a read asks for one more after it.
  const read = (): Promise<boolean> => {
    if (reading !== undefined) {
      again = true;
      return reading;
    }
    reading = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await readOnce()) || changed;
      } while (again && !closed);
      return changed;
    })().finally(() => {
      reading = undefined;
    });
    return reading;
  };

  let debounce: NodeJS.Timeout | undefined;
  const soon = (): void => {
    if (closed || debounce !== undefined) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      void read();
    }, WATCH_DEBOUNCE_MS);
    debounce.unref();
  };

  let watcher: FSWatcher | undefined;
  try {
    // Any event in the directory: the file itself, or Kubernetes' `..data` symlink swapped.
    watcher = watch(dirname(path), { persistent: false }, soon);
    watcher.on('error', (error) => {
      log.debug({ err: error }, 'watching the token file directory failed: the periodic check goes on');
      watcher?.close();
      watcher = undefined;
    });
  } catch (error) {
    log.debug({ err: error }, 'cannot watch the token file directory: checking it periodically only');
  }

  const poll = setInterval(() => {
    stat(path).then(
      (s) => {
        const next = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
        if (next !== signature) {
          signature = next;
          void read();
        }
      },
      () => {
        signature = '';
        void read();
      },
    );
  }, options.pollMs ?? TOKEN_FILE_POLL_MS);
  poll.unref();

  return {
    current: () => token,
    refresh: () => (closed ? Promise.resolve(false) : read()),
    async close() {
      closed = true;
      clearInterval(poll);
      if (debounce !== undefined) clearTimeout(debounce);
      watcher?.close();
      await reading;
    },
  };
}
