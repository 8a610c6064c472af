/**
 * Work on one part of a sync answer (a room, a to-device message) must not stop the others: its
 * error is reported and the rest goes on. Only a stopped client ends the whole.
 */
import { ClientError } from './errors.js';

export type ReportError = (error: unknown, context: string) => void;

export function guard(report: ReportError, context: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    report(error, context);
  }
}

export async function guardAsync(
  report: ReportError,
  context: string,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof ClientError && error.code === 'STOPPED') throw error;
    report(error, context);
  }
}
