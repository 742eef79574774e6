/**
 * nginx in front of a gRPC service (`grpc_pass`, one worker, no auth, no access log), as the
 * reference proxy the gateway's hop is measured against: Debian's nginx-light, when installed
 * (`/usr/sbin/nginx`, or NGINX_PATH); undefined when it is not.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort } from "#runtime/ports.js";
import { waitFor } from "#test/support/until.js";

/** Starts nginx on a free port, proxying every call to `127.0.0.1:<backendPort>`. */
export async function startNginx(
  backendPort: number,
  dir: string,
): Promise<{ port: number; stop(): void } | undefined> {
  const program = process.env.NGINX_PATH ?? "/usr/sbin/nginx";
  if (!existsSync(program)) return undefined;
  const port = await freePort();
  const prefix = join(dir, "nginx");
  await mkdir(prefix, { recursive: true });
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${join(prefix, t)};`)
    .join("\n");
  await writeFile(
    join(prefix, "nginx.conf"),
    `worker_processes 1;
daemon off;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  # A connection serves every request of a run (the default closes it after 1,000).
  keepalive_requests 10000000;
${temp}
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 32;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} http2;
    location / { grpc_pass grpc://backend; }
  }
}
`,
  );
  // Its own process group: stopping it takes the worker with the master.
  const child = spawn(program, ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")], {
    stdio: "ignore",
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  process.once("exit", stop);
  const open = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      }).on("error", () => resolve(false));
    });
  await waitFor(open, { what: "nginx to listen", ms: 10_000 });
  return { port, stop };
}
