import { journeyDefinitionSchema, messagesOf } from '../src/journeys/index.ts';
import { createTemplate, getTemplate, type TemplateDefinition } from '../src/messaging/index.ts';
import type { Store } from '../src/store/index.ts';

/** A template of one line for `channel` (the sandbox takes any: an sms one), for tests that do not read what a message says. */
export function plainTemplate(name: string, channel: string): TemplateDefinition {
  const text = `{{ person.traits.firstName | default: "Hi" }}, ${name}`;
  switch (channel) {
    case 'push':
      return { name, channel, fields: { title: name, body: text } };
    case 'email':
      return { name, channel, fields: { subject: name, html: `<p>${text}</p>`, text } };
    case 'wechat':
      return { name, channel, fields: { kind: 'template', templateId: 'T1', data: { first: text } } };
    case 'webhook':
      return { name, channel, fields: { body: `{"text": {{ "${name}" }}}` } };
    case 'voice':
      return { name, channel, fields: { script: text } };
    default:
      return { name, channel: 'sms', fields: { text } };
  }
}

/**
 * Publishing refuses a journey that sends with a template the workspace lacks: this creates a
 * plain one for each such template of `definition` (a template the test made itself is kept).
 */
export async function addMissingTemplates(store: Store, workspaceId: number, definition: unknown, now: number): Promise<void> {
  const def = journeyDefinitionSchema.parse(definition);
  for (const m of def.nodes.flatMap(messagesOf)) {
    if (await getTemplate(store, workspaceId, m.template)) continue;
    await createTemplate(store, workspaceId, plainTemplate(m.template, m.channel), now);
  }
}
