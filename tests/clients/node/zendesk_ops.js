// node-zendesk, unmodified, against carteiro's Zendesk simulator: every
// operation carteiro uses, plus search, users/search and cursor pages, each
// checked against the status and shape Zendesk documents or was recorded
// answering. Run by tests/it/third_party_client.rs:
//
//   node zendesk_ops.js http://127.0.0.1:PORT
//
// The simulator is seeded with seed.json beside this file. Prints one
// `ok NAME` or `FAIL NAME: why` line per operation and ends with
// `N passed, N failed`; exits 1 when any failed.
'use strict';

const assert = require('node:assert/strict');
const {Readable} = require('node:stream');
const zendesk = require('node-zendesk');
const seed = require('./seed.json');

const base = process.argv[2];
if (!base) {
  console.error('usage: node zendesk_ops.js http://127.0.0.1:PORT');
  process.exit(2);
}

// endpointUri replaces https://{subdomain}.zendesk.com/api/v2. node-zendesk
// follows a `links.next`/`next_page` URL only when it contains this string,
// so the simulator's links must be built from the Host it was called on.
const options = {
  username: 'agente@empresa.example',
  token: 'test-token',
  endpointUri: `${base}/api/v2`,
  throwOriginalException: true,
};
const client = zendesk.createClient(options);
// Help Center resources use endpointUri as given, so they get their own.
const helpCenter = zendesk.createClient({...options, endpointUri: `${base}/api/v2/help_center`});
// The library's generic request on a resource whose unwrapping (its
// jsonAPINames, ["settings"]) never applies here: the whole body comes back.
const whole = (path) => client.accountsettings.get(path);

const maria = seed.users.find((u) => u.email === 'maria@cliente.example');
const agent = seed.users.find((u) => u.email === options.username);
const support = seed.groups[0];
const validation = seed.custom_statuses.find((s) => s.agent_label === 'Validação Cliente');
const cnpj = seed.ticket_fields.find((f) => f.title === 'CNPJ');

// Every key of a ticket Zendesk answered in 2023-2024 (zenpy's recordings,
// tests/fixtures/zendesk/ticket_create.json).
const TICKET_KEYS = [
  'url', 'id', 'external_id', 'via', 'created_at', 'updated_at', 'type', 'subject', 'raw_subject',
  'description', 'priority', 'status', 'recipient', 'requester_id', 'submitter_id', 'assignee_id',
  'organization_id', 'group_id', 'collaborator_ids', 'follower_ids', 'email_cc_ids', 'forum_topic_id',
  'problem_id', 'has_incidents', 'is_public', 'due_at', 'tags', 'custom_fields', 'satisfaction_rating',
  'sharing_agreement_ids', 'custom_status_id', 'fields', 'followup_ids', 'ticket_form_id', 'brand_id',
  'allow_channelback', 'allow_attachments', 'from_messaging_channel',
];

const operations = [];
const operation = (name, run) => operations.push({name, run});

/** Awaits a call that must fail with `status`; returns Zendesk's error body. */
async function refused(call, status) {
  let error;
  try {
    await call;
  } catch (error_) {
    error = error_;
  }
  assert.ok(error, `expected HTTP ${status}, the call succeeded`);
  assert.equal(error.statusCode, status, `${error.message} ${JSON.stringify(error.result)}`);
  return error.result;
}

const ids = (records) => records.map((r) => r.id);
const byId = (a, b) => a - b;

// What one operation hands the next.
const made = {};

operation('tickets.create (inline requester, tags, custom field)', async () => {
  const {response, result: ticket} = await client.tickets.create({ticket: {
    subject: 'Impressora fiscal não imprime',
    comment: {body: 'O cupom sai em branco desde ontem.'},
    requester: {email: 'joao@cliente.example', name: 'João Lima'},
    tags: ['impressora', 'vip'],
    custom_fields: [{id: cnpj.id, value: '12.345.678/0001-95'}],
    external_id: 'mail-<abc@cliente.example>',
  }});
  assert.equal(response.status, 201);
  assert.equal(response.headers.get('location'), ticket.url);
  assert.equal(ticket.status, 'new');
  assert.deepEqual(ticket.tags, ['impressora', 'vip']);
  assert.deepEqual(ticket.fields, ticket.custom_fields, 'fields mirrors custom_fields');
  assert.deepEqual(ticket.custom_fields, [{id: cnpj.id, value: '12.345.678/0001-95'}]);
  made.ticket = ticket;
});

operation('tickets.show (every recorded key)', async () => {
  const {response, result: ticket} = await client.tickets.show(made.ticket.id);
  assert.equal(response.status, 200);
  assert.deepEqual(TICKET_KEYS.filter((k) => !(k in ticket)), [], 'missing keys');
  assert.equal(ticket.subject, 'Impressora fiscal não imprime');
  assert.equal(ticket.from_messaging_channel, false);
  assert.equal(typeof ticket.custom_status_id, 'number');
});

operation('tickets.update with safe_update and updated_stamp', async () => {
  const {response, result: ticket} = await client.tickets.update(made.ticket.id, {ticket: {
    status: 'open',
    assignee_id: agent.id,
    group_id: support.id,
    comment: {body: 'Pedimos o modelo da impressora.', public: false},
    safe_update: true,
    updated_stamp: made.ticket.updated_at,
  }});
  assert.equal(response.status, 200);
  assert.equal(ticket.status, 'open');
  assert.equal(ticket.assignee_id, agent.id);
  assert.notEqual(ticket.updated_at, made.ticket.updated_at);
  made.stale = made.ticket.updated_at;
  made.ticket = ticket;
});

operation('tickets.update with a stale updated_stamp is a 409', async () => {
  const body = await refused(client.tickets.update(made.ticket.id, {ticket: {
    status: 'pending', safe_update: true, updated_stamp: made.stale,
  }}), 409);
  assert.equal(body.error, 'UpdateConflict');
  const {result: ticket} = await client.tickets.show(made.ticket.id);
  assert.equal(ticket.status, 'open', 'a refused write changes nothing');
});

operation('tickets.update to a custom status', async () => {
  const {result: ticket} = await client.tickets.update(made.ticket.id, {ticket: {
    custom_status_id: validation.id, safe_update: true, updated_stamp: made.ticket.updated_at,
  }});
  assert.equal(ticket.status, 'pending');
  assert.equal(ticket.custom_status_id, validation.id);
  made.ticket = ticket;
});

operation('custom statuses list (generic request: node-zendesk 6.0.1 has no resource for it)', async () => {
  const {result} = await whole(['custom_statuses']);
  const labels = result.custom_statuses.map((s) => s.agent_label);
  assert.ok(labels.includes('Validação Cliente'), labels.join(', '));
  for (const category of ['new', 'open', 'pending', 'hold', 'solved']) {
    assert.ok(result.custom_statuses.some((s) => s.status_category === category && s.default),
      `a default ${category} status`);
  }
});

operation('ticketfields.list', async () => {
  const fields = await client.ticketfields.list();
  assert.deepEqual(ids(fields), [cnpj.id]);
});

operation('tickets.addTags (PUT adds)', async () => {
  const pages = await client.tickets.addTags(made.ticket.id, {tags: ['urgente']});
  assert.equal(pages.length, 1);
  assert.deepEqual(pages[0].tags.sort(), ['impressora', 'urgente', 'vip']);
});

operation('tickets.updateTags (POST sets, 201)', async () => {
  const pages = await client.tickets.updateTags(made.ticket.id, {tags: ['garantia', 'vip']});
  assert.deepEqual(pages, [{tags: ['garantia', 'vip']}]);
  const {response} = await client.tickets.post(['tickets', made.ticket.id, 'tags'], {tags: ['garantia', 'vip']});
  assert.equal(response.status, 201);
});

operation('remove tags (DELETE with a body)', async () => {
  const {response, result} = await client.tickets.request('DELETE', ['tickets', made.ticket.id, 'tags'],
    {tags: ['garantia']});
  assert.equal(response.status, 200);
  assert.deepEqual(result, {tags: ['vip']});
});

operation('uploads, then a comment that attaches the upload', async () => {
  const upload = await client.attachments.upload(Readable.from([Buffer.from('modelo MP-4200 TH')]),
    {filename: 'modelo.txt', binary: true});
  assert.equal(typeof upload.upload.token, 'string');
  assert.equal(upload.upload.attachment.file_name, 'modelo.txt');
  const {result: ticket} = await client.tickets.update(made.ticket.id, {ticket: {
    comment: {body: 'Segue o modelo.', uploads: [upload.upload.token]},
  }});
  made.ticket = ticket;
  const comments = await client.tickets.getComments(ticket.id);
  assert.deepEqual(comments.at(-1).attachments.map((a) => a.file_name), ['modelo.txt']);
});

operation('tickets.getComments (offset pages)', async () => {
  const comments = await client.tickets.getComments(made.ticket.id);
  assert.deepEqual(comments.map((c) => c.public), [true, false, true]);
  assert.equal(comments[0].body, 'O cupom sai em branco desde ontem.');
});

operation('comments by cursor, one per page, to the empty page', async () => {
  const comments = await client.tickets.getAll(['tickets', made.ticket.id, 'comments', {page: {size: 1}}]);
  assert.equal(comments.length, 3);
});

operation('tickets.exportAudit (audits, offset pages)', async () => {
  const audits = await client.tickets.exportAudit(made.ticket.id);
  assert.ok(audits.length >= 6, `${audits.length} audits`);
  assert.deepEqual(audits.map((a) => a.ticket_id), audits.map(() => made.ticket.id));
  const created = audits[0].events.find((e) => e.type === 'Comment');
  assert.equal(created.body, 'O cupom sai em branco desde ontem.');
});

operation('audits by cursor, two per page, through several pages', async () => {
  const all = await client.tickets.exportAudit(made.ticket.id);
  const paged = await client.tickets.getAll(['tickets', made.ticket.id, 'audits', {page: {size: 2}}]);
  assert.deepEqual(ids(paged), ids(all));
});

operation('tickets.createMany and jobstatuses.watch', async () => {
  const tickets = Array.from({length: 100}, (_, n) => ({
    subject: `Lote ${n}`,
    comment: {body: `Pedido ${n}`},
    requester_id: maria.id,
  }));
  const {result} = await client.tickets.createMany({tickets});
  assert.equal(result.job_status.status, 'queued');
  const job = await client.jobstatuses.watch(result.job_status.id, 20, 5);
  assert.equal(job.status, 'completed');
  assert.equal(job.results.length, 100);
  assert.deepEqual(job.results.map((r) => r.index), tickets.map((_, n) => n));
  made.batch = job.results.map((r) => r.id);
});

operation('tickets.updateMany and jobstatuses.show', async () => {
  const {result} = await client.tickets.updateMany(made.batch.slice(0, 3), {ticket: {status: 'open'}});
  const job = await client.jobstatuses.watch(result.job_status.id, 20, 5);
  assert.deepEqual(job.results.map((r) => [r.id, r.action, r.status, r.success]),
    made.batch.slice(0, 3).map((id) => [id, 'update', 'Updated', true]));
  const {result: shown} = await client.jobstatuses.show(result.job_status.id);
  assert.equal(shown.job_status.status, 'completed');
});

operation('tickets.list (cursor pages of 100, then the empty page)', async () => {
  const tickets = await client.tickets.list();
  assert.equal(tickets.length, 101);
  assert.deepEqual(ids(tickets), [...ids(tickets)].sort(byId), 'in id order, none twice');
  assert.equal(new Set(ids(tickets)).size, 101);
});

operation('a garbled cursor is a 400', async () => {
  const body = await refused(client.tickets.get(['tickets', {page: {after: 'not-a-cursor'}}]), 400);
  assert.equal(body.error, 'InvalidPaginationParameter');
});

operation('incremental cursor export to the end of the stream', async () => {
  let {result: page} = await client.ticketexport.get(['incremental', 'tickets', 'cursor', {start_time: 0}]);
  const exported = [...page.tickets];
  let pages = 1;
  while (!page.end_of_stream) {
    ({result: page} = await client.ticketexport.get(page.after_url));
    exported.push(...page.tickets);
    pages += 1;
  }
  assert.equal(new Set(ids(exported)).size, 101);
  assert.ok(exported.every((t) => typeof t.generated_timestamp === 'number'));
  assert.ok(pages >= 1);
});

operation('users.createOrUpdate (201 new, 200 known)', async () => {
  const first = await client.users.createOrUpdate({user: {email: 'lucia@mercado.example', name: 'Lúcia'}});
  assert.equal(first.response.status, 201);
  assert.equal(first.result.role, 'end-user');
  const again = await client.users.createOrUpdate({user: {email: 'lucia@mercado.example', name: 'Lúcia Prado'}});
  assert.equal(again.response.status, 200);
  assert.equal(again.result.id, first.result.id);
  assert.equal(again.result.name, 'Lúcia Prado');
  made.lucia = again.result;
});

operation('users.showMany', async () => {
  const {result: users} = await client.users.showMany([maria.id, made.lucia.id]);
  assert.deepEqual(ids(users).sort(byId), [maria.id, made.lucia.id].sort(byId));
});

operation('users.me', async () => {
  const {result: me} = await client.users.me();
  assert.equal(me.email, agent.email);
  assert.equal(me.role, 'agent');
});

operation('users.list (cursor)', async () => {
  const users = await client.users.list();
  assert.ok(users.some((u) => u.id === made.lucia.id));
});

operation('users.search by e-mail and by external_id', async () => {
  const byEmail = await client.users.search({query: 'maria@cliente.example'});
  assert.deepEqual(ids(byEmail), [maria.id]);
  const byKeyword = await client.users.search({query: 'email:lucia@mercado.example'});
  assert.deepEqual(ids(byKeyword), [made.lucia.id]);
  const byExternal = await client.users.search({external_id: maria.external_id});
  assert.deepEqual(ids(byExternal), [maria.id]);
});

operation('groups.list (cursor) and groups.create (201, Location)', async () => {
  const before = await client.groups.list();
  assert.deepEqual(ids(before), [support.id]);
  const {response, result: group} = await client.groups.create({group: {name: 'Ouvidoria'}});
  assert.equal(response.status, 201);
  assert.equal(response.headers.get('location'), group.url);
  assert.deepEqual([group.name, group.is_public, group.deleted], ['Ouvidoria', true, false]);
  const after = await client.groups.list();
  assert.deepEqual(after.map((g) => g.name), ['Ouvidoria', 'Suporte'], 'groups page by name');
  const duplicate = await refused(client.groups.create({group: {name: 'Suporte'}}), 422);
  assert.equal(duplicate.error, 'RecordInvalid');
});

operation('search.query (tickets, status<solved, tags, requester)', async () => {
  const found = await client.search.query(`type:ticket status<solved tags:vip requester:joao@cliente.example`);
  assert.deepEqual(found.result.map((r) => [r.result_type, r.id]), [['ticket', made.ticket.id]]);
  const {result: envelope} = await whole(['search', {query: 'type:ticket subject:lote', per_page: 40}]);
  assert.deepEqual(Object.keys(envelope).sort(), ['count', 'facets', 'next_page', 'previous_page', 'results']);
  assert.equal(envelope.count, 100);
  assert.equal(envelope.facets, null);
  assert.equal(envelope.results.length, 40);
});

operation('search.queryAll follows next_page', async () => {
  const all = await client.search.queryAll('type:ticket subject:lote');
  assert.equal(all.length, 100);
  assert.ok(all.every((r) => r.result_type === 'ticket'));
});

operation('search.showResultsCount', async () => {
  const {result} = await client.search.showResultsCount('type:user tags:premium');
  assert.deepEqual(result, {count: 1});
});

operation('search past 1,000 results is a 422', async () => {
  const body = await refused(whole(['search', {query: 'type:ticket', page: 11, per_page: 100}]), 422);
  assert.deepEqual(body, {
    error: 'invalid',
    description: 'Invalid search: Requested response size was greater than Search Response Limits',
  });
});

operation('helpcenter.search.searchArticlesInLocale', async () => {
  const {result} = await helpCenter.helpcenter.search.searchArticlesInLocale('cupom', 'pt-br');
  assert.deepEqual(result.results.map((a) => [a.id, a.result_type]), [[7, 'article']]);
  assert.equal(result.results[0].snippet, 'Passo a passo da emissão do <em>cupom</em>');
  assert.deepEqual([result.count, result.page, result.page_count], [1, 1, 1]);
});

operation('an endpoint the simulator does not serve is a named 404', async () => {
  const body = await refused(whole(['satisfaction_ratings']), 404);
  assert.equal(body.error, 'InvalidEndpoint');
  assert.match(body.description, /GET \/api\/v2\/satisfaction_ratings/);
});

(async () => {
  let failed = 0;
  for (const {name, run} of operations) {
    try {
      await run();
      console.log(`ok ${name}`);
    } catch (error) {
      failed += 1;
      const body = error.result === undefined ? '' : ` ${JSON.stringify(error.result)}`;
      console.log(`FAIL ${name}: ${error.message}${body}`);
    }
  }
  console.log(`${operations.length - failed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
})();
