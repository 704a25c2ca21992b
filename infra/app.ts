import { App } from 'aws-cdk-lib';
import { ConfigError } from '#shared/config/validate.ts';
import { assertSameAccount, CONFIGURE_HINT, parseContext } from './config.ts';
import { AmplitudeRedshiftExportStack } from './stack.ts';

const app = new App();
try {
  const config = parseContext((key) => app.node.tryGetContext(key), Object.keys(app.node.getAllContext()));
  // The only place that reads the environment: the CLI's account, when it knows it.
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  assertSameAccount(config, account);
  new AmplitudeRedshiftExportStack(app, `AmplitudeRedshiftExport-${config.projectId}`, {
    config,
    // The Data API is regional: the pipeline runs where the warehouse is.
    env: { account, region: config.redshift.endpoint.region },
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Configuration error: ${error.message}\n${CONFIGURE_HINT}`);
  process.exit(1);
}
