import { serialQueue } from '../../core/serial-queue.ts';

/**
 * Coupon writes outside journey steps (redeeming, the redemption sync, pool uploads, issuing
 * through the API) run one at a time per store in this process: on DuckDB two transactions
 * updating the same code would otherwise abort one of them. Across PostgreSQL processes, row
 * locks and conditional updates do the same.
 */
export const couponWrites = serialQueue();
