import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { printTable } from '../../core/text-table.ts';
// Types only: the CLI starts without loading the messaging code.
import type { TemplateDefinition } from '../../messaging/index.ts';
import { ApiClient, type ServerFlags, serverOptions } from '../api-client.ts';
import { printJson, readJsonFile } from '../json-io.ts';

type Template = TemplateDefinition & { updatedAt?: number };

const path = (name: string) => `/api/templates/${encodeURIComponent(name)}`;

/** `--event '{"order_id":"o-1"}'`: a JSON object, checked here so a typo is named as the flag. */
function jsonObjectFlag(value: string | undefined, flag: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new AppError('invalid_request', `--${flag} must be a JSON object, e.g. '{"order_id":"o-1"}'`, flag);
}

/**
 * `shopflow templates …`: the message templates journeys send, through the running server — list
 * them, read one, save one from a file, and see one rendered for a real person before a journey
 * sends it (docs/templates.md).
 */
export function registerTemplates(program: Command) {
  const templates = program
    .command('templates')
    .description('Message templates: list, show, set, preview, delete (through the running server)');

  serverOptions(templates.command('list').description('Every template with its channel'))
    .option('--channel <channel>', 'only this channel (sms, email, push, wechat, webhook, voice)')
    .option('--json', 'print JSON (with the templates’ fields)')
    .action(async (flags: ServerFlags & { channel?: string; json?: boolean }) => {
      const query = flags.channel ? `?channel=${encodeURIComponent(flags.channel)}` : '';
      const { templates: list } = await new ApiClient(flags).call<{ templates: Template[] }>('GET', `/api/templates${query}`);
      if (flags.json) return printJson(list);
      printTable(
        list.map((t) => ({
          name: t.name,
          channel: t.channel,
          fields: Object.keys(t.fields).join(', '),
          updated: t.updatedAt ? new Date(t.updatedAt).toISOString() : '',
        })),
      );
    });

  serverOptions(templates.command('show <name>').description('A template as JSON (what `set --file` takes)')).action(
    async (name: string, flags: ServerFlags) => printJson(await new ApiClient(flags).call<Template>('GET', path(name))),
  );

  serverOptions(templates.command('set <name>').description('Save a template from a JSON file: create it, or replace it whole'))
    .requiredOption('--file <path>', 'the template as JSON: {"channel": "sms", "fields": {"text": "…"}} ("-" for stdin)')
    .action(async (name: string, flags: ServerFlags & { file: string }) => {
      const body = { ...(readJsonFile(flags.file, 'template') as Record<string, unknown>), name };
      const api = new ApiClient(flags);
      const exists = (await api.raw('GET', path(name))).ok;
      const saved = exists ? await api.call<Template>('PUT', path(name), body) : await api.call<Template>('POST', '/api/templates', body);
      console.log(`template "${saved.name}" (${saved.channel}) ${exists ? 'replaced' : 'created'}`);
    });

  serverOptions(templates.command('preview <name>').description('Render a template for a real person, as a journey would send it'))
    .option('--user <userId>', 'the person (user id)')
    .option('--email <email>', 'or the person by e-mail')
    .option('--phone <phone>', 'or the person by phone')
    .option('--event <json>', 'properties of a made-up triggering event (`event` in the template)')
    .option('--coupon <json>', 'a made-up coupon (`coupon` in the template), e.g. \'{"code":"SAVE10","value":10}\'')
    .option('--products <ids>', 'comma-separated catalog product ids (`products` in the template)')
    .option('--json', 'print JSON (with the context the template saw)')
    .action(
      async (
        name: string,
        flags: ServerFlags & {
          user?: string;
          email?: string;
          phone?: string;
          event?: string;
          coupon?: string;
          products?: string;
          json?: boolean;
        },
      ) => {
        const person = flags.user
          ? { userId: flags.user }
          : flags.email
            ? { identity: { type: 'email', value: flags.email } }
            : flags.phone
              ? { identity: { type: 'phone', value: flags.phone } }
              : null;
        if (!person) throw new AppError('invalid_request', 'name the person: --user, --email or --phone', 'user');
        const event = jsonObjectFlag(flags.event, 'event');
        const coupon = jsonObjectFlag(flags.coupon, 'coupon');
        const products = flags.products
          ?.split(',')
          .map((p) => p.trim())
          .filter(Boolean);
        const rendered = await new ApiClient(flags).call<{ fields: Record<string, unknown>; context?: unknown }>(
          'POST',
          `${path(name)}/preview`,
          {
            ...person,
            ...(event ? { event } : {}),
            ...(coupon ? { coupon } : {}),
            ...(products?.length ? { products } : {}),
          },
        );
        if (flags.json) return printJson(rendered);
        for (const [field, value] of Object.entries(rendered.fields)) {
          console.log(`${field}:`);
          console.log(`  ${(typeof value === 'string' ? value : JSON.stringify(value)).replaceAll('\n', '\n  ')}`);
        }
      },
    );

  serverOptions(templates.command('delete <name>').description('Delete a template')).action(async (name: string, flags: ServerFlags) => {
    await new ApiClient(flags).call('DELETE', path(name));
    console.log(`template "${name}" deleted`);
  });
}
