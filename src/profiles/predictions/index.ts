export {
  type BgNbdFit,
  type BgNbdParams,
  type CustomerSummary,
  expectedNextPurchaseIn,
  expectedPurchases,
  fitBgNbd,
  logLikelihood,
  logLikelihoodAggregated,
  pAlive,
  sampleCustomers,
} from './bgnbd.ts';
export { PAID_ORDER_EVENT } from './customer-summary.ts';
export { BGNBD_MODEL, loadModel, type StoredModel } from './model-store.ts';
export {
  type PersonPrediction,
  predictFor,
  type RefreshPredictionsOptions,
  type RefreshPredictionsResult,
  refreshPredictions,
} from './predictions-job.ts';
export {
  MAX_CATEGORY_DEPTH,
  percentileCont,
  type RepurchaseCycleOptions,
  refreshRepurchaseCycles,
  repurchaseCyclesSql,
} from './repurchase-cycles.ts';
