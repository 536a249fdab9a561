import { expect } from "bun:test";

/** The message of the error `fn` throws, which must be an instance of `kind` (a config's one-line error). */
export function errorOf(fn: () => unknown, kind: abstract new (...args: never[]) => Error): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(kind);
    return (error as Error).message;
  }
  throw new Error(`expected a ${kind.name}`);
}
