// Quota usage as bars (meter elements: their value and range are announced by screen readers).
import {get, session} from './api.js';
import {h, page} from './dom.js';

const ROWS = [['VMs', 'vms', 'max_vms', ''], ['vCPUs', 'vcpus', 'max_vcpus', ''], ['Memory', 'memory_mb', 'max_memory_mb', ' MB'],
  ['Disk', 'disk_gb', 'max_disk_gb', ' GB'], ['Services', 'services', 'max_services', '']];

export function quotaBars(quota) {
  return h('div', {class: 'bars'}, ROWS.map(([label, used, max, unit]) => {
    const id = `q-${used}`;
    const limit = quota.limits[max];
    return h('div', {class: 'bar'},
      h('label', {for: id}, label),
      h('meter', {id, min: 0, max: Math.max(limit, 1), value: quota.usage[used], high: limit * 0.8, optimum: 0}),
      h('span', {}, `${quota.usage[used]}${unit} of ${limit}${unit}`));
  }));
}

export async function quotaView() {
  if (!session.value.userid) {
    page('Quota', h('p', {}, 'An admin key has no quota of its own: see each user\'s quota on the Users page.'));
    return;
  }
  const quota = await get(`/users/${encodeURIComponent(session.value.userid)}/quota`);
  page('Your quota', quotaBars(quota));
}
