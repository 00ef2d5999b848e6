// VMs: the list with live status, create (OS list, size presets, free values within quota), and the detail page
// (day-two sections in vm_daytwo.js).
import {api, get, getAll, idempotencyKey, session} from './api.js';
import {count, errorBox, field, h, notify, onSubmit, page, replaceRow, statusBadge, table} from './dom.js';
import {operationPanel} from './operations.js';
import {daytwoSections} from './vm_daytwo.js';

const ACTIVE = new Set(['pending', 'running']);
const LIVE_STREAMS = 3; // a browser holds 6 connections per server: leave room for the page's own requests

function vmRow(vm) {
  return h('tr', {'data-vmid': vm.vmid},
    h('td', {}, h('a', {href: `#/vms/${vm.vmid}`}, vm.name)), h('td', {class: 'wide'}, vm.vmid), h('td', {class: 'wide'}, vm.os),
    h('td', {}, `${vm.cores} vCPU · ${vm.memory} MB · ${vm.disk} GB`), h('td', {class: 'status'}, statusBadge(vm.status)),
    session.value.admin ? h('td', {}, vm.userid) : null);
}

export async function vmListView() {
  // The list does not carry operations: the active ones come from GET /operations, in parallel.
  const [vms, running, pending] = await Promise.all([getAll('/vm'), getAll('/operations?state=running'), getAll('/operations?state=pending')]);
  const active = new Map(running.concat(pending).filter((op) => op.target_type === 'vm').map((op) => [op.target_id, op]));
  const headers = ['Name', ['VMID', 'wide'], ['OS', 'wide'], 'Size', 'Status'].concat(session.value.admin ? ['Owner'] : []);
  const main = page('Virtual machines', h('p', {}, h('a', {class: 'button', href: '#/vms/new'}, 'Create a VM')),
    table(count(vms.length, 'VM'), headers, vms.map(vmRow)));
  // Live status: follow the active operations; when one ends, its VM's row is read again.
  for (const vm of vms.filter((v) => active.has(String(v.vmid))).slice(0, LIVE_STREAMS)) {
    const panel = operationPanel(active.get(String(vm.vmid)).id, async () => {
      try {
        const fresh = await get(`/vm/${vm.vmid}`);
        const old = main.querySelector(`tr[data-vmid="${vm.vmid}"]`);
        if (old) replaceRow(old, vmRow(fresh));
      } catch { /* the VM is gone: the row stays as it was */ }
    });
    panel.hidden = true;
    main.append(panel);
  }
  window.cfListReady = performance.now();
  document.body.dataset.view = 'vms-ready';
}

async function userQuota() {
  const userid = session.value.userid;
  return userid ? get(`/users/${encodeURIComponent(userid)}/quota`) : null;
}

async function sizes() {
  try { return await get('/sizes'); } catch { return []; }
}

export async function vmCreateView() {
  const [os, quota, presets] = await Promise.all([get('/vm/os'), userQuota(), sizes()]);
  const left = quota ? {
    cores: quota.limits.max_vcpus - quota.usage.vcpus, memory: quota.limits.max_memory_mb - quota.usage.memory_mb,
    disk: quota.limits.max_disk_gb - quota.usage.disk_gb} : null;
  const number = (name, value, min, max) => h('input', {name, type: 'number', required: true, min, max, value, inputmode: 'numeric'});
  const cores = number('cores', 1, 1, left ? Math.max(left.cores, 1) : 128);
  const memory = number('memory', 1024, 256, left ? Math.max(left.memory, 256) : 1048576);
  const disk = number('disk', 10, 1, left ? Math.max(left.disk, 1) : 65536);
  const sizeSelect = presets.length ? h('select', {name: 'size', onchange: (e) => {
    const s = presets.find((p) => p.name === e.target.value);
    if (s) { cores.value = s.cores; memory.value = s.memory; disk.value = s.disk; }
  }}, h('option', {value: ''}, 'Custom values'), presets.map((s) => h('option', {value: s.name}, `${s.name}: ${s.cores} vCPU, ${s.memory} MB, ${s.disk} GB${s.description ? ` (${s.description})` : ''}`))) : null;
  const form = h('form', {class: 'stack'},
    session.value.admin ? field('Owner (userid)', h('input', {name: 'userid', required: true, autocomplete: 'off'})) : null,
    field('Name', h('input', {name: 'name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9-]{0,62}', autocomplete: 'off'}), 'Letters, digits and hyphens.'),
    field('Operating system', h('select', {name: 'os', required: true}, os.os.map((name) => {
      const info = (os.systems || []).find((s) => s.os === name);
      return h('option', {value: name}, info && info.login_user ? `${name} (log in as ${info.login_user})` : name);
    }))),
    sizeSelect ? field('Size preset', sizeSelect, 'Fills in the values below; you may change them within your quota.') : null,
    h('div', {class: 'row'}, field('vCPUs', cores), field('Memory (MB)', memory), field('Disk (GB)', disk)),
    left ? h('p', {class: 'hint'}, `Left in your quota: ${left.cores} vCPUs, ${left.memory} MB memory, ${left.disk} GB disk.`) : null,
    field('SSH public key', h('textarea', {name: 'sshkey', required: true, rows: 3}), 'One OpenSSH public key per line.'),
    h('button', {type: 'submit'}, 'Create VM'));
  let idem = idempotencyKey(); // kept across a lost answer only: an answered refusal made nothing
  onSubmit(form, async (data) => {
    const body = {name: data.get('name'), os: data.get('os'), cores: Number(data.get('cores')), memory: Number(data.get('memory')),
      disk: Number(data.get('disk')), sshkeys: String(data.get('sshkey')).split('\n').map((l) => l.trim()).filter(Boolean)};
    if (data.get('userid')) body.userid = data.get('userid');
    if (data.get('size')) body.size = data.get('size'); // the values sent with it are the preset's or the user's own
    let vm;
    try {
      vm = await api('POST', '/vm', body, {'Idempotency-Key': idem});
    } catch (error) {
      if (error.status !== 0) idem = idempotencyKey();
      throw error;
    }
    location.hash = `#/vms/${vm.vmid}`;
  });
  page('Create a VM', form);
}

function detailList(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function openConsole(vmid) {
  const link = await api('POST', `/vm/${vmid}/console`, {type: 'vnc'});
  if (!link.url) throw new Error('This server has no console page yet.');
  window.open(link.url, `console-${vmid}`);
}

// The console page asks its opener for a fresh one-time token to reconnect.
window.addEventListener('message', async (event) => {
  const data = event.data || {};
  if (event.origin !== location.origin || data.type !== 'cloudfaster-console-reconnect') return;
  const link = await api('POST', `/vm/${Number(data.vmid)}/console`, {type: 'vnc'});
  event.source.postMessage({type: 'cloudfaster-console-token', vmid: Number(data.vmid), token: link.token}, location.origin);
});

export async function vmDetailView(vmid) {
  const vm = await get(`/vm/${vmid}`);
  const out = h('div', {'aria-live': 'polite'});
  const refresh = () => vmDetailView(vmid);
  const act = (label, fn, kind) => h('button', {type: 'button', class: kind, onclick: async () => {
    out.replaceChildren();
    try { await fn(); } catch (error) { out.replaceChildren(errorBox(error)); }
  }}, label);
  const follow = (started) => {
    if (started && started.operation) out.replaceChildren(operationPanel(started.operation.id, refresh));
    else refresh();
  };
  const power = ['start', 'shutdown', 'stop', 'reboot', 'suspend', 'resume'].map((a) =>
    act(a[0].toUpperCase() + a.slice(1), async () => follow(await api('POST', `/vm/${vmid}/${a}`))));
  const resize = onSubmit(h('form', {class: 'row hinted'},
    field('vCPUs', h('input', {name: 'cores', type: 'number', min: 1, value: vm.cores})),
    field('Memory (MB)', h('input', {name: 'memory', type: 'number', min: 256, value: vm.memory})),
    field('Disk (GB)', h('input', {name: 'disk', type: 'number', min: vm.disk, value: vm.disk}), 'A disk only grows.'),
    h('button', {type: 'submit'}, 'Resize')), async (data) => {
    const body = {};
    for (const k of ['cores', 'memory', 'disk']) if (Number(data.get(k)) !== vm[k]) body[k] = Number(data.get(k));
    if (!Object.keys(body).length) return h('p', {}, 'Nothing to change.');
    follow(await api('PATCH', `/vm/${vmid}`, body));
    return null;
  });
  const addresses = (vm.addresses || []).map((a) => `${a.address}${a.prefix != null ? `/${a.prefix}` : ''} (${a.source})`);
  const daytwo = await daytwoSections(vm, act, follow);
  page(`VM ${vm.name}`,
    detailList([['Status', statusBadge(vm.status)], ['VMID', vm.vmid], ['OS', vm.os], ['Node', vm.node], ['Owner', vm.userid],
      ['Size', `${vm.cores} vCPU · ${vm.memory} MB · ${vm.disk} GB`], ['Power', vm.live ? vm.live.power : null],
      ['Addresses', addresses.length ? addresses.join(', ') : 'none known yet'], ['Login user', vm.login_user],
      ['SSH', vm.ssh ? h('code', {}, vm.ssh) : null]]),
    vm.live_error ? h('p', {class: 'error'}, vm.live_error.message || 'The VM\'s node did not answer.') : null,
    h('h2', {}, 'Power'), h('div', {class: 'buttons'}, power, act('Open console', () => openConsole(vmid))),
    h('h2', {}, 'Resize'), resize,
    daytwo,
    h('h2', {}, 'Delete'), h('div', {class: 'buttons'}, act('Delete this VM', async () => {
      if (!window.confirm(`Delete the VM ${vm.name}? Its disk is destroyed.`)) return;
      const started = await api('DELETE', `/vm/${vmid}`);
      notify(`Deleting ${vm.name}…`);
      out.replaceChildren(operationPanel(started.operation.id, () => { location.hash = '#/vms'; }));
    }, 'danger')),
    out);
  if (vm.operation && ACTIVE.has(vm.operation.state)) out.replaceChildren(operationPanel(vm.operation.id, refresh));
}
