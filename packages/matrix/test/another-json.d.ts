// another-json (matrix-js-sdk's canonical JSON encoder) ships no types.
declare module 'another-json' {
  export function stringify(value: unknown): string;
}
