/** A verification worker that dies on start (parallelVerify.test.ts). */
throw new Error('this worker fails to start');
