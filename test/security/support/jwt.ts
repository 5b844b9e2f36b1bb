import { randomBytes } from "node:crypto";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";

/**
 * Just enough of NATS decentralised auth to test creds files: an operator, an
 * account and users as JWTs (ed25519-nkey signed, v2 claims), the server
 * configuration that trusts them (MEMORY resolver) and creds files.
 */

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString("base64url");

function sign(
  issuer: KeyPair,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
): string {
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims = b64url(
    JSON.stringify({
      jti: randomBytes(16).toString("hex").toUpperCase(),
      iat: Math.floor(Date.now() / 1000),
      iss: issuer.getPublicKey(),
      name,
      sub: subject,
      nats: { ...nats, version: 2 },
    }),
  );
  const signature = b64url(issuer.sign(Buffer.from(`${header}.${claims}`)));
  return `${header}.${claims}.${signature}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };

export interface Trust {
  /** nats-server configuration text: operator, MEMORY resolver, the account preloaded. */
  readonly serverConfig: string;
  /** A creds file's text for a new user of the account, with optional permissions. */
  userCreds(name: string, permissions?: { pub?: unknown; sub?: unknown }): Creds;
}

export interface Creds {
  readonly text: string;
  readonly seed: string;
  readonly jwt: string;
}

export function createTrust(): Trust {
  const operator = createOperator();
  const account = createAccount();
  const operatorJwt = sign(operator, operator.getPublicKey(), "test-operator", {
    type: "operator",
  });
  const accountJwt = sign(operator, account.getPublicKey(), "test-account", {
    type: "account",
    limits: {
      ...UNLIMITED,
      imports: -1,
      exports: -1,
      wildcards: true,
      conn: -1,
      leaf: -1,
    },
    default_permissions: { pub: {}, sub: {} },
  });
  return {
    serverConfig: `operator: "${operatorJwt}"
resolver: MEMORY
resolver_preload: {
  ${account.getPublicKey()}: "${accountJwt}"
}
`,
    userCreds(name, permissions = {}) {
      const user = createUser();
      const jwt = sign(account, user.getPublicKey(), name, {
        type: "user",
        pub: permissions.pub ?? {},
        sub: permissions.sub ?? {},
        ...UNLIMITED,
      });
      const seed = Buffer.from(user.getSeed()).toString("utf8");
      const text = `-----BEGIN NATS USER JWT-----
${jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
${seed}
------END USER NKEY SEED------

*************************************************************
`;
      return { text, seed, jwt };
    },
  };
}
