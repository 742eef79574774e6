/** The checks every statistic makes of its samples. */
import { check } from "#runtime/errors.js";

/** Largest sample accepted. */
export const maxValues = 10_000_000;

/** Checks a sample of at least `min` finite numbers, naming `field` (and the index of a bad value). */
export function checkSample(values: number[], field: string, min: number): void {
  check(values.length >= min, field, `must hold at least ${min} number${min === 1 ? "" : "s"}`);
  check(values.length <= maxValues, field, `must hold at most ${maxValues} numbers`);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  check(bad < 0, `${field}[${bad}]`, "must be a finite number");
}

/** Checks that `y` pairs with `x` (same length). */
export function checkPaired(x: number[], y: number[], xField = "x", yField = "y"): void {
  check(y.length === x.length, yField, `must hold as many numbers as ${xField} (${x.length}), got ${y.length}`);
}
