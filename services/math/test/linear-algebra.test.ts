/**
 * Solve, ComputeMatrix and Decompose against textbook examples worked by hand, and against the
 * defining identities of each factorization (P·A = L·U, Q·R = A, L·Lᵀ = A, A·V = V·D, U·S·Vᵀ = A).
 */
import { afterAll, describe, expect, it } from "vitest";
import { Decomposition, type Matrix, MatrixOperation } from "#gen/flowforge/math/v1/math_pb.js";
import { failure } from "#test/support/in-process.js";
import { mathClient } from "./helpers.js";

const { client, close } = mathClient({ sandbox: { threads: 2, timeMs: 2000 } });
afterAll(close);

/** A matrix message from rows. */
const m = (rows: number[][]) => ({ rows: rows.length, columns: rows[0].length, values: rows.flat() });
/** Rows of a matrix message. */
const rowsOf = (x: Matrix | undefined) =>
  Array.from({ length: x?.rows ?? 0 }, (_, i) => x!.values.slice(i * x!.columns, (i + 1) * x!.columns));
/** Product of two row lists. */
const mul = (a: number[][], b: number[][]) =>
  a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const transpose = (a: number[][]) => a[0].map((_, j) => a.map((r) => r[j]));
function expectRowsClose(got: number[][], want: number[][], digits = 10) {
  expect(got.length).toBe(want.length);
  for (const [i, r] of want.entries()) for (const [j, v] of r.entries()) expect(got[i][j]).toBeCloseTo(v, digits);
}

describe("Solve", () => {
  it("linear equations as text: 2x + y = 3, x - y = 0 gives x = y = 1; three unknowns, constants and parentheses", async () => {
    const two = await client.solve({
      problem: { case: "equations", value: { equations: ["2x + y = 3", "x - y = 0"] } },
    });
    expect(two.solution.x).toBeCloseTo(1, 12);
    expect(two.solution.y).toBeCloseTo(1, 12);
    // x + y + z = 6, 2y + 5z = -4, 2x + 5y - z = 27 (a textbook system): x = 5, y = 3, z = -2.
    const three = await client.solve({
      problem: { case: "equations", value: { equations: ["x + y + z = 6", "2y + 5z = -4", "2(x + 2y) + y - z = 27"] } },
    });
    expect(Object.keys(three.solution).sort()).toEqual(["x", "y", "z"]);
    expect(three.solution.x).toBeCloseTo(5, 12);
    expect(three.solution.y).toBeCloseTo(3, 12);
    expect(three.solution.z).toBeCloseTo(-2, 12);
    const withPi = await client.solve({ problem: { case: "equations", value: { equations: ["2 r = 2 pi"] } } });
    expect(withPi.solution).toEqual({ r: expect.closeTo(Math.PI, 12) });
  });

  it("refuses non-linear, contradictory, underdetermined and malformed equations, naming the equation", async () => {
    const eq = (equations: string[]) => client.solve({ problem: { case: "equations", value: { equations } } });
    const nonlinear = await failure(eq(["x * y = 1", "x = 2"]));
    expect(nonlinear.fields).toEqual(["equations.equations[0]"]);
    expect(nonlinear.message).toMatch(/not linear in x/);
    expect((await failure(eq(["x + y = 1", "x + y = 2"]))).fields).toEqual(["equations.equations"]);
    expect((await failure(eq(["x + y + z = 1", "x - y = 2"]))).message).toMatch(/cannot determine 3 unknowns/);
    expect((await failure(eq(["x + 1"]))).fields).toEqual(["equations.equations[0]"]);
    expect((await failure(eq(["x = 1", 'evaluate("1") + y = 2']))).fields[0]).toMatch(/^equations\.equations/);
    expect((await failure(client.solve({}))).fields).toEqual(["problem"]);
  });

  it("polynomial roots: real, repeated and complex, sorted", async () => {
    const roots = async (coefficients: number[]) =>
      (await client.solve({ problem: { case: "polynomial", value: { coefficients } } })).roots.map((r) => [r.re, r.im]);
    expectRowsClose(await roots([1, -3, 2]), [
      [1, 0],
      [2, 0],
    ]);
    // x³ - 6x² + 11x - 6 = (x - 1)(x - 2)(x - 3).
    expectRowsClose(await roots([1, -6, 11, -6]), [
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    // x² + 1: ±i.
    expectRowsClose(await roots([1, 0, 1]), [
      [0, -1],
      [0, 1],
    ]);
    // Leading zeros are dropped; 0·x² + 2x - 4 has the one root 2.
    expectRowsClose(await roots([0, 2, -4]), [[2, 0]]);
    const constant = await failure(client.solve({ problem: { case: "polynomial", value: { coefficients: [0, 5] } } }));
    expect(constant.fields).toEqual(["polynomial.coefficients"]);
  });
});

describe("ComputeMatrix", () => {
  const a = m([
    [4, 7],
    [2, 6],
  ]);
  const op = (operation: MatrixOperation, x = a, b?: ReturnType<typeof m>) =>
    client.computeMatrix({ operation, a: x, b });

  it("multiply, transpose, inverse, determinant, rank", async () => {
    const product = await op(MatrixOperation.MULTIPLY, m([[1, 2, 3]]), m([[4], [5], [6]]));
    expect(product.result).toEqual({
      case: "matrix",
      value: expect.objectContaining({ rows: 1, columns: 1, values: [32] }),
    });
    const t = await op(MatrixOperation.TRANSPOSE, m([[1, 2, 3]]));
    expect(t.result.case === "matrix" && rowsOf(t.result.value)).toEqual([[1], [2], [3]]);
    // [[4, 7], [2, 6]]⁻¹ = [[0.6, -0.7], [-0.2, 0.4]] (det 10).
    const inverse = await op(MatrixOperation.INVERSE);
    expectRowsClose(rowsOf(inverse.result.value as Matrix), [
      [0.6, -0.7],
      [-0.2, 0.4],
    ]);
    expect((await op(MatrixOperation.DETERMINANT)).result).toEqual({ case: "scalar", value: expect.closeTo(10, 12) });
    const rank = await op(
      MatrixOperation.RANK,
      m([
        [1, 2, 3],
        [2, 4, 6],
        [1, 0, 1],
      ]),
    );
    expect(rank.result).toEqual({ case: "scalar", value: 2 });
  });

  it("solve, least squares and the pseudo-inverse", async () => {
    const x = await op(MatrixOperation.SOLVE, a, m([[18], [14]]));
    // 4x + 7y = 18, 2x + 6y = 14: x = 1, y = 2.
    expectRowsClose(rowsOf(x.result.value as Matrix), [[1], [2]]);
    // The line through (0, 6), (1, 0), (2, 0) by least squares: y = 5 - 3x (Strang's example).
    const design = m([
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    const fit = await op(MatrixOperation.LEAST_SQUARES, design, m([[6], [0], [0]]));
    expectRowsClose(rowsOf(fit.result.value as Matrix), [[5], [-3]]);
    const pinv = await op(MatrixOperation.PSEUDO_INVERSE, design);
    const p = rowsOf(pinv.result.value as Matrix);
    expectRowsClose(mul(p, rowsOf(design as Matrix)), [
      [1, 0],
      [0, 1],
    ]);
  });

  it("refuses singular and mis-shaped input, naming the field", async () => {
    const singular = m([
      [1, 2],
      [2, 4],
    ]);
    const inv = await failure(op(MatrixOperation.INVERSE, singular));
    expect(inv.fields).toEqual(["a"]);
    expect(inv.message).toMatch(/singular/);
    expect((await failure(op(MatrixOperation.SOLVE, singular, m([[1], [2]])))).message).toMatch(/singular/);
    expect((await failure(op(MatrixOperation.MULTIPLY, a, m([[1, 2, 3]])))).fields).toEqual(["b"]);
    expect((await failure(op(MatrixOperation.DETERMINANT, m([[1, 2, 3]])))).message).toMatch(/must be square/);
    expect((await failure(op(MatrixOperation.INVERSE, { rows: 2, columns: 2, values: [1, 2, 3] }))).fields).toEqual([
      "a.values",
    ]);
    expect(
      (await failure(op(MatrixOperation.TRANSPOSE, { rows: 1, columns: 2, values: [1, Number.NaN] }))).fields,
    ).toEqual(["a.values[1]"]);
    expect((await failure(client.computeMatrix({ a }))).fields).toEqual(["operation"]);
    expect((await failure(client.computeMatrix({ operation: MatrixOperation.INVERSE }))).fields).toEqual(["a"]);
    const dependent = m([
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
    expect((await failure(op(MatrixOperation.LEAST_SQUARES, dependent, m([[1], [2], [3]])))).message).toMatch(/rank/);
  });

  it("a product too large for the time limit is stopped, and small calls are answered meanwhile", async () => {
    const n = 1000;
    const big = { rows: n, columns: n, values: Array.from({ length: n * n }, (_, i) => (i % 7) - 3) };
    const slow = failure(client.computeMatrix({ operation: MatrixOperation.INVERSE, a: big }));
    const quick = await op(MatrixOperation.DETERMINANT);
    expect(quick.result.value).toBeCloseTo(10, 12);
    const refused = await slow;
    // Either bound may end it first: the time limit, or the matrix found singular.
    expect(refused.fields).toEqual(["a"]);
  });
});

describe("Decompose", () => {
  const a = [
    [4, 12, -16],
    [12, 37, -43],
    [-16, -43, 98],
  ];
  const dec = (decomposition: Decomposition, rows = a) => client.decompose({ decomposition, matrix: m(rows) });

  it("Cholesky of the textbook matrix: L = [[2, 0, 0], [6, 1, 0], [-8, 5, 3]]", async () => {
    const { result } = await dec(Decomposition.CHOLESKY);
    expect(result.case).toBe("cholesky");
    if (result.case !== "cholesky") return;
    expectRowsClose(rowsOf(result.value.l), [
      [2, 0, 0],
      [6, 1, 0],
      [-8, 5, 3],
    ]);
    const notPd = await failure(
      dec(Decomposition.CHOLESKY, [
        [1, 2],
        [2, 1],
      ]),
    );
    expect(notPd.message).toMatch(/positive definite/);
    expect(
      (
        await failure(
          dec(Decomposition.CHOLESKY, [
            [1, 2],
            [0, 1],
          ]),
        )
      ).message,
    ).toMatch(/symmetric/);
  });

  it("LU: P·A = L·U, L unit lower triangular, and the determinant", async () => {
    const x = [
      [2, 1, 1],
      [4, -6, 0],
      [-2, 7, 2],
    ];
    const { result } = await dec(Decomposition.LU, x);
    if (result.case !== "lu") throw new Error(`got ${result.case}`);
    const [l, u] = [rowsOf(result.value.l), rowsOf(result.value.u)];
    for (let i = 0; i < 3; i++) expect(l[i][i]).toBe(1);
    expect(u[1][0]).toBe(0);
    expectRowsClose(
      mul(l, u),
      result.value.pivot.map((p) => x[p]),
    );
    // det = 2(-12 - 0) - 1(8 - 0) + 1(28 - 12) = -16.
    expect(result.value.determinant).toBeCloseTo(-16, 10);
  });

  it("QR: Q·R = A with orthonormal Q", async () => {
    const x = [
      [12, -51, 4],
      [6, 167, -68],
      [-4, 24, -41],
    ];
    const { result } = await dec(Decomposition.QR, x);
    if (result.case !== "qr") throw new Error(`got ${result.case}`);
    const [q, r] = [rowsOf(result.value.q), rowsOf(result.value.r)];
    expectRowsClose(mul(q, r), x);
    expectRowsClose(mul(transpose(q), q), [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    // Householder's textbook example: |R| diagonal 14, 175, 35.
    expect(r.map((row, i) => Math.abs(row[i]))).toEqual([
      expect.closeTo(14, 10),
      expect.closeTo(175, 10),
      expect.closeTo(35, 10),
    ]);
  });

  it("eigen: [[2, 1], [1, 2]] has eigenvalues 1 and 3; a rotation has ±i", async () => {
    const sym = await dec(Decomposition.EIGEN, [
      [2, 1],
      [1, 2],
    ]);
    if (sym.result.case !== "eigen") throw new Error(`got ${sym.result.case}`);
    expect([...sym.result.value.valuesReal].sort()).toEqual([expect.closeTo(1, 12), expect.closeTo(3, 12)]);
    const v = rowsOf(sym.result.value.vectors);
    const av = mul(
      [
        [2, 1],
        [1, 2],
      ],
      v,
    );
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < 2; i++) expect(av[i][j]).toBeCloseTo(sym.result.value.valuesReal[j] * v[i][j], 12);
    const rot = await dec(Decomposition.EIGEN, [
      [0, -1],
      [1, 0],
    ]);
    if (rot.result.case !== "eigen") throw new Error(`got ${rot.result.case}`);
    expect([...rot.result.value.valuesImaginary].sort()).toEqual([expect.closeTo(-1, 12), expect.closeTo(1, 12)]);
  });

  it("SVD: U·S·Vᵀ = A, singular values largest first, rank and condition", async () => {
    // [[3, 0], [4, 5]] has singular values √45 and √5 (AᵀA eigenvalues 45 and 5).
    const x = [
      [3, 0],
      [4, 5],
    ];
    const { result } = await dec(Decomposition.SVD, x);
    if (result.case !== "svd") throw new Error(`got ${result.case}`);
    const s = result.value.singularValues;
    expect(s[0]).toBeCloseTo(Math.sqrt(45), 12);
    expect(s[1]).toBeCloseTo(Math.sqrt(5), 12);
    expect(result.value.rank).toBe(2);
    expect(result.value.condition).toBeCloseTo(3, 12);
    const u = rowsOf(result.value.u);
    const us = u.map((row) => row.map((v, j) => v * s[j]));
    expectRowsClose(mul(us, transpose(rowsOf(result.value.v))), x);
  });

  it("refuses what a factorization cannot take, naming the field", async () => {
    expect((await failure(dec(Decomposition.LU, [[1, 2, 3]]))).fields).toEqual(["matrix"]);
    expect((await failure(dec(Decomposition.QR, [[1, 2, 3]]))).message).toMatch(/at least as many rows/);
    expect((await failure(client.decompose({ matrix: m(a) }))).fields).toEqual(["decomposition"]);
    const tooBig = { rows: 1001, columns: 1, values: new Array(1001).fill(1) };
    expect((await failure(client.decompose({ decomposition: Decomposition.SVD, matrix: tooBig }))).message).toMatch(
      /at most 1000 rows/,
    );
  });
});
