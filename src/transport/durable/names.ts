/**
 * Subjects and JetStream names of the durable intake (PROTOCOL section 6).
 * Everything is derived from the subject prefix and the binding name, so
 * every worker of a deployment computes the same stream and consumers.
 */

/** Where the caller wants the reply: JetStream does not store a message's reply subject. */
export const REPLY_TO_HEADER = "Binding-Reply-To";
/** The request id: JetStream de-duplicates on it, and the worker applies each id once. */
export const MSG_ID_HEADER = "Nats-Msg-Id";

/** Requests: `<prefix>.durable.<name>`. */
export function durableSubject(prefix: string, bindingName: string): string {
  return `${prefix}.durable.${bindingName}`;
}

/** What the stream captures: every binding's durable subject. */
export function durableWildcard(prefix: string): string {
  return `${prefix}.durable.>`;
}

/** Requests that ran out of deliveries: `<prefix>.deadletter.<name>`. */
export function deadLetterSubject(prefix: string, bindingName: string): string {
  return `${prefix}.deadletter.${bindingName}`;
}

/** The binding a durable subject belongs to (its last token). */
export function bindingOfSubject(subject: string): string {
  return subject.slice(subject.lastIndexOf(".") + 1);
}

/**
 * JetStream names may not contain `.`, `*`, `>`, `/`, `\` or whitespace.
 * Binding names already exclude most of these; the rest are %-escaped so two
 * different names never map to one.
 */
function escapeName(text: string): string {
  return text.replace(/[%/\\*>\s]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * One stream per subject prefix: `rbw-durable-<prefix>`, dots as `_`. Two
 * prefixes that differ only there would share a name; start-up notices the
 * foreign subjects and refuses to touch that stream.
 */
export function streamName(prefix: string): string {
  return `rbw-durable-${escapeName(prefix).replaceAll(".", "_")}`;
}

/** The durable consumer of one binding, shared by every worker. */
export function consumerName(bindingName: string): string {
  return escapeName(bindingName);
}

const TOKEN = /^[^\s*>]+$/;

/**
 * A reply subject taken from a request header must be a plain subject: a
 * wildcard or a blank would make the server reject our publish. Never a `$`
 * subject either: the reply would be a JetStream or system API call made
 * with the worker's rights (`$JS.API.STREAM.PURGE...`), see reply-subject.ts.
 */
export function isPublishableSubject(subject: string): boolean {
  if (subject.length === 0 || subject.length > 1024) return false;
  if (subject.startsWith("$")) return false;
  return subject.split(".").every((token) => TOKEN.test(token));
}
