import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, boolean | Readonly<Record<string, boolean>>>>;
}

export interface HealthSources {
  readiness(): ReadinessReport;
  /** Prometheus text, when metrics exist. */
  metrics?(): Promise<string>;
}

/**
 * `/livez`, `/readyz` and `/metrics` on one small HTTP server. Liveness is
 * only "the event loop answers"; readiness carries a body that says which
 * check fails so an operator need not guess.
 */
export class HealthServer {
  private server: Server | undefined;

  constructor(private readonly sources: HealthSources) {}

  async listen(port: number, host = "0.0.0.0"): Promise<number> {
    const server = createServer((request, response) => this.route(request, response));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/livez") {
      send(response, 200, { status: "ok" });
    } else if (path === "/readyz") {
      const report = this.sources.readiness();
      send(response, report.ready ? 200 : 503, {
        status: report.ready ? "ready" : "not ready",
        ...report,
      });
    } else if (path === "/metrics" && this.sources.metrics) {
      this.sources.metrics().then(
        (text) => {
          response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
          response.end(text);
        },
        () => send(response, 500, { status: "metrics unavailable" }),
      );
    } else {
      send(response, 404, { status: "not found" });
    }
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}
