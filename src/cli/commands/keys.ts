import type { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { createWorkspace, rotateAdminKey } from '../../workspaces/index.ts';
import { configFrom, openConfiguredStore, type StoreFlags } from '../open.ts';

interface KeysFlags extends StoreFlags {
  workspace: string;
  json?: boolean;
  server?: string;
  adminKey?: string;
}

/** Creates the workspace through a running server (needed while it holds the DuckDB file). */
async function createThroughServer(flags: KeysFlags) {
  if (!flags.adminKey) throw new AppError('invalid_request', '--server needs --admin-key (any existing admin key)', 'admin-key');
  const res = await fetch(new URL('/api/workspaces', flags.server), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${flags.adminKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: flags.workspace }),
  });
  const body = (await res.json()) as {
    workspace: string;
    writeKey: string;
    adminKey: string;
    message?: string;
  };
  if (!res.ok) throw new AppError('invalid_request', `server refused: ${body.message ?? res.status}`, 'server');
  return body;
}

export function registerKeys(program: Command) {
  const keys = program.command('keys').description('Workspace keys (run with the server stopped on DuckDB; any time on PostgreSQL)');
  const print = (flags: KeysFlags, k: { workspace: string; writeKey: string; adminKey: string }) => {
    if (flags.json)
      console.log(
        JSON.stringify({
          workspace: k.workspace,
          writeKey: k.writeKey,
          adminKey: k.adminKey,
        }),
      );
    else
      console.log(`workspace: ${k.workspace}\nwrite key: ${k.writeKey}\nadmin key: ${k.adminKey}  (shown once; only its hash is stored)`);
  };
  for (const [name, description, action] of [
    ['create', 'Create a workspace and print its write and admin keys', createWorkspace],
    [
      'rotate',
      'Issue a new admin key for a workspace (the old one stops working)',
      (s: Parameters<typeof rotateAdminKey>[0], n: string) => rotateAdminKey(s, n),
    ],
  ] as const) {
    keys
      .command(name)
      .description(description)
      .option('--workspace <name>', 'workspace name', 'default')
      .option('--data <dir>', 'data folder of the embedded store')
      .option('--store <url>', 'postgres://… to use PostgreSQL')
      .option('--json', 'print {"workspace","writeKey","adminKey"} as JSON')
      .option('--server <url>', 'create through a running server instead (create only), e.g. http://localhost:3000')
      .option('--admin-key <key>', 'an admin key of that server (with --server)')
      .action(async (flags: KeysFlags) => {
        if (flags.server) {
          if (name !== 'create') throw new AppError('invalid_request', '--server works with keys create only', 'server');
          print(flags, await createThroughServer(flags));
          return;
        }
        const store = await openConfiguredStore(configFrom(flags), { writesEvents: false });
        try {
          print(flags, await action(store, flags.workspace, systemClock.now()));
        } finally {
          await store.close();
        }
      });
  }
}
