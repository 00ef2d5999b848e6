// Admin pages: users (create, CSV import, delete), keys (create with the secret shown once, list, revoke),
// quotas per user, the audit search and the live log stream.
import {api, get, getAll} from './api.js';
import {count, errorBox, field, h, notify, onSubmit, page, statusBadge, table, when} from './dom.js';
import {quotaBars} from './quota.js';

function secretBox(title, secret) {
  return h('section', {class: 'secret', 'aria-label': title}, h('h2', {}, title),
    h('p', {}, h('code', {class: 'secret-value'}, secret)),
    h('p', {class: 'hint'}, 'Copy it now: it is shown this once and never again.'));
}

// "userid,username" lines; a header line naming the columns is skipped.
export function parseUsersCsv(text) {
  const users = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    const comma = line.indexOf(',');
    if (comma < 0) throw new Error(`Line ${index + 1} has no comma: expected userid,username.`);
    const userid = line.slice(0, comma).trim().replace(/^"|"$/g, '');
    const username = line.slice(comma + 1).trim().replace(/^"|"$/g, '');
    if (index === 0 && userid.toLowerCase() === 'userid') continue;
    users.push({userid, username});
  }
  return users;
}

export async function usersView() {
  const users = await getAll('/users');
  const results = h('div', {'aria-live': 'polite'});
  const create = onSubmit(h('form', {class: 'row'},
    field('User id', h('input', {name: 'userid', required: true, autocomplete: 'off'})),
    field('Name', h('input', {name: 'username', required: true, autocomplete: 'off'})),
    h('button', {type: 'submit'}, 'Create user')), async (data) => {
    await api('POST', '/users', {userid: data.get('userid'), username: data.get('username')});
    notify(`User ${data.get('userid')} created.`);
    await usersView();
  });
  const csv = onSubmit(h('form', {class: 'row'},
    field('CSV file (userid,username)', h('input', {type: 'file', name: 'csv', accept: '.csv,text/csv', required: true})),
    h('button', {type: 'submit'}, 'Import users')), async (data) => {
    const list = parseUsersCsv(await data.get('csv').text());
    if (!list.length) throw new Error('The file has no userid,username lines.');
    const done = await api('POST', '/users/bulk', {users: list});
    const lines = done.results.map((r) => h('li', {class: r.outcome === 'failed' ? 'error' : null},
      `${r.userid}: ${r.outcome === 'failed' ? r.error.message : r.outcome === 'exists' ? 'already registered' : 'created'}`));
    notify(`${done.created} created, ${done.existing} already there, ${done.failed} failed.`, done.failed ? 'warn' : 'ok');
    return h('div', {}, h('p', {}, `${list.length} lines read.`), h('ul', {}, lines));
  });
  const rows = users.map((u) => h('tr', {},
    h('td', {}, u.userid), h('td', {}, u.username), h('td', {}, when(u.created_at)),
    h('td', {}, h('a', {href: `#/admin/quota/${encodeURIComponent(u.userid)}`}, 'Quota'), ' ',
      h('button', {type: 'button', class: 'danger', 'aria-label': `Delete ${u.userid}`, onclick: async () => {
        if (!window.confirm(`Delete the user ${u.userid}?`)) return;
        try { await api('DELETE', `/users/${encodeURIComponent(u.userid)}`); notify(`User ${u.userid} deleted.`); await usersView(); }
        catch (error) { results.replaceChildren(errorBox(error)); }
      }}, 'Delete'))));
  page('Users', h('h2', {}, 'New user'), create, h('h2', {}, 'Import from CSV'), csv, results,
    table(count(users.length, 'user'), ['User id', 'Name', 'Created', 'Actions'], rows));
}

export async function keysView() {
  const keys = await getAll('/keys');
  const shown = h('div', {'aria-live': 'polite'});
  const create = onSubmit(h('form', {class: 'row'},
    field('For user (userid)', h('input', {name: 'userid', autocomplete: 'off'}), 'Leave empty for an admin key.'),
    field('Key name', h('input', {name: 'name', autocomplete: 'off'})),
    h('button', {type: 'submit'}, 'Create key')), async (data) => {
    const body = {name: data.get('name') || ''};
    if (data.get('userid')) body.userid = data.get('userid'); else body.admin = true;
    const created = await api('POST', '/keys', body);
    await keysView();
    document.getElementById('key-secret').replaceChildren(secretBox(`New key ${created.prefix}`, created.key));
    return null;
  });
  const rows = keys.map((k) => h('tr', {},
    h('td', {}, h('code', {}, k.prefix)), h('td', {}, k.name), h('td', {}, k.admin ? 'admin' : k.userid),
    h('td', {}, k.revoked_at ? statusBadge('revoked') : statusBadge('active')), h('td', {}, when(k.created_at)),
    h('td', {}, k.revoked_at ? '' : h('button', {type: 'button', class: 'danger', 'aria-label': `Revoke key ${k.prefix}`, onclick: async () => {
      if (!window.confirm(`Revoke the key ${k.prefix}? Its sessions end too.`)) return;
      try { await api('DELETE', `/keys/${k.prefix}`); notify(`Key ${k.prefix} revoked.`); await keysView(); }
      catch (error) { shown.replaceChildren(errorBox(error)); }
    }}, 'Revoke'))));
  page('API keys', h('div', {id: 'key-secret'}), h('h2', {}, 'New key'), create, shown,
    table(count(keys.length, 'key'), ['Prefix', 'Name', 'For', 'State', 'Created', 'Actions'], rows));
}

export async function quotaAdminView(userid) {
  const quota = await get(`/users/${encodeURIComponent(userid)}/quota`);
  const names = [['max_vms', 'VMs'], ['max_vcpus', 'vCPUs'], ['max_memory_mb', 'Memory (MB)'], ['max_disk_gb', 'Disk (GB)'], ['max_services', 'Services']];
  const form = onSubmit(h('form', {class: 'row'}, names.map(([name, label]) =>
    field(label, h('input', {name, type: 'number', min: 0, value: quota.limits[name], required: true}))),
  h('button', {type: 'submit'}, 'Save limits')), async (data) => {
    const body = Object.fromEntries(names.map(([name]) => [name, Number(data.get(name))]));
    await api('PUT', `/users/${encodeURIComponent(userid)}/quota`, body);
    notify(`Limits of ${userid} saved.`);
    await quotaAdminView(userid);
  });
  page(`Quota of ${userid}`, quotaBars(quota), h('h2', {}, 'Limits'), form);
}

export async function auditView(params = new URLSearchParams()) {
  const filters = ['userid', 'action', 'target', 'result', 'since', 'until'];
  const query = new URLSearchParams([...params].filter(([k, v]) => filters.includes(k) && v));
  for (const k of ['since', 'until']) if (query.get(k)) query.set(k, new Date(query.get(k)).toISOString());
  const events = (await getAll(`/audit?${query}`)).reverse();
  const input = (name, label, attrs = {}) => field(label, h('input', {name, value: params.get(name) || '', autocomplete: 'off', ...attrs}));
  const form = h('form', {class: 'row', role: 'search', 'aria-label': 'Audit filters'},
    input('userid', 'User id'), input('action', 'Action'), input('target', 'Target'),
    field('Result', h('select', {name: 'result'}, ['', 'ok', 'denied', 'error'].map((r) =>
      h('option', {value: r, selected: params.get('result') === r}, r || 'any')))),
    input('since', 'Since', {type: 'datetime-local'}), input('until', 'Until', {type: 'datetime-local'}),
    h('button', {type: 'submit'}, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    location.hash = `#/admin/audit?${next}`;
  });
  page('Audit', form, table(`${count(events.length, 'event')}, newest first`, ['When', 'Who', 'Action', 'Target', 'Result'],
    events.slice(0, 500).map((e) => h('tr', {},
      h('td', {}, when(e.at)), h('td', {}, e.actor_userid || (e.is_admin ? `admin ${e.actor_key}` : e.actor_key)),
      h('td', {}, `${e.action} (${e.method} ${e.path})`), h('td', {}, e.target || ''),
      h('td', {}, statusBadge(e.result), ` ${e.status_code}`)))));
}

export function logsView(params = new URLSearchParams()) {
  const box = h('pre', {class: 'logs', role: 'log', tabindex: 0, 'aria-label': 'Live log records'});
  const state = h('p', {class: 'hint', 'aria-live': 'polite'}, 'Connecting…');
  const form = h('form', {class: 'row', 'aria-label': 'Log filters'},
    field('Level', h('select', {name: 'level'}, ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'].map((l) =>
      h('option', {value: l, selected: (params.get('level') || 'INFO') === l}, l)))),
    field('User id', h('input', {name: 'userid', value: params.get('userid') || '', autocomplete: 'off'})),
    field('Resource', h('input', {name: 'resource', value: params.get('resource') || '', autocomplete: 'off'})),
    h('button', {type: 'submit'}, 'Apply filters'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/admin/logs?${new URLSearchParams([...new FormData(form)].filter(([, v]) => v))}`;
  });
  page('Live logs', form, state, box);
  const query = new URLSearchParams([...params].filter(([k, v]) => ['level', 'userid', 'resource'].includes(k) && v));
  const source = new EventSource(`/logs/stream?${query}`);
  window.addEventListener('hashchange', () => source.close(), {once: true});
  source.addEventListener('ready', () => { state.textContent = 'Live: records appear as they are logged.'; });
  source.addEventListener('dropped', (e) => box.append(`… ${JSON.parse(e.data).count} records skipped (the view was too slow)\n`));
  source.addEventListener('log', (e) => {
    const r = JSON.parse(e.data);
    box.append(`${r.time || r.timestamp || ''} ${r.level || ''} ${r.logger || ''} ${r.message || r.msg || e.data}\n`);
    if (box.childNodes.length > 2000) box.firstChild.remove();
    box.scrollTop = box.scrollHeight;
  });
  source.addEventListener('error', () => { state.textContent = 'The stream was interrupted; it reconnects by itself.'; });
}
