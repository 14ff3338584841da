// Lint rules carry their reason; the type checker does the heavy lifting (npm run typecheck).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.data/**', '.infra/**', '.tmp/**', 'artifacts/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // Unused names hide half-finished refactors; a leading underscore marks an intentional one.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `any` turns off the checker exactly where external input enters; use unknown + zod.
      '@typescript-eslint/no-explicit-any': 'error',
      // Config is parsed once in main.ts (CONVENTIONS 4); process.env deep in the code hides inputs.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration through @platform/config, passed down from main.ts.' }],
      // Focused or skipped tests must never land on main.
      'no-restricted-syntax': ['error',
        { selector: "CallExpression[callee.object.name=/^(it|test|describe)$/][callee.property.name=/^(only|skip)$/]", message: 'No focused or skipped tests on main.' }],
    },
  },
  {
    // Entry points, infra and test harnesses are where the environment is read.
    files: ['**/main.ts', 'platform/src/cli.ts', 'scripts/**', 'infra/**', '**/test/**', 'e2e/**', 'bench/**', 'libs/config/src/**', 'platform/bin/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
