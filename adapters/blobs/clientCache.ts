/**
 * A bounded map of storage SDK clients by name. Building a client is not free: a container or
 * page blob client parses its URL and builds its options on every construction, and the page
 * writes of a hydrating replica made two per request (profiled: ~3 s of the host's main thread
 * per minute of 10 MB/s random churn). Clients hold no per-request state, so one may serve all.
 * Past `max` entries the oldest is dropped (insertion order), which bounds a process that sees
 * many machines' containers or blobs.
 */
export class ClientCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly max: number) {}

  get(key: string, make: () => T): T {
    let v = this.entries.get(key);
    if (v === undefined) {
      v = make();
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, v);
    }
    return v;
  }
}
