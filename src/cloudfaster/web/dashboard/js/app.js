// The dashboard: sign-in, navigation and the views, chosen from the URL fragment (#/vms, #/services/12, …).
import {api, ApiError, navigation, setSession, session} from './api.js';
import {errorBox, field, h, notify, onSubmit, page} from './dom.js';
import {auditView, keysView, logsView, quotaAdminView, usersView} from './admin.js';
import {operationView, operationsView} from './operations.js';
import {quotaView} from './quota.js';
import {serviceCreateView, serviceDetailView, serviceListView} from './services.js';
import {vmCreateView, vmDetailView, vmListView} from './vms.js';

const USER_LINKS = [['#/vms', 'VMs'], ['#/services', 'Services'], ['#/operations', 'Operations'], ['#/quota', 'Quota']];
const ADMIN_LINKS = [['#/admin/users', 'Users'], ['#/admin/keys', 'Keys'], ['#/admin/audit', 'Audit'], ['#/admin/logs', 'Logs']];

const ROUTES = [
  [/^\/vms$/, vmListView], [/^\/vms\/new$/, vmCreateView], [/^\/vms\/(\d+)$/, vmDetailView],
  [/^\/services$/, serviceListView], [/^\/services\/new$/, serviceCreateView], [/^\/services\/(\d+)$/, serviceDetailView],
  [/^\/operations$/, operationsView], [/^\/operations\/([\w-]+)$/, operationView], [/^\/quota$/, quotaView],
  [/^\/admin\/users$/, usersView], [/^\/admin\/keys$/, keysView], [/^\/admin\/quota\/([\w.-]+)$/, quotaAdminView],
  [/^\/admin\/audit$/, auditView], [/^\/admin\/logs$/, logsView],
];

function renderChrome() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const s = session.value;
  nav.hidden = !s;
  if (!s) { nav.replaceChildren(); who.replaceChildren(); return; }
  const links = USER_LINKS.concat(s.admin ? ADMIN_LINKS : []);
  nav.replaceChildren(h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', {href, 'data-nav': href}, text)))));
  who.replaceChildren(h('span', {}, s.admin ? 'Admin' : s.userid),
    h('button', {type: 'button', id: 'sign-out', onclick: signOut}, 'Sign out'));
}

function markCurrent(hash) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (hash.startsWith(a.dataset.nav)) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function signInView(reason) {
  const form = h('form', {class: 'stack signin', autocomplete: 'off'},
    field('API key', h('input', {name: 'api_key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false'}),
      'Your key starts with cf_. It is sent once and never kept by the browser.'),
    h('button', {type: 'submit'}, 'Sign in'));
  onSubmit(form, async (data) => {
    const started = await api('POST', '/session', {api_key: data.get('api_key')});
    form.reset();
    setSession(started);
    renderChrome();
    if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = started.admin ? '#/admin/users' : '#/vms';
    else await route();
  });
  page('Sign in', reason ? errorBox(reason) : null, form);
  form.querySelector('input').focus();
}

async function signOut() {
  try { await api('DELETE', '/session'); } catch { /* already gone */ }
  setSession(null);
  renderChrome();
  notify('Signed out.');
  location.hash = '#/signin';
}

async function route() {
  navigation.generation += 1;
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  if (!session.value) { signInView(); return; }
  if (path === '/' || path === '/signin') { location.hash = session.value.admin ? '#/admin/users' : '#/vms'; return; }
  markCurrent(location.hash);
  const match = ROUTES.map(([re, view]) => [path.match(re), view]).find(([m]) => m);
  if (!match) { page('Not found', h('p', {}, 'There is no such page. ', h('a', {href: '#/vms'}, 'Go to your VMs.'))); return; }
  const [m, view] = match;
  try {
    await view(...(m.length > 1 ? m.slice(1) : [new URLSearchParams(query || '')]));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    page('Something went wrong', errorBox(error));
  }
  const main = document.getElementById('main');
  if (document.activeElement === document.body) main.focus({preventScroll: true});
  document.body.dataset.rendered = location.hash; // for scripts and tests: this fragment's view is on screen
}

window.addEventListener('cf-signed-out', (event) => {
  setSession(null);
  renderChrome();
  signInView(event.detail);
});
window.addEventListener('hashchange', () => { notify(''); route(); });

async function start() {
  try { setSession(await api('GET', '/session')); } catch { setSession(null); }
  renderChrome();
  await route();
}
start();
