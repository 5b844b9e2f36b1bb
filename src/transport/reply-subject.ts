/**
 * Whether the worker may publish a reply to a request's reply subject.
 *
 * The caller picks the reply subject freely (the server only checks that the
 * caller may publish the request), and the worker publishes its reply there
 * with its own rights; with `allow_responses`, nats-server lets it publish to
 * any reply subject, whatever its deny list says. A reply aimed at one of the
 * worker's own request subjects (`<prefix>.orders`) would run as a request the
 * caller may not send itself (a raw-mode `get` replies with bytes the caller
 * stored), and one aimed at a `$` subject would be an API call made with the
 * worker's identity (`$JS.API.STREAM.DELETE...`). Both are refused.
 */
export function isSafeReplySubject(subject: string, subjectPrefix: string): boolean {
  if (subject.startsWith("$")) return false;
  return subject !== subjectPrefix && !subject.startsWith(`${subjectPrefix}.`);
}
