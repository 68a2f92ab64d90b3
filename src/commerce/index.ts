export {
  type CatalogProduct,
  getProduct,
  listProducts,
  type Product,
  productSchema,
  productsBodySchema,
  splitCategory,
  upsertProducts,
} from './catalog.ts';
