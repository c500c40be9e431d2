import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from '../../devstack/processes';
import { REDIS_COMMANDS, type Via } from '../../lib/redisCommands';

// lib/redisCommands.ts against the code: every Redis command the code sends is listed there (with what
// Dragonfly does with it), and nothing listed is no longer sent. ioredis calls are found by the type of
// their receiver (Redis, or the ChainableCommander of a MULTI), not by variable names; Lua commands by
// their redis.call('…') in the scripts' text.

const SOURCE_DIRS = ['lib', 'activities', 'api', 'governance', 'workers', 'agents', 'common'];
/**
 * Packages read as empty files: no Redis client is typed through them, and they are most of what the
 * compiler would otherwise parse (Temporal's protos alone are 9 MB), which makes this test take seconds, not a minute.
 */
const NOT_PARSED = /[\\/]node_modules[\\/](@temporalio|openai|webpack|rxjs|zod|@grpc|protobufjs|better-sqlite3|pino)[\\/]/;
/** Methods of an ioredis client that are not commands: the connection's life and its events. */
const CLIENT_METHODS = new Set(['connect', 'disconnect', 'duplicate', 'on', 'once', 'off', 'quit']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Command name → the files that send it. */
type Found = Map<string, Set<string>>;
const add = (found: Found, command: string, file: string) => found.set(command, (found.get(command) ?? new Set()).add(relative(REPO_ROOT, file)));

let client: Found;
let lua: Found;

before(() => {
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(REPO_ROOT, d)));
  const parsed = ts.getParsedCommandLineOfConfigFile(join(REPO_ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  assert.ok(parsed, 'tsconfig.json');
  const host = ts.createCompilerHost(parsed.options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) => (NOT_PARSED.test(file) ? ts.createSourceFile(file, '', language) : read(file, language, ...rest));
  const program = ts.createProgram(files, parsed.options, host);
  const checker = program.getTypeChecker();
  const ours = new Set(files);
  client = new Map();
  lua = new Map();
  for (const sf of program.getSourceFiles()) {
    if (!ours.has(sf.fileName)) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
        // `sub?.unsubscribe()`: the receiver without its undefined.
        const receiver = checker.getNonNullableType(checker.getTypeAtLocation(node.expression.expression));
        const declaredIn = receiver.getSymbol()?.declarations?.[0]?.getSourceFile().fileName ?? '';
        const method = node.expression.name.text;
        if (/[\\/]node_modules[\\/]ioredis[\\/]/.test(declaredIn) && !CLIENT_METHODS.has(method)) add(client, method.toUpperCase(), sf.fileName);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    for (const m of readFileSync(sf.fileName, 'utf8').matchAll(/redis\.p?call\(\s*['"]([A-Za-z]+)['"]/g)) add(lua, m[1]!.toUpperCase(), sf.fileName);
  }
});

const listed = (via: Via) =>
  Object.entries(REDIS_COMMANDS)
    .filter(([, c]) => (c.via as readonly Via[]).includes(via))
    .map(([name]) => name)
    .sort();

const show = (found: Found) => [...found].map(([c, files]) => `${c} (${[...files].join(', ')})`).join('; ');

describe('lib/redisCommands.ts lists the Redis commands the code sends', () => {
  test('the commands sent through ioredis, found by the type of their receiver', () => {
    assert.ok(client.size >= 10, `found ${client.size}: the scan reaches the code`);
    assert.deepEqual([...client.keys()].sort(), listed('client'), `sent: ${show(client)}`);
  });

  test("the commands of the Lua scripts (EVAL): each script's redis.call()", () => {
    assert.ok(lua.size >= 5, `found ${lua.size}`);
    assert.deepEqual([...lua.keys()].sort(), listed('lua'), `sent: ${show(lua)}`);
  });

  test('each command says what Dragonfly does with it; scripting, where the two differ, says how the scripts comply', () => {
    for (const [name, c] of Object.entries(REDIS_COMMANDS)) {
      assert.ok(c.use.length > 0, `${name}: where it is used`);
      assert.equal(typeof c.dragonfly, 'string', name);
    }
    assert.match(REDIS_COMMANDS.EVAL.dragonfly, /KEYS/);
  });
});
