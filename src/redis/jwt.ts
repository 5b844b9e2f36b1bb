/**
 * Reads the claims of an Entra ID access token. Only the payload is decoded:
 * Redis verifies the signature, we merely need the caller's object id, which
 * Azure Cache for Redis expects as the AUTH username.
 */
export function tokenObjectId(token: string): string {
  const payload = token.split(".")[1];
  if (payload === undefined || payload === "") {
    throw new Error("the Entra ID token is not a JWT (no payload segment)");
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw new Error("the Entra ID token's payload is not JSON");
  }
  const oid = (claims as { oid?: unknown } | null)?.oid;
  if (typeof oid !== "string" || oid === "") {
    throw new Error("the Entra ID token has no oid claim to use as the Redis username");
  }
  return oid;
}
