import type { SqlExecutor } from '../../store/index.ts';
import { type MembershipSettings, membershipSettingsSchema } from './schema.ts';

/** The `workspace_settings` key the programme is stored under. */
export const MEMBERSHIP_SETTINGS_KEY = 'membership';

export const defaultMembershipSettings: MembershipSettings = membershipSettingsSchema.parse({});

/** The workspace's programme, or the defaults (1 point per unit, 365-day expiry, no tiers) when none was saved. */
export async function getMembershipSettings(db: SqlExecutor, workspaceId: number): Promise<MembershipSettings> {
  const [row] = await db.query<{ value: unknown }>('SELECT value FROM workspace_settings WHERE workspace_id = $1 AND key = $2', [
    workspaceId,
    MEMBERSHIP_SETTINGS_KEY,
  ]);
  if (!row) return defaultMembershipSettings;
  const value = typeof row.value === 'string' ? JSON.parse(row.value) : row.value;
  // A document saved by an older version may lack newer fields; the schema's defaults fill them.
  const parsed = membershipSettingsSchema.safeParse(value);
  return parsed.success ? parsed.data : defaultMembershipSettings;
}

/** Saves already-validated settings (upsert). */
export async function saveMembershipSettings(
  db: SqlExecutor,
  workspaceId: number,
  settings: MembershipSettings,
  now: number,
): Promise<void> {
  await db.query(
    `INSERT INTO workspace_settings (workspace_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    [workspaceId, MEMBERSHIP_SETTINGS_KEY, JSON.stringify(settings), now],
  );
}
