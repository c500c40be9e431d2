// A one-line progress bar on a terminal; on a pipe (CI logs) a line every few seconds instead of
// thousands of carriage returns. Twenty lines do not justify a dependency.

export class Progress {
  private done = 0;
  private lastLine = 0;
  private lastDone = -1;
  private readonly started = performance.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {
    this.draw(true);
    // Redrawn on a clock too, so a long wait before the first completion still shows time passing.
    this.timer = setInterval(() => this.draw(true), this.tty ? 1000 : 10_000);
    this.timer.unref();
  }

  tick(n = 1): void {
    this.done += n;
    this.draw(this.done >= this.total);
  }

  finish(note = ''): void {
    clearInterval(this.timer);
    if (this.tty || note || this.lastDone !== this.done) this.draw(true, note);
    if (this.tty) process.stderr.write('\n');
  }

  private draw(force: boolean, note = ''): void {
    const now = performance.now();
    if (!force && now - this.lastLine < (this.tty ? 100 : 5000)) return;
    this.lastLine = now;
    this.lastDone = this.done;
    const width = 30;
    const filled = this.total ? Math.round((width * this.done) / this.total) : width;
    const secs = ((now - this.started) / 1000).toFixed(1);
    const line = `${this.label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${secs}s${note ? ` ${note}` : ''}`;
    process.stderr.write(this.tty ? `\r${line}` : `${line}\n`);
  }
}
