/**
 * When things happened, in local time: `HH:MM:SS` for today, with the date before it for any
 * other day, so that history read later is not mistaken for what happens now.
 */

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS` in local time. */
export function clock(at: Date): string {
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/** `YYYY-MM-DD` in local time. */
export function date(at: Date): string {
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}`;
}

/** The time of `at`, with its date when that is not the day of `now`. */
export function timeOf(at: Date, now: Date): string {
  return date(at) === date(now) ? clock(at) : `${date(at)} ${clock(at)}`;
}
