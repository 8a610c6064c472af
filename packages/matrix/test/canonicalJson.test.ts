/**
 * Canonical JSON against every example of the appendix ("Canonical JSON", "Examples"), against
 * the appendix's own Python reference (json.dumps with ensure_ascii=False, separators (',',':'),
 * sort_keys=True) on generated values, and against another-json, the encoder matrix-js-sdk uses,
 * where the two are meant to agree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { stringify as anotherJson } from 'another-json';
import {
  MAX_JSON_DEPTH,
  canonicalJson,
  canonicalJsonBytes,
  compareCodePoints,
} from '../src/canonicalJson.js';
import { expectMatrixError, prng } from './support.js';

// [input JSON text as the appendix gives it, canonical JSON the appendix expects]
const APPENDIX_EXAMPLES: readonly (readonly [string, string])[] = [
  ['{}', '{}'],
  ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
  ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
  ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
  [
    `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
    '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
  ],
  ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
  ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
  ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
  ['{\n    "a": null\n}', '{"a":null}'],
  ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
];

describe('canonical JSON: the appendix examples', () => {
  for (const [input, expected] of APPENDIX_EXAMPLES) {
    test(expected, () => {
      assert.equal(canonicalJson(JSON.parse(input)), expected);
      assert.deepEqual(canonicalJsonBytes(JSON.parse(input)), new TextEncoder().encode(expected));
    });
  }
});

describe('canonical JSON: what the grammar asks beyond the examples', () => {
  test('keys sort by code point, not by UTF-16 code unit', () => {
    // U+1F600 is 0xD83D 0xDE00 in UTF-16, so a UTF-16 sort puts it before U+FF21.
    const value = { '\uFF21': 1, '\u{1F600}': 2 };
    assert.equal(canonicalJson(value), '{"Ａ":1,"😀":2}');
    assert.ok(compareCodePoints('\u{1F600}', '\uFF21') > 0);
    assert.ok(compareCodePoints('a', 'ab') < 0);
    assert.equal(compareCodePoints('ab', 'ab'), 0);
  });

  test('control characters use the grammar escapes; DEL, U+2028 and non-ASCII stay raw', () => {
    assert.equal(
      canonicalJson('\b\t\n\f\r"\\\u0000\u000b\u001f\u007f\u2028é'),
      '"\\b\\t\\n\\f\\r\\"\\\\\\u0000\\u000b\\u001f\u007f\u2028é"',
    );
  });

  test('the integer range ends at ±(2**53 - 1)', () => {
    assert.equal(
      canonicalJson([2 ** 53 - 1, -(2 ** 53) + 1]),
      '[9007199254740991,-9007199254740991]',
    );
    expectMatrixError(() => canonicalJson(2 ** 53), 'JSON_INTEGER_RANGE');
    expectMatrixError(() => canonicalJson({ a: [-(2 ** 53)] }), 'JSON_INTEGER_RANGE');
    expectMatrixError(() => canonicalJson(1e300), 'JSON_INTEGER_RANGE');
  });

  test('floats and non-finite numbers are refused', () => {
    expectMatrixError(() => canonicalJson({ a: 1.5 }), 'JSON_NOT_INTEGER');
    expectMatrixError(() => canonicalJson(JSON.parse('[0.1]')), 'JSON_NOT_INTEGER');
    expectMatrixError(() => canonicalJson(Number.NaN), 'JSON_NOT_INTEGER');
    expectMatrixError(() => canonicalJson(Number.POSITIVE_INFINITY), 'JSON_NOT_INTEGER');
  });

  test('values JSON has no form for are refused, not dropped', () => {
    expectMatrixError(() => canonicalJson({ a: undefined }), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson([() => 1]), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson(1n), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson(Symbol('x')), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson(new Date(0)), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson(new Map()), 'JSON_UNSUPPORTED_VALUE');
    expectMatrixError(() => canonicalJson(new Uint8Array(2)), 'JSON_UNSUPPORTED_VALUE');
    // eslint-disable-next-line no-sparse-arrays
    expectMatrixError(() => canonicalJson([1, , 3]), 'JSON_UNSUPPORTED_VALUE');
    assert.equal(
      canonicalJson(Object.assign(Object.create(null), { b: 1, a: 2 })),
      '{"a":2,"b":1}',
    );
  });

  test('lone surrogates in values and keys are refused (no UTF-8 form)', () => {
    expectMatrixError(() => canonicalJson('\uD800'), 'JSON_INVALID_STRING');
    expectMatrixError(() => canonicalJson({ '\uDC00x': 1 }), 'JSON_INVALID_STRING');
    assert.equal(canonicalJson('\uD83D\uDE00'), '"😀"');
  });

  test('deep nesting and cycles end in JSON_TOO_DEEP, not a stack overflow', () => {
    let deep: unknown = 0;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    assert.equal(canonicalJson(deep).length, 2 * MAX_JSON_DEPTH + 1);
    expectMatrixError(() => canonicalJson([deep]), 'JSON_TOO_DEEP');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expectMatrixError(() => canonicalJson(cycle), 'JSON_TOO_DEEP');
  });
});

/** Random JSON: integers in range, strings over ASCII, BMP, astral characters and escapes. */
function randomValue(
  next: () => number,
  depth: number,
  controls: boolean,
  astralKeys: boolean,
): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 5 : 7));
  const text = (astral: boolean): string => {
    const pool = ['a', 'B', 'z', '0', ' ', 'é', '日', '本', '\uFF21', '"', '\\', '/', '\n', '\t'];
    if (astral) pool.push('\u{1F600}', '\u{10000}');
    if (controls) pool.push('\u0000', '\u001f', '\u000b', '\u007f');
    let s = '';
    const length = Math.floor(next() * 6);
    for (let i = 0; i < length; i++) s += pool[Math.floor(next() * pool.length)]!;
    return s;
  };
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return Math.floor((next() - 0.5) * 2 * Number.MAX_SAFE_INTEGER);
    case 3:
      return Math.floor((next() - 0.5) * 2000);
    case 4:
      return text(true);
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () =>
        randomValue(next, depth + 1, controls, astralKeys),
      );
    default: {
      const object: Record<string, unknown> = {};
      const size = Math.floor(next() * 5);
      for (let i = 0; i < size; i++)
        object[text(astralKeys)] = randomValue(next, depth + 1, controls, astralKeys);
      return object;
    }
  }
}

const PYTHON_REFERENCE = `
import json, sys
for line in sys.stdin:
    value = json.loads(line)
    print(json.dumps(value, ensure_ascii=False, separators=(',', ':'), sort_keys=True))
`;

describe('canonical JSON against independent encoders', () => {
  const python = spawnSync('python3', ['--version']);
  test(
    "the appendix's Python reference, 500 generated values",
    { skip: python.status !== 0 && 'python3 is not installed' },
    () => {
      const next = prng(1);
      const values = Array.from({ length: 500 }, () => randomValue(next, 0, true, true));
      const run = spawnSync('python3', ['-c', PYTHON_REFERENCE], {
        input: values.map((v) => JSON.stringify(v)).join('\n') + '\n',
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      const expected = run.stdout.split('\n').slice(0, -1);
      assert.equal(expected.length, values.length);
      values.forEach((value, i) => assert.equal(canonicalJson(value), expected[i]));
    },
  );

  test('another-json (matrix-js-sdk), 500 generated values with BMP keys and no bare controls', () => {
    // another-json sorts keys by UTF-16 code unit and writes other control characters as
    // "\\U00XX" (upper case U, which the grammar does not allow), so those cases are left out.
    const next = prng(2);
    for (let i = 0; i < 500; i++) {
      const value = randomValue(next, 0, false, false);
      // For a top-level number or boolean another-json returns the value itself, not text.
      assert.equal(canonicalJson(value), String(anotherJson(value)));
    }
  });
});
