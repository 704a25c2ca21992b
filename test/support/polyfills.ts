import { installPromiseWithResolvers } from '#cli/local/promise-polyfill.ts';

installPromiseWithResolvers();
