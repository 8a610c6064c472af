/**
 * Backfill: the commit events a room's group waits for (events queued on an unknown epoch, and
 * the history of a fork) are fetched by id and delivered. An event this user cannot see, or one
 * that is no commit, is marked unfetchable and the group told it will not come.
 */
import { ROOM_EVENT_TYPE, type DmlsGroup } from '@trellis/dmls';
import { ClientError } from './errors.js';
import type { ClientEvent } from './clientEvent.js';
import type { MatrixHttp } from './http.js';

export interface BackfillContext {
  readonly http: MatrixHttp;
  readonly roomId: string;
  /** Most commit events fetched for one backfill. */
  readonly maxBackfill: number;
  /** Event ids asking for again will not help; grows as such events are met. */
  readonly unfetchable: Set<string>;
  /** The room's group now: a group replaced while fetching gets no more events. */
  currentGroup(): DmlsGroup | undefined;
  /** A fetched commit event into the group. */
  deliver(event: ClientEvent): void;
}

/** Fetches what `group` asks for; returns how many events were fetched. */
export async function backfill(ctx: BackfillContext, group: DmlsGroup): Promise<number> {
  const { unfetchable } = ctx;
  let fetched = 0;
  const tried = new Set<string>();
  while (fetched < ctx.maxBackfill) {
    const missing = group.missing().filter((id) => !tried.has(id) && !unfetchable.has(id));
    if (missing.length === 0) break;
    for (const id of missing) {
      tried.add(id);
      let event: ClientEvent;
      try {
        event = await ctx.http.getEvent(ctx.roomId, id);
      } catch (error) {
        // Not visible to this user (or not there): asking again will not help.
        if (error instanceof ClientError && (error.status === 404 || error.status === 403)) {
          unfetchable.add(id);
          group.unavailable(id);
          continue;
        }
        throw error;
      }
      fetched++;
      if (ctx.currentGroup() !== group) continue;
      if (event.type !== ROOM_EVENT_TYPE) {
        unfetchable.add(id); // not a commit (the room's create event, say)
        group.unavailable(id);
        continue;
      }
      ctx.deliver(event);
    }
  }
  return fetched;
}
