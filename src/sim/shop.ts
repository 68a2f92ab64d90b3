import type { Progress } from '../cli/progress.ts';
import { DAY } from '../core/clock.ts';
import { buildMember } from './member.ts';
import { buildShopContext, type ShopContext } from './shop-context.ts';
import { simulateMember } from './shopper.ts';
import type { EventSink } from './sinks.ts';

export interface ShopRun {
  seed: number;
  users: number;
  days: number;
  endAt: number;
}

/** The history window: `days` days ending at `endAt`. */
export function shopContextFor(run: ShopRun): ShopContext {
  return buildShopContext(run.seed, run.endAt - run.days * DAY, run.endAt);
}

/**
 * Generates members one by one and hands each one's events to the sink: memory stays flat
 * whatever the number of users (1M users / 50M events stream straight through).
 */
export async function generateShop(ctx: ShopContext, users: number, sink: EventSink, progress: Progress): Promise<void> {
  progress.start('Simulating shop', users);
  const every = Math.max(1, Math.min(1000, Math.floor(users / 100)));
  for (let i = 0; i < users; i++) {
    const member = buildMember(ctx.seed, i, ctx.start, ctx.end);
    await sink.write(simulateMember(ctx, member));
    if ((i + 1) % every === 0) progress.update(i + 1);
  }
  progress.update(users);
  progress.stop();
}
