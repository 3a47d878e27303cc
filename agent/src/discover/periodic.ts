/**
 * Runs one refresh now and then every `intervalMs`, never two at once: a
 * refresh asked for while one runs shares it. Sources that poll (Kata's
 * /proc scan, containerd's records) are built on it; `ready()` resolves
 * when the first refresh has finished, however it ended.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private first: Promise<void> | undefined;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly intervalMs: number,
    /** Must not reject: failures are the caller's to record. */
    private readonly refresh: () => Promise<void>,
  ) {}

  start(): void {
    if (this.first !== undefined) return;
    this.first = this.run();
    this.timer = setInterval(() => {
      void this.run();
    }, this.intervalMs);
    // The agent's lifetime is the server's, not this timer's.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inflight;
  }

  ready(): Promise<void> {
    return this.first ?? Promise.resolve();
  }

  /** A refresh now, or the one already running. */
  run(): Promise<void> {
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }
}
