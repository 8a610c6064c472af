import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochNode } from '@trellis/dmls';
import { drawEpochGraph } from '../src/epochGraph.js';

function node(
  epoch: number,
  creator: string,
  event: string,
  base?: string,
  resolves: string[] = [],
): EpochNode {
  return {
    id: { epoch: BigInt(epoch), creator },
    key: event,
    commitEvent: event,
    tag: '',
    ...(base !== undefined && { base }),
    resolves,
    members: new Map([[creator, 0]]),
    added: [],
    removed: [],
    held: { kind: 'none' },
    mine: false,
    generation: epoch,
  };
}

test('a fork opens a lane and its resolution closes it', () => {
  const nodes = [
    node(0, 'a|L', '$0'),
    node(1, 'a|P', '$1a', '$0'),
    node(1, 'b|D', '$1b', '$0'),
    node(2, 'b|D', '$2', '$1b', ['$1a']),
    node(3, 'a|L', '$3', '$2'),
  ];
  const drawn = drawEpochGraph(nodes, { current: '$3' }).split('\n');
  assert.deepEqual(
    drawn.map((line) => line.replace(/ {3}\(.*\)$/, '')),
    [
      '● epoch 0  a|L  $0',
      '├─╮',
      '│ ● epoch 1  a|P  $1a',
      '● │ epoch 1  b|D  $1b',
      '├─╯',
      '● epoch 2  b|D  $2  resolves 1 a|P',
      '● epoch 3  a|L  $3',
    ],
  );
  assert.match(drawn.at(-1)!, /\(tip, current, secrets: none\)$/);
  assert.doesNotMatch(drawn[0]!, /tip/);
});

test('three concurrent commits on one epoch, then one resolution of all of them', () => {
  const nodes = [
    node(4, 'a|L', '$4'),
    node(5, 'x|1', '$5x', '$4'),
    node(5, 'y|1', '$5y', '$4'),
    node(5, 'z|1', '$5z', '$4'),
    node(6, 'y|1', '$6', '$5y', ['$5x', '$5z']),
  ];
  const drawn = drawEpochGraph(nodes).split('\n');
  assert.deepEqual(
    drawn.map((line) => line.replace(/ epoch.*$/, '')),
    ['●', '├─╮', '│ ●', '├───╮', '│ │ ●', '● │ │', '├─┴─╯', '●'],
  );
  assert.match(drawn.at(-1)!, /^● epoch 6 {2}y\|1 {2}\$6 {2}resolves 5 x\|1, 5 z\|1 {3}\(tip/);
  // Every epoch drawn once, tips marked: only the last.
  assert.equal(drawn.filter((l) => l.includes('(tip')).length, 1);
});
