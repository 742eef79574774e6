/**
 * Matrices, linear systems and polynomial roots with ml-matrix. Runs on the sandbox's threads
 * (worker.ts): an O(n³) factorization must not stall the service's event loop, and the
 * sandbox's time limit bounds it. Bad input throws a Refusal naming the field.
 */
import {
  CholeskyDecomposition,
  determinant,
  EigenvalueDecomposition,
  LuDecomposition,
  Matrix,
  pseudoInverse,
  QrDecomposition,
  SingularValueDecomposition,
} from "ml-matrix";

/** A matrix as it travels: row-major values. */
export interface PlainMatrix {
  rows: number;
  columns: number;
  values: number[];
}

/** Bad input, naming the request field at fault. */
export class Refusal extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function refuseUnless(ok: boolean, field: string, message: string): asserts ok {
  if (!ok) throw new Refusal(field, message);
}

/** Largest side of a matrix that is factorized or inverted. */
export const maxSide = 1000;
/** Most entries in any matrix. */
export const maxEntries = 1_000_000;

/** Reads a matrix, checking its shape and entries. */
export function toMatrix(m: PlainMatrix | undefined, field: string): Matrix {
  refuseUnless(m !== undefined, field, "is required");
  refuseUnless(m.rows >= 1 && m.columns >= 1, field, "must have at least one row and one column");
  refuseUnless(m.rows * m.columns <= maxEntries, field, `must have at most ${maxEntries} entries`);
  refuseUnless(
    m.values.length === m.rows * m.columns,
    `${field}.values`,
    `must hold rows × columns = ${m.rows * m.columns} numbers, got ${m.values.length}`,
  );
  const bad = m.values.findIndex((v) => !Number.isFinite(v));
  refuseUnless(bad < 0, `${field}.values[${bad}]`, "must be a finite number");
  return Matrix.from1DArray(m.rows, m.columns, m.values);
}

/** A matrix as it travels back. */
export function fromMatrix(m: Matrix): PlainMatrix {
  return { rows: m.rows, columns: m.columns, values: m.to1DArray() };
}

function square(m: Matrix, field: string): void {
  refuseUnless(m.isSquare(), field, `must be square, got ${m.rows} × ${m.columns}`);
}

function bounded(m: Matrix, field: string): void {
  refuseUnless(
    m.rows <= maxSide && m.columns <= maxSide,
    field,
    `must have at most ${maxSide} rows and columns for this operation`,
  );
}

/** An LU factorization, refused when the matrix is singular to working precision. */
function nonSingularLu(a: Matrix, field: string): LuDecomposition {
  const lu = new LuDecomposition(a);
  const u = lu.upperTriangularMatrix;
  const scale = a.norm("max");
  const tolerance = a.rows * Number.EPSILON * scale;
  for (let i = 0; i < a.rows; i++) {
    refuseUnless(Math.abs(u.get(i, i)) > tolerance, field, "is singular (or nearly so): no unique solution");
  }
  return lu;
}

/**
 * The first column of `a` that is (to working precision) a combination of the ones before it, or
 * -1: where R's diagonal is negligible against the column's norm (QR's own rank test only catches
 * exact zeros).
 */
export function dependentColumn(a: Matrix, qr: QrDecomposition): number {
  const r = qr.upperTriangularMatrix;
  for (let j = 0; j < a.columns; j++) {
    const norm = a.getColumnVector(j).norm();
    if (!(norm > 0 && Math.abs(r.get(j, j)) > 1e-12 * norm)) return j;
  }
  return -1;
}

/** The operations of ComputeMatrix, by the enum's name. */
export type MatrixOperationName =
  | "multiply"
  | "transpose"
  | "inverse"
  | "determinant"
  | "rank"
  | "solve"
  | "leastSquares"
  | "pseudoInverse";

/** What ComputeMatrix answers, as its response's `result`. */
export type Computed = { case: "matrix"; value: PlainMatrix } | { case: "scalar"; value: number };

/** A ComputeMatrix task. */
export interface MatrixTask {
  kind: "matrix";
  operation: MatrixOperationName;
  a?: PlainMatrix;
  b?: PlainMatrix;
}

/** Runs one ComputeMatrix operation. */
export function computeMatrix(task: MatrixTask): Computed {
  const a = toMatrix(task.a, "a");
  if (task.operation === "transpose") return { case: "matrix", value: fromMatrix(a.transpose()) };
  if (task.operation === "multiply") {
    const b = toMatrix(task.b, "b");
    refuseUnless(b.rows === a.columns, "b", `must have as many rows as a has columns (${a.columns}), got ${b.rows}`);
    refuseUnless(a.rows * b.columns <= maxEntries, "b", `the product would have more than ${maxEntries} entries`);
    return { case: "matrix", value: fromMatrix(a.mmul(b)) };
  }
  bounded(a, "a");
  switch (task.operation) {
    case "inverse": {
      square(a, "a");
      return { case: "matrix", value: fromMatrix(nonSingularLu(a, "a").solve(Matrix.eye(a.rows))) };
    }
    case "determinant":
      square(a, "a");
      return { case: "scalar", value: determinant(a) };
    case "rank":
      return { case: "scalar", value: new SingularValueDecomposition(a, { autoTranspose: true }).rank };
    case "pseudoInverse":
      return { case: "matrix", value: fromMatrix(pseudoInverse(a)) };
    case "solve":
    case "leastSquares": {
      const b = toMatrix(task.b, "b");
      refuseUnless(b.rows === a.rows, "b", `must have as many rows as a (${a.rows}), got ${b.rows}`);
      if (task.operation === "solve") {
        square(a, "a");
        return { case: "matrix", value: fromMatrix(nonSingularLu(a, "a").solve(b)) };
      }
      refuseUnless(a.rows >= a.columns, "a", "must have at least as many rows as columns for least squares");
      const qr = new QrDecomposition(a);
      refuseUnless(dependentColumn(a, qr) < 0, "a", "must have full column rank (its columns are linearly dependent)");
      return { case: "matrix", value: fromMatrix(qr.solve(b)) };
    }
  }
}

/** The factorizations of Decompose, by the enum's name. */
export type DecompositionName = "lu" | "qr" | "cholesky" | "eigen" | "svd";

/** A Decompose task. */
export interface DecomposeTask {
  kind: "decompose";
  decomposition: DecompositionName;
  matrix?: PlainMatrix;
}

/** What Decompose answers, one factorization's factors, as its response's `result`. */
export type Factors =
  | { case: "lu"; value: { l: PlainMatrix; u: PlainMatrix; pivot: number[]; determinant: number } }
  | { case: "qr"; value: { q: PlainMatrix; r: PlainMatrix } }
  | { case: "cholesky"; value: { l: PlainMatrix } }
  | { case: "eigen"; value: { valuesReal: number[]; valuesImaginary: number[]; vectors: PlainMatrix } }
  | {
      case: "svd";
      value: { u: PlainMatrix; singularValues: number[]; v: PlainMatrix; rank: number; condition: number };
    };

/** Factorizes a matrix. */
export function decompose(task: DecomposeTask): Factors {
  const a = toMatrix(task.matrix, "matrix");
  bounded(a, "matrix");
  switch (task.decomposition) {
    case "lu": {
      square(a, "matrix");
      const lu = new LuDecomposition(a);
      return {
        case: "lu",
        value: {
          l: fromMatrix(lu.lowerTriangularMatrix),
          u: fromMatrix(lu.upperTriangularMatrix),
          pivot: lu.pivotPermutationVector,
          determinant: lu.determinant,
        },
      };
    }
    case "qr": {
      refuseUnless(a.rows >= a.columns, "matrix", "must have at least as many rows as columns");
      const qr = new QrDecomposition(a);
      return { case: "qr", value: { q: fromMatrix(qr.orthogonalMatrix), r: fromMatrix(qr.upperTriangularMatrix) } };
    }
    case "cholesky": {
      square(a, "matrix");
      const scale = a.norm("max");
      refuseUnless(symmetricWithin(a, 1e-12 * scale), "matrix", "must be symmetric");
      const cho = new CholeskyDecomposition(a);
      refuseUnless(cho.isPositiveDefinite(), "matrix", "must be positive definite");
      return { case: "cholesky", value: { l: fromMatrix(cho.lowerTriangularMatrix) } };
    }
    case "eigen": {
      square(a, "matrix");
      const evd = new EigenvalueDecomposition(a);
      return {
        case: "eigen",
        value: {
          valuesReal: evd.realEigenvalues,
          valuesImaginary: evd.imaginaryEigenvalues,
          vectors: fromMatrix(evd.eigenvectorMatrix),
        },
      };
    }
    case "svd": {
      const svd = new SingularValueDecomposition(a, { autoTranspose: true });
      return {
        case: "svd",
        value: {
          u: fromMatrix(svd.leftSingularVectors),
          singularValues: svd.diagonal,
          v: fromMatrix(svd.rightSingularVectors),
          rank: svd.rank,
          condition: svd.condition,
        },
      };
    }
  }
}

function symmetricWithin(a: Matrix, tolerance: number): boolean {
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < i; j++) if (Math.abs(a.get(i, j) - a.get(j, i)) > tolerance) return false;
  }
  return true;
}

/** Solves A·x = b for a linear system given by its coefficients (equations from text, see worker.ts). */
export function solveLinearSystem(unknowns: string[], a: number[][], b: number[]): Record<string, number> {
  const m = new Matrix(a);
  refuseUnless(
    a.length >= unknowns.length,
    "equations.equations",
    `${a.length} equation(s) cannot determine ${unknowns.length} unknowns (${unknowns.join(", ")})`,
  );
  const svd = new SingularValueDecomposition(m, { autoTranspose: true });
  refuseUnless(
    svd.rank === unknowns.length,
    "equations.equations",
    `the equations do not determine the unknowns (${unknowns.join(", ")}) uniquely`,
  );
  const rhs = Matrix.columnVector(b);
  const x = new QrDecomposition(m).solve(rhs);
  // More equations than unknowns: they must agree with each other.
  const residual = m.mmul(x).sub(rhs).norm();
  const scale = Math.max(1, rhs.norm(), m.norm());
  refuseUnless(residual <= 1e-9 * scale, "equations.equations", "the equations contradict each other: no solution");
  return Object.fromEntries(unknowns.map((name, i) => [name, x.get(i, 0)]));
}

/** Largest polynomial degree accepted. */
export const maxDegree = 100;

/** A polynomial's roots with multiplicity: the eigenvalues of its companion matrix. */
export function polynomialRoots(coefficients: number[]): { re: number; im: number }[] {
  const field = "polynomial.coefficients";
  const bad = coefficients.findIndex((v) => !Number.isFinite(v));
  refuseUnless(bad < 0, `${field}[${bad}]`, "must be a finite number");
  const first = coefficients.findIndex((c) => c !== 0);
  refuseUnless(first >= 0 && first < coefficients.length - 1, field, "must describe a polynomial of degree 1 or more");
  const c = coefficients.slice(first);
  const degree = c.length - 1;
  refuseUnless(degree <= maxDegree, field, `must describe a polynomial of degree at most ${maxDegree}`);
  // Companion matrix: first row -c[1..n]/c[0], ones on the subdiagonal.
  const companion = Matrix.zeros(degree, degree);
  for (let j = 0; j < degree; j++) companion.set(0, j, -c[j + 1] / c[0]);
  for (let i = 1; i < degree; i++) companion.set(i, i - 1, 1);
  const evd = new EigenvalueDecomposition(companion, { assumeSymmetric: false });
  return evd.realEigenvalues
    .map((re, i) => ({ re, im: evd.imaginaryEigenvalues[i] }))
    .sort((p, q) => p.re - q.re || p.im - q.im);
}
