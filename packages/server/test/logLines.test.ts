/**
 * The server's log: readable lines when standard output is a terminal, JSON lines for files and
 * pipes (and either when asked).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { readableLogLine, readableLogStream } from '../src/logLines.js';

const AT = new Date(2024, 0, 2, 9, 5, 7, 42).getTime();

describe('the server log', () => {
  test('auto: text on a terminal, JSON elsewhere; --log-format and TRELLIS_LOG_FORMAT choose', () => {
    const format = (argv: string[], env = {}, isTTY?: boolean) => {
      const config = loadConfig(argv, env, { isTTY });
      assert.notEqual(config, 'help');
      return config === 'help' ? undefined : config.logFormat;
    };
    assert.equal(format([], {}, true), 'text');
    assert.equal(format([], {}, false), 'json');
    assert.equal(format([], {}, undefined), 'json');
    assert.equal(format(['--log-format', 'json'], {}, true), 'json');
    assert.equal(format(['--log-format', 'text'], {}, false), 'text');
    assert.equal(format([], { TRELLIS_LOG_FORMAT: 'json' }, true), 'json');
    assert.throws(() => loadConfig(['--log-format', 'xml'], {}), /auto, text or json/);
  });

  test('an entry is one line: time, level, message, its own fields', () => {
    const json = JSON.stringify({
      level: 30,
      time: AT,
      pid: 7,
      hostname: 'h',
      address: 'http://127.0.0.1:8008',
      registration: 'open',
      note: 'two words',
      count: 3,
      msg: 'listening',
    });
    assert.equal(
      readableLogLine(json, false),
      '09:05:07.042 INFO  listening address=http://127.0.0.1:8008 registration=open note="two words" count=3',
    );
    assert.equal(
      readableLogLine(JSON.stringify({ level: 40, time: AT, msg: 'careful' }), true),
      '09:05:07.042 \x1b[33mWARN \x1b[0m careful',
    );
  });

  test('an error shows its stack below; text that is not an entry passes unchanged', () => {
    const json = JSON.stringify({
      level: 50,
      time: AT,
      msg: 'request failed',
      reqId: 'req-1',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' },
    });
    assert.equal(
      readableLogLine(json, false),
      '09:05:07.042 ERROR request failed reqId=req-1\n    Error: boom\n        at f (x.ts:1:1)',
    );
    assert.equal(readableLogLine('not json', false), 'not json');
    const out: string[] = [];
    readableLogStream({ write: (t) => out.push(t) }, false).write(
      `${JSON.stringify({ level: 30, time: AT, msg: 'a' })}\n${JSON.stringify({ level: 20, time: AT, msg: 'b' })}\n`,
    );
    assert.deepEqual(out, ['09:05:07.042 INFO  a\n', '09:05:07.042 DEBUG b\n']);
  });
});
