/**
 * The decentralised-group simulation (issue 12); the parts live in ./sim/:
 * - world.ts: homeservers, server-side membership truth, federation and partitions, the
 *   directory of device keys and one-time KeyPackages, delayed/reordered/duplicated delivery;
 * - device.ts: the client logic of one device around its `DmlsGroup`;
 * - mallory.ts: the malicious member;
 * - oracle.ts: what really happened, and the properties judged after healing;
 * - simulation.ts: the seeded story, healing, and the report.
 */
export { Simulation, type SimOptions, type SimReport } from './sim/simulation.js';
export { PARAMS } from './sim/world.js';
export { FORGERIES, AFTER_REMOVAL, TOLERATED } from './sim/mallory.js';
export type { PropertyCounts } from './sim/oracle.js';
