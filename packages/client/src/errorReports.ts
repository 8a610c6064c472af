/**
 * A client's error reports, told as `error` events. While the store is loaded no listener can be
 * there yet: what goes wrong then is kept and told to the first `error` listener, or at start.
 */
import type { ClientEvents, Emitter } from './events.js';

export class ErrorReports {
  private readonly early: { error: unknown; context: string }[] = [];
  /** True while the client loads its store. */
  loading = true;

  constructor(private readonly events: Emitter<ClientEvents>) {}

  report(error: unknown, context: string): void {
    if (this.loading) this.early.push({ error, context });
    else this.events.emit('error', { error, context });
  }

  /** Tells the errors kept while loading. */
  tellEarly(): void {
    for (const e of this.early.splice(0)) this.report(e.error, e.context);
  }
}
