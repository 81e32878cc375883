/** RFC 3339 with microseconds, the wire format of MicroTime fields (Lease renewTime, Event eventTime). */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
