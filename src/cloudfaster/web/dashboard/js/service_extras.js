// The service detail page's further sections: database details (password rotation, export, import), the
// deployment history with rollback, custom domains with the DNS records to create, and environment variables.
import {api, get, getAll, upload} from './api.js';
import {count, errorBox, field, h, onSubmit, statusBadge, table, when} from './dom.js';
import {operationPanel} from './operations.js';

// act(label, fn, kind) makes a button whose errors are shown in words; follow(started) follows its operation.
export async function serviceSections(s, shownDatabases, act, follow, out) {
  const id = s.id;
  const [deployments, domains, env] = await Promise.all([
    getAll(`/service/${id}/deployments`).catch((error) => ({error})),
    get(`/service/${id}/domains`).catch((error) => ({error})),
    get(`/service/${id}/env`).catch((error) => ({error})),
  ]);
  return [
    (s.databases || []).length ? [h('h2', {}, 'Database'), databaseSection(s, shownDatabases, act, follow, out)] : null,
    h('h2', {}, 'Deployments'), deploymentSection(id, deployments, act, follow),
    h('h2', {}, 'Domains'), domainSection(id, domains, act, follow),
    h('h2', {}, 'Environment'), envSection(id, env, act, follow),
  ];
}

function secretBox(label, pairs, note) {
  return h('section', {class: 'secret', 'aria-label': label}, h('h3', {}, label),
    h('dl', {class: 'facts'}, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {class: 'secret-value'}, v))])),
    h('p', {class: 'hint'}, note));
}

function databaseSection(s, shown, act, follow, out) {
  const id = s.id;
  const password = (db) => (shown || []).find((d) => d.engine === db.engine && d.password)?.password;
  const facts = s.databases.map((db) => h('dl', {class: 'facts', 'aria-label': `${db.engine} connection`},
    [['Engine', db.engine], ['Host (from the app)', `${db.host}:${db.port}`],
      ['From your computer', db.published_port ? `${db.published_host}:${db.published_port}` : 'not published'],
      ['Database', db.database], ['User', db.user], ['Password', password(db) || 'shown once, when it was set']]
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {}, String(v)))])));
  const exportButton = act('Export a dump', async () => {
    const started = await api('POST', `/service/${id}/database/export`);
    const opId = started.operation.id;
    out.replaceChildren(operationPanel(opId, (op) => {
      if (op.state === 'succeeded') {
        out.append(h('p', {}, h('a', {href: `/service/${id}/database/exports/${encodeURIComponent(opId)}`, download: ''},
          'Download the dump (.sql.gz)')));
      }
    }));
  });
  const rotate = act('Rotate the password', async () => {
    if (!window.confirm('Set a new database password? The app gets it on its next restart.')) return;
    const started = await api('POST', `/service/${id}/database/rotate-password`);
    const fresh = (started.database || []).filter((d) => d.password);
    out.replaceChildren(
      ...fresh.map((d) => secretBox(`New ${d.engine} password (shown once)`, [['User', d.user], ['Password', d.password]],
        'Write it down now: CloudFaster cannot show it again.')),
      started.operation ? operationPanel(started.operation.id) : null);
  });
  const progress = h('progress', {max: 1, value: 0, 'aria-label': 'Dump upload progress', hidden: true});
  const importForm = onSubmit(h('form', {class: 'row'},
    field('Dump to import', h('input', {type: 'file', name: 'dump', required: true, accept: '.sql,.gz,.sql.gz'}), '.sql or .sql.gz'),
    progress, h('button', {type: 'submit'}, 'Import')), async (data) => {
    if (!window.confirm('Import this dump into the service\'s database?')) return null;
    progress.hidden = false;
    const started = await upload(`/service/${id}/database/import`, data, (share) => { progress.value = share; });
    out.replaceChildren(operationPanel(started.operation.id));
    return null;
  });
  const publishing = s.databases.map((db) => (db.published_port
    ? act(`Unpublish ${db.engine}`, async () => follow(await api('POST', `/service/${id}/database/unpublish?engine=${db.engine}`)))
    : act(`Publish ${db.engine} for a desktop client`, async () => follow(await api('POST', `/service/${id}/database/publish?engine=${db.engine}`)))));
  return [facts, h('div', {class: 'buttons'}, exportButton, rotate, publishing), importForm];
}

function deploymentSection(id, list, act, follow) {
  if (list.error) return errorBox(list.error);
  const newestFirst = [...list].sort((a, b) => b.number - a.number);
  const current = newestFirst.find((d) => d.state === 'succeeded')?.number; // the one being served
  const rows = newestFirst.map((d) => h('tr', {},
    h('td', {}, `#${d.number}`, d.number === current ? ' (live)' : '', d.rollback_of ? ` rollback to #${d.rollback_of}` : ''),
    h('td', {}, d.source_ref ? `${d.source_type}: ${d.source_ref}` : d.source_type,
      d.source_digest ? h('div', {}, h('code', {}, d.source_digest.slice(0, 12))) : null),
    h('td', {}, statusBadge(d.state)), h('td', {}, when(d.started_at)), h('td', {}, when(d.finished_at)),
    h('td', {}, d.kept && d.state === 'succeeded' && d.number !== current ? act(`Roll back to #${d.number}`, async () => {
      if (!window.confirm(`Serve deployment #${d.number} again?`)) return;
      follow(await api('POST', `/service/${id}/deployments/${d.number}/rollback`));
    }) : '')));
  return table(count(rows.length, 'deployment'), ['Deployment', 'Source', 'State', 'Started', 'Finished', 'Actions'], rows);
}

function domainSection(id, list, act, follow) {
  if (list.error && list.error.code === 'routing_disabled') return h('p', {class: 'muted'}, `Custom domains are not available here: ${list.error.message}.`);
  if (list.error) return errorBox(list.error);
  const record = (r) => h('li', {}, h('code', {}, `${r.name} ${r.type} ${r.value}`));
  const rows = list.map((d) => h('tr', {},
    h('td', {}, d.hostname), h('td', {}, statusBadge(d.status)),
    h('td', {}, d.status === 'active' ? when(d.active_at) : h('ul', {class: 'records'}, d.dns_records.map(record),
      h('li', {}, 'or ', h('code', {}, `${d.cname.name} CNAME ${d.cname.value}`)))),
    h('td', {}, act(`Remove ${d.hostname}`, async () => follow(await api('DELETE', `/service/${id}/domains/${encodeURIComponent(d.hostname)}`)), 'danger'))));
  const form = onSubmit(h('form', {class: 'row'},
    field('Domain name', h('input', {name: 'hostname', required: true, autocomplete: 'off', placeholder: 'www.example.org'})),
    h('button', {type: 'submit'}, 'Add domain')), async (data) => {
    follow(await api('POST', `/service/${id}/domains`, {hostname: data.get('hostname')}));
    return null;
  });
  return [form, table(count(rows.length, 'domain'), ['Name', 'State', 'DNS records to create', 'Actions'], rows)];
}

function envSection(id, env, act, follow) {
  if (env.error) return errorBox(env.error);
  const vars = env.variables;
  const put = async (variables) => follow(await api('PUT', `/service/${id}/env`, {variables}));
  // A secret's value is write-only: sending null keeps it.
  const kept = (except) => vars.filter((v) => v.name !== except).map((v) => ({name: v.name, value: v.secret ? null : v.value, secret: v.secret}));
  const rows = vars.map((v) => h('tr', {},
    h('td', {}, h('code', {}, v.name)), h('td', {}, v.secret ? h('span', {class: 'muted'}, 'secret (hidden)') : h('code', {}, v.value ?? '')),
    h('td', {}, act(`Remove ${v.name}`, () => put(kept(v.name)), 'danger'))));
  const form = onSubmit(h('form', {class: 'row'},
    field('Variable name', h('input', {name: 'name', required: true, autocomplete: 'off', pattern: '[A-Za-z_][A-Za-z0-9_]*'})),
    field('Value', h('input', {name: 'value', autocomplete: 'off'})),
    h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'secret'}), 'Secret'),
    h('button', {type: 'submit'}, 'Set variable')), async (data) => {
    const name = String(data.get('name'));
    await put([...kept(name), {name, value: String(data.get('value')), secret: data.get('secret') === 'on'}]);
    return null;
  });
  return [h('p', {class: 'hint'}, 'Changes apply on the next deploy or restart.'), form,
    table(count(rows.length, 'variable'), ['Name', 'Value', 'Actions'], rows)];
}
