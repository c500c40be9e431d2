import tseslint from 'typescript-eslint';

// Lint: typescript-eslint's recommended rules, plus a guard that keeps workflow code deterministic —
// no Node builtins, no I/O modules, and only type imports from activities and infrastructure.

const NODE_BUILTINS = ['fs', 'path', 'os', 'child_process', 'net', 'http', 'https', 'crypto', 'worker_threads', 'timers', 'url', 'util', 'events', 'stream'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts', 'governance/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'workflow code must be deterministic: no Node builtins' })),
            ...['ioredis', 'better-sqlite3', 'openai', 'pino', 'fastify'].map((name) => ({ name, message: 'workflow code does no I/O: use an activity' })),
          ],
          patterns: [
            {
              group: ['../activities', '../activities/*', '../lib/*'],
              allowTypeImports: true,
              message: 'only type imports from activities and lib in workflow code',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'workflows cannot read the environment' },
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
      ],
    },
  },
  {
    // The product's lib/ is what the worker and the API run on: dev tooling and tests stand on it, not the reverse.
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../workers/*', '../tests/*', '../devstack/*'], message: 'lib/ is product code: no imports from workers/, tests/ or devstack/' },
          ],
        },
      ],
    },
  },
  {
    // Scripts are run by users and CI: a test fixture they need belongs in devstack/.
    files: ['scripts/**/*.ts', 'bench/**/*.ts', 'devstack/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../tests/*', '../tests/**'], message: 'move what a script needs out of tests/ into devstack/' }] },
      ],
    },
  },
);
