import type { VerifyJob } from './parallelVerify.js';

/** Claims and checks chunks of `job` until none are left unclaimed (see verifyWorker.js). */
export function runJob(job: VerifyJob): void;
