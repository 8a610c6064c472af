/**
 * What the chat keeps and does on its own, without a server: the transcript and the outbox in
 * the store, the order and fate of messages sent through the outbox, the watch that says when
 * the server is back, /history's walk back through a room's timeline, and unread counts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ClientError, type Client } from '@trellis/client';
import { ChatStore, type PendingMessage, type StoredMessage } from '../src/chat/chatStore.js';
import { ConnectionWatch } from '../src/chat/connection.js';
import { History, type TimelinePage } from '../src/chat/history.js';
import { Outbox } from '../src/chat/outbox.js';
import { createStyle } from '../src/chat/style.js';
import type { Terminal } from '../src/chat/terminal.js';
import { ChatView } from '../src/chat/view.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-chat-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function stored(eventId: string, ts: number, roomId = '!r'): StoredMessage {
  return {
    roomId,
    eventId,
    sender: '@bob:x',
    senderDevice: 'PHONE',
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: eventId },
    ts,
    source: 'live',
  };
}

describe('the transcript', () => {
  test('messages in the order they were sent, each once, kept across opens, deleted with the room', () => {
    const path = join(dir, 'transcript.sqlite');
    const store = new ChatStore(path);
    store.addMessage(stored('$b', 2000));
    store.addMessage(stored('$c', 3000));
    // Restored from the backup later, sent earlier: it comes first.
    store.addMessage({ ...stored('$a', 1000), source: 'backup' });
    store.addMessage(stored('$b', 9999));
    store.addMessage(stored('$other', 1500, '!elsewhere'));
    assert.deepEqual(
      store.recent('!r', 10).map((m) => [m.eventId, m.ts, m.source]),
      [
        ['$a', 1000, 'backup'],
        ['$b', 2000, 'live'],
        ['$c', 3000, 'live'],
      ],
    );
    assert.deepEqual(
      store.recent('!r', 2).map((m) => m.eventId),
      ['$b', '$c'],
    );
    store.close();
    const again = new ChatStore(path);
    assert.deepEqual([...again.messages('!r', ['$c', '$x', '$a']).keys()], ['$c', '$a']);
    assert.deepEqual(again.messages('!r', ['$c']).get('$c')!.content, {
      msgtype: 'm.text',
      body: '$c',
    });
    again.forgetRoom('!r');
    assert.deepEqual(again.recent('!r', 10), []);
    assert.equal(again.recent('!elsewhere', 10).length, 1, 'other rooms are kept');
    again.close();
  });
});

/** An outbox over a store, with hooks that record what happens and a server that can go. */
function outboxWith(store: ChatStore) {
  const log: string[] = [];
  const state = { away: false, fail: undefined as ((m: PendingMessage) => unknown) | undefined };
  const body = (m: PendingMessage) => String(m.content.body);
  const outbox = new Outbox(store, {
    send: async (m) => {
      const error = state.fail?.(m);
      if (error) throw error;
      log.push(`sent ${body(m)}`);
    },
    away: () => state.away,
    unreachable: () => {
      state.away = true;
      log.push('unreachable');
    },
    waiting: (m) => log.push(`waiting ${body(m)}`),
    failed: (m, error) => log.push(`failed ${body(m)}: ${(error as Error).message}`),
  });
  const text = (t: string) => ({ msgtype: 'm.text', body: t });
  return { outbox, log, state, text };
}

describe('the outbox', () => {
  test('messages go in the order typed; each leaves the store once sent', async () => {
    const store = new ChatStore(':memory:');
    const { outbox, log, text } = outboxWith(store);
    for (const t of ['one', 'two', 'three']) outbox.add('!r', 'm.room.message', text(t));
    await outbox.flush();
    assert.deepEqual(log, ['sent one', 'sent two', 'sent three']);
    assert.deepEqual(store.pending(), []);
    store.close();
  });

  test('while the server is away they wait, told once each, and go in order when it is back', async () => {
    const path = join(dir, 'outbox.sqlite');
    const store = new ChatStore(path);
    const { outbox, log, state, text } = outboxWith(store);
    outbox.add('!r', 'm.room.message', text('before'));
    await outbox.flush();
    state.fail = (m) =>
      m.content.body === 'lost'
        ? new ClientError('NETWORK', 'PUT /send: connection refused')
        : undefined;
    outbox.add('!r', 'm.room.message', text('lost'));
    await outbox.flush();
    outbox.add('!r', 'm.room.message', text('later'));
    await outbox.flush();
    assert.deepEqual(log, ['sent before', 'unreachable', 'waiting lost', 'waiting later']);
    assert.deepEqual(
      store.pending().map((m) => m.content.body),
      ['lost', 'later'],
      'kept in the store, in order',
    );
    store.close();

    // A restart: the next run finds them, and sends them once the server answers.
    const reopened = new ChatStore(path);
    const next = outboxWith(reopened);
    next.state.away = true;
    await next.outbox.flush();
    assert.deepEqual(next.log, ['waiting lost', 'waiting later']);
    next.state.away = false;
    await next.outbox.flush();
    assert.deepEqual(next.log.slice(2), ['sent lost', 'sent later']);
    assert.deepEqual(reopened.pending(), []);
    reopened.close();
  });

  test('a message the server refuses is given up and said; one cut short by a stop stays', async () => {
    const store = new ChatStore(':memory:');
    const { outbox, log, state, text } = outboxWith(store);
    state.fail = (m) => {
      if (m.content.body === 'refused') {
        return new ClientError('HTTP', 'forbidden', { status: 403, errcode: 'M_FORBIDDEN' });
      }
      if (m.content.body === 'stopping') return new ClientError('STOPPED', 'stopped');
      return undefined;
    };
    outbox.add('!r', 'm.room.message', text('refused'));
    outbox.add('!r', 'm.room.message', text('fine'));
    await outbox.flush();
    assert.deepEqual(log, ['failed refused: forbidden', 'sent fine']);
    outbox.add('!r', 'm.room.message', text('stopping'));
    await outbox.flush();
    assert.deepEqual(log.slice(2), []);
    assert.deepEqual(
      store.pending().map((m) => m.content.body),
      ['stopping'],
    );
    store.close();
  });
});

describe('the connection watch', () => {
  test('says the server is lost once, asks it until it answers, then says it is back', async () => {
    const said: string[] = [];
    let answers = 2; // the server answers the third question
    let back: () => void = () => {};
    const backAgain = new Promise<void>((resolve) => (back = resolve));
    const watch = new ConnectionWatch(
      async () => {
        said.push('asked');
        if (answers-- > 0) throw new ClientError('NETWORK', 'connection refused');
      },
      {
        lost: () => said.push('lost'),
        back: () => {
          said.push('back');
          back();
        },
      },
      1,
    );
    watch.lost(new Error('first'));
    watch.lost(new Error('second'));
    assert.equal(watch.isAway, true);
    await backAgain;
    assert.deepEqual(said, ['lost', 'asked', 'asked', 'asked', 'back']);
    assert.equal(watch.isAway, false);
    watch.answered();
    assert.equal(said.at(-1), 'back', 'nothing more to say');
    watch.stop();
  });

  test('an error answer is an answer: the server is there', async () => {
    let back: () => void = () => {};
    const backAgain = new Promise<void>((resolve) => (back = resolve));
    const watch = new ConnectionWatch(
      async () => {
        throw new ClientError('HTTP', 'unauthorised', { status: 401 });
      },
      { lost: () => {}, back },
      1,
    );
    watch.lost(new Error('gone'));
    await backAgain;
    assert.equal(watch.isAway, false);
    watch.stop();
  });
});

describe('/history', () => {
  /** A room's messages (oldest first), served newest first in pages of `size`. */
  function timeline(ids: readonly string[], size: number) {
    const asked: (string | undefined)[] = [];
    const page = async (_roomId: string, from: string | undefined): Promise<TimelinePage> => {
      asked.push(from);
      const end = from === undefined ? ids.length : Number(from);
      const start = Math.max(0, end - size);
      const messages = ids.slice(start, end).reverse();
      return { messages, ...(start > 0 && { end: String(start) }) };
    };
    return { page, asked };
  }

  test('older messages from the transcript, oldest first; unreadable ones said once with /restore', async () => {
    const store = new ChatStore(':memory:');
    const ids = ['$m1', '$m2', '$m3', '$m4', '$m5', '$m6', '$m7'];
    // The device read $m3 and later; $m1 and $m2 came before it joined.
    for (const [i, id] of ids.entries()) if (i >= 2) store.addMessage(stored(id, 1000 * i));
    const { page, asked } = timeline(ids, 3);
    const shown: string[] = [];
    const said: string[] = [];
    const history = new History({
      store,
      page,
      show: (m) => shown.push(m.eventId),
      say: (text) => said.push(text),
    });
    assert.equal(history.showRecent('!r', 2), 2);
    assert.deepEqual(shown, ['$m6', '$m7']);
    await history.older('!r', 2);
    assert.deepEqual(shown.slice(2), ['$m4', '$m5'], 'the two before those on screen');
    await history.older('!r', 10);
    assert.deepEqual(shown.slice(4), ['$m3']);
    assert.equal(said.length, 2, said.join('\n'));
    assert.match(said[0]!, /start of the room’s history/);
    assert.match(said[1]!, /^2 older messages cannot be read on this device.*\/restore/);
    await history.older('!r', 5);
    assert.match(said.at(-1)!, /nothing older/);
    assert.ok(!said.slice(2).some((s) => /cannot be read/.test(s)), 'said once');
    assert.deepEqual(asked, [undefined, '4', '1'], 'each page fetched once');
    store.close();
  });
});

describe('unread counts', () => {
  test('messages from others in another room are unread there until it is the current one', () => {
    const rooms = new Map(
      ['!a', '!b'].map((roomId) => [
        roomId,
        {
          roomId,
          membership: 'join',
          metadata: { name: roomId === '!a' ? 'A' : 'B' },
          displayName: () => undefined,
          joinedUsers: () => ['@me:x', '@bob:x'],
          current: () => undefined,
        },
      ]),
    );
    const client = { userId: '@me:x', room: (id: string) => rooms.get(id) } as unknown as Client;
    const printed: string[] = [];
    const terminal = {
      print: (lines: string | string[]) => printed.push(...[lines].flat()),
      setPrompt: () => {},
    } as unknown as Terminal;
    const view = new ChatView(client, terminal, createStyle(false));
    view.select('!a');
    const from = (sender: string, roomId: string, source: 'live' | 'backup' = 'live') =>
      view.message({ ...stored(`$${printed.length}`, 1000, roomId), sender, source });
    from('@bob:x', '!b');
    from('@bob:x', '!b');
    from('@me:x', '!b');
    from('@bob:x', '!b', 'backup');
    from('@bob:x', '!a');
    assert.equal(view.unreadIn('!b'), 2, 'live messages of others only');
    assert.equal(view.unreadIn('!a'), 0, 'the current room has none');
    assert.match(printed[0]!, / \[B\] bob: \$0$/, 'labelled with their room');
    view.select('!b');
    assert.equal(view.unreadIn('!b'), 0);
  });
});
