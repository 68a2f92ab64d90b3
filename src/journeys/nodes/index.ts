import type { HandlerRegistry } from '../step-context.ts';
import { conditionHandler } from './condition.ts';
import { couponHandler } from './coupon.ts';
import { entryHandler } from './entry.ts';
import { exitHandler } from './exit.ts';
import { recommendHandler } from './recommend.ts';
import { sendHandler } from './send.ts';
import { splitHandler } from './split.ts';
import { updateTraitHandler } from './update-trait.ts';
import { waitHandler } from './wait.ts';
import { waitForEventHandler } from './wait-for-event.ts';
import { webhookHandler } from './webhook.ts';

/** Every node type's handler. */
export const handlers: HandlerRegistry = {
  entry: entryHandler,
  wait: waitHandler,
  wait_for_event: waitForEventHandler,
  condition: conditionHandler,
  split: splitHandler,
  send: sendHandler,
  coupon: couponHandler,
  recommend: recommendHandler,
  update_trait: updateTraitHandler,
  webhook: webhookHandler,
  exit: exitHandler,
};
