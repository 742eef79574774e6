/**
 * A Postgres wire-protocol server for PGlite that is safe with many client connections.
 * PGlite is one backend: the unnamed statement and portal, and any open transaction, are
 * shared by everything sent to it. So each connection's messages are grouped up to their Sync
 * (extended protocol) or Query (simple protocol) and every group runs whole, one at a time;
 * while a connection holds a transaction open only that connection's groups run, and when that
 * connection goes away its transaction is rolled back before anything else runs.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const GSSENC_REQUEST = 80877104;

interface Conn {
  socket: Socket;
  pending: Buffer;
  group: Buffer[];
  started: boolean;
  closed: boolean;
}

interface Work {
  conn: Conn;
  bytes: Buffer;
}

/** A running wire server. */
export interface WireServer {
  port: number;
  /** The postgres:// URL a client connects with. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `database` on 127.0.0.1:`port` (0 picks one). It may still be opening: the server listens
 * at once and runs what its clients send once it is open; if it fails to open, every connection
 * is closed with that error.
 */
export async function serveWire(database: PGlite | Promise<PGlite>, port = 0, host = "127.0.0.1"): Promise<WireServer> {
  let db: PGlite | undefined;
  let failed: Error | undefined;
  const opened = Promise.resolve(database).then(
    (open) => {
      db = open;
    },
    (err: Error) => {
      failed = err;
    },
  );
  const queue: Work[] = [];
  let owner: Conn | undefined; // the connection whose transaction is open
  let running = false;

  const next = (): Work | undefined => {
    if (owner) {
      const i = queue.findIndex((w) => w.conn === owner);
      return i === -1 ? undefined : queue.splice(i, 1)[0];
    }
    return queue.shift();
  };

  const pump = async () => {
    if (running) return;
    running = true;
    try {
      if (!db) await opened;
      const pg = db;
      if (!pg) {
        for (const { conn } of queue.splice(0)) conn.socket.destroy(failed);
        return;
      }
      for (;;) {
        if (owner?.closed) {
          // Its connection is gone with a transaction open (its process died, say): that transaction
          // dies with it, before anyone else's statements run (they would run inside it, never committed).
          await pg.exec("ROLLBACK").catch(() => {});
          owner = undefined;
        }
        const work = next();
        if (!work) break;
        const { conn, bytes } = work;
        await pg
          .runExclusive(() =>
            pg.execProtocolRawStream(bytes, {
              onRawData: (data) => {
                if (!conn.closed) conn.socket.write(Buffer.from(data));
              },
            }),
          )
          .catch((err) => {
            if (!conn.closed) conn.socket.destroy(err);
          });
        owner = pg.isInTransaction() ? conn : undefined;
      }
    } finally {
      running = false;
    }
  };

  const enqueue = (conn: Conn, bytes: Buffer) => {
    queue.push({ conn, bytes });
    void pump();
  };

  const onData = (conn: Conn, chunk: Buffer) => {
    conn.pending = conn.pending.length ? Buffer.concat([conn.pending, chunk]) : chunk;
    for (;;) {
      if (!conn.started) {
        if (conn.pending.length < 8) return;
        const len = conn.pending.readInt32BE(0);
        if (conn.pending.length < len) return;
        const code = conn.pending.readInt32BE(4);
        const msg = conn.pending.subarray(0, len);
        conn.pending = conn.pending.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          conn.socket.write("N");
          continue;
        }
        if (code === CANCEL_REQUEST) {
          conn.socket.end();
          return;
        }
        conn.started = true;
        enqueue(conn, Buffer.from(msg));
        continue;
      }
      if (conn.pending.length < 5) return;
      const len = conn.pending.readInt32BE(1) + 1;
      if (conn.pending.length < len) return;
      const type = String.fromCharCode(conn.pending[0]);
      conn.group.push(Buffer.from(conn.pending.subarray(0, len)));
      conn.pending = conn.pending.subarray(len);
      if (type === "X") {
        conn.group = [];
        conn.socket.end();
        return;
      }
      // A group ends at Sync, Flush, a simple Query, or the end of a COPY. (Flush splits a
      // describe-first query in two; postgres.js names those statements per connection, so the
      // second half finds its own statement whatever ran in between.)
      if (type === "S" || type === "Q" || type === "c" || type === "f" || type === "H") {
        enqueue(conn, Buffer.concat(conn.group));
        conn.group = [];
      }
    }
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    const conn: Conn = { socket, pending: Buffer.alloc(0), group: [], started: false, closed: false };
    socket.on("data", (chunk: Buffer) => onData(conn, chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      conn.closed = true;
      sockets.delete(socket);
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i].conn === conn) queue.splice(i, 1);
      void pump();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    port: bound,
    url: `postgres://postgres@${host}:${bound}/postgres?sslmode=disable`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
