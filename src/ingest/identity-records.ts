import type { ColumnSpec, SqlExecutor } from '../store/index.ts';
import type { Resolution } from './resolve-identities.ts';

const mergeColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'from_user_key', type: 'bigint' },
  { name: 'into_user_key', type: 'bigint' },
  { name: 'via_type', type: 'text' },
  { name: 'via_value', type: 'text' },
  { name: 'message_id', type: 'text' },
  { name: 'merged_at', type: 'bigint' },
];

const conflictColumns: ColumnSpec[] = [
  { name: 'workspace_id', type: 'int' },
  { name: 'type', type: 'text' },
  { name: 'value', type: 'text' },
  { name: 'owner_user_key', type: 'bigint' },
  { name: 'claimant_user_key', type: 'bigint' },
  { name: 'resolution', type: 'text' },
  { name: 'message_id', type: 'text' },
  { name: 'recorded_at', type: 'bigint' },
];

/** The audit trail of a resolution: its merges and conflicts (API batches and imports alike). */
export async function recordMergesAndConflicts(
  tx: SqlExecutor,
  workspaceId: number,
  r: Pick<Resolution, 'merges' | 'conflicts'>,
  now: number,
): Promise<void> {
  await tx.append(
    'identity_merges',
    mergeColumns,
    r.merges.map((m) => [workspaceId, m.from, m.into, m.via.type, m.via.value, m.messageId, now]),
  );
  await tx.append(
    'identity_conflicts',
    conflictColumns,
    r.conflicts.map((c) => [workspaceId, c.claim.type, c.claim.value, c.owner, c.claimant, 'kept_with_owner', c.messageId, now]),
  );
}
