// Services: the list, create (ZIP upload with progress, or a git URL; template types), and the detail page with
// URLs, the Filebrowser login, live logs and the actions (database, deployments, domains, env: service_extras.js).
import {api, get, getAll, idempotencyKey, session, upload} from './api.js';
import {count, errorBox, field, h, notify, onSubmit, page, statusBadge, table} from './dom.js';
import {operationPanel} from './operations.js';
import {serviceSections} from './service_extras.js';

const TYPES = ['static', 'php', 'node', 'react', 'mysql', 'postgres', 'macos'];
const ACTIVE = new Set(['pending', 'running']);

function link(url, text) {
  return h('a', {href: url, target: '_blank', rel: 'noopener noreferrer'}, text || url);
}

// The service's own address (the Filebrowser's is under "files").
function siteUrl(s) {
  return Object.entries(s.urls || {}).find(([name]) => name !== 'files')?.[1];
}

export async function serviceListView() {
  const services = await getAll('/service');
  page('Services', h('p', {}, h('a', {class: 'button', href: '#/services/new'}, 'Create a service')),
    table(count(services.length, 'service'), ['Name', 'Types', 'Status', 'Address'].concat(session.value.admin ? ['Owner'] : []),
      services.map((s) => h('tr', {},
        h('td', {}, h('a', {href: `#/services/${s.id}`}, s.service_name)), h('td', {}, s.service_types.join(', ')),
        h('td', {}, statusBadge(s.status)), h('td', {}, siteUrl(s) ? link(siteUrl(s)) : ''),
        session.value.admin ? h('td', {}, s.userid) : null))));
}

function loginBox(login) {
  if (!login || !login.password) return null;
  return h('section', {class: 'secret', 'aria-label': 'Filebrowser login'},
    h('h2', {}, 'Filebrowser login (shown once)'),
    h('p', {}, 'User ', h('code', {}, login.username), ', password ', h('code', {class: 'secret-value'}, login.password)),
    login.url ? h('p', {}, link(login.url, 'Open Filebrowser')) : null,
    h('p', {class: 'hint'}, 'Write the password down now: CloudFaster cannot show it again.'));
}

export async function serviceCreateView() {
  const progress = h('progress', {max: 1, value: 0, 'aria-label': 'Upload progress', hidden: true});
  const form = h('form', {class: 'stack'},
    session.value.admin ? field('Owner (userid)', h('input', {name: 'userid', required: true, autocomplete: 'off'})) : null,
    field('Name', h('input', {name: 'service_name', required: true, autocomplete: 'off'})),
    h('fieldset', {}, h('legend', {}, 'Template types'), h('div', {class: 'checks'}, TYPES.map((t, i) =>
      h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'service_types', value: t, checked: i === 0}), ` ${t}`)))),
    field('ZIP file', h('input', {type: 'file', name: 'zip_file', accept: '.zip,application/zip'}), 'Your site or app as a ZIP archive.'),
    field('Or a git URL', h('input', {type: 'url', name: 'git_repo_url', placeholder: 'https://…', autocomplete: 'off'}), 'An https repository; leave empty when you upload a ZIP.'),
    progress,
    h('button', {type: 'submit'}, 'Create service'));
  let idem = idempotencyKey(); // kept across a lost answer only: an answered refusal made nothing
  onSubmit(form, async (data) => {
    const file = data.get('zip_file');
    if (!file || !file.size) data.delete('zip_file');
    if (!data.get('git_repo_url')) data.delete('git_repo_url');
    if (!data.get('userid')) data.delete('userid');
    progress.hidden = false;
    progress.value = 0;
    let created;
    try {
      created = await upload('/service', data, (share) => { progress.value = share; }, {'Idempotency-Key': idem});
    } catch (error) {
      if (error.status !== 0) idem = idempotencyKey();
      throw error;
    }
    progress.value = 1;
    pendingLogin = {id: String(created.id), login: created.filebrowser, databases: created.databases};
    location.hash = `#/services/${created.id}`;
  });
  page('Create a service', form);
}

// The Filebrowser and database passwords, shown once: kept in memory while its service's page is open, never stored.
let pendingLogin = null;
window.addEventListener('hashchange', () => {
  if (pendingLogin && location.hash !== `#/services/${pendingLogin.id}`) pendingLogin = null;
});

// The page's one live log stream: a re-render after an action closes the one before, or the browser's six
// connections per host would fill up with streams no view shows and every later request would wait.
let logSource = null;

function logView(id) {
  const box = h('pre', {class: 'logs', role: 'log', tabindex: 0, 'aria-label': 'Service logs', 'aria-live': 'off'});
  const state = h('p', {class: 'hint', 'aria-live': 'polite'}, 'Connecting to the logs…');
  if (logSource) logSource.close();
  const source = new EventSource(`/service/${id}/logs?follow=true&tail=200`);
  logSource = source;
  window.addEventListener('hashchange', () => source.close(), {once: true});
  source.addEventListener('open', () => { state.textContent = 'Live: new lines appear as they are written.'; });
  source.addEventListener('log', (event) => {
    let line = event.data;
    try { const parsed = JSON.parse(event.data); line = parsed.line ?? parsed.message ?? event.data; } catch { /* plain text */ }
    box.append(`${line}\n`);
    if (box.childNodes.length > 2000) box.firstChild.remove();
    box.scrollTop = box.scrollHeight;
  });
  source.addEventListener('error', () => { state.textContent = 'The log stream was interrupted; it reconnects by itself.'; });
  return [state, box];
}

export async function serviceDetailView(id) {
  const s = await get(`/service/${id}`);
  const out = h('div', {'aria-live': 'polite'});
  const refresh = () => serviceDetailView(id);
  const act = (label, method, path, after) => h('button', {type: 'button', onclick: async () => {
    out.replaceChildren();
    try {
      const started = await api(method, path);
      if (started && started.operation) out.replaceChildren(operationPanel(started.operation.id, after || refresh));
      else (after || refresh)();
    } catch (error) { out.replaceChildren(errorBox(error)); }
  }}, label);
  const pending = pendingLogin && pendingLogin.id === String(id) ? pendingLogin : null;
  const login = pending ? pending.login : null;
  const urls = Object.entries(s.urls || {});
  const run = (label, fn, kind) => h('button', {type: 'button', class: kind, onclick: async () => {
    out.replaceChildren();
    try { await fn(); } catch (error) { out.replaceChildren(errorBox(error)); }
  }}, label);
  const follow = (started) => {
    if (started && started.operation) out.replaceChildren(operationPanel(started.operation.id, refresh));
    else refresh();
  };
  const extras = await serviceSections(s, pending ? pending.databases : null, run, follow, out);
  page(`Service ${s.service_name}`,
    h('dl', {class: 'facts'},
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(s.status)),
      h('dt', {}, 'Types'), h('dd', {}, s.service_types.join(', ')),
      h('dt', {}, 'Source'), h('dd', {}, s.source_ref ? `${s.source_type}: ${s.source_ref}` : s.source_type),
      h('dt', {}, 'Owner'), h('dd', {}, s.userid),
      h('dt', {}, 'Filebrowser user'), h('dd', {}, s.filebrowser_user || '—')),
    h('h2', {}, 'Addresses'),
    urls.length ? h('ul', {}, urls.map(([name, url]) => h('li', {}, `${name === 'files' ? 'Filebrowser' : name}: `, link(url)))) : h('p', {class: 'muted'}, 'No address yet.'),
    loginBox(login),
    s.docker_error ? h('p', {class: 'error'}, s.docker_error) : null,
    h('h2', {}, 'Actions'),
    h('div', {class: 'buttons'},
      act('Start', 'POST', `/service/${id}/start`), act('Stop', 'POST', `/service/${id}/stop`),
      act('Restart', 'POST', `/service/${id}/restart`), act('Deploy again', 'POST', `/service/${id}/deploy`),
      h('button', {type: 'button', class: 'danger', onclick: async () => {
        if (!window.confirm(`Delete the service ${s.service_name} and its files?`)) return;
        try {
          const started = await api('DELETE', `/service/${id}`);
          notify(`Deleting ${s.service_name}…`);
          out.replaceChildren(operationPanel(started.operation.id, () => { location.hash = '#/services'; }));
        } catch (error) { out.replaceChildren(errorBox(error)); }
      }}, 'Delete this service')),
    out,
    extras,
    h('h2', {}, 'Logs'), ...logView(id));
  if (s.operation && ACTIVE.has(s.operation.state)) out.replaceChildren(operationPanel(s.operation.id, refresh));
}
