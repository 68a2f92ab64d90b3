/**
 * The simulated shop's category tree (top > middle > leaf) with the numbers that drive behaviour:
 * price range, repurchase cycle, overall popularity and related leaves (cross-sell).
 *
 * Repurchase cycles follow what the brief's case studies describe: groceries and baby
 * consumables in days to weeks, beauty in weeks, apparel in months, electronics in years.
 */

export type TopCategory = 'Electronics' | 'Apparel' | 'Beauty' | 'Mother & Baby' | 'Groceries' | 'Home' | 'Sports';

export interface LeafCategory {
  /** Full path, "Top > Middle > Leaf". */
  path: string;
  top: TopCategory;
  /** Short slug used in product ids. */
  code: string;
  /** Singular noun used in product names. */
  noun: string;
  /** Typical unit price range (USD). */
  price: [number, number];
  /** Median days until the same buyer needs this again; null when it is not a repeat purchase. */
  cycleDays: number | null;
  /** Relative popularity inside its top category. */
  weight: number;
  brands: readonly string[];
  /** Leaves bought next (phone → earphones, case, charger). */
  related: readonly string[];
  /** Month (1–12) → demand multiplier, for seasonal goods (T-shirts in summer). */
  season?: Partial<Record<number, number>>;
}

const summer = { 5: 1.4, 6: 1.8, 7: 1.9, 8: 1.6, 11: 0.6, 12: 0.5, 1: 0.5, 2: 0.6 };
const winter = { 10: 1.3, 11: 1.6, 12: 1.8, 1: 1.5, 6: 0.6, 7: 0.5, 8: 0.6 };

const phoneBrands = ['Xiaomi', 'Huawei', 'Apple', 'Samsung', 'OPPO', 'vivo', 'Honor'];
const gadgetBrands = ['Anker', 'Ugreen', 'Baseus', 'Sony', 'JBL', 'Xiaomi', 'Edifier'];
const pcBrands = ['Lenovo', 'Dell', 'HP', 'Asus', 'Apple', 'Logitech', 'SanDisk', 'Kingston'];
const fashion = ['Uniqlo', 'Zara', 'H&M', 'Li-Ning', 'Anta', 'Nike', 'Adidas', 'Muji'];
const beauty = ['L\'Oréal', 'Estée Lauder', 'Shiseido', 'Lancôme', 'Perfect Diary', 'Florasis', 'Nivea', 'La Roche-Posay'];
const baby = ['Pampers', 'Huggies', 'Merries', 'Aptamil', 'Feihe', 'Pigeon', 'Philips Avent', 'Lego Duplo'];
const grocery = ['Three Squirrels', 'Nestlé', 'Starbucks', 'Lipton', 'Oatly', 'Lavazza', 'Bestore', 'Dole'];
const home = ['Supor', 'Midea', 'IKEA', 'Tefal', 'Muji', 'Lock&Lock'];
const sports = ['Decathlon', 'Keep', 'Lululemon', 'Nalgene', 'Hydro Flask', 'Li-Ning'];

export const leafCategories: readonly LeafCategory[] = [
  { path: 'Electronics > Phones > Smartphones', top: 'Electronics', code: 'phone', noun: 'Smartphone', price: [179, 1199], cycleDays: 730, weight: 3, brands: phoneBrands, related: ['case', 'earphones', 'charger', 'watch'] },
  { path: 'Electronics > Phones > Phone Cases', top: 'Electronics', code: 'case', noun: 'Phone Case', price: [8, 39], cycleDays: 240, weight: 3, brands: gadgetBrands, related: ['charger'] },
  { path: 'Electronics > Accessories > Earphones', top: 'Electronics', code: 'earphones', noun: 'Earphones', price: [19, 249], cycleDays: 420, weight: 3, brands: gadgetBrands, related: ['case'] },
  { path: 'Electronics > Accessories > Chargers', top: 'Electronics', code: 'charger', noun: 'Charger', price: [12, 59], cycleDays: 400, weight: 2, brands: gadgetBrands, related: [] },
  { path: 'Electronics > Accessories > Smart Watches', top: 'Electronics', code: 'watch', noun: 'Smart Watch', price: [49, 449], cycleDays: 900, weight: 1.5, brands: phoneBrands, related: ['charger'] },
  { path: 'Electronics > Computers > Laptops', top: 'Electronics', code: 'laptop', noun: 'Laptop', price: [399, 2199], cycleDays: 1100, weight: 1.5, brands: pcBrands, related: ['mouse', 'usb'] },
  { path: 'Electronics > Computers > Mice', top: 'Electronics', code: 'mouse', noun: 'Mouse', price: [9, 99], cycleDays: 600, weight: 1.5, brands: pcBrands, related: ['usb'] },
  { path: 'Electronics > Computers > USB Drives', top: 'Electronics', code: 'usb', noun: 'USB Drive', price: [6, 49], cycleDays: 500, weight: 1, brands: pcBrands, related: [] },
  { path: 'Apparel > Women > Dresses', top: 'Apparel', code: 'dress', noun: 'Dress', price: [19, 149], cycleDays: 120, weight: 2.5, brands: fashion, related: ['sneakers'], season: summer },
  { path: 'Apparel > Women > T-Shirts', top: 'Apparel', code: 'wtee', noun: 'Women\'s T-Shirt', price: [7, 39], cycleDays: 90, weight: 2.5, brands: fashion, related: ['dress', 'shorts'], season: summer },
  { path: 'Apparel > Men > T-Shirts', top: 'Apparel', code: 'mtee', noun: 'Men\'s T-Shirt', price: [7, 39], cycleDays: 90, weight: 2.5, brands: fashion, related: ['shorts'], season: summer },
  { path: 'Apparel > Men > Shorts', top: 'Apparel', code: 'shorts', noun: 'Shorts', price: [12, 49], cycleDays: 150, weight: 1.5, brands: fashion, related: ['mtee'], season: summer },
  { path: 'Apparel > Men > Jeans', top: 'Apparel', code: 'jeans', noun: 'Jeans', price: [24, 119], cycleDays: 200, weight: 2, brands: fashion, related: ['sneakers'] },
  { path: 'Apparel > Outerwear > Down Jackets', top: 'Apparel', code: 'down', noun: 'Down Jacket', price: [59, 399], cycleDays: 700, weight: 1.5, brands: fashion, related: [], season: winter },
  { path: 'Apparel > Shoes > Sneakers', top: 'Apparel', code: 'sneakers', noun: 'Sneakers', price: [29, 189], cycleDays: 220, weight: 2, brands: fashion, related: ['mtee', 'wtee'] },
  { path: 'Beauty > Skincare > Moisturisers', top: 'Beauty', code: 'moist', noun: 'Moisturiser', price: [9, 129], cycleDays: 45, weight: 3, brands: beauty, related: ['sunscreen', 'cleanser'] },
  { path: 'Beauty > Skincare > Sunscreen', top: 'Beauty', code: 'sunscreen', noun: 'Sunscreen', price: [8, 45], cycleDays: 60, weight: 2, brands: beauty, related: ['moist'], season: summer },
  { path: 'Beauty > Skincare > Cleansers', top: 'Beauty', code: 'cleanser', noun: 'Cleanser', price: [6, 39], cycleDays: 40, weight: 2, brands: beauty, related: ['moist'] },
  { path: 'Beauty > Makeup > Lipstick', top: 'Beauty', code: 'lipstick', noun: 'Lipstick', price: [9, 49], cycleDays: 75, weight: 2.5, brands: beauty, related: ['foundation'] },
  { path: 'Beauty > Makeup > Foundation', top: 'Beauty', code: 'foundation', noun: 'Foundation', price: [12, 69], cycleDays: 70, weight: 1.5, brands: beauty, related: ['lipstick'] },
  { path: 'Beauty > Hair > Shampoo', top: 'Beauty', code: 'shampoo', noun: 'Shampoo', price: [5, 29], cycleDays: 35, weight: 2, brands: beauty, related: [] },
  { path: 'Mother & Baby > Diapers > Newborn Diapers', top: 'Mother & Baby', code: 'diapers', noun: 'Diapers Pack', price: [15, 45], cycleDays: 14, weight: 3, brands: baby, related: ['formula', 'wipes'] },
  { path: 'Mother & Baby > Diapers > Baby Wipes', top: 'Mother & Baby', code: 'wipes', noun: 'Baby Wipes', price: [4, 15], cycleDays: 12, weight: 2, brands: baby, related: ['diapers'] },
  { path: 'Mother & Baby > Feeding > Infant Formula', top: 'Mother & Baby', code: 'formula', noun: 'Infant Formula', price: [25, 60], cycleDays: 12, weight: 3, brands: baby, related: ['bottle'] },
  { path: 'Mother & Baby > Feeding > Baby Bottles', top: 'Mother & Baby', code: 'bottle', noun: 'Baby Bottle', price: [8, 35], cycleDays: 150, weight: 1.5, brands: baby, related: ['formula'] },
  { path: 'Mother & Baby > Toys > Educational Toys', top: 'Mother & Baby', code: 'toy', noun: 'Educational Toy', price: [9, 89], cycleDays: 90, weight: 1.5, brands: baby, related: [] },
  { path: 'Groceries > Snacks > Nuts', top: 'Groceries', code: 'nuts', noun: 'Mixed Nuts', price: [4, 25], cycleDays: 14, weight: 2.5, brands: grocery, related: ['coffee'] },
  { path: 'Groceries > Beverages > Coffee', top: 'Groceries', code: 'coffee', noun: 'Coffee Beans', price: [7, 35], cycleDays: 21, weight: 2.5, brands: grocery, related: ['nuts', 'oatmilk'] },
  { path: 'Groceries > Beverages > Tea', top: 'Groceries', code: 'tea', noun: 'Tea', price: [5, 49], cycleDays: 30, weight: 1.5, brands: grocery, related: [] },
  { path: 'Groceries > Dairy > Oat Milk', top: 'Groceries', code: 'oatmilk', noun: 'Oat Milk (6 pack)', price: [9, 19], cycleDays: 10, weight: 1.5, brands: grocery, related: ['coffee'] },
  { path: 'Groceries > Fresh > Fruit', top: 'Groceries', code: 'fruit', noun: 'Fruit Box', price: [8, 39], cycleDays: 7, weight: 2, brands: grocery, related: [] },
  { path: 'Home > Kitchen > Cookware', top: 'Home', code: 'cookware', noun: 'Pan', price: [15, 149], cycleDays: 600, weight: 2, brands: home, related: ['storage'] },
  { path: 'Home > Kitchen > Food Storage', top: 'Home', code: 'storage', noun: 'Storage Box Set', price: [6, 39], cycleDays: 300, weight: 1.5, brands: home, related: [] },
  { path: 'Home > Bedding > Pillows', top: 'Home', code: 'pillow', noun: 'Pillow', price: [12, 89], cycleDays: 400, weight: 1.5, brands: home, related: [] },
  { path: 'Sports > Fitness > Yoga Mats', top: 'Sports', code: 'yogamat', noun: 'Yoga Mat', price: [12, 89], cycleDays: 400, weight: 1.5, brands: sports, related: ['bottle-sport'] },
  { path: 'Sports > Outdoor > Water Bottles', top: 'Sports', code: 'bottle-sport', noun: 'Water Bottle', price: [8, 49], cycleDays: 365, weight: 1.5, brands: sports, related: [] },
];

export const topCategories: readonly TopCategory[] = ['Electronics', 'Apparel', 'Beauty', 'Mother & Baby', 'Groceries', 'Home', 'Sports'];

/** Share of all shoppers' attention each top category gets before personal preference. */
export const topPopularity: Readonly<Record<TopCategory, number>> = {
  Electronics: 0.22,
  Apparel: 0.24,
  Beauty: 0.17,
  'Mother & Baby': 0.08,
  Groceries: 0.16,
  Home: 0.08,
  Sports: 0.05,
};

export const leafByCode: ReadonlyMap<string, LeafCategory> = new Map(leafCategories.map((l) => [l.code, l]));
