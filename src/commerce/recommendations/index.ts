/**
 * Product recommendations: strategies and rules computed set-at-a-time in SQL for any number of
 * people (journeys, templates, the API), an item-to-item model built from order history, and the
 * offline evaluation. See docs/recommendations.md.
 */
export {
  defaultEvaluation,
  type EvaluationOptions,
  type EvaluationReport,
  type EvaluationRow,
  evaluateRecommendations,
  formatEvaluation,
} from './evaluate.ts';
export { type PeopleInput, type PersonAt, peopleFromList, triggerProductsOf, triggerProductsSql } from './people.ts';
export { recommendationSql } from './query.ts';
export {
  NO_ONE,
  type Recommended,
  type RecommendOptions,
  recommendFor,
  recommendForPerson,
  similarityFor,
  withDetails,
} from './recommend.ts';
export {
  type ModelState,
  modelStateSchema,
  type RecommendationSpec,
  type RecommendedProduct,
  recommendationRulesShape,
  recommendationSpecSchema,
  recommendedProductSchema,
  type Strategy,
  segmentRequired,
  specFromQuery,
  strategies,
  strategySchema,
} from './schema.ts';
export { buildModel, cooccurrenceSql, modelState } from './similarity.ts';
export { referencedRecommendations, specForTemplateKey, templateCount, templateRecommendations } from './templates.ts';
export { Params, tuning } from './tuning.ts';
