/**
 * Encryption with qpdf (Debian's qpdf package), the tool the field uses for it (pdf-lib has none):
 * AES-256 with a user and an owner password and the permissions readers get. Passwords travel in
 * a file only the process can read (`@args`), never on a command line another process could list.
 * Found on PATH (or QPDF_PATH) when first asked; absent, the methods say which package to install.
 */
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { invalidArgument } from "#runtime/errors.js";

/** What Encrypt asks for. */
export interface Protection {
  userPassword: string;
  ownerPassword: string;
  print: boolean;
  copy: boolean;
  modify: boolean;
}

/** Runs qpdf on a document; answers the output document. */
export function createQpdf(program = "qpdf", timeoutMs = 60_000) {
  let present: boolean | undefined;
  const available = () => (present ??= spawnSync(program, ["--version"], { timeout: 10_000 }).status === 0);

  async function run(data: Uint8Array, args: (dir: string) => string[], field: string): Promise<Uint8Array> {
    if (!available())
      throw new ConnectError(
        "this needs qpdf, which is not installed here (Debian's qpdf package)",
        Code.FailedPrecondition,
      );
    const dir = await mkdtemp(join(tmpdir(), "flowforge-qpdf-"));
    try {
      await writeFile(join(dir, "in.pdf"), data);
      // One argument a line, in a file of mode 0600: passwords never appear in the process list.
      await writeFile(join(dir, "args"), `${args(dir).join("\n")}\n`, { mode: 0o600 });
      const stderr = await new Promise<string>((resolve, reject) => {
        execFile(
          program,
          [`@${join(dir, "args")}`],
          { timeout: timeoutMs, killSignal: "SIGKILL" },
          (err, _out, errText) => {
            // Exit status 3: warnings, the output is written.
            if (err && (err as { code?: number }).code !== 3) {
              if ((err as { killed?: boolean }).killed)
                reject(invalidArgument(field, `took longer than ${timeoutMs / 1000} s`));
              else resolve(String(errText || err.message));
            } else resolve("");
          },
        );
      });
      if (stderr) {
        if (/invalid password/i.test(stderr)) throw invalidArgument("password", "is not this document's password");
        const reason = stderr
          .split("\n")[0]
          .replace(/^.*?in\.pdf:\s*/, "")
          .trim();
        throw invalidArgument(field, `cannot be read as a PDF${reason ? `: ${reason}` : ""}`);
      }
      const out = await readFile(join(dir, "out.pdf"));
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return {
    encrypt(data: Uint8Array, p: Protection, field: string) {
      const owner = p.ownerPassword || randomBytes(24).toString("base64url");
      return run(
        data,
        (dir) => [
          join(dir, "in.pdf"),
          // qpdf 11's positional form (the --user-password= form came later): user, owner, bits.
          "--encrypt",
          p.userPassword,
          owner,
          "256",
          `--print=${p.print ? "full" : "none"}`,
          `--extract=${p.copy ? "y" : "n"}`,
          `--modify=${p.modify ? "all" : "none"}`,
          "--",
          join(dir, "out.pdf"),
        ],
        field,
      );
    },
    decrypt(data: Uint8Array, password: string, field: string) {
      return run(
        data,
        (dir) => [`--password=${password}`, "--decrypt", join(dir, "in.pdf"), join(dir, "out.pdf")],
        field,
      );
    },
  };
}
