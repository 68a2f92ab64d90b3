import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { printTable } from '../../core/text-table.ts';
// Types only: the CLI starts without loading the messaging code (templates, providers).
import type { ChannelSettings, MessagingSettings, Subscription } from '../../messaging/index.ts';
import { ApiClient, type ServerFlags, serverOptions } from '../api-client.ts';
import { printJson, readJsonFile } from '../json-io.ts';

/** A channel as GET /api/channels lists it. */
type Channel = ChannelSettings & { providers?: string[] };

const rate = (r: number | null) => (r === null ? 'none' : `${r}/s`);

/** `--rate 5` or `--rate none`, checked here: JSON would turn a typo (NaN) into null, i.e. "no limit". */
function parseRate(value: string): number | null {
  if (value === 'none') return null;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new AppError('invalid_request', `--rate must be calls a second (e.g. 10) or "none", not "${value}"`, 'rate');
  }
  return n;
}

export function registerChannels(program: Command) {
  const channels = program
    .command('channels')
    .description('Channel providers: which service sends sms, push, email, … (through the running server)');

  serverOptions(channels.command('list').description('Every channel with its provider (the sandbox until set)'))
    .option('--json', 'print JSON (settings with secrets masked, and the providers each channel may use)')
    .action(async (flags: ServerFlags & { json?: boolean }) => {
      const { channels: list } = await new ApiClient(flags).call<{ channels: Channel[] }>('GET', '/api/channels');
      if (flags.json) return printJson(list);
      printTable(
        list.map((c) => ({
          channel: c.channel,
          provider: c.provider,
          'rate limit': rate(c.ratePerSecond),
          updated: c.updatedAt ? new Date(c.updatedAt).toISOString() : '',
        })),
      );
    });

  serverOptions(
    channels
      .command('set <channel>')
      .description("Set a channel's provider; its settings are replaced whole (`channels list --json` shows each channel's providers)"),
  )
    .requiredOption('--provider <name>', 'e.g. sandbox, twilio, aliyun, fcm, apns, smtp, wechat, webhook, voice_webhook')
    .option('--config <file>', 'the provider settings as a JSON file ("-" for stdin); none: {}')
    .option('--rate <n>', 'at most this many calls a second, or "none" (default: keep the current limit)')
    .action(async (channel: string, flags: ServerFlags & { provider: string; config?: string; rate?: string }) => {
      const config = flags.config === undefined ? {} : readJsonFile(flags.config, '--config');
      const api = new ApiClient(flags);
      // PUT replaces the whole setting: keep the current rate limit unless one is given.
      let ratePerSecond: number | null;
      if (flags.rate !== undefined) ratePerSecond = parseRate(flags.rate);
      else {
        const { channels: list } = await api.call<{ channels: Channel[] }>('GET', '/api/channels');
        ratePerSecond = list.find((c) => c.channel === channel)?.ratePerSecond ?? null;
      }
      const saved = await api.call<Channel>('PUT', `/api/channels/${encodeURIComponent(channel)}`, {
        provider: flags.provider,
        config,
        ratePerSecond,
      });
      console.log(`${saved.channel}: ${saved.provider}, rate limit ${rate(saved.ratePerSecond)}`);
      console.log(`config: ${JSON.stringify(saved.config)}`);
    });
}

interface PersonFlags extends ServerFlags {
  user: string;
  by: string;
  channel: string;
  topic: string;
}

/** The person as PUT /api/subscriptions names them: by user id, anonymous id, or another identity (--by email, phone, …). */
function person(flags: PersonFlags) {
  if (flags.by === 'user_id') return { userId: flags.user };
  if (flags.by === 'anonymous_id') return { anonymousId: flags.user };
  return { identity: { type: flags.by, value: flags.user } };
}

/** subscribe / unsubscribe: one PUT, then every subscription the person has. */
function subscriptionCommand(messaging: Command, name: 'subscribe' | 'unsubscribe', description: string) {
  serverOptions(messaging.command(name).description(description))
    .requiredOption('--user <id>', 'the person (a user id, or the identity --by names)')
    .option('--by <type>', 'identity type of --user (e.g. email, phone)', 'user_id')
    .requiredOption('--channel <channel>', 'sms, push, email, wechat, webhook or voice')
    .option('--topic <topic>', 'a send node topic, or "*" for the whole channel', 'marketing')
    .action(async (flags: PersonFlags) => {
      const { subscriptions } = await new ApiClient(flags).call<{ subscriptions: Subscription[] }>('PUT', '/api/subscriptions', {
        ...person(flags),
        channel: flags.channel,
        topic: flags.topic,
        subscribed: name === 'subscribe',
      });
      const topic = flags.topic === '*' ? 'everything' : flags.topic;
      console.log(`${flags.user}: ${name}d ${name === 'subscribe' ? 'to' : 'from'} ${topic} on ${flags.channel}`);
      for (const s of subscriptions) {
        const when = new Date(s.updatedAt).toISOString();
        console.log(`  ${s.channel} ${s.topic}: ${s.subscribed ? 'subscribed' : 'unsubscribed'} (${s.source}, ${when})`);
      }
    });
}

export function registerMessaging(program: Command) {
  const messaging = program.command('messaging').description('Contact rules and consent (through the running server)');

  serverOptions(messaging.command('settings').description('Print the contact rules, or replace them from a file'))
    .option('--file <path>', 'rules JSON file ("-" for stdin); it replaces them all: fields left out go back to their defaults')
    .action(async (flags: ServerFlags & { file?: string }) => {
      const api = new ApiClient(flags);
      if (flags.file === undefined) return printJson(await api.call<MessagingSettings>('GET', '/api/messaging/settings'));
      const saved = await api.call<MessagingSettings>('PUT', '/api/messaging/settings', readJsonFile(flags.file, 'rules file'));
      console.log('contact rules saved:');
      printJson(saved);
    });

  subscriptionCommand(messaging, 'unsubscribe', 'Opt a person out of a topic (or with --topic "*" the whole channel, even transactional)');
  subscriptionCommand(messaging, 'subscribe', 'Record consent: needed for marketing on channels the rules list in requireConsent');
}
