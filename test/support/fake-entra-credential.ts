import { randomBytes } from "node:crypto";
import type { AccessToken, TokenCredential } from "@azure/identity";
import type { RedisServer } from "../harness/redis.js";

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Stands in for Entra ID: issues short-lived JWT-shaped tokens for one object
 * id and, like Azure Cache for Redis, accepts each token as that user's
 * password from the moment it is issued until it expires (the ACL password is
 * added on issue and removed on expiry).
 */
export class RotatingCredential implements TokenCredential {
  readonly issued: AccessToken[] = [];
  readonly scopes: string[] = [];
  failing = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    /** Every server the identity is a user of (all nodes of a cluster). */
    private readonly servers: readonly RedisServer[],
    readonly oid: string,
    private readonly lifetimeMs: number,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    this.scopes.push(...[scopes].flat());
    if (this.failing) throw new Error("the identity endpoint is unreachable");
    const expiresOnTimestamp = Date.now() + this.lifetimeMs;
    const payload = {
      oid: this.oid,
      aud: "https://redis.azure.com",
      exp: expiresOnTimestamp / 1e3,
    };
    const token = [
      base64url({ alg: "RS256", typ: "JWT" }),
      base64url({ ...payload, n: this.issued.length + 1 }),
      randomBytes(64).toString("base64url"),
    ].join(".");
    await Promise.all(
      this.servers.map((server) =>
        server.cli("ACL", "SETUSER", this.oid, "on", `>${token}`, "~*", "&*", "+@all"),
      ),
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const server of this.servers) {
        void server.cli("ACL", "SETUSER", this.oid, `<${token}`).catch(() => {});
      }
    }, this.lifetimeMs);
    this.timers.add(timer);
    const issued = { token, expiresOnTimestamp };
    this.issued.push(issued);
    return issued;
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }
}
