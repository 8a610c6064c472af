import { checkPassiveClient } from './passive-client-welcome.js';
import type { VectorSuite } from './harness.js';

const suite: VectorSuite = { file: 'passive-client-random.json', check: checkPassiveClient };
export default suite;
