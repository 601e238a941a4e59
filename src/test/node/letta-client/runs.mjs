// Calls callbackd's runs API with Letta's official TypeScript client, as a Letta user would, and reports what came
// back as one JSON line per case on stdout: {"case", "ids"} for a listing, {"case", "run"} for a retrieve,
// {"case", "status", "body"} for a refusal. LettaClientTest starts callbackd, seeds the runs, runs this script and
// checks every line.
//
// Usage: node runs.mjs <baseURL> <apiKey> <case.json>, where case.json holds
// {"retrieve": "<run id>", "cursor": "<run id>", "conversation": "<id>", "unknown": "<id no run has>"}.
import { readFileSync } from 'node:fs';
import Letta from '@letta-ai/letta-client';

const [baseURL, apiKey, casesFile] = process.argv.slice(2);
const given = JSON.parse(readFileSync(casesFile, 'utf8'));
const client = new Letta({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });

function report(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** One page: the array the server answered, as the client hands it over. */
async function page(name, query) {
  const result = await client.runs.list(query);
  report({ case: name, ids: result.getPaginatedItems().map((run) => run.id) });
}

/** Every run, page after page, as the client's async iterator follows the cursors. */
async function all(name, query) {
  const ids = [];
  for await (const run of client.runs.list(query)) {
    ids.push(run.id);
  }
  report({ case: name, ids });
}

async function refused(name, call) {
  try {
    await call();
    report({ case: name, status: 200 });
  } catch (err) {
    report({ case: name, status: err.status ?? null, body: err.error ?? null, type: err.constructor.name });
  }
}

const run = await client.runs.retrieve(given.retrieve);
report({ case: 'retrieve', run });

await page('default', {});
await page('agent_id', { agent_id: 'agent-a' });
await page('agent_ids', { agent_ids: ['agent-b', 'agent-c'] });
await page('agent_id_wins', { agent_id: 'agent-c', agent_ids: ['agent-a'] });
await page('statuses', { statuses: ['completed', 'failed'] });
await page('one_status', { statuses: ['running'] });
await page('active', { active: true });
await page('active_with_statuses', { active: true, statuses: ['cancelled'] });
await page('background', { background: true });
await page('not_background', { background: false });
await page('stop_reason', { stop_reason: 'end_turn' });
await page('conversation_id', { conversation_id: given.conversation });
await page('order_asc', { order: 'asc', order_by: 'created_at' });
await page('ascending', { ascending: true, order: 'desc' });
await page('limit', { limit: 3 });
await page('after', { after: given.cursor, limit: 2 });
await page('before', { before: given.cursor, limit: 2 });
await page('after_asc', { after: given.cursor, order: 'asc', limit: 2 });
await page('combined', { agent_id: 'agent-b', statuses: ['completed', 'created'], order: 'asc' });
await all('all_pages', { limit: 2 });
await all('all_pages_asc', { limit: 3, order: 'asc' });
await all('all_pages_before', { limit: 2, before: given.cursor });

await refused('unknown_run', () => client.runs.retrieve(given.unknown));
await refused('bad_status', () => client.runs.list({ statuses: ['finished'] }));
await refused('bad_limit', () => client.runs.list({ limit: 0 }));
await refused('bad_stop_reason', () => client.runs.list({ stop_reason: 'tired' }));
await refused('unknown_cursor', () => client.runs.list({ after: given.unknown }));
