// The VM detail page's day-two sections: delete protection, snapshots (the tree PVE keeps) and backups.
import {api, get, getAll} from './api.js';
import {count, errorBox, field, h, onSubmit, statusBadge, table, when} from './dom.js';

const SNAPSHOT_NAME = '[A-Za-z][A-Za-z0-9_\\-]{1,39}'; // PVE's pve-configid: a letter first, at most 40

function sizeText(bytes) {
  if (bytes == null) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i += 1) n /= 1024;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// act(label, fn, kind) makes a button whose errors are shown in words; follow(started) follows its operation.
export async function daytwoSections(vm, act, follow) {
  const vmid = vm.vmid;
  const [snapshots, backups] = await Promise.all([
    get(`/vm/${vmid}/snapshots`).catch((error) => ({error})),
    getAll(`/vm/${vmid}/backups`).catch((error) => ({error})),
  ]);
  return [
    h('h2', {}, 'Protection'),
    h('p', {}, vm.protected ? 'This VM is protected: it cannot be deleted, rebuilt or restored over.' : 'This VM is not protected.'),
    h('div', {class: 'buttons'}, act(vm.protected ? 'Remove protection' : 'Protect this VM', async () =>
      follow(await api('PUT', `/vm/${vmid}/protection`, {protected: !vm.protected})))),
    h('h2', {}, 'Snapshots'), snapshotSection(vmid, snapshots, act, follow),
    h('h2', {}, 'Backups'), backupSection(vm, backups, act, follow),
  ];
}

function snapshotSection(vmid, list, act, follow) {
  if (list.error) return errorBox(list.error);
  const rows = list.snapshots.map((s) => h('tr', {},
    h('td', {}, s.name, s.name === list.current_parent ? ' (current)' : ''), h('td', {}, s.description || ''),
    h('td', {}, s.parent || ''), h('td', {}, s.vmstate ? 'yes' : 'no'), h('td', {}, s.created_at ? when(s.created_at) : ''),
    h('td', {}, h('div', {class: 'buttons'},
      act(`Roll back to ${s.name}`, async () => {
        if (!window.confirm(`Roll the VM back to ${s.name}? What changed since is lost.`)) return;
        follow(await api('POST', `/vm/${vmid}/snapshots/${encodeURIComponent(s.name)}/rollback`));
      }),
      act(`Delete ${s.name}`, async () => {
        if (!window.confirm(`Delete the snapshot ${s.name}?`)) return;
        follow(await api('DELETE', `/vm/${vmid}/snapshots/${encodeURIComponent(s.name)}`));
      }, 'danger')))));
  const form = onSubmit(h('form', {class: 'row'},
    field('Snapshot name', h('input', {name: 'name', required: true, pattern: SNAPSHOT_NAME, autocomplete: 'off'})),
    field('Description', h('input', {name: 'description', autocomplete: 'off'})),
    h('label', {class: 'check'}, h('input', {type: 'checkbox', name: 'vmstate'}), 'With RAM state'),
    h('button', {type: 'submit'}, 'Take snapshot')), async (data) => {
    follow(await api('POST', `/vm/${vmid}/snapshots`,
      {name: data.get('name'), description: data.get('description') || '', vmstate: data.get('vmstate') === 'on'}));
    return null;
  });
  return [form, table(count(rows.length, 'snapshot'), ['Name', 'Description', 'Parent', 'RAM', 'Taken', 'Actions'], rows)];
}

function backupSection(vm, list, act, follow) {
  if (list.error) return errorBox(list.error);
  const rows = list.filter((b) => b.status !== 'deleted').map((b) => h('tr', {},
    h('td', {}, when(b.created_at)), h('td', {}, statusBadge(b.status), b.scheduled ? ' scheduled' : ''),
    h('td', {}, sizeText(b.size_bytes)), h('td', {}, `${b.cores} vCPU · ${b.memory} MB · ${b.disk} GB`),
    h('td', {}, b.status !== 'available' ? (b.error && b.error.message) || '' : h('div', {class: 'buttons'},
      act(`Restore backup ${b.id} over this VM`, async () => {
        if (!window.confirm(`Restore this backup over ${vm.name}? Its disk is replaced by the backup's.`)) return;
        follow(await api('POST', `/backups/${b.id}/restore`, {target: 'same'}));
      }),
      act(`Restore backup ${b.id} into a new VM`, async () => {
        const made = await api('POST', `/backups/${b.id}/restore`, {target: 'new'});
        location.hash = `#/vms/${made.vmid}`;
      }),
      act(`Delete backup ${b.id}`, async () => {
        if (!window.confirm('Delete this backup? It cannot be brought back.')) return;
        follow(await api('DELETE', `/backups/${b.id}`));
      }, 'danger')))));
  return [
    h('div', {class: 'buttons'}, act('Back up now', async () => follow(await api('POST', `/vm/${vm.vmid}/backups`)))),
    table(count(rows.length, 'backup'), ['Taken', 'State', 'Size', 'Of', 'Actions'], rows),
  ];
}
