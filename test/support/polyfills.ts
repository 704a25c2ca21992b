import { installPromiseWithResolvers } from '#shared/pipeline/promise-polyfill.ts';

installPromiseWithResolvers();
