import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectRedis } from '../lib/redis';

// Starting this project's own entry points (worker, API) and a redis-server as child processes, for
// the demo, the benchmark and the tests.

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Managed {
  name: string;
  child: ChildProcess;
  /** The end of what it wrote to stderr: the entry points say there why they stopped. */
  lastStderr(): string;
  stop(): Promise<void>;
}

export function startTs(name: string, script: string, env: NodeJS.ProcessEnv, logFile?: NodeJS.WritableStream, nodeArgs: string[] = []): Managed {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  if (logFile) {
    child.stdout!.pipe(logFile, { end: false });
    child.stderr!.pipe(logFile, { end: false });
  } else {
    child.stdout!.resume();
  }
  return { name, child, lastStderr: () => stderr, stop: () => stopProcess(child) };
}

export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, proc?: ChildProcess | Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const child = proc && 'lastStderr' in proc ? proc.child : proc;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      const said = proc && 'lastStderr' in proc ? proc.lastStderr().trim() : '';
      throw new Error(`${what}: the process exited with code ${child.exitCode}${said ? `:\n${said}` : ''}`);
    }
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not ready within ${Math.round(timeoutMs / 1000)}s`);
}

/** A redis-server of our own on 127.0.0.1:`port` (nothing kept on disk), once it answers. */
export async function startRedisServer(port: number | string): Promise<Managed> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  child.on('error', () => undefined); // reported by waitFor: the process exited
  const managed: Managed = { name: 'redis', child, lastStderr: () => '', stop: () => stopProcess(child) };
  try {
    await waitFor(
      'redis-server (is it installed? apt-get install redis-server)',
      async () => {
        (await connectRedis(`redis://127.0.0.1:${port}`)).disconnect();
        return true;
      },
      15_000,
      child,
    );
  } catch (err) {
    await managed.stop();
    throw err;
  }
  return managed;
}
