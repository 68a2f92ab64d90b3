import { z } from 'zod';

/** The pieces every OpenAPI section (openapi-*.ts) builds its components and paths from. */

/** A zod schema as JSON Schema: what a request may send (`input`) or what an answer holds (`output`). */
export const schema = (s: z.ZodType, io: 'input' | 'output' = 'input') => z.toJSONSchema(s, { io, unrepresentable: 'any' });

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** A JSON body of a named component. */
export const json = (name: string) => ({ content: { 'application/json': { schema: ref(name) } } });

/** Path or query parameters from a zod object schema. */
export function params(s: z.ZodObject, where: 'path' | 'query') {
  const js = schema(s) as { properties: Record<string, { description?: string }>; required?: string[] };
  return Object.entries(js.properties).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required?.includes(name) ?? false),
    schema: p,
    description: p.description,
  }));
}
