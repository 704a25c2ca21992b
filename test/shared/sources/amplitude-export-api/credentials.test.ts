import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/config/validate.ts';
import {
  credentialsFromEnv,
  readCredentialsSecret,
  secretCredentials,
} from '#shared/sources/amplitude-export-api/credentials.ts';
import { API_KEY, everyFormOf, expectNoSecrets, SECRET_KEY } from './support.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amplitude-export-api-AbCdEf';
const basic = `Basic ${Buffer.from(`${API_KEY}:${SECRET_KEY}`).toString('base64')}`;

const secrets = mockClient(SecretsManagerClient);
afterEach(() => {
  secrets.reset();
});

describe('readCredentialsSecret', () => {
  it('reads apiKey and secretKey from the secret JSON', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: ARN }).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: SECRET_KEY }),
    });
    const credentials = await readCredentialsSecret(new SecretsManagerClient({}), ARN);
    expect(credentials.authorization()).toBe(basic);
  });

  it.each([
    [
      'not JSON',
      `{apiKey: ${API_KEY}, secretKey: ${SECRET_KEY}`,
      /is not valid JSON; store a JSON object \{"apiKey"/,
    ],
    [
      'without secretKey',
      JSON.stringify({ apiKey: API_KEY, secret: SECRET_KEY }),
      /lacks secretKey \(keys present: apiKey, secret\)/,
    ],
    ['with an empty apiKey', JSON.stringify({ apiKey: ' ', secretKey: SECRET_KEY }), /lacks apiKey/],
  ])('names what is wrong with a secret %s, never its values', async (_case, text, message) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: text });
    const error = await readCredentialsSecret(new SecretsManagerClient({}), ARN).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(ARN);
    expect(expectNoSecrets(everyFormOf(error))).toEqual([]);
  });
});

describe('secretCredentials', () => {
  it('reads the secret once per ttl and again after it (rotation), and not after a failure', async () => {
    let now = 0;
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(new Error('throttled'))
      .resolves({ SecretString: JSON.stringify({ apiKey: API_KEY, secretKey: SECRET_KEY }) });
    const provider = secretCredentials(new SecretsManagerClient({}), ARN, { ttlMs: 1000, now: () => now });

    await expect(provider()).rejects.toThrow('throttled');
    await provider();
    await provider();
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    now = 1000;
    expect((await provider()).authorization()).toBe(basic);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });
});

describe('credentialsFromEnv', () => {
  it('reads AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY', () => {
    const credentials = credentialsFromEnv({ AMPLITUDE_API_KEY: API_KEY, AMPLITUDE_SECRET_KEY: SECRET_KEY });
    expect(credentials.authorization()).toBe(basic);
  });

  it('names the missing variables', () => {
    expect(() => credentialsFromEnv({ AMPLITUDE_API_KEY: API_KEY })).toThrow(
      /^AMPLITUDE_SECRET_KEY is not set/,
    );
    expect(() => credentialsFromEnv({})).toThrow(/^AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY are not set/);
  });
});
