import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Orchestrator code is replayed: anything that reads the clock, randomness or does I/O
// would diverge between replays, so it is forbidden under orchestrations/.
const nonDeterministic = [
  {
    selector: "NewExpression[callee.name='Date']",
    message: 'Use context.df.currentUtcDateTime in orchestrations.',
  },
  {
    selector: "MemberExpression[object.name='Date'][property.name='now']",
    message: 'Use context.df.currentUtcDateTime in orchestrations.',
  },
  {
    selector: "MemberExpression[object.name='Math'][property.name='random']",
    message: 'Use context.df.newGuid in orchestrations.',
  },
  {
    selector: "MemberExpression[object.name='crypto']",
    message: 'No randomness in orchestrations.',
  },
  {
    selector: "MemberExpression[object.name='process']",
    message: 'No environment access in orchestrations.',
  },
  {
    selector: "CallExpression[callee.name='setTimeout']",
    message: 'Use context.df.createTimer in orchestrations.',
  },
  {
    selector: "CallExpression[callee.name='setInterval']",
    message: 'Use context.df.createTimer in orchestrations.',
  },
  {
    selector: "CallExpression[callee.name='fetch']",
    message: 'Do I/O in activities, not orchestrations.',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.haven/**', 'bin/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@azure/*', 'durable-functions', '../adapters/*', '../../adapters/*'],
              message: 'core/ holds domain logic with no Azure SDK imports.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['orchestrations/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...nonDeterministic],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'fs',
            'node:fs',
            'fs/promises',
            'node:fs/promises',
            'net',
            'node:net',
            'http',
            'node:http',
            'https',
            'node:https',
            'child_process',
            'node:child_process',
            'crypto',
            'node:crypto',
            'os',
            'node:os',
          ].map((name) => ({ name, message: 'No I/O in orchestrations.' })),
          patterns: [
            {
              group: ['**/adapters/**', '@azure/*'],
              message: 'Orchestrations call activities; they do not touch adapters or SDKs.',
            },
          ],
        },
      ],
    },
  },
);
