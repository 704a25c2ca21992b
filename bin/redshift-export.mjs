#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so a fresh clone needs no build step.
import { register } from 'tsx/esm/api';

// The CLI runs on the Lambdas' Node.js major (nodejs22.x). `npm ci` installs that Node as the
// `node` dev dependency and npm puts it first on PATH for `npx` and `npm start`; a bare
// `node bin/redshift-export.mjs` on an older system Node would run untested code paths.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `redshift-export needs Node.js 22 or later (the Lambda runtime's); this is ${process.version}.\n` +
      'Start it through npm (`npx redshift-export ...` or `npm start`), which uses the Node 22 that `npm ci` installed, or install Node.js 22.\n',
  );
  process.exit(2);
}

register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
// Flush the output and exit with the command's own code, whatever handles are still open.
await new Promise((resolve) => process.stdout.write('', resolve));
await new Promise((resolve) => process.stderr.write('', resolve));
process.exit(code);
