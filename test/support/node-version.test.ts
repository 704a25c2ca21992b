import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';

describe('the Node.js the tests and the CLI run on', () => {
  it('draws no Node-version warning from the AWS SDK (it warns on every Node older than 22)', async () => {
    const warnings: string[] = [];
    const collect = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', collect);
    try {
      // The SDK checks the Node version when a client builds its runtime configuration.
      const client = new S3Client({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      });
      await client.config.region();
      client.destroy();
      // process.emitWarning delivers on the next tick.
      await new Promise((done) => setImmediate(done));
    } finally {
      process.off('warning', collect);
    }
    expect(
      warnings.filter((text) => /node/i.test(text)),
      'run `npm ci`: it installs Node 22 (the `node` dev dependency), which npm puts first on PATH',
    ).toEqual([]);
  });
});
