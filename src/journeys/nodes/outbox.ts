import { jsonObject, type SqlParam } from '../../store/index.ts';
import type { StepContext } from '../step-context.ts';

export interface OutboxInsert {
  action: 'message' | 'coupon' | 'recommend' | 'webhook';
  nodeId: string;
  channel: string | null;
  template: string | null;
  /** (property, SQL over `r` and `x`) pairs of the payload. */
  payload: (readonly [string, string])[];
  /** Extra FROM items after `ready r` (e.g. a joined derived table `x`). */
  join?: string;
  /** The values of `$1`… in `payload` and `join`; insertOutbox numbers its own after them. */
  params?: readonly SqlParam[];
  /** Order and service notices: exempt from caps, quiet hours and consent (not from hard opt-outs). */
  transactional?: boolean;
}

/**
 * The idempotency key of what an instance does at a node, as SQL over `r`: workspace-unique and
 * deterministic (journey, version, instance, node, step), so a step that is retried after a crash
 * can never queue a second message — the unique index on it would refuse one.
 */
export function messageKeySql(ctx: StepContext, nodeParam: string): string {
  return `'j' || ${Number(ctx.journeyId)} || '.v' || ${Number(ctx.version)} || '.i' || r.instance_id || '.' || ${nodeParam} || '.s' || (r.step_no + 1)`;
}

/**
 * Queues one outbox row per ready instance, except the holdout (enrolled, tracked, sent nothing).
 * The dispatcher (messaging) delivers the messages and webhook calls.
 */
export async function insertOutbox(ctx: StepContext, o: OutboxInsert): Promise<void> {
  const params = [...(o.params ?? [])];
  const p = (v: SqlParam) => {
    params.push(v);
    return `$${params.length}`;
  };
  const node = `CAST(${p(o.nodeId)} AS TEXT)`;
  // A coupon is issued by being written here; everything else waits for the dispatcher.
  const status = o.action === 'coupon' ? 'issued' : 'queued';
  const payload = jsonObject(ctx.dialect, [...o.payload, ['trigger', 'r.trigger_props']]);
  await ctx.tx.query(
    `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload,
       status, transactional, attempts, created_at)
     SELECT ${p(ctx.workspaceId)}, ${messageKeySql(ctx, node)}, ${p(ctx.journeyId)}, ${p(ctx.version)}, r.instance_id, ${node}, r.user_key,
       ${p(o.action)}, ${p(o.channel)}, ${p(o.template)}, ${payload}, ${p(status)}, ${o.transactional ? 'TRUE' : 'FALSE'}, 0, ${p(ctx.now)}
     FROM ready r ${o.join ?? ''} WHERE NOT r.holdout`,
    params,
  );
}
