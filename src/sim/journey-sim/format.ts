import { sparkline } from '../../core/text-chart.ts';
import { textTable } from '../../core/text-table.ts';
import { describeLift } from '../../journeys/lift.ts';
import type { JourneyReport, SimulationReport } from './report.ts';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const money = (n: number) =>
  `${n < 0 ? '−' : ''}$${Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const pct = (r: number | null) => (r === null ? '–' : `${(r * 100).toFixed(1)}%`);

function journeyLines(j: JourneyReport): string[] {
  const lines = [`Journey ${j.journeyId} "${j.name}" (${j.file})`];
  const split = j.holdout ? ` (test ${int(j.test.entered)}, holdout ${int(j.holdout.entered)})` : '';
  lines.push(
    `  entered ${int(j.entered)}${split} · converted ${int(j.converted)} · revenue ${money(j.revenue)} · ` +
      `still in the journey ${int(j.active)} · completed ${int(j.completed)} · exited ${int(j.exited)}`,
  );
  if (j.holdout) {
    lines.push(
      `  conversion: test ${pct(j.test.conversionRate)} (${j.test.converted}/${j.test.entered}), ` +
        `holdout ${pct(j.holdout.conversionRate)} (${j.holdout.converted}/${j.holdout.entered}); holdout messages: ${j.holdout.messages}`,
    );
    const l = j.lift;
    if (l) {
      lines.push(`  lift: ${describeLift(l)}`);
      lines.push(
        `        estimated incremental: ${l.incrementalConversions.toFixed(1).replace('-', '−')} conversions, ${money(l.incrementalRevenue)} revenue`,
      );
    }
  } else {
    lines.push(`  conversion: ${pct(j.test.conversionRate)} (no holdout: lift cannot be measured)`);
  }
  lines.push(
    `  orders caused by messages (simulator ground truth): ${int(j.messageDrivenOrders.orders)}, ${money(j.messageDrivenOrders.revenue)}`,
  );
  lines.push(...dailyLines(j));
  const outbox = Object.entries(j.outbox);
  lines.push(`  outbox: ${outbox.length ? outbox.map(([a, n]) => `${a} ${int(n)}`).join(', ') : 'nothing queued'}`);
  const channels = Object.entries(j.channels);
  if (channels.length > 0) {
    lines.push(
      ...textTable(
        ['channel', 'sent', 'unreachable', 'delivered', 'opened', 'clicked', 'orders', 'revenue', 'unsubscribed'],
        channels.map(([ch, c]) => [
          ch,
          c.sent,
          c.unreachable,
          c.delivered,
          c.opened,
          c.clicked,
          c.orders,
          money(c.revenue),
          c.unsubscribed,
        ]),
        { indent: '  ' },
      ),
    );
  }
  const c = j.coupons;
  if (c.issued > 0) {
    lines.push(
      `  coupons: ${int(c.issued)} issued (${money(c.faceValue)} face value); used after a message ${c.usedAfterMessage}, ` +
        `on orders placed anyway ${c.usedOnOwnOrders}; discount given ${money(c.discountGiven)}`,
    );
  }
  lines.push('  nodes:');
  lines.push(
    ...textTable(
      ['node', 'type', 'passed', 'waiting', 'branches'],
      j.nodes.map((n) => [
        n.id,
        n.type,
        n.passed,
        n.current,
        Object.entries(n.branches)
          .map(([b, k]) => `${b} ${k}`)
          .join(', '),
      ]),
      { indent: '    ' },
    ),
  );
  return lines;
}

/** Entries and conversions per simulated day as sparklines, one character a day, each line on its own scale. */
function dailyLines(j: JourneyReport): string[] {
  const d = j.daily;
  const series: [string, number[]][] = [
    ['entered', d.entered],
    ['converted', d.converted],
    ...(j.holdout
      ? ([
          ['holdout entered', d.holdoutEntered],
          ['holdout converted', d.holdoutConverted],
        ] as [string, number[]][])
      : []),
  ];
  const width = Math.max(...series.map(([label]) => label.length));
  return [
    `  per day (${d.entered.length} days, one character a day; test group${j.holdout ? ' and holdout apart' : ''}):`,
    ...series.map(([label, values]) => `    ${label.padEnd(width)}  |${sparkline(values)}|  most ${int(Math.max(0, ...values))} a day`),
  ];
}

/** The report as text for a terminal. */
export function formatReport(r: SimulationReport): string {
  const s = r.settings;
  const lines = [
    `Simulated ${s.days} days (${s.start.slice(0, 16)}Z → ${s.end.slice(0, 16)}Z, step ${s.step}) of ${int(r.shop.people)} shoppers ` +
      `with ${s.historyDays} days of history, seed ${s.seed}, on ${s.engine}: ${r.steps} steps in ${r.seconds} s`,
    `shop: ${int(r.shop.historyEvents)} history events; during the run ${int(r.shop.organicEvents)} organic and ` +
      `${int(r.shop.responseEvents)} response events (${int(r.shop.pendingResponses)} responses fall after the end)`,
  ];
  for (const j of r.journeys) lines.push('', ...journeyLines(j));
  if (r.warnings.length > 0) lines.push('', `warnings (${r.warnings.length}):`, ...r.warnings.map((w) => `  ${w}`));
  lines.push(
    '',
    `wall time ${r.seconds} s: ${Object.entries(r.timing)
      .map(([phase, s]) => `${phase} ${s} s`)
      .join(', ')}`,
  );
  return lines.join('\n');
}
