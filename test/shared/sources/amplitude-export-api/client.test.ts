import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import {
  type ExportAnswer,
  ExportApiClient,
  parseRetryAfter,
} from '#shared/sources/amplitude-export-api/client.ts';
import { ExportApiCredentials } from '#shared/sources/amplitude-export-api/credentials.ts';
import { ExportApiError } from '#shared/sources/amplitude-export-api/errors.ts';
import { pullHours } from '#shared/sources/amplitude-export-api/pull.ts';
import { hourIndex } from './fake-export-api.ts';
import { API_KEY, everyFormOf, expectNoSecrets, Harness, SECRET_KEY } from './support.ts';

const H5 = hourIndex('2024-05-01T05');
const range = { first: H5, last: H5 + 1 };

let h: Harness;
beforeEach(async () => {
  h = await new Harness().setUp();
  h.api.setHour(H5, [['{"uuid":"a"}'], ['{"uuid":"b"}']]);
});
afterEach(async () => {
  await h.tearDown();
});

async function entriesOf(answer: ExportAnswer): Promise<string[]> {
  if (answer.kind !== 'archive') return [answer.kind];
  try {
    return answer.archive.entries.map((entry) => entry.path);
  } finally {
    await answer.dispose();
  }
}

describe('requests', () => {
  it('sends GET /api/2/export with start and end as YYYYMMDDTHH and Basic auth of apiKey:secretKey', async () => {
    const answer = await h.client().fetchRange(range);

    expect(await entriesOf(answer)).toEqual([
      '187520/187520_2024-05-01_5#0.json.gz',
      '187520/187520_2024-05-01_5#1.json.gz',
    ]);
    expect(h.api.requests).toEqual([
      {
        start: '20240501T05',
        end: '20240501T06',
        path: '/api/2/export',
        authorization: `Basic ${Buffer.from(`${API_KEY}:${SECRET_KEY}`).toString('base64')}`,
      },
    ]);
    expect(await h.tempEntries()).toEqual([]);
  });

  it('asks a credentials provider for every request (rotated keys)', async () => {
    let calls = 0;
    const client = h.client({
      credentials: async () => {
        calls++;
        return new ExportApiCredentials(API_KEY, SECRET_KEY);
      },
    });
    h.api.faults.push({ kind: 'status', status: 500 });
    await entriesOf(await client.fetchRange(range));
    expect(calls).toBe(2);
  });

  it.each([
    ['http://amplitude.com', /must use https/],
    ['https://user:pass@amplitude.com', /without credentials or query/],
    ['not a url', /is not a URL/],
  ])('refuses the base URL %s', (baseUrl, message) => {
    expect(() => h.client({ baseUrl })).toThrow(ConfigError);
    expect(() => h.client({ baseUrl })).toThrow(message);
  });

  it('uses the EU host for region eu and the standard host by default', () => {
    const credentials = new ExportApiCredentials(API_KEY, SECRET_KEY);
    expect(new ExportApiClient({ credentials, region: 'eu' }).baseUrl).toBe(
      'https://analytics.eu.amplitude.com',
    );
    expect(new ExportApiClient({ credentials }).baseUrl).toBe('https://amplitude.com');
  });
});

describe('retries', () => {
  it('retries 429 after the Retry-After seconds, even when the backoff is shorter', async () => {
    h.api.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });

    const answer = await h.client().fetchRange(range);

    expect(answer.kind).toBe('archive');
    await entriesOf(answer);
    expect(h.sleeps).toEqual([7000]);
    expect(h.retries).toEqual([
      {
        startHour: '2024-05-01T05',
        endHour: '2024-05-01T06',
        attempt: 1,
        maxAttempts: 5,
        delayMs: 7000,
        reason: 'HTTP 429: status 429',
        status: 429,
      },
    ]);
  });

  it('caps a Retry-After at maxRetryAfterMs and reads HTTP dates', async () => {
    h.api.faults.push({ kind: 'status', status: 503, headers: { 'retry-after': '86400' } });
    await entriesOf(await h.client({ maxRetryAfterMs: 30_000 }).fetchRange(range));
    expect(h.sleeps).toEqual([30_000]);
    expect(parseRetryAfter('Wed, 01 May 2024 05:00:20 GMT', Date.parse('2024-05-01T05:00:00Z'))).toBe(20_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });

  it('retries 5xx with growing, jittered backoff and succeeds', async () => {
    h.api.faults.push(
      { kind: 'status', status: 500 },
      { kind: 'status', status: 502 },
      { kind: 'status', status: 503 },
    );
    let draw = 0;
    const draws = [0, 0.999, 0.5];
    const answer = await h.client({ baseDelayMs: 1000, random: () => draws[draw++]! }).fetchRange(range);

    expect(answer.kind).toBe('archive');
    await entriesOf(answer);
    // Equal jitter: half the exponential delay plus a random share of the other half.
    expect(h.sleeps).toEqual([500, 1999, 3000]);
    expect(h.api.requests).toHaveLength(4);
  });

  it('gives up after maxAttempts with an error naming the hours, the attempts and the last failure', async () => {
    h.api.alwaysFault = { kind: 'status', status: 500, body: 'Internal error' };

    const error = await h
      .client({ maxAttempts: 3 })
      .fetchRange(range)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ExportApiError);
    expect((error as ExportApiError).kind).toBe('unavailable');
    expect((error as Error).message).toBe(
      'Export API, hours 2024-05-01T05 .. 2024-05-01T06: gave up after 3 attempts; the last one failed with: HTTP 500: Internal error. ' +
        'Check https://status.amplitude.com; the pull can simply be run again (it replaces what it wrote).',
    );
    expect(h.api.requests).toHaveLength(3);
    expect(h.sleeps).toHaveLength(2);
    expect(await h.tempEntries()).toEqual([]);
  });

  it('does not retry refused credentials and says what to check', async () => {
    const client = h.client({ credentials: new ExportApiCredentials(API_KEY, 'wrong-secret') });

    const error = await client.fetchRange(range).catch((caught: unknown) => caught);

    expect((error as ExportApiError).kind).toBe('rejected');
    expect((error as ExportApiError).status).toBe(401);
    expect((error as Error).message).toMatch(
      /refused the credentials \(HTTP 401: Invalid API key\).*API key and secret key.*region/,
    );
    expect(h.api.requests).toHaveLength(1);
  });

  it('treats any other status as a clear error naming the hours', async () => {
    h.api.faults.push({ kind: 'status', status: 418, body: 'teapot' });
    await expect(h.client().fetchRange(range)).rejects.toThrow(
      /hours 2024-05-01T05 \.\. 2024-05-01T06: unexpected answer HTTP 418: teapot; expected 200/,
    );
  });
});

describe('slow, cut and damaged answers', () => {
  it('times out an answer whose headers do not come, and retries', async () => {
    h.api.faults.push({ kind: 'slow-headers', ms: 2000 });
    const answer = await h.client({ responseTimeoutMs: 150 }).fetchRange(range);
    expect(await entriesOf(answer)).toHaveLength(2);
    expect(h.retries.map((retry) => retry.reason)).toEqual(['no response within 150 ms']);
  });

  it('times out a body that stops flowing, and retries', async () => {
    h.api.faults.push({ kind: 'stall', afterBytes: 50, ms: 2000 });
    const answer = await h.client({ idleTimeoutMs: 150 }).fetchRange(range);
    expect(await entriesOf(answer)).toHaveLength(2);
    expect(h.retries[0]!.reason).toMatch(
      /^the response was cut short after 50 bytes \(no data within 150 ms\)$/,
    );
  });

  it('retries a connection closed before Content-Length bytes came', async () => {
    h.api.faults.push({ kind: 'truncate', afterBytes: 120 });
    const answer = await h.client().fetchRange(range);
    expect(await entriesOf(answer)).toHaveLength(2);
    expect(h.retries[0]!.reason).toMatch(/^the response was cut short after 120 bytes/);
  });

  it('retries a complete-looking answer that is a cut zip, and one that is no zip at all', async () => {
    h.api.faults.push({ kind: 'cut-zip', keepBytes: 200 }, { kind: 'garbage' });
    const answer = await h.client().fetchRange(range);
    expect(await entriesOf(answer)).toHaveLength(2);
    expect(h.retries.map((retry) => retry.reason)).toEqual([
      expect.stringMatching(/^the response of 200 bytes is damaged: the response is not a complete zip file/),
      expect.stringMatching(
        /^the response of 2048 bytes is damaged: the response is not a complete zip file/,
      ),
    ]);
  });

  it('answers 404 as empty and 400 as too large', async () => {
    expect(await h.client().fetchRange({ first: H5 + 5, last: H5 + 6 })).toEqual({ kind: 'empty' });
    h.api.maxHours = 1;
    expect(await h.client().fetchRange(range)).toEqual({
      kind: 'too-large',
      status: 400,
      detail: '400 Bad Request: Range too large',
    });
  });
});

describe('credentials never leak', () => {
  it('keeps keys out of retries, errors and their every printed form, even when the server echoes them', async () => {
    h.api.alwaysFault = { kind: 'echo-auth', status: 502 };
    const client = h.client({ maxAttempts: 2 });

    const error = await pullHours({
      api: client,
      landing: h.landing,
      settings: { projectId: '187520', landingPrefix: '' },
      startHour: '2024-05-01T05',
      endHour: '2024-05-01T06',
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(Error);
    const printed = [everyFormOf(error), everyFormOf(h.retries), everyFormOf(client)].join('\n');
    expect(printed).toContain('Authorization: Basic [redacted]');
    expect(expectNoSecrets(printed)).toEqual([]);
  });

  it('says the network of this machine, not Amplitude, when the host cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await h
      .client({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 2 })
      .fetchRange(range)
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toContain(
      `127.0.0.1:${port} could not be reached from this machine (ECONNREFUSED): check its network, DNS and proxy settings`,
    );
    expect((error as Error).message).not.toContain('status.amplitude.com');
  });

  it('keeps a short mistyped key out of messages without cutting it out of every word', () => {
    const credentials = new ExportApiCredentials('a', 'zz');
    expect(credentials.redact('the request failed: key a was refused (zz)')).toBe(
      'the request failed: key [redacted] was refused ([redacted])',
    );
  });

  it('prints the credentials object as a placeholder', () => {
    const credentials = new ExportApiCredentials(API_KEY, SECRET_KEY);
    const printed = [everyFormOf(credentials), everyFormOf({ credentials }), `${credentials}`].join('\n');
    expect(printed).toContain('[redacted Amplitude API credentials]');
    expect(expectNoSecrets(printed)).toEqual([]);
    expect(credentials.authorization()).toBe(
      `Basic ${Buffer.from(`${API_KEY}:${SECRET_KEY}`).toString('base64')}`,
    );
  });

  it('keeps keys out of network failures', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const client = h.client({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 2 });
    const error = await client.fetchRange(range).catch((caught: unknown) => caught);
    expect((error as ExportApiError).kind).toBe('unavailable');
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect(expectNoSecrets([everyFormOf(error), everyFormOf(h.retries)].join('\n'))).toEqual([]);
  });
});
